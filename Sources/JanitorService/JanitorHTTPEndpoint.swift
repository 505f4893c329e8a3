public import Logging
import OpsHTTP
public import Postgres
public import ServiceLifecycle

/// The janitor's `/healthz`, `/readyz` (database reachable), `/metrics` listener on `METRICS_PORT`.
public struct JanitorHTTPEndpoint: Service {
    let port: Int
    let janitor: Janitor
    let pool: PostgresPool
    let logger: Logger

    public init(port: Int, janitor: Janitor, pool: PostgresPool, logger: Logger) {
        self.port = port
        self.janitor = janitor
        self.pool = pool
        self.logger = logger
    }

    public func run() async throws {
        let janitor = self.janitor
        let pool = self.pool
        let service = OpsEndpoint.make(
            port: port, logger: logger,
            ready: { (try? await pool.query("SELECT 1")) != nil },
            metrics: { janitor.metrics.prometheusText(isLeader: janitor.election.isLeader) })
        try await service.run()
    }
}
