import Foundation
public import Logging
public import Postgres

/// Rolls old raw `job_metrics` into `job_metrics_hourly`, and prunes old aggregates, finished jobs,
/// health-check history, the alert log and the audit log, each in bounded batches.
public struct MetricsArchive: Sendable {
    /// How long each kind of row is kept.
    public struct Retention: Sendable, Hashable {
        /// Raw metrics before the rollup (`METRICS_RAW_RETENTION_DAYS`).
        public var rawMetrics: Duration
        /// Hourly aggregates (`METRICS_RETENTION_DAYS`).
        public var hourlyMetrics: Duration
        /// Finished jobs after `completed_at` (`JOB_RETENTION_DAYS`).
        public var jobs: Duration
        /// `health_checks` rows.
        public var healthChecks: Duration
        /// `alert_log` rows.
        public var alertLog: Duration
        /// `audit_log` rows (`AUDIT_RETENTION_DAYS`).
        public var auditLog: Duration

        public init(
            rawMetrics: Duration, hourlyMetrics: Duration, jobs: Duration, healthChecks: Duration, alertLog: Duration,
            auditLog: Duration = .seconds(90 * 86_400)
        ) {
            self.auditLog = auditLog
            self.rawMetrics = rawMetrics
            self.hourlyMetrics = hourlyMetrics
            self.jobs = jobs
            self.healthChecks = healthChecks
            self.alertLog = alertLog
        }
    }

    public struct Outcome: Sendable, Hashable {
        public var rolledUp = 0
        public var aggregatesDeleted = 0
        public var jobsDeleted = 0
        public var healthChecksDeleted = 0
        public var alertLogDeleted = 0
        public var auditLogDeleted = 0
    }

    let pool: PostgresPool
    let retention: Retention
    let batchSize: Int
    let logger: Logger

    public init(pool: PostgresPool, retention: Retention, batchSize: Int = 1000, logger: Logger) {
        self.pool = pool
        self.retention = retention
        self.batchSize = max(1, batchSize)
        self.logger = logger
    }

    /// One pass. Safe to run concurrently: the rollup moves rows with SKIP LOCKED in one statement
    /// (never counted twice), and the deletes are idempotent.
    public func run() async throws -> Outcome {
        var o = Outcome()
        // The rollup batch is larger: rows are small and aggregated in one statement.
        let rollupBatch = batchSize * 10
        while !Task.isCancelled {
            let n =
                try await pool.query(
                    "SELECT quarry.rollup_job_metrics(make_interval(secs => $1), $2) AS n",
                    [retention.rawMetrics.totalSeconds, rollupBatch]
                ).first?.int("n") ?? 0
            o.rolledUp += n
            if n < rollupBatch { break }
        }
        o.aggregatesDeleted = try await deleteInBatches(
            "DELETE FROM quarry.job_metrics_hourly h WHERE (h.hour, h.kind, h.status, h.error_code) IN (SELECT hour, kind, status, error_code FROM quarry.job_metrics_hourly WHERE hour < now() - make_interval(secs => $1) LIMIT $2 FOR UPDATE SKIP LOCKED)",
            retention.hourlyMetrics)
        o.jobsDeleted = try await deleteInBatches(
            """
            DELETE FROM quarry.jobs j WHERE j.id IN (
                SELECT id FROM quarry.jobs
                WHERE status IN ('completed', 'cancelled', 'dead_lettered', 'failed')
                  AND completed_at < now() - make_interval(secs => $1)
                ORDER BY completed_at LIMIT $2 FOR UPDATE SKIP LOCKED)
            """, retention.jobs)
        o.healthChecksDeleted = try await deleteInBatches(
            "DELETE FROM quarry.health_checks WHERE id IN (SELECT id FROM quarry.health_checks WHERE checked_at < now() - make_interval(secs => $1) ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)",
            retention.healthChecks)
        o.alertLogDeleted = try await deleteInBatches(
            "DELETE FROM quarry.alert_log WHERE id IN (SELECT id FROM quarry.alert_log WHERE sent_at < now() - make_interval(secs => $1) ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)",
            retention.alertLog)
        o.auditLogDeleted = try await deleteInBatches(
            "DELETE FROM quarry.audit_log WHERE id IN (SELECT id FROM quarry.audit_log WHERE at < now() - make_interval(secs => $1) ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED)",
            retention.auditLog)
        if o != Outcome() {
            logger.info(
                "archive:done",
                metadata: [
                    "rolled_up": "\(o.rolledUp)", "aggregates_deleted": "\(o.aggregatesDeleted)", "jobs_deleted": "\(o.jobsDeleted)",
                    "health_checks_deleted": "\(o.healthChecksDeleted)", "alert_log_deleted": "\(o.alertLogDeleted)",
                    "audit_log_deleted": "\(o.auditLogDeleted)",
                ])
        }
        return o
    }

    /// Runs a `DELETE … LIMIT $2` statement until it deletes fewer than a batch.
    private func deleteInBatches(_ sql: String, _ olderThan: Duration) async throws -> Int {
        var total = 0
        while !Task.isCancelled {
            let n = try await pool.query(sql, [olderThan.totalSeconds, batchSize]).affectedRows
            total += n
            if n < batchSize { break }
        }
        return total
    }
}
