import APIServer
import ExtractionJobs
import Foundation
import Logging
import Postgres
import QuarryLog
import Queue
import ServiceLifecycle
import UnixSignals
import WorkerService

QuarryLogging.bootstrap(service: "api")
let logger = Logger(label: "quarry.api")

do {
    let configuration = try APIConfiguration.fromEnvironment()
    let pool = PostgresPool(
        configuration: .init(
            conninfo: configuration.databaseURL, maxConnections: configuration.poolSize, applicationName: "quarry-api",
            cancelStatementsOnTaskCancellation: true),
        logger: logger)
    let migrations = MigrationRunner.locateDirectory().flatMap { try? MigrationRunner(directory: $0) }
    if ProcessInfo.processInfo.environment["QUARRY_AUTO_MIGRATE"] == "1", let migrations {
        _ = try await pool.withConnection { try migrations.apply(on: $0) }
    }
    // In-request processing for platforms without long-running workers (POST /api/worker/process).
    var registry = HandlerRegistry.builtIn()
    registry.register("extract", ExtractHandler(pool: pool))
    let runner = OneShotRunner(
        store: JobStore(pool: pool), registry: registry, workerID: "api-\(ProcessInfo.processInfo.hostName)-\(getpid())",
        logger: logger)
    let server = APIServer(
        configuration: configuration, pool: pool, migrations: migrations, logger: logger,
        batchProcessor: { maxJobs, budget in
            let r = try await runner.run(maxJobs: maxJobs, budget: budget)
            return ["processed": r.processed, "completed": r.completed, "failed": r.failed, "released": r.released]
        })
    let group = ServiceGroup(
        configuration: .init(
            services: server.services().map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
    logger.info("api listening", metadata: ["host": "\(configuration.host)", "port": "\(configuration.port)"])
    try await group.run()
    pool.close()
} catch {
    logger.critical("api failed", metadata: ["error": "\(error)"])
    exit(1)
}
