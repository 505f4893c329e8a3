import Foundation
import Models
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// Issue 12 through the api: the in-request trigger runs the worker's executor, and results are served and
/// committed only for completed jobs.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct FencedPathAPITests {
    /// `POST /api/worker/process` with a budget shorter than the job: the run is heartbeated while it works, and
    /// when the budget ends its attempt is charged (`TIMEOUT_ERROR`, rescheduled with the configured backoff), so
    /// the job reaches the DLQ after its attempts instead of being handed back for free forever. Before, the
    /// trigger path sent no heartbeat and released the job with its attempt given back.
    @Test func theTriggerPathChargesOverBudgetJobsAndHeartbeats() async throws {
        let (api, base) = try await APIHarness.start(environment: [
            "EXTRACTION_HEARTBEAT_INTERVAL_MS": "200", "EXTRACTION_BASE_DELAY_MS": "50", "EXTRACTION_MAX_DELAY_MS": "100",
            "API_RATE_LIMIT_PER_MIN": "100000",
        ])
        defer { api.signal(SIGTERM) }
        let admin = try await APIHarness.shared.org(admin: true)
        let pool = APIHarness.shared.pool
        let store = JobStore(pool: pool)
        // Above any priority the api accepts, so this call claims this job and no other test's.
        let id = try await store.enqueue(org: admin.id, kind: "sleep", payload: #"{"ms":60000}"#, priority: 2_000_000, maxAttempts: 2)
        defer { Task { _ = try? await store.cancel(id: id) } }

        let call = Task { try await HTTP.request("POST", base + "/api/worker/process?max_jobs=1&budget_ms=2000", token: admin.token) }
        try await Task.sleep(for: .milliseconds(1300))
        let beat = try await pool.query(
            "SELECT status, extract(epoch FROM heartbeat_at - started_at) * 1000 AS beat_ms FROM quarry.jobs WHERE id = $1", [id]
        ).first
        #expect(beat?.string("status") == "processing")
        #expect((beat?.double("beat_ms") ?? 0) > 500, "no heartbeat on the trigger path: \(beat?.string("beat_ms") ?? "-") ms")
        let first = try await call.value
        #expect(first.status == 200, "\(first)")
        #expect(first.data["failed"] as? Int == 1, "\(first)")
        let afterFirst = try await pool.query(
            """
            SELECT status, attempt, error->>'code' AS code, extract(epoch FROM run_at - now()) AS wait_s FROM quarry.jobs WHERE id = $1
            """, [id]
        ).first
        #expect(afterFirst?.string("status") == "queued")
        #expect(afterFirst?.int("attempt") == 1, "the over-budget attempt was given back")
        #expect(afterFirst?.string("code") == "TIMEOUT_ERROR")
        #expect((afterFirst?.double("wait_s") ?? 9) < 0.5, "the api did not use EXTRACTION_BASE_DELAY_MS")
        try await Task.sleep(for: .milliseconds(300))
        let second = try await HTTP.request("POST", base + "/api/worker/process?max_jobs=1&budget_ms=500", token: admin.token)
        #expect(second.status == 200, "\(second)")
        let final = try await pool.query("SELECT status, error->>'code' AS code FROM quarry.jobs WHERE id = $1", [id]).first
        #expect(final?.string("status") == "dead_lettered")
        #expect(final?.string("code") == "TIMEOUT_ERROR")
    }

    /// A result row whose job did not complete (what an unfenced writer could leave behind) is neither served
    /// nor committed into the catalog.
    @Test func resultsOfAJobThatDidNotCompleteAreNotServedOrCommitted() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let pool = APIHarness.shared.pool
        let job = try #require(
            try await pool.query(
                "INSERT INTO quarry.jobs (org_id, kind, status, attempt) VALUES ($1, 'extract', 'dead_lettered', 1) RETURNING id", [org.id]
            ).first?.uuid("id"))
        try await pool.query(
            """
            INSERT INTO quarry.extraction_results (job_id, org_id, cache_key, kind, summary)
            VALUES ($1, $2, 'k', 'tabular', '{"rows_total":1}');
            """, [job, org.id])
        try await pool.query(
            """
            INSERT INTO quarry.result_rows (job_id, row_number, valid, sku, price, classification) VALUES ($1, 2, true, 'Z-1', 9.5, 'new')
            """, [job])
        let path = base + "/api/extraction/jobs/\(job.uuidString.lowercased())"
        let result = try await HTTP.request("GET", path + "/result", token: org.token)
        #expect(result.status == 404, "\(result)")
        let commit = try await HTTP.request("POST", path + "/commit", token: org.token)
        #expect(commit.status == 404, "\(commit)")
        let products = try await pool.query("SELECT count(*) AS n FROM quarry.products WHERE org_id = $1", [org.id]).first?.int("n")
        #expect(products == 0)
    }
}
