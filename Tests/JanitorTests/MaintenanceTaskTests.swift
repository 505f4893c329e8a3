import Foundation
import Logging
import Postgres
import QuarryTestSupport
import Queue
import Testing

@testable import JanitorService

/// The cleanup and archive tasks against the real schema (shared test database; each test uses
/// its own ids and kind, and asserts only over those).
@Suite(.serialized, .timeLimit(.minutes(1)))
struct MaintenanceTaskTests {
    let pool: PostgresPool
    let logger = Logger(label: "test")

    init() async throws {
        pool = try await TestDatabase.migrated()
    }

    @Test func expiredResultsAndUploadsAreDeletedUnexpiredKept() async throws {
        let org = UUID()
        let expired = (0..<5).map { _ in UUID() }
        let fresh = (0..<2).map { _ in UUID() }
        for (ids, expiresIn) in [(expired, "-1 hour"), (fresh, "1 hour")] {
            for id in ids {
                try await pool.query(
                    """
                    INSERT INTO quarry.extraction_results (job_id, org_id, cache_key, summary, expires_at)
                    VALUES ($1, $2, 'k', '{}', now() + $3::interval)
                    """, [id, org, expiresIn])
                try await pool.query(
                    "INSERT INTO quarry.result_rows (job_id, row_number, valid, sku) SELECT $1, g, true, 'S' || g FROM generate_series(1, 30) g",
                    [id])
            }
        }
        let oldUpload = try await pool.query(
            "INSERT INTO quarry.uploads (org_id, file_name, expires_at) VALUES ($1, 'old.csv', now() - interval '1 day') RETURNING id",
            [org]
        ).first!.uuid("id")!
        let newUpload = try await pool.query(
            "INSERT INTO quarry.uploads (org_id, file_name) VALUES ($1, 'new.csv') RETURNING id", [org]
        ).first!.uuid("id")!
        try await pool.query("INSERT INTO quarry.upload_chunks (upload_id, seq, data) VALUES ($1, 0, '\\x0102'::bytea)", [oldUpload])

        // A batch smaller than the expired set proves the loop runs more than one batch.
        let outcome = try await ResultCacheCleanup(pool: pool, batchSize: 2, logger: logger).run()
        #expect(outcome.results >= expired.count)
        #expect(outcome.uploads >= 1)

        let results = try await pool.query("SELECT job_id FROM quarry.extraction_results WHERE org_id = $1", [org]).compactMap { $0.uuid("job_id") }
        #expect(Set(results) == Set(fresh))
        let rows = try await pool.query(
            "SELECT job_id, count(*) AS n FROM quarry.result_rows WHERE job_id = ANY($1::uuid[]) GROUP BY job_id", [expired + fresh])
        #expect(Set(rows.compactMap { $0.uuid("job_id") }) == Set(fresh))
        #expect(rows.allSatisfy { $0.int("n") == 30 })
        let uploads = try await pool.query("SELECT id FROM quarry.uploads WHERE org_id = $1", [org]).compactMap { $0.uuid("id") }
        #expect(uploads == [newUpload])
        let chunks = try await pool.query("SELECT count(*) AS n FROM quarry.upload_chunks WHERE upload_id = $1", [oldUpload])
        #expect(chunks.first?.int("n") == 0)
    }

    func retention(raw: Duration = .seconds(7 * 86_400)) -> MetricsArchive.Retention {
        .init(
            rawMetrics: raw, hourlyMetrics: .seconds(90 * 86_400), jobs: .seconds(30 * 86_400),
            healthChecks: .seconds(7 * 86_400), alertLog: .seconds(90 * 86_400))
    }

    @Test func oldMetricsRollUpIntoHourlyAggregatesExactlyOnce() async throws {
        let kind = TestDatabase.uniqueKind("roll")
        let org = UUID()
        // Ten days ago, two hours: 10:xx has 3 completed (100, 200, 300 ms; 5 rows each) and one
        // failed with a code; 11:xx has 1 completed. Plus one recent row that must stay raw.
        let base = "date_trunc('hour', now() - interval '10 days')"
        let rows: [(offsetMin: Int, status: String, ms: Int, rows: Int, code: String?)] = [
            (5, "completed", 100, 5, nil), (20, "completed", 200, 5, nil), (59, "completed", 300, 5, nil),
            (30, "failed", 50, 0, "TIMEOUT_ERROR"), (65, "completed", 1000, 7, nil),
        ]
        for r in rows {
            try await pool.query(
                """
                INSERT INTO quarry.job_metrics (job_id, org_id, kind, status, duration_ms, rows_processed, error_code, created_at)
                VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, \(base) + make_interval(mins => $7))
                """, [org, kind, r.status, r.ms, r.rows, r.code, r.offsetMin])
        }
        try await pool.query(
            "INSERT INTO quarry.job_metrics (job_id, org_id, kind, status, duration_ms) VALUES (gen_random_uuid(), $1, $2, 'completed', 9)",
            [org, kind])

        let archive = MetricsArchive(pool: pool, retention: retention(), batchSize: 1, logger: logger)
        let first = try await archive.run()
        #expect(first.rolledUp >= rows.count)

        func hourly() async throws -> [String] {
            try await pool.query(
                """
                SELECT extract(epoch FROM hour - date_trunc('hour', now() - interval '10 days'))::int / 3600 AS h,
                       status, error_code, jobs, total_duration_ms, max_duration_ms, rows_processed
                FROM quarry.job_metrics_hourly WHERE kind = $1 ORDER BY 1, 2
                """, [kind]
            ).map { r in
                "\(r.int("h")!) \(r.string("status")!) \(r.string("error_code")!) \(r.int("jobs")!) \(r.int("total_duration_ms")!) \(r.int("max_duration_ms")!) \(r.int("rows_processed")!)"
            }
        }
        let expected = [
            "0 completed  3 600 300 15",
            "0 failed TIMEOUT_ERROR 1 50 50 0",
            "1 completed  1 1000 1000 7",
        ]
        #expect(try await hourly() == expected)
        let raw = try await pool.query("SELECT count(*) AS n FROM quarry.job_metrics WHERE kind = $1", [kind]).first?.int("n")
        #expect(raw == 1, "only the recent raw row stays")

        // A second run finds nothing more of ours and must not add to the aggregates.
        _ = try await archive.run()
        #expect(try await hourly() == expected)

        // Late raw rows for an hour already rolled up are added to it, not duplicated.
        try await pool.query(
            """
            INSERT INTO quarry.job_metrics (job_id, org_id, kind, status, duration_ms, rows_processed, created_at)
            VALUES (gen_random_uuid(), $1, $2, 'completed', 400, 1, \(base) + interval '10 minutes')
            """, [org, kind])
        _ = try await archive.run()
        #expect(try await hourly().first == "0 completed  4 1000 400 16")
    }

    @Test func finishedJobsAndHistoryPastRetentionArePruned() async throws {
        let store = JobStore(pool: pool)
        let kind = TestDatabase.uniqueKind("prune")
        let old = try await store.enqueue(kind: kind)
        let recent = try await store.enqueue(kind: kind)
        let queued = try await store.enqueue(kind: kind)
        try await pool.query(
            "UPDATE quarry.jobs SET status = 'completed', completed_at = now() - interval '31 days' WHERE id = $1", [old])
        try await pool.query(
            "UPDATE quarry.jobs SET status = 'dead_lettered', completed_at = now() - interval '1 day' WHERE id = $1", [recent])
        let oldCheck = try await pool.query(
            """
            INSERT INTO quarry.health_checks (checked_at, status, queue_ok, performance_ok, dlq_ok, workers_ok, issues, details)
            VALUES (now() - interval '8 days', 'healthy', true, true, true, true, '[]', '{}') RETURNING id
            """
        ).first!.int("id")!
        _ = try await MetricsArchive(pool: pool, retention: retention(), batchSize: 100, logger: logger).run()
        let left = try await pool.query("SELECT id FROM quarry.jobs WHERE kind = $1", [kind]).compactMap { $0.uuid("id") }
        #expect(Set(left) == [recent, queued])
        let check = try await pool.query("SELECT count(*) AS n FROM quarry.health_checks WHERE id = $1", [oldCheck])
        #expect(check.first?.int("n") == 0)
    }

    @Test func auditLogPastRetentionIsPruned() async throws {
        let marker = "audit-prune-\(UUID().uuidString.prefix(8))"
        try await pool.query(
            """
            INSERT INTO quarry.audit_log (at, action, target_id) VALUES
              (now() - interval '91 days', 'test.old', $1), (now() - interval '89 days', 'test.kept', $1), (now(), 'test.new', $1)
            """, [marker])
        let outcome = try await MetricsArchive(
            pool: pool,
            retention: .init(
                rawMetrics: .seconds(7 * 86_400), hourlyMetrics: .seconds(90 * 86_400), jobs: .seconds(30 * 86_400),
                healthChecks: .seconds(7 * 86_400), alertLog: .seconds(90 * 86_400), auditLog: .seconds(90 * 86_400)),
            batchSize: 1, logger: logger
        ).run()
        #expect(outcome.auditLogDeleted >= 1)
        let left = try await pool.query("SELECT action FROM quarry.audit_log WHERE target_id = $1 ORDER BY action", [marker]).compactMap {
            $0.string("action")
        }
        #expect(left == ["test.kept", "test.new"])
        // The janitor's configuration reads AUDIT_RETENTION_DAYS (default 90).
        let c = try JanitorConfiguration.fromEnvironment(["DATABASE_URL": "postgres://x", "AUDIT_RETENTION_DAYS": "30"])
        #expect(c.auditRetention == .seconds(30 * 86_400))
        #expect(JanitorConfiguration(databaseURL: "postgres://x").auditRetention == .seconds(90 * 86_400))
    }

    @Test func stalledJobsAreRequeuedAndSilentWorkersMarkedStopped() async throws {
        let store = JobStore(pool: pool)
        let kind = TestDatabase.uniqueKind("stall")
        let worker = "dead-\(UUID().uuidString.prefix(8))"
        try await store.registerWorker(id: worker, host: "h", pid: 1, version: "t", kinds: [kind], concurrency: 1)
        let id = try await store.enqueue(kind: kind)
        let claimed = try await store.claim(workerID: worker, kinds: [kind], limit: 1)
        #expect(claimed.map(\.id) == [id])
        try await pool.query("UPDATE quarry.jobs SET heartbeat_at = now() - interval '1 minute' WHERE id = $1", [id])
        try await pool.query("UPDATE quarry.workers SET last_seen = now() - interval '1 minute' WHERE id = $1", [worker])

        let outcome = try await StalledJobRecovery(store: store, stalledAfter: .seconds(30), logger: logger).run()
        #expect(outcome.requeued >= 1)
        #expect(outcome.workersStopped >= 1)
        let job = try await pool.query("SELECT status, attempt, error->>'code' AS code FROM quarry.jobs WHERE id = $1", [id]).first
        #expect(job?.string("status") == "queued")
        #expect(job?.int("attempt") == 1)
        #expect(job?.string("code") == "STALLED")
        let w = try await pool.query("SELECT stopped_at IS NOT NULL AS stopped FROM quarry.workers WHERE id = $1", [worker]).first
        #expect(w?.bool("stopped") == true)
        // The stale lease cannot complete the job any more.
        let done = try await store.complete([Completion(id: claimed[0].id, leaseToken: claimed[0].leaseToken)])
        #expect(done.isEmpty)
    }
}
