import Foundation
import Models
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// A worker whose completions cannot be written (here: `quarry.job_metrics` locked, as a long migration or a lock
/// queue would) must stop claiming: finished runs wait in its completion queue holding their jobs, and claiming on
/// would move the whole backlog to `processing` — and every batched completion then walks more in-flight rows.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct CompletionBackpressureTests {
    @Test func claimsStopWhileCompletionsCannotBeWritten() async throws {
        let pool = try await TestDatabase.migrated()
        let store = JobStore(pool: pool)
        let ids = try await store.enqueueBulk(kind: "noop", payloads: Array(repeating: "{}", count: 2_000))
        func processing() async throws -> Int {
            try await pool.queryRetrying(
                "SELECT count(*) AS n FROM quarry.jobs WHERE id = ANY($1::uuid[]) AND status = 'processing'", [ids]
            ).first?.int("n") ?? -1
        }
        // Completions insert into job_metrics; SHARE mode blocks those inserts (not claims, not heartbeats).
        let locker = try PostgresConnection(conninfo: TestDatabase.url, applicationName: "backpressure-lock")
        try locker.execute("BEGIN; LOCK TABLE quarry.job_metrics IN SHARE MODE")
        let worker = try ChildProcess(
            "worker", environment: ["WORKER_KINDS": "noop", "EXTRACTION_MAX_CONCURRENCY": "20", "WORKER_CLAIM_BATCH": "20"])
        defer { worker.signal(SIGKILL) }
        #expect(try await eventually { try await processing() > 0 })
        try await Task.sleep(for: .seconds(3))
        let held = try await processing()
        try locker.execute("COMMIT")
        // At most the slots plus one slots' worth of finished runs waiting for their completion.
        #expect(held <= 40, "\(held) jobs moved to processing while no completion could be written (20 slots); worker: \(worker.log.prefix(1500))")
        #expect(
            try await eventually(timeout: .seconds(60)) {
                try await pool.queryRetrying(
                    "SELECT count(*) AS n FROM quarry.jobs WHERE id = ANY($1::uuid[]) AND status = 'completed'", [ids]
                ).first?.int("n") == ids.count
            })
        worker.signal(SIGTERM)
        #expect(await worker.waitForExit(timeout: .seconds(15)) == 0)
    }
}
