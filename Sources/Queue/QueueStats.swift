public import Foundation
public import Postgres

/// A snapshot of the queue for `quarry status` and the monitor views.
public struct QueueStats: Sendable, Codable {
    /// Job counts by status (every status present, zero when none).
    public var jobs: [String: Int]
    /// Queued jobs whose `run_at` has passed.
    public var runnable: Int
    public var deadLetterPending: Int
    public var workers: [WorkerInfo]

    public struct WorkerInfo: Sendable, Codable {
        public var id: String
        public var host: String
        public var pid: Int
        public var concurrency: Int
        public var active: Int
        public var lastSeenSecondsAgo: Double
    }

    /// Reads the snapshot; workers seen within `liveWithin` count as live.
    public static func read(pool: PostgresPool, liveWithin: Duration = .seconds(30)) async throws -> QueueStats {
        let seconds = Double(liveWithin.components.seconds)
        return try await pool.withConnection { c in
            var jobs: [String: Int] = [:]
            for s in ["queued", "processing", "completed", "failed", "cancelled", "dead_lettered"] { jobs[s] = 0 }
            for r in try c.query("SELECT status, count(*) AS n FROM quarry.jobs GROUP BY status") {
                if let s = r.string("status") { jobs[s] = r.int("n") ?? 0 }
            }
            let runnable =
                try c.query(
                    "SELECT count(*) AS n FROM quarry.jobs WHERE status = 'queued' AND run_at <= now()"
                ).first?.int("n") ?? 0
            let dlq =
                try c.query(
                    "SELECT count(*) AS n FROM quarry.dead_letter_jobs WHERE reprocessed_at IS NULL"
                ).first?.int("n") ?? 0
            let workers = try c.query(
                """
                SELECT w.id, w.host, w.pid, w.concurrency, extract(epoch FROM now() - w.last_seen)::float8 AS ago,
                       (SELECT count(*) FROM quarry.jobs j WHERE j.status = 'processing' AND j.worker_id = w.id) AS active
                FROM quarry.workers w
                WHERE w.stopped_at IS NULL AND w.last_seen > now() - make_interval(secs => $1)
                ORDER BY w.started_at
                """, [seconds]
            ).map { r in
                WorkerInfo(
                    id: r.string("id") ?? "", host: r.string("host") ?? "", pid: r.int("pid") ?? 0,
                    concurrency: r.int("concurrency") ?? 0, active: r.int("active") ?? 0,
                    lastSeenSecondsAgo: r.double("ago") ?? 0)
            }
            return QueueStats(jobs: jobs, runnable: runnable, deadLetterPending: dlq, workers: workers)
        }
    }
}
