import Foundation
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// The queue's hot statements must find their rows by primary key whatever the statistics say. Right after an
/// `ANALYZE` taken while nothing was processing, the planner believed the partial indexes held one row and read them
/// for every job of a batch: a batched completion scanned every processing row per job (0.5 s for 500 jobs at 2,500
/// in flight), and the fair claim's row locks read the partial claim index on `id` (160 buffers per job at a 50,000-job
/// backlog). Measured by what the statement reads from the index (`pg_stat_user_indexes.idx_tup_read`), not by time.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct QueuePlanTests {
    let pool: PostgresPool
    let store: JobStore

    init() async throws {
        pool = try await TestDatabase.migrated()
        store = JobStore(pool: pool)
    }

    @Test func aBatchedCompletionFindsItsJobsByPrimaryKey() async throws {
        let kind = TestDatabase.uniqueKind("plan")
        _ = try await store.enqueueBulk(kind: kind, payloads: Array(repeating: "{}", count: 2_500))
        try await pool.query("ANALYZE quarry.jobs")  // as the benchmark does before a drain: nothing of ours processing
        let claimed = try await store.claimUntilEmpty(workerID: "plan-test", kinds: [kind], batch: 500, upTo: 2_500, fair: false)
        #expect(claimed.count == 2_500)
        let batch = Array(claimed.prefix(500))
        var completed = 0
        let read = try await TestDatabase.indexEntriesRead("jobs_processing_idx") { c in
            completed =
                try c.query(
                    "SELECT count(*) AS n FROM quarry.complete($1::uuid[], $2::uuid[], $3::jsonb[], $4::bigint[])",
                    [
                        batch.map(\.id), batch.map(\.leaseToken), Array(repeating: "{}", count: batch.count),
                        Array(repeating: Int64(0), count: batch.count),
                    ]
                ).first?.int("n") ?? 0
        }
        #expect(completed == 500)
        #expect(read < 100, "completing 500 jobs read \(read) entries of jobs_processing_idx (2,500 in flight)")
        try await pool.query("DELETE FROM quarry.jobs WHERE kind = $1", [kind])  // the shared test database stays lean
    }

    @Test func aFairClaimLocksItsJobsByPrimaryKey() async throws {
        let kind = TestDatabase.uniqueKind("plan")
        // Other orgs' queued jobs share the index (the test database is shared) and the fair claim reads each org's
        // candidates: they are the allowance, counted after a vacuum so none of their dead entries is left.
        try await pool.query("VACUUM quarry.jobs")
        let others = try await pool.query("SELECT count(*) AS n FROM quarry.jobs WHERE status = 'queued'").first?.int("n") ?? 0
        _ = try await store.enqueueBulk(org: UUID(), kind: kind, payloads: Array(repeating: "{}", count: 5_000))
        _ = try await store.enqueueBulk(org: UUID(), kind: kind, payloads: Array(repeating: "{}", count: 10))
        try await pool.query("ANALYZE quarry.jobs")
        var claimed = 0
        let read = try await TestDatabase.indexEntriesRead("jobs_claim_org_idx") { c in
            claimed = try c.query("SELECT count(*) AS n FROM quarry.claim('plan-test', ARRAY[$1], 500, true)", [kind]).first?.int("n") ?? 0
        }
        #expect(claimed == 500)
        // The candidates are read once (510 entries, plus other orgs' queued ones); locking each of the 500 through
        // the index instead of the primary key reads the queue again per job (~2.5 M entries).
        #expect(read < others + 2_000, "a fair claim of 500 read \(read) entries of jobs_claim_org_idx (\(others) other queued jobs)")
        try await pool.query("DELETE FROM quarry.jobs WHERE kind = $1", [kind])
    }
}
