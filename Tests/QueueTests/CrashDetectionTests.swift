import Foundation
import Models
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// Crash detection through the worker's heartbeat session (issue 17; migration 0009).
@Suite(.serialized, .timeLimit(.minutes(2)))
struct CrashDetectionTests {
    let pool: PostgresPool
    let store: JobStore

    init() async throws {
        pool = try await TestDatabase.migrated()
        store = JobStore(pool: pool)
    }

    func count(_ ids: [UUID], status: String) async throws -> Int {
        try await pool.query("SELECT count(*) AS n FROM quarry.jobs WHERE id = ANY($1::uuid[]) AND status = $2", [ids, status])
            .first?.int("n") ?? 0
    }

    /// kill -9 a worker holding 40 running jobs: with the default 30 s stall threshold they are back in the queue
    /// within 5 s (its session is gone), and a second worker completes each of them once. A worker that is
    /// alive but frozen (SIGSTOP) keeps its session and its jobs until the stall threshold.
    @Test func aCrashedWorkersJobsComeBackInSecondsAFrozenOnesDoNot() async throws {
        let ids = try await store.enqueueBulk(kind: "sleep", payloads: Array(repeating: #"{"ms":20000}"#, count: 40), priority: 990)
        let env = ["WORKER_KINDS": "sleep", "EXTRACTION_MAX_CONCURRENCY": "40", "WORKER_CLAIM_BATCH": "40"]
        let victim = try ChildProcess("worker", environment: env.merging(["WORKER_ID": "crash-\(UUID().uuidString.prefix(6))"]) { _, n in n })
        #expect(try await eventually(timeout: .seconds(20)) { try await count(ids, status: "processing") == 40 })
        victim.signal(SIGKILL)
        let t0 = ContinuousClock.now
        let back = try await eventually(timeout: .seconds(10), every: .milliseconds(100)) {
            _ = try await store.recoverDeadWorkers()  // the janitor's 1 s task, run faster here
            return try await count(ids, status: "queued") == 40
        }
        let elapsed = ContinuousClock.now - t0
        #expect(back && elapsed < .seconds(5), "\(elapsed)")

        // A frozen worker's session stays: nothing is taken from it.
        let frozen = try ChildProcess("worker", environment: env.merging(["WORKER_ID": "frozen-\(UUID().uuidString.prefix(6))"]) { _, n in n })
        defer { frozen.signal(SIGCONT); frozen.signal(SIGKILL) }
        #expect(try await eventually(timeout: .seconds(20)) { try await count(ids, status: "processing") == 40 })
        try await Task.sleep(for: .milliseconds(300))
        frozen.signal(SIGSTOP)
        try await Task.sleep(for: .seconds(2))
        let taken = try await store.recoverDeadWorkers().filter { ids.contains($0.id) }
        #expect(taken.isEmpty)
        #expect(try await count(ids, status: "processing") == 40)
        frozen.signal(SIGCONT)
        try await pool.query("UPDATE quarry.jobs SET status = 'cancelled' WHERE id = ANY($1::uuid[]) AND status <> 'completed'", [ids])
    }
}
