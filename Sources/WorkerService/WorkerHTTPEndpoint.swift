public import Logging
import OpsHTTP
public import Postgres
public import ServiceLifecycle

/// The worker's `/healthz`, `/readyz`, `/metrics` listener on `METRICS_PORT`.
public struct WorkerHTTPEndpoint: Service {
    let port: Int
    let worker: QueueWorker
    let pool: PostgresPool
    let logger: Logger

    public init(port: Int, worker: QueueWorker, pool: PostgresPool, logger: Logger) {
        self.port = port
        self.worker = worker
        self.pool = pool
        self.logger = logger
    }

    public func run() async throws {
        let worker = self.worker
        let pool = self.pool
        let service = OpsEndpoint.make(
            port: port, logger: logger,
            ready: { (try? await pool.query("SELECT 1")) != nil },
            metrics: {
                worker.metrics.prometheusText(workerID: worker.configuration.workerID)
                    + "# TYPE quarry_worker_jobs_held gauge\nquarry_worker_jobs_held \(worker.heldCount)\n"
            })
        try await service.run()
    }
}
