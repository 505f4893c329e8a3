import Foundation
public import Logging
import Models
public import Postgres

/// Measures the fleet, evaluates it and stores the report in `quarry.health_checks`.
public struct HealthRecorder: Sendable {
    let pool: PostgresPool
    let thresholds: HealthThresholds
    let stalledAfter: Duration
    let logger: Logger

    public init(pool: PostgresPool, thresholds: HealthThresholds, stalledAfter: Duration, logger: Logger) {
        self.pool = pool
        self.thresholds = thresholds
        self.stalledAfter = stalledAfter
        self.logger = logger
    }

    /// Reads every measurement in one round trip (one statement, one snapshot).
    public func measure() async throws -> HealthMeasurements {
        let rows = try await pool.queryRetrying(
            """
            WITH live AS (
                SELECT w.id, w.concurrency FROM quarry.workers w
                WHERE w.stopped_at IS NULL AND w.last_seen > now() - make_interval(secs => $1)
            ), recent AS (
                SELECT status, duration_ms FROM quarry.job_metrics WHERE created_at > now() - interval '1 hour'
            )
            SELECT
              (SELECT count(*) FROM quarry.jobs WHERE status = 'queued') AS queue_size,
              (SELECT count(*) FROM quarry.jobs WHERE status = 'queued' AND run_at <= now()) AS runnable,
              (SELECT count(*) FROM quarry.jobs WHERE status = 'processing') AS processing,
              (SELECT count(*) FROM quarry.dead_letter_jobs WHERE reprocessed_at IS NULL) AS dlq_size,
              (SELECT count(*) FILTER (WHERE status = 'completed') FROM recent) AS completed,
              (SELECT count(*) FILTER (WHERE status IN ('completed', 'dead_lettered', 'failed')) FROM recent) AS finished,
              (SELECT avg(duration_ms)::float8 FROM recent WHERE status = 'completed') AS avg_duration_ms,
              (SELECT count(*) FROM quarry.jobs WHERE status = 'processing'
                 AND heartbeat_at < now() - make_interval(secs => $1)) AS stalled_jobs,
              (SELECT coalesce(floor(extract(epoch FROM now() - min(run_at)) * 1000), 0)::bigint
                 FROM quarry.jobs WHERE status = 'queued' AND run_at <= now()) AS oldest_queued_ms,
              (SELECT count(*) FROM live) AS live_workers,
              (SELECT coalesce(sum(greatest(0, l.concurrency - (SELECT count(*) FROM quarry.jobs j
                 WHERE j.status = 'processing' AND j.worker_id = l.id))), 0)::bigint FROM live l) AS free_slots
            """, [stalledAfter.totalSeconds])
        guard let r = rows.first else { throw PostgresError(code: .protocolViolation, message: "health query returned no row") }
        let finished = r.int("finished") ?? 0
        let completed = r.int("completed") ?? 0
        return HealthMeasurements(
            queueSize: r.int("queue_size") ?? 0, runnable: r.int("runnable") ?? 0, processing: r.int("processing") ?? 0,
            dlqSize: r.int("dlq_size") ?? 0,
            successRate: finished > 0 ? Double(completed) * 100 / Double(finished) : nil,
            averageDurationMs: r.double("avg_duration_ms"), stalledJobs: r.int("stalled_jobs") ?? 0,
            oldestQueuedMs: r.int64("oldest_queued_ms") ?? 0, liveWorkers: r.int("live_workers") ?? 0,
            freeSlots: r.int("free_slots") ?? 0)
    }

    /// Measures, evaluates and stores one check; logs `health:status_change` when the status differs
    /// from the previous stored check.
    @discardableResult
    public func check() async throws -> HealthReport {
        let report = HealthEvaluator.evaluate(try await measure(), thresholds)
        let issues = String(decoding: try JSONEncoder().encode(report.issues), as: UTF8.self)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let details = String(decoding: try encoder.encode(report.measurements), as: UTF8.self)
        let previous = try await pool.transaction { c -> String? in
            let previous = try c.query("SELECT status FROM quarry.health_checks ORDER BY checked_at DESC, id DESC LIMIT 1")
                .first?.string("status")
            try c.query(
                """
                INSERT INTO quarry.health_checks (status, queue_ok, performance_ok, dlq_ok, workers_ok, issues, details)
                VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)
                """,
                [
                    report.status.rawValue, report.queueOK, report.performanceOK, report.dlqOK, report.workersOK,
                    JSONText(issues), JSONText(details),
                ])
            return previous
        }
        if previous != report.status.rawValue {
            logger.notice(
                "health:status_change",
                metadata: [
                    "from": "\(previous ?? "none")", "to": "\(report.status.rawValue)",
                    "issues": .array(report.issues.map { .string($0) }),
                ])
        } else {
            logger.debug("health:checked", metadata: ["status": "\(report.status.rawValue)"])
        }
        return report
    }
}
