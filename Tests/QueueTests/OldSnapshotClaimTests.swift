import Foundation
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// While another session holds an old snapshot, PostgreSQL can neither vacuum nor mark dead the claim index entries
/// of jobs claimed since; a claim that scans the index from its start walks every one of them (issue 17: 26.6k
/// buffers per claim after 40k jobs). The claim cursor (migration 0011) seeks past them.
///
/// Measured by what the claim reads from `jobs_claim_org_idx` (`pg_stat_user_indexes.idx_tup_read`), not by time: the
/// claim runs on its own connection, which is closed so its statistics are flushed before they are read.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct OldSnapshotClaimTests {
    /// Index entries one claim reads from `jobs_claim_org_idx`.
    func entriesReadByOneClaim(kind: String, fair: Bool) async throws -> (read: Int, claimed: Int) {
        var claimed = 0
        let read = try await TestDatabase.indexEntriesRead("jobs_claim_org_idx") { c in
            claimed = try c.query("SELECT count(*) AS n FROM quarry.claim('old-snapshot', ARRAY[$1], 10, $2)", [kind, fair]).first?.int("n") ?? 0
        }
        return (read, claimed)
    }

    @Test func aClaimDoesNotWalkTheJobsClaimedUnderAnOldSnapshot() async throws {
        let pool = try await TestDatabase.migrated()
        let store = JobStore(pool: pool)
        let kind = TestDatabase.uniqueKind("snap")
        // A priority no other test uses, so no other job's entries sit in the bands this claim reads.
        let priority = 1_900_000_000
        // Other orgs' queued jobs share the index (the test database is shared): their entries are read too, so they
        // are the allowance. Vacuumed first, so no other org's dead entries are left behind for the claim to read.
        try await pool.query("VACUUM quarry.jobs")
        let others =
            try await pool.query("SELECT count(*) AS n FROM quarry.jobs WHERE status = 'queued' AND org_id <> $1", [JobStore.systemOrg])
            .first?.int("n") ?? 0
        // The old snapshot: open (and used) before any of these jobs exist, held to the end.
        let holder = try OldSnapshotHolder()
        defer { holder.release() }
        _ = try await store.enqueueBulk(kind: kind, payloads: Array(repeating: "{}", count: 5_000), priority: priority)
        let claimed = try await store.claimUntilEmpty(workerID: "old-snapshot", kinds: [kind], batch: 500, upTo: 5_000, fair: false).count
        #expect(claimed == 5_000)
        _ = try await store.enqueueBulk(kind: kind, payloads: Array(repeating: "{}", count: 10), priority: priority)
        // Not the periodic full scan (invariant 2 of migration 0011): that one reads from the start by design.
        if try await pool.query("SELECT to_regclass('quarry.claim_cursors') IS NOT NULL AS e").first?.bool("e") == true {
            try await pool.query("UPDATE quarry.claim_cursors SET full_scan_at = now() WHERE kinds = ARRAY[$1]", [kind])
        }
        let (read, got) = try await entriesReadByOneClaim(kind: kind, fair: false)
        #expect(got == 10)
        // Without the cursor the claim reads all 5,000 dead entries before the 10 live ones.
        #expect(
            read < others + 500,
            "one claim read \(read) index entries of jobs_claim_org_idx (\(others) are other orgs' queued jobs); 5,000 claimed jobs' entries are dead"
        )
    }
}
