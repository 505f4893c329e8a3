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
    // In-request processing for platforms without long-running workers (POST /api/worker/process): the worker's
    // executor, with the workers' environment (retry policy, heartbeat interval, time limit).
    var registry = HandlerRegistry.builtIn()
    registry.register("extract", ExtractHandler(pool: pool))
    var workerConfiguration = try WorkerConfiguration.fromEnvironment()
    workerConfiguration.workerID = "api-\(ProcessInfo.processInfo.hostName)-\(getpid())"
    let leasePool = PostgresPool(
        configuration: .init(conninfo: configuration.databaseURL, maxConnections: 1, applicationName: "quarry-api-lease"), logger: logger)
    let runner = OneShotRunner(
        configuration: workerConfiguration, store: JobStore(pool: pool, retry: workerConfiguration.retry),
        leaseStore: JobStore(pool: leasePool, retry: workerConfiguration.retry), registry: registry, logger: logger)
    let server = APIServer(
        configuration: configuration, pool: pool, migrations: migrations, logger: logger,
        batchProcessor: { maxJobs, budget in
            let r = try await runner.run(maxJobs: maxJobs, budget: budget)
            return [
                "processed": r.processed, "completed": r.completed, "failed": r.failed, "cancelled": r.cancelled, "released": r.released,
            ]
        })
    let group = ServiceGroup(
        configuration: .init(
            services: server.services().map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
    logger.info("api listening", metadata: ["host": "\(configuration.host)", "port": "\(configuration.port)"])
    try await group.run()
    leasePool.close()
    pool.close()
} catch {
    logger.critical("api failed", metadata: ["error": "\(error)"])
    exit(1)
}
