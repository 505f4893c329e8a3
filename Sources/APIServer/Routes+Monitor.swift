import APIAuth
import Foundation
import Hummingbird
import Postgres
import Queue
import Storage

extension APIServer {
    static let monitorViews = ["dashboard", "health", "queue", "performance", "errors", "dlq", "recent-jobs", "hourly-stats"]

    func monitor(_ c: Call) async throws -> Response {
        let view = c.query("view").flatMap { $0.isEmpty ? nil : $0 } ?? "dashboard"
        guard Self.monitorViews.contains(view) else {
            throw APIError.badRequest("'view' must be one of \(Self.monitorViews.joined(separator: ", "))")
        }
        if view != "recent-jobs" && !c.who.isAdmin { throw APIError.forbidden("the '\(view)' view is fleet-wide and needs an admin token") }
        let window = c.query("window").flatMap { $0.isEmpty ? nil : $0 } ?? "24h"
        guard let windowSeconds = ["1h": 3600, "24h": 86400, "7d": 604_800][window] else {
            throw APIError.badRequest("'window' must be 1h, 24h or 7d")
        }
        switch view {
        case "health": return Envelope.raw(try await healthJSON())
        case "queue": return Envelope.raw(try await queueJSON())
        case "performance": return Envelope.raw(try await performanceJSON(window: window, seconds: windowSeconds))
        case "errors": return Envelope.raw(try await errorsJSON(window: window, seconds: windowSeconds))
        case "dlq": return Envelope.raw(try await dlqJSON())
        case "recent-jobs":
            let limit = try c.intQuery("limit", default: 20, range: 1...100)
            let rows = try await pool.query(
                """
                SELECT coalesce(jsonb_agg(x.job ORDER BY x.created_at DESC, x.id DESC), '[]'::jsonb)::text AS list FROM (
                    SELECT \(Self.jobJSON) || jsonb_build_object('org_id', j.org_id) AS job, j.created_at, j.id
                    FROM quarry.jobs j WHERE ($1 OR j.org_id = $2) ORDER BY j.created_at DESC, j.id DESC LIMIT $3
                ) x
                """, [c.who.isAdmin, c.who.orgID, limit])
            return Envelope.raw("{\"jobs\":\(rows.first?.string("list") ?? "[]")}")
        case "hourly-stats":
            let hours = try c.intQuery("hours", default: 24, range: 1...24 * 31)
            return Envelope.raw(try await hourlyJSON(hours: hours))
        default:
            async let h = healthJSON()
            async let q = queueJSON()
            async let p = performanceJSON(window: window, seconds: windowSeconds)
            async let e = errorsJSON(window: window, seconds: windowSeconds)
            async let d = dlqJSON()
            let parts = try await (h, q, p, e, d)
            return Envelope.raw(
                "{\"health\":\(parts.0),\"queue\":\(parts.1),\"performance\":\(parts.2),\"errors\":\(parts.3),\"dlq\":\(parts.4)}")
        }
    }

    func tableExists(_ name: String) async throws -> Bool {
        try await pool.query("SELECT to_regclass($1) IS NOT NULL AS e", [name]).first?.bool("e") ?? false
    }

    /// The latest janitor health check, or `unknown` until migration 0004 and the janitor have run.
    func healthJSON() async throws -> String {
        let unknown =
            "{\"status\":\"unknown\",\"queue_ok\":null,\"performance_ok\":null,\"dlq_ok\":null,\"workers_ok\":null,\"last_check\":null,\"issues\":[]}"
        guard try await tableExists("quarry.health_checks") else { return unknown }
        let r = try await pool.query(
            """
            SELECT jsonb_build_object('status', status, 'queue_ok', queue_ok, 'performance_ok', performance_ok,
                'dlq_ok', dlq_ok, 'workers_ok', workers_ok, 'last_check', checked_at,
                'issues', CASE WHEN jsonb_typeof(issues) = 'array' THEN issues ELSE '[]'::jsonb END)::text AS h
            FROM quarry.health_checks ORDER BY checked_at DESC LIMIT 1
            """)
        return r.first?.string("h") ?? unknown
    }

    func queueJSON() async throws -> String {
        let r = try await pool.query(
            """
            WITH q AS (
                SELECT (SELECT count(*) FROM quarry.jobs WHERE status = 'queued') AS queued,
                       (SELECT count(*) FROM quarry.jobs WHERE status = 'processing') AS active,
                       (SELECT count(*) FROM quarry.dead_letter_jobs WHERE reprocessed_at IS NULL) AS dlq,
                       (SELECT coalesce(sum(concurrency), 0) FROM quarry.workers
                         WHERE stopped_at IS NULL AND last_seen > now() - interval '30 seconds') AS max_concurrency
            )
            SELECT jsonb_build_object('queued', queued, 'active', active, 'dlq', dlq, 'max_concurrency', max_concurrency,
                'utilization_percent', CASE WHEN max_concurrency = 0 THEN 0 ELSE round(active * 100.0 / max_concurrency)::int END)::text AS j
            FROM q
            """)
        return r.first?.string("j") ?? "{}"
    }

    /// Raw metrics for the recent past, plus the janitor's hourly roll-ups for hours before the oldest raw row.
    private func metricsSource(seconds: Int) async throws -> String {
        let raw = """
            SELECT status, duration_ms::bigint AS duration_ms, rows_processed, error_code, 1::bigint AS jobs, created_at AS at
            FROM quarry.job_metrics WHERE created_at > now() - make_interval(secs => \(seconds))
            """
        guard try await tableExists("quarry.job_metrics_hourly") else { return raw }
        return raw + """

            UNION ALL
            SELECT status, total_duration_ms::bigint, rows_processed, error_code, jobs::bigint, hour
            FROM quarry.job_metrics_hourly
            WHERE hour > now() - make_interval(secs => \(seconds))
              AND hour + interval '1 hour' <= coalesce((SELECT min(created_at) FROM quarry.job_metrics), now())
            """
    }

    func performanceJSON(window: String, seconds: Int) async throws -> String {
        let source = try await metricsSource(seconds: max(seconds, 86400))
        let r = try await pool.query(
            """
            WITH m AS (\(source)),
            agg AS (
                SELECT
                  coalesce(sum(jobs) FILTER (WHERE status IN ('completed','dead_lettered') AND at > now() - interval '1 hour'), 0) AS jobs_1h,
                  coalesce(sum(jobs) FILTER (WHERE status IN ('completed','dead_lettered') AND at > now() - interval '24 hours'), 0) AS jobs_24h,
                  coalesce(sum(jobs) FILTER (WHERE status = 'completed' AND at > now() - interval '24 hours'), 0) AS ok_24h,
                  coalesce(sum(rows_processed) FILTER (WHERE at > now() - interval '24 hours'), 0) AS rows_24h,
                  coalesce(sum(jobs) FILTER (WHERE status IN ('completed','dead_lettered') AND at > now() - make_interval(secs => $1::int)), 0) AS jobs_w,
                  coalesce(sum(jobs) FILTER (WHERE status = 'completed' AND at > now() - make_interval(secs => $1::int)), 0) AS ok_w,
                  coalesce(sum(duration_ms) FILTER (WHERE status = 'completed' AND at > now() - make_interval(secs => $1::int)), 0) AS dur_w,
                  coalesce(sum(rows_processed) FILTER (WHERE at > now() - make_interval(secs => $1::int)), 0) AS rows_w
                FROM m
            )
            SELECT jsonb_build_object(
                'window', $2::text,
                'jobs_last_hour', jobs_1h, 'jobs_last_24h', jobs_24h,
                'success_rate_24h', CASE WHEN jobs_24h = 0 THEN 100 ELSE round(ok_24h * 100.0 / jobs_24h, 1) END,
                'avg_duration_ms', CASE WHEN ok_w = 0 THEN 0 ELSE round(dur_w::numeric / ok_w) END,
                'rows_processed_24h', rows_24h,
                'jobs_in_window', jobs_w,
                'success_rate_window', CASE WHEN jobs_w = 0 THEN 100 ELSE round(ok_w * 100.0 / jobs_w, 1) END,
                'rows_processed_window', rows_w,
                'throughput_rows_per_sec', round(rows_w::numeric / $1::int, 2))::text AS j
            FROM agg
            """, [seconds, window])
        return r.first?.string("j") ?? "{}"
    }

    func errorsJSON(window: String, seconds: Int) async throws -> String {
        let source = try await metricsSource(seconds: max(seconds, 86400))
        let r = try await pool.query(
            """
            WITH m AS (\(source)),
            e AS (SELECT error_code AS code, sum(jobs) AS count, at FROM m
                  WHERE status IN ('failed','dead_lettered') AND error_code IS NOT NULL GROUP BY error_code, at)
            SELECT jsonb_build_object(
                'window', $2::text,
                'total_errors_24h', (SELECT coalesce(sum(count), 0) FROM e WHERE at > now() - interval '24 hours'),
                'total_errors_window', (SELECT coalesce(sum(count), 0) FROM e WHERE at > now() - make_interval(secs => $1::int)),
                'top_errors', (SELECT coalesce(jsonb_agg(jsonb_build_object('code', code, 'count', n) ORDER BY n DESC, code), '[]'::jsonb)
                               FROM (SELECT code, sum(count) AS n FROM e WHERE at > now() - make_interval(secs => $1::int)
                                     GROUP BY code ORDER BY n DESC, code LIMIT 10) t))::text AS j
            """, [seconds, window])
        return r.first?.string("j") ?? "{}"
    }

    /// `entries_needing_attention`: pending entries whose upload has not since been extracted successfully.
    func dlqJSON() async throws -> String {
        let r = try await pool.query(
            """
            SELECT jsonb_build_object(
                'size', count(*),
                'oldest_entry_age_minutes', coalesce((extract(epoch FROM now() - min(d.created_at)) / 60)::int, 0),
                'entries_needing_attention', count(*) FILTER (WHERE NOT EXISTS (
                    SELECT 1 FROM quarry.jobs j WHERE j.org_id = d.org_id AND j.upload_id = d.upload_id
                      AND j.status = 'completed' AND j.created_at > d.created_at)))::text AS j
            FROM quarry.dead_letter_jobs d WHERE d.reprocessed_at IS NULL
            """)
        return r.first?.string("j") ?? "{}"
    }

    func hourlyJSON(hours: Int) async throws -> String {
        let hasHourly = try await tableExists("quarry.job_metrics_hourly")
        let rolled =
            hasHourly
            ? """
            SELECT hour, kind, status, jobs::bigint AS jobs, total_duration_ms::bigint AS total_ms, max_duration_ms::bigint AS max_ms,
                   rows_processed::bigint AS rows_processed
            FROM quarry.job_metrics_hourly WHERE hour > now() - make_interval(hours => $1)
            UNION ALL
            """ : ""
        let cutoff =
            hasHourly ? "(SELECT coalesce(max(hour) + interval '1 hour', '-infinity') FROM quarry.job_metrics_hourly)" : "'-infinity'::timestamptz"
        let r = try await pool.query(
            """
            WITH s AS (
                \(rolled)
                SELECT date_trunc('hour', created_at) AS hour, kind, status, count(*)::bigint AS jobs, sum(duration_ms)::bigint AS total_ms,
                       max(duration_ms)::bigint AS max_ms, sum(rows_processed)::bigint AS rows_processed
                FROM quarry.job_metrics
                WHERE created_at > now() - make_interval(hours => $1) AND created_at >= \(cutoff)
                GROUP BY 1, 2, 3
            ), g AS (
                SELECT hour, kind, status, sum(jobs) AS jobs, sum(total_ms) AS total_ms, max(max_ms) AS max_ms, sum(rows_processed) AS rows_processed
                FROM s GROUP BY hour, kind, status
            )
            SELECT jsonb_build_object('hours', $1::int, 'stats', coalesce(jsonb_agg(jsonb_build_object(
                'hour', hour, 'kind', kind, 'status', status, 'jobs', jobs,
                'avg_duration_ms', CASE WHEN jobs = 0 THEN 0 ELSE round(total_ms::numeric / jobs) END,
                'max_duration_ms', coalesce(max_ms, 0), 'rows_processed', coalesce(rows_processed, 0))
                ORDER BY hour DESC, kind, status), '[]'::jsonb))::text AS j
            FROM g
            """, [hours])
        return r.first?.string("j") ?? "{}"
    }
}
