public import Foundation
import Models

/// Settings for the ``Janitor``, built from environment variables in ``fromEnvironment(_:)``.
///
/// ```swift
/// let configuration = try JanitorConfiguration.fromEnvironment()
/// let janitor = Janitor(configuration: configuration, pool: pool, notifiers: [], logger: logger)
/// ```
public struct JanitorConfiguration: Sendable {
    /// `DATABASE_URL` (required).
    public var databaseURL: String
    /// This replica's id in logs and `quarry.janitor_leader` (`JANITOR_ID`, default `host-pid-random`).
    public var instanceID: String
    /// Pool connections for the tasks (`DB_POOL_SIZE`, default 2); the leader lock has its own session.
    public var poolSize: Int
    /// Port for `/healthz`, `/readyz`, `/metrics` (`METRICS_PORT`; unset = no listener).
    public var metricsPort: Int?

    // MARK: Leadership

    /// Longest a dead leader keeps the role before a standby takes over (`JANITOR_FAILOVER_S`, default 15).
    ///
    /// Standbys retry the lock every quarter of it (at most 5 s); the leader heartbeats every quarter
    /// and its session is ended by the server after three quarters of silence (`idle_session_timeout`),
    /// so a hung leader is also replaced in time.
    public var failover: Duration

    // MARK: Tasks

    /// How often stalled jobs are recovered (`JANITOR_STALLED_INTERVAL_MS`, default 15000).
    public var stalledInterval: Duration
    /// How often the jobs of crashed workers (heartbeat session gone) are requeued (`JANITOR_CRASH_INTERVAL_MS`,
    /// default 1000).
    public var crashInterval: Duration
    /// A processing job whose heartbeat is older than this is stalled; a worker not seen for this
    /// long is stopped (`EXTRACTION_STALLED_AFTER_MS`, default 30000).
    public var stalledAfter: Duration
    /// How often expired results and uploads are deleted (`JANITOR_CACHE_INTERVAL_MS`, default 600000).
    public var cacheInterval: Duration
    /// How often metrics are rolled up and old rows pruned (`JANITOR_ARCHIVE_INTERVAL_MS`, default 3600000).
    public var archiveInterval: Duration
    /// Raw `job_metrics` kept before the hourly rollup (`METRICS_RAW_RETENTION_DAYS`, default 7).
    public var metricsRawRetention: Duration
    /// Hourly aggregates kept (`METRICS_RETENTION_DAYS`, default 90).
    public var metricsRetention: Duration
    /// Finished jobs kept after `completed_at` (`JOB_RETENTION_DAYS`, default 30).
    public var jobRetention: Duration
    /// Health-check history kept (`HEALTH_HISTORY_RETENTION_DAYS`, default 7).
    public var healthHistoryRetention: Duration
    /// Alert log kept (`ALERT_LOG_RETENTION_DAYS`, default 90).
    public var alertLogRetention: Duration
    /// Audit log kept (`AUDIT_RETENTION_DAYS`, default 90).
    public var auditRetention: Duration
    /// Rows deleted per statement by the cleanup tasks (`JANITOR_BATCH_SIZE`, default 1000).
    public var batchSize: Int

    // MARK: Health and alerts

    /// How often health is checked and alerts evaluated (`EXTRACTION_HEALTH_CHECK_INTERVAL_MS`, default 30000).
    public var healthCheckInterval: Duration
    /// Health thresholds (`HEALTH_*`).
    public var thresholds: HealthThresholds
    /// Alert storm control (`ALERT_REPEAT_INTERVAL_S`, `ALERT_FLAP_CHECKS`).
    public var alertPolicy: AlertPolicy

    public init(databaseURL: String, instanceID: String? = nil) {
        self.databaseURL = databaseURL
        self.instanceID = instanceID ?? Self.defaultInstanceID()
        self.poolSize = 2
        self.metricsPort = nil
        self.failover = .seconds(15)
        self.stalledInterval = .milliseconds(15_000)
        self.crashInterval = .milliseconds(1_000)
        self.stalledAfter = .milliseconds(30_000)
        self.cacheInterval = .milliseconds(600_000)
        self.archiveInterval = .milliseconds(3_600_000)
        self.metricsRawRetention = .days(7)
        self.metricsRetention = .days(90)
        self.jobRetention = .days(30)
        self.healthHistoryRetention = .days(7)
        self.alertLogRetention = .days(90)
        self.auditRetention = .days(90)
        self.batchSize = 1000
        self.healthCheckInterval = .milliseconds(30_000)
        self.thresholds = HealthThresholds()
        self.alertPolicy = AlertPolicy()
    }

    public static func defaultInstanceID() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Reads the configuration from the environment; `DATABASE_URL` is required.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> JanitorConfiguration {
        guard let url = env["DATABASE_URL"], !url.isEmpty else {
            throw JobError(.invalidConfig, "DATABASE_URL is not set")
        }
        func int(_ key: String) throws -> Int? {
            guard let raw = env[key]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            guard let value = Int(raw), value >= 0 else { throw JobError(.invalidConfig, "\(key) must be a non-negative integer") }
            return value
        }
        func double(_ key: String) throws -> Double? {
            guard let raw = env[key]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            guard let value = Double(raw), value >= 0 else { throw JobError(.invalidConfig, "\(key) must be a non-negative number") }
            return value
        }
        func ms(_ key: String) throws -> Duration? { try int(key).map { .milliseconds(max(1, $0)) } }
        func days(_ key: String) throws -> Duration? { try double(key).map { .seconds($0 * 86_400) } }

        var c = JanitorConfiguration(databaseURL: url, instanceID: env["JANITOR_ID"].flatMap { $0.isEmpty ? nil : $0 })
        c.poolSize = max(1, try int("DB_POOL_SIZE") ?? c.poolSize)
        c.metricsPort = try int("METRICS_PORT")
        c.failover = try double("JANITOR_FAILOVER_S").map { .seconds(max(0.3, $0)) } ?? c.failover
        c.stalledInterval = try ms("JANITOR_STALLED_INTERVAL_MS") ?? c.stalledInterval
        c.crashInterval = try ms("JANITOR_CRASH_INTERVAL_MS") ?? c.crashInterval
        c.stalledAfter = try ms("EXTRACTION_STALLED_AFTER_MS") ?? c.stalledAfter
        c.cacheInterval = try ms("JANITOR_CACHE_INTERVAL_MS") ?? c.cacheInterval
        c.archiveInterval = try ms("JANITOR_ARCHIVE_INTERVAL_MS") ?? c.archiveInterval
        c.metricsRawRetention = try days("METRICS_RAW_RETENTION_DAYS") ?? c.metricsRawRetention
        c.metricsRetention = try days("METRICS_RETENTION_DAYS") ?? c.metricsRetention
        c.jobRetention = try days("JOB_RETENTION_DAYS") ?? c.jobRetention
        c.healthHistoryRetention = try days("HEALTH_HISTORY_RETENTION_DAYS") ?? c.healthHistoryRetention
        c.alertLogRetention = try days("ALERT_LOG_RETENTION_DAYS") ?? c.alertLogRetention
        c.auditRetention = try days("AUDIT_RETENTION_DAYS") ?? c.auditRetention
        c.batchSize = max(1, try int("JANITOR_BATCH_SIZE") ?? c.batchSize)
        c.healthCheckInterval = try ms("EXTRACTION_HEALTH_CHECK_INTERVAL_MS") ?? c.healthCheckInterval

        var t = HealthThresholds()
        t.queueSize = try int("HEALTH_QUEUE_SIZE_THRESHOLD") ?? t.queueSize
        t.dlqSize = try int("HEALTH_DLQ_THRESHOLD") ?? t.dlqSize
        t.successRateDegraded = try double("HEALTH_SUCCESS_RATE_THRESHOLD") ?? t.successRateDegraded
        t.successRateUnhealthy = try double("HEALTH_SUCCESS_RATE_UNHEALTHY_THRESHOLD") ?? t.successRateUnhealthy
        t.averageDuration = try ms("HEALTH_AVG_DURATION_THRESHOLD_MS") ?? t.averageDuration
        t.oldestQueued = try ms("HEALTH_OLDEST_QUEUED_THRESHOLD_MS") ?? t.oldestQueued
        t.stalledDegraded = try int("HEALTH_STALLED_DEGRADED_THRESHOLD") ?? t.stalledDegraded
        t.stalledUnhealthy = try int("HEALTH_STALLED_UNHEALTHY_THRESHOLD") ?? t.stalledUnhealthy
        c.thresholds = t

        var p = AlertPolicy()
        p.repeatInterval = try double("ALERT_REPEAT_INTERVAL_S").map { .seconds($0) } ?? p.repeatInterval
        p.flapChecks = max(1, try int("ALERT_FLAP_CHECKS") ?? p.flapChecks)
        c.alertPolicy = p
        return c
    }
}

extension Duration {
    /// `n` days.
    static func days(_ n: Double) -> Duration { .seconds(n * 86_400) }

    /// Seconds as a floating-point number.
    var totalSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
