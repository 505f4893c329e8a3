public import Foundation
public import Models

/// Settings for a ``QueueWorker``, built from environment variables in ``fromEnvironment(_:)``.
public struct WorkerConfiguration: Sendable {
    /// Unique id of this worker process (`WORKER_ID`, default `host-pid-random`).
    public var workerID: String
    /// Job slots (`EXTRACTION_MAX_CONCURRENCY`, default 3).
    public var concurrency: Int
    /// Most jobs claimed in one call (`WORKER_CLAIM_BATCH`, default = concurrency, at most 1000).
    public var claimBatch: Int
    /// Heartbeat interval (`EXTRACTION_HEARTBEAT_INTERVAL_MS`, default 5000).
    public var heartbeatInterval: Duration
    /// Poll fallback when no NOTIFY arrives (`EXTRACTION_POLL_INTERVAL_MS`, default 1000).
    public var pollInterval: Duration
    /// Drain time on SIGTERM before in-flight jobs are released (`EXTRACTION_SHUTDOWN_TIMEOUT_MS`, default 25000).
    public var shutdownTimeout: Duration
    /// Longest one attempt may run (`EXTRACTION_JOB_TIMEOUT_MS`, default 600000) → TIMEOUT_ERROR.
    public var jobTimeout: Duration
    /// Least time between two progress writes for one job (`EXTRACTION_PROGRESS_INTERVAL_MS`, default 250).
    public var progressInterval: Duration
    /// Kinds this worker runs (`WORKER_KINDS`, comma separated; default every registered kind).
    public var kinds: [String]?
    /// Retry schedule (`EXTRACTION_MAX_RETRIES`, `EXTRACTION_BASE_DELAY_MS`, `EXTRACTION_MAX_DELAY_MS`).
    public var retry: RetryPolicy
    /// Connections in this worker's pool (`DB_POOL_SIZE`, default concurrency + 2), plus one LISTEN session and one
    /// heartbeat session. The worker refuses to start when the pool cannot serve its slots
    /// (``QueueWorker/validatePool(configuration:registry:)``).
    public var poolSize: Int
    /// Round-robin across orgs within a priority when claiming (`WORKER_FAIR_CLAIM`, default on; `0` = global order).
    public var fairClaim: Bool
    /// Most jobs of one org processing at once, fleet-wide, enforced by the claim (`ORG_MAX_RUNNING`; unset = no cap).
    public var orgMaxRunning: Int?
    public var databaseURL: String
    /// Port for `/healthz`, `/readyz`, `/metrics` (`METRICS_PORT`; unset = no listener).
    public var metricsPort: Int?
    public var version: String

    public init(databaseURL: String, workerID: String? = nil, concurrency: Int = 3) {
        self.databaseURL = databaseURL
        self.workerID = workerID ?? Self.defaultWorkerID()
        self.concurrency = max(1, concurrency)
        self.claimBatch = min(max(1, concurrency), 1000)
        self.heartbeatInterval = .milliseconds(5000)
        self.pollInterval = .milliseconds(1000)
        self.shutdownTimeout = .milliseconds(25_000)
        self.jobTimeout = .milliseconds(600_000)
        self.progressInterval = .milliseconds(250)
        self.kinds = nil
        self.retry = RetryPolicy()
        self.poolSize = 4
        self.fairClaim = true
        self.orgMaxRunning = nil
        self.metricsPort = nil
        self.version = "0.1.0"
    }

    public static func defaultWorkerID() -> String {
        let host = ProcessInfo.processInfo.hostName
        return "\(host)-\(getpid())-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Reads the configuration from the environment; `DATABASE_URL` is required.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> WorkerConfiguration {
        guard let url = env["DATABASE_URL"], !url.isEmpty else {
            throw JobError(.invalidConfig, "DATABASE_URL is not set")
        }
        func int(_ k: String) -> Int? { env[k].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        func ms(_ k: String) -> Duration? { int(k).map { .milliseconds($0) } }
        var c = WorkerConfiguration(databaseURL: url, workerID: env["WORKER_ID"], concurrency: int("EXTRACTION_MAX_CONCURRENCY") ?? 3)
        c.claimBatch = min(max(1, int("WORKER_CLAIM_BATCH") ?? c.concurrency), 1000)
        c.heartbeatInterval = ms("EXTRACTION_HEARTBEAT_INTERVAL_MS") ?? c.heartbeatInterval
        c.pollInterval = ms("EXTRACTION_POLL_INTERVAL_MS") ?? c.pollInterval
        c.shutdownTimeout = ms("EXTRACTION_SHUTDOWN_TIMEOUT_MS") ?? c.shutdownTimeout
        c.jobTimeout = ms("EXTRACTION_JOB_TIMEOUT_MS") ?? c.jobTimeout
        c.progressInterval = ms("EXTRACTION_PROGRESS_INTERVAL_MS") ?? c.progressInterval
        c.kinds = env["WORKER_KINDS"].map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        c.retry = RetryPolicy(
            maxAttempts: int("EXTRACTION_MAX_RETRIES") ?? 3,
            baseDelay: ms("EXTRACTION_BASE_DELAY_MS") ?? .seconds(1),
            maxDelay: ms("EXTRACTION_MAX_DELAY_MS") ?? .seconds(30))
        // Each running extraction holds a connection for its whole transaction; one more serves claims, completions
        // and failures, and one spare absorbs reconnects. Heartbeats have a connection of their own.
        c.poolSize = int("DB_POOL_SIZE") ?? (c.concurrency + 2)
        c.metricsPort = int("METRICS_PORT")
        c.fairClaim = !["0", "false", "off", "no"].contains(env["WORKER_FAIR_CLAIM"]?.lowercased() ?? "")
        c.orgMaxRunning = int("ORG_MAX_RUNNING").flatMap { $0 > 0 ? $0 : nil }
        return c
    }
}
