import CMalloc
import ExtractionJobs
import Foundation
import Logging
import OpsHTTP
import Postgres
import QuarryLog
import Queue
import ServiceLifecycle
import UnixSignals
import WorkerService

QuarryLogging.bootstrap(service: "worker")
let logger = Logger(label: "quarry.worker")

// Upload chunks (1 MiB) are allocated on one thread and freed on another; with glibc's dynamic mmap threshold
// they end up in per-thread arenas that keep the pages, which put a 1M-row job at 73-89 MB peak RSS instead
// of 55-60 MB. A fixed threshold keeps every buffer of 256 KB or more in its own mapping, returned on free.
// (A no-op where the C library is not glibc.)
_ = cmalloc_set_mmap_threshold(256 * 1024)

do {
    let configuration = try WorkerConfiguration.fromEnvironment()
    let pool = PostgresPool(
        configuration: .init(conninfo: configuration.databaseURL, maxConnections: configuration.poolSize, applicationName: "quarry-worker"),
        logger: logger)
    if ProcessInfo.processInfo.environment["QUARRY_AUTO_MIGRATE"] == "1", let dir = MigrationRunner.locateDirectory() {
        let runner = try MigrationRunner(directory: dir)
        _ = try await pool.withConnection { try runner.apply(on: $0) }
    }
    var registry = HandlerRegistry.builtIn()
    registry.register("extract", ExtractHandler(pool: pool))
    try QueueWorker.validatePool(configuration: configuration, registry: registry)
    // Heartbeats and progress on a session of their own: never behind handlers that hold pooled connections.
    let leasePool = PostgresPool(
        configuration: .init(conninfo: configuration.databaseURL, maxConnections: 1, applicationName: "quarry-worker-lease"), logger: logger)
    let store = JobStore(pool: pool, retry: configuration.retry)
    let worker = QueueWorker(
        configuration: configuration, store: store, leaseStore: JobStore(pool: leasePool, retry: configuration.retry), registry: registry,
        logger: logger)
    var services: [any Service] = [worker]
    if let port = configuration.metricsPort {
        services.append(
            OpsEndpoint.make(
                port: port, logger: logger,
                ready: { (try? await pool.query("SELECT 1")) != nil },
                metrics: {
                    worker.metrics.prometheusText(workerID: worker.configuration.workerID)
                        + "# TYPE quarry_worker_jobs_held gauge\nquarry_worker_jobs_held \(worker.heldCount)\n"
                }))
    }
    let group = ServiceGroup(
        configuration: .init(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
    try await group.run()
    leasePool.close()
    pool.close()
} catch {
    logger.critical("worker failed", metadata: ["error": "\(error)"])
    exit(1)
}
