import Foundation
import Models
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// Real `worker` processes against a real PostgreSQL: claim races, signals, crashes.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct WorkerProcessTests {
    let pool: PostgresPool
    let store: JobStore

    init() async throws {
        pool = try await TestDatabase.migrated()
        store = JobStore(pool: pool, retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(100), maxDelay: .seconds(1)))
    }

    /// Workers run only the built-in kinds, so each test tags its jobs with a payload marker and
    /// asserts over its own ids.
    func counts(_ ids: [UUID]) async throws -> [String: Int] {
        var out: [String: Int] = [:]
        for r in try await pool.query("SELECT status, count(*) AS n FROM quarry.jobs WHERE id = ANY($1::uuid[]) GROUP BY status", [ids]) {
            out[r.string("status") ?? "?"] = r.int("n")
        }
        return out
    }

    func completionsPerJob(_ ids: [UUID]) async throws -> (total: Int, maxPerJob: Int) {
        let r = try await pool.query(
            """
            SELECT count(*) AS total, coalesce(max(n), 0) AS maxn FROM (
              SELECT job_id, count(*) AS n FROM quarry.job_metrics
              WHERE status = 'completed' AND job_id = ANY($1::uuid[]) GROUP BY job_id) s
            """, [ids]
        ).first
        return (r?.int("total") ?? 0, r?.int("maxn") ?? 0)
    }

    func waitIdle() async throws {
        // Other suites' leftovers must not starve this one: only our ids matter.
        _ = try await eventually(timeout: .seconds(5)) {
            (try await pool.query("SELECT count(*) AS n FROM quarry.jobs WHERE status = 'queued' AND kind IN ('noop','sleep','fail')").first?.int("n")
                ?? 0) == 0
        }
    }

    @Test func severalWorkersCompleteEveryJobExactlyOnce() async throws {
        try await waitIdle()
        let ids = try await store.enqueueBulk(kind: "noop", payloads: Array(repeating: #"{"t":"race"}"#, count: 10_000))
        let workers = try (0..<4).map { i in
            try ChildProcess(
                "worker",
                environment: [
                    "EXTRACTION_MAX_CONCURRENCY": "\([8, 50, 200, 3][i])", "WORKER_CLAIM_BATCH": "\([5, 50, 100, 3][i])",
                    "LOG_LEVEL": "warning", "EXTRACTION_POLL_INTERVAL_MS": "100",
                ])
        }
        let done = try await eventually(timeout: .seconds(90), every: .milliseconds(200)) {
            try await counts(ids)["completed"] == ids.count
        }
        let final = try await counts(ids)
        #expect(done, "completed: \(final)")
        let c = try await completionsPerJob(ids)
        #expect(c.total == ids.count)
        #expect(c.maxPerJob == 1)
        for w in workers { w.signal(SIGTERM) }
        for w in workers { #expect(await w.waitForExit(timeout: .seconds(15)) == 0) }
    }

    @Test func sigtermDrainsShortJobsAndReleasesLongOnes() async throws {
        try await waitIdle()
        let short = try await store.enqueueBulk(kind: "sleep", payloads: Array(repeating: #"{"ms":300}"#, count: 2))
        let long = try await store.enqueueBulk(kind: "sleep", payloads: Array(repeating: #"{"ms":60000}"#, count: 2))
        let w = try ChildProcess(
            "worker",
            environment: [
                "EXTRACTION_MAX_CONCURRENCY": "4", "EXTRACTION_SHUTDOWN_TIMEOUT_MS": "1500", "WORKER_KINDS": "sleep",
                "EXTRACTION_HEARTBEAT_INTERVAL_MS": "100",
            ])
        // Running in the worker, not only claimed: `processing` is committed before the claim's answer reaches the
        // worker, and jobs whose claim returns after SIGTERM are handed straight back (released, not run) - a SIGTERM
        // in that window made this test fail (CI, 2026-12-02). A heartbeat after the claim means the worker holds them.
        #expect(
            try await eventually {
                try await pool.query(
                    "SELECT count(*) AS n FROM quarry.jobs WHERE id = ANY($1::uuid[]) AND status = 'processing' AND heartbeat_at > started_at",
                    [short + long]
                ).first?.int("n") == 4
            })
        w.signal(SIGTERM)
        let status = await w.waitForExit(timeout: .seconds(15))
        #expect(status == 0, "worker log:\n\(w.log)")
        #expect(try await counts(short)["completed"] == 2)
        let released = try await pool.query("SELECT status, attempt, worker_id FROM quarry.jobs WHERE id = ANY($1::uuid[])", [long])
        for r in released {
            #expect(r.string("status") == "queued")
            #expect(r.int("attempt") == 0)  // release does not charge an attempt
            #expect(r.string("worker_id") == nil)
        }
        #expect(w.log.contains("released jobs on shutdown"))
        _ = try await pool.query("DELETE FROM quarry.jobs WHERE id = ANY($1::uuid[])", [long])
    }

    @Test func killedWorkersJobsAreRecoveredAndCompletedOnce() async throws {
        try await waitIdle()
        let ids = try await store.enqueueBulk(kind: "sleep", payloads: Array(repeating: #"{"ms":1500}"#, count: 3))
        let victim = try ChildProcess(
            "worker",
            environment: [
                "EXTRACTION_MAX_CONCURRENCY": "3", "EXTRACTION_HEARTBEAT_INTERVAL_MS": "200", "WORKER_KINDS": "sleep",
            ])
        #expect(try await eventually { try await counts(ids)["processing"] == 3 })
        victim.signal(SIGKILL)
        _ = await victim.waitForExit(timeout: .seconds(5))
        // Nothing recovers them until their heartbeats are older than the threshold.
        #expect(try await store.recoverStalled(stalledAfter: .seconds(30)).filter { ids.contains($0.id) }.isEmpty)
        try await Task.sleep(for: .seconds(1.2))
        let recovered = try await store.recoverStalled(stalledAfter: .seconds(1)).filter { ids.contains($0.id) }
        #expect(recovered.count == 3)
        #expect(recovered.allSatisfy { $0.outcome == "requeued" })
        let rescuer = try ChildProcess("worker", environment: ["EXTRACTION_MAX_CONCURRENCY": "3", "WORKER_KINDS": "sleep"])
        #expect(try await eventually { try await counts(ids)["completed"] == 3 })
        let c = try await completionsPerJob(ids)
        #expect(c.total == 3 && c.maxPerJob == 1)
        let attempts = try await pool.query("SELECT attempt FROM quarry.jobs WHERE id = ANY($1::uuid[])", [ids]).compactMap { $0.int("attempt") }
        #expect(attempts == [2, 2, 2])
        rescuer.signal(SIGTERM)
        #expect(await rescuer.waitForExit(timeout: .seconds(10)) == 0)
    }

    /// `EXTRACTION_JOB_TIMEOUT_MS`: a run past its time limit is stopped and fails `TIME_LIMIT_EXCEEDED` into the
    /// DLQ (retrying a file that is too slow will not help), while a short job on the same worker completes.
    @Test func runPastItsTimeLimitIsStoppedAndDeadLettered() async throws {
        try await waitIdle()
        let slow = try await store.enqueue(kind: "sleep", payload: #"{"ms":60000}"#)
        let quick = try await store.enqueue(kind: "sleep", payload: #"{"ms":100}"#)
        let w = try ChildProcess(
            "worker", environment: ["EXTRACTION_JOB_TIMEOUT_MS": "800", "EXTRACTION_MAX_CONCURRENCY": "2", "WORKER_KINDS": "sleep"])
        let t0 = ContinuousClock.now
        #expect(try await eventually(timeout: .seconds(10)) { try await counts([slow])["dead_lettered"] == 1 }, "worker log:\n\(w.log)")
        let elapsed = ContinuousClock.now - t0
        #expect(elapsed < .seconds(5), "stopped after \(elapsed)")
        #expect(try await counts([quick])["completed"] == 1)
        let error = try await pool.query("SELECT error->>'code' AS code FROM quarry.jobs WHERE id = $1", [slow]).first?.string("code")
        #expect(error == "TIME_LIMIT_EXCEEDED")
        w.signal(SIGTERM)
        #expect(await w.waitForExit(timeout: .seconds(10)) == 0)
    }

    @Test func runningJobIsCancelledThroughNotify() async throws {
        try await waitIdle()
        let id = try await store.enqueue(kind: "sleep", payload: #"{"ms":30000}"#)
        // Heartbeats are slow here, so only the NOTIFY can stop the job quickly.
        let w = try ChildProcess("worker", environment: ["EXTRACTION_HEARTBEAT_INTERVAL_MS": "20000", "WORKER_KINDS": "sleep"])
        #expect(try await eventually { try await counts([id])["processing"] == 1 })
        let t0 = ContinuousClock.now
        #expect(try await store.cancel(id: id) == "cancelling")
        #expect(try await eventually(timeout: .seconds(5)) { try await counts([id])["cancelled"] == 1 })
        #expect(ContinuousClock.now - t0 < .seconds(3))
        let err = try await pool.query("SELECT error->>'code' AS c FROM quarry.jobs WHERE id = $1", [id]).first?.string("c")
        #expect(err == "CANCELLED")
        w.signal(SIGTERM)
        #expect(await w.waitForExit(timeout: .seconds(10)) == 0)
    }

    @Test func retryableFailureIsRetriedThenSucceeds() async throws {
        try await waitIdle()
        let retried = try await store.enqueue(kind: "fail", payload: #"{"code":"NETWORK_ERROR","succeed_after":1}"#, maxAttempts: 3)
        let fatal = try await store.enqueue(kind: "fail", payload: #"{"code":"INVALID_CONFIG"}"#, maxAttempts: 3)
        let w = try ChildProcess(
            "worker",
            environment: [
                "WORKER_KINDS": "fail", "EXTRACTION_BASE_DELAY_MS": "200", "EXTRACTION_POLL_INTERVAL_MS": "100",
            ])
        #expect(try await eventually { try await counts([retried])["completed"] == 1 })
        #expect(try await eventually { try await counts([fatal])["dead_lettered"] == 1 })
        let r = try await pool.query("SELECT attempt FROM quarry.jobs WHERE id = $1", [retried]).first?.int("attempt")
        #expect(r == 2)
        let f = try await pool.query("SELECT attempt FROM quarry.jobs WHERE id = $1", [fatal]).first?.int("attempt")
        #expect(f == 1)
        #expect(w.log.contains("job:retry"))
        #expect(w.log.contains("job:dlq"))
        w.signal(SIGTERM)
        #expect(await w.waitForExit(timeout: .seconds(10)) == 0)
    }

    @Test func workerSurvivesDatabaseSessionTermination() async throws {
        try await waitIdle()
        let w = try ChildProcess(
            "worker",
            environment: [
                "WORKER_KINDS": "noop", "EXTRACTION_POLL_INTERVAL_MS": "100", "EXTRACTION_HEARTBEAT_INTERVAL_MS": "200",
            ])
        let first = try await store.enqueueBulk(kind: "noop", payloads: Array(repeating: "{}", count: 100))
        #expect(try await eventually { try await counts(first)["completed"] == 100 })
        let t0 = ContinuousClock.now
        try await pool.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name IN ('quarry-worker','quarry-worker-listener')")
        let second = try await store.enqueueBulk(kind: "noop", payloads: Array(repeating: "{}", count: 100))
        #expect(try await eventually(timeout: .seconds(10)) { try await counts(second)["completed"] == 100 })
        #expect(ContinuousClock.now - t0 < .seconds(10))
        #expect(w.isRunning)
        w.signal(SIGTERM)
        #expect(await w.waitForExit(timeout: .seconds(10)) == 0)
    }
}
