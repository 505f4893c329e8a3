import Foundation
import Logging
import Postgres
import ServiceLifecycle
import Synchronization

/// The database-backed `/metrics` gauges, re-read by one background query every `API_METRICS_REFRESH_MS`.
///
/// Problem: a scrape used to run three aggregate queries (a `GROUP BY` over every job), so the scrape rate —
/// set by whoever scrapes, several Prometheus replicas, or anyone when `/metrics` is open — set the database
/// load. Mechanism: a `Service` refreshes the rendered text on its own interval; scrapes only read it.
/// Cost: gauges are up to one interval old; one statement per interval per api process.
final class MetricsGauges: Service, Sendable {
    private struct State {
        var text = "# HELP quarry_api_up Whether the database answered the last refresh.\n# TYPE quarry_api_up gauge\nquarry_api_up 0\n"
        var refreshes = 0
    }

    private let pool: PostgresPool
    private let interval: Duration
    private let logger: Logger
    private let state = Mutex(State())

    init(pool: PostgresPool, interval: Duration, logger: Logger) {
        self.pool = pool
        self.interval = interval
        self.logger = logger
    }

    /// The last rendered gauges, and how many refreshes this process has run.
    var snapshot: (text: String, refreshes: Int) { state.withLock { ($0.text, $0.refreshes) } }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.refresh()
                try? await Task.sleep(for: self.interval)
            }
        }
    }

    /// One read of every gauge. It waits at most 1 s for a lock (a migration holding `quarry.jobs` must not park
    /// a pool connection here); a failed read keeps the previous figures and reports `quarry_api_up 0`.
    func refresh() async {
        var text: String?
        do {
            let json = try await pool.transaction { c in
                try c.execute("SET LOCAL lock_timeout = '1s'; SET LOCAL statement_timeout = '30s'")
                return try c.query(Self.sql).first?.string("m") ?? "{}"
            }
            text = Self.render(try JSONDecoder().decode(Snapshot.self, from: Data(json.utf8)))
        } catch {
            logger.warning("metrics refresh failed", metadata: ["error": "\(error)"])
        }
        state.withLock {
            $0.text = text ?? $0.text.replacingOccurrences(of: "\nquarry_api_up 1\n", with: "\nquarry_api_up 0\n")
            $0.refreshes += 1
        }
    }

    struct Snapshot: Decodable {
        struct Jobs: Decodable { var status: String; var kind: String; var n: Int }
        struct Finished: Decodable { var status: String; var n: Int }
        struct Org: Decodable { var org_id: String; var org: String?; var queued: Int; var runnable: Int; var processing: Int }
        var jobs: [Jobs]
        var dlq: Int
        var finished: [Finished]
        var orgs: [Org]
    }

    static let sql = """
        SELECT jsonb_build_object(
          'jobs', (SELECT coalesce(jsonb_agg(jsonb_build_object('status', status, 'kind', kind, 'n', n) ORDER BY status, kind), '[]')
                   FROM (SELECT status, kind, count(*) AS n FROM quarry.jobs GROUP BY status, kind) s),
          'dlq', (SELECT count(*) FROM quarry.dead_letter_jobs WHERE reprocessed_at IS NULL),
          'finished', (SELECT coalesce(jsonb_agg(jsonb_build_object('status', status, 'n', n) ORDER BY status), '[]')
                       FROM (SELECT status, count(*) AS n FROM quarry.job_metrics
                             WHERE created_at > now() - interval '5 minutes' GROUP BY status) f),
          'orgs', (SELECT coalesce(jsonb_agg(jsonb_build_object('org_id', q.org_id, 'org', o.name, 'queued', q.queued,
                                                                'runnable', q.runnable, 'processing', q.processing)
                                             ORDER BY q.org_id), '[]')
                   FROM (SELECT org_id, count(*) FILTER (WHERE status = 'queued') AS queued,
                                count(*) FILTER (WHERE status = 'queued' AND run_at <= now()) AS runnable,
                                count(*) FILTER (WHERE status = 'processing') AS processing
                         FROM quarry.jobs WHERE status IN ('queued', 'processing') GROUP BY org_id) q
                   LEFT JOIN quarry.organizations o ON o.id = q.org_id)
        )::text AS m
        """

    static func render(_ s: Snapshot) -> String {
        var out = "# HELP quarry_jobs Jobs by status and kind.\n# TYPE quarry_jobs gauge\n"
        for j in s.jobs { out += "quarry_jobs{status=\"\(label(j.status))\",kind=\"\(label(j.kind))\"} \(j.n)\n" }
        out += "# HELP quarry_dlq_pending Dead-letter entries not yet reprocessed.\n# TYPE quarry_dlq_pending gauge\nquarry_dlq_pending \(s.dlq)\n"
        out += "# HELP quarry_jobs_finished_5m Job outcomes in the last 5 minutes.\n# TYPE quarry_jobs_finished_5m gauge\n"
        for f in s.finished { out += "quarry_jobs_finished_5m{status=\"\(label(f.status))\"} \(f.n)\n" }
        let gauges: [(String, String, KeyPath<Snapshot.Org, Int>)] = [
            ("quarry_org_jobs_queued", "Queued jobs per org (including ones waiting for a retry backoff).", \.queued),
            ("quarry_org_jobs_runnable", "Queued jobs per org that a worker could claim now (the KEDA trigger).", \.runnable),
            ("quarry_org_jobs_processing", "Jobs per org being processed.", \.processing),
        ]
        for (name, help, value) in gauges {
            out += "# HELP \(name) \(help) Orgs with no queued or processing job are absent (read as 0).\n# TYPE \(name) gauge\n"
            for o in s.orgs { out += "\(name){org_id=\"\(label(o.org_id))\",org=\"\(label(o.org ?? ""))\"} \(o[keyPath: value])\n" }
        }
        out += "# HELP quarry_api_up Whether the database answered the last refresh.\n# TYPE quarry_api_up gauge\nquarry_api_up 1\n"
        return out
    }

    static func label(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: " ")
    }
}
