import Foundation
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// Claims as they meet in production: orgs in the claim's org set that hold only jobs this claimer cannot take (another
/// kind, a future run_at), and two claims of the same org at once (migration 0015).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ClaimContentionTests {
    let pool: PostgresPool
    let store: JobStore

    init() async throws {
        pool = try await TestDatabase.migrated()
        store = JobStore(pool: pool)
    }

    /// Orgs whose queued jobs are of a kind no claimer here takes: they stay in the claim's org set.
    func parkIdleOrgs(_ count: Int) async throws -> String {
        let parked = TestDatabase.uniqueKind("parked")
        for _ in 0..<count { _ = try await store.enqueue(org: UUID(), kind: parked) }
        return parked
    }

    /// A claim that starts while another claim of the same org has not committed gets a full batch of other jobs at
    /// once. Before, with the org alone in the org set, it waited on the org's cursor row until the other committed (a
    /// durable commit: milliseconds; here, until the statement timeout); with an idle org in the set it read the same
    /// candidates as the other claim and came back empty. In a database of its own, so "alone" holds.
    @Test(arguments: [false, true])
    func aClaimBesideAnUncommittedClaimOfTheSameOrgNeitherWaitsNorComesBackShort(idleOrgs: Bool) async throws {
        let db = try await IsolatedDatabase()
        defer { db.drop() }
        let store = JobStore(pool: db.pool)
        let kind = "beside"
        if idleOrgs { for _ in 0..<3 { _ = try await store.enqueue(org: UUID(), kind: "parked") } }
        _ = try await store.enqueueBulk(org: UUID(), kind: kind, payloads: Array(repeating: "{}", count: 100))
        let first = try PostgresConnection(conninfo: db.url, applicationName: "claim-first")
        let second = try PostgresConnection(conninfo: db.url, applicationName: "claim-second")
        defer {
            _ = try? first.execute("ROLLBACK")
            first.close()
            second.close()
        }
        // Cursors exist first (a claim that creates one waits for a concurrent creator, by design).
        _ = try first.query("SELECT count(*) AS n FROM quarry.claim('warm', ARRAY[$1], 1)", [kind])
        try first.execute("BEGIN")
        let a = try first.query("SELECT id FROM quarry.claim('claim-first', ARRAY[$1], 10)", [kind]).map { $0.string("id") ?? "" }
        #expect(a.count == 10)
        try second.execute("SET statement_timeout = '5s'")
        let start = ContinuousClock.now
        let b: [String]
        do {
            b = try second.query("SELECT id FROM quarry.claim('claim-second', ARRAY[$1], 10)", [kind]).map { $0.string("id") ?? "" }
        } catch {
            Issue.record("the second claim failed while the first was open (\(error)): it waited on the first one")
            return
        }
        let waited = ContinuousClock.now - start
        #expect(b.count == 10, "the second claim got \(b.count) of 10 (idle orgs in the set: \(idleOrgs))")
        #expect(Set(a).isDisjoint(with: b))
        #expect(waited < .seconds(2), "the second claim took \(waited)")
        try first.execute("COMMIT")
        // Nothing lost: the cursor the second claim could not move is only a starting point.
        let rest = try await store.claimUntilEmpty(workerID: "rest", kinds: [kind], batch: 50).count
        #expect(rest == 100 - 1 - 20)
    }

    /// With idle orgs in the set, a claim of the one busy org finds and locks its jobs in one pass over the claim
    /// index, as with the org alone. Before, it read the org's candidates, then looked each one up again by primary
    /// key to lock it: twice the primary-key reads of the claim's own update (`pg_stat_user_indexes.idx_tup_read`).
    @Test func aBusyOrgAmongIdleOnesIsClaimedInOnePass() async throws {
        let kind = TestDatabase.uniqueKind("onepass")
        let parked = try await parkIdleOrgs(8)
        _ = try await store.enqueueBulk(org: UUID(), kind: kind, payloads: Array(repeating: "{}", count: 300))
        var claimed = 0
        let read = try await TestDatabase.indexEntriesRead("jobs_pkey") { c in
            claimed = try c.query("SELECT count(*) AS n FROM quarry.claim('onepass', ARRAY[$1], 200)", [kind]).first?.int("n") ?? 0
        }
        #expect(claimed == 200)
        // The update finds its 200 rows by primary key; a second lookup per job to lock it reads 200 more.
        #expect(read < 300, "claiming 200 jobs of the one busy org read \(read) entries of jobs_pkey")
        try await pool.query("DELETE FROM quarry.jobs WHERE kind = $1 OR kind = $2", [kind, parked])
    }

    /// Statistics taken before a backlog arrived (an empty queue analyzed, as `quarry bench queue` does before each
    /// drain and a quiet night does in production, until autovacuum analyzes again) must not make a claim read the
    /// whole backlog: the probe of each org's claimable jobs, written as EXISTS, was planned on
    /// jobs_org_status_created_idx and read every queued entry of the busy org on every claim (87 ms per claim at
    /// 200,000 queued; `quarry bench queue --parked-orgs 32` drained at 10k jobs/s instead of 25k). In a database of its
    /// own, so the statistics are exactly those of an empty queue.
    @Test func statisticsFromBeforeTheBacklogDoNotMakeAClaimReadIt() async throws {
        let db = try await IsolatedDatabase()
        defer { db.drop() }
        let store = JobStore(pool: db.pool)
        try await db.pool.query("VACUUM ANALYZE quarry.jobs")
        for _ in 0..<4 { _ = try await store.enqueue(org: UUID(), kind: "parked") }
        let kind = "stale"
        _ = try await store.enqueueBulk(org: UUID(), kind: kind, payloads: Array(repeating: "{}", count: 20_000))
        var claimed = 0
        let read = try await TestDatabase.indexEntriesRead("jobs_org_status_created_idx", url: db.url) { c in
            claimed = try c.query("SELECT count(*) AS n FROM quarry.claim('stale', ARRAY[$1], 10)", [kind]).first?.int("n") ?? 0
        }
        #expect(claimed == 10)
        #expect(read < 1_000, "one claim of 10 beside idle orgs read \(read) entries of jobs_org_status_created_idx (20,000 queued)")
    }

    /// After a queue of mixed priorities drained, statistics of an (almost) empty queue and a claim index left more
    /// bloated than jobs_org_created_idx must not make the claim read the org through jobs_org_created_idx: with every
    /// org looking like one row, the planner picked the index that looked smaller and sorted - each claim read every row
    /// of the org, queued or finished (150k-450k buffers per claim at 200,000 queued; `quarry bench queue --parked-orgs 32
    /// --old-snapshot` at 0.17-0.41 of its clean drain). Migration 0016 turns sorting off inside the claim's functions, so
    /// only reads in claim order remain. In a database of its own, so the statistics and the bloat are exactly these.
    @Test func aDrainedQueueOfMixedPrioritiesDoesNotMakeAClaimReadTheOrgsHistory() async throws {
        let db = try await IsolatedDatabase()
        defer { db.drop() }
        let store = JobStore(pool: db.pool)
        let org = UUID()
        let kind = "drained"
        // The drained queue: 50,000 jobs of mixed priorities (inserted all over the claim index's priority bands),
        // gone; then idle orgs, and the statistics of that moment.
        try await db.pool.query(
            "INSERT INTO quarry.jobs (org_id, kind, payload, priority) SELECT $1, $2, '{}', (random() * 100)::int FROM generate_series(1, 50000)",
            [org, kind])
        try await db.pool.query("DELETE FROM quarry.jobs")
        for _ in 0..<32 { _ = try await store.enqueue(org: UUID(), kind: "parked") }
        try await db.pool.query("VACUUM ANALYZE quarry.jobs")
        // The next backlog.
        _ = try await store.enqueueBulk(org: org, kind: kind, payloads: Array(repeating: "{}", count: 5_000))
        var claimed = 0
        let read = try await TestDatabase.indexEntriesRead("jobs_org_created_idx", url: db.url) { c in
            for _ in 0..<8 {
                claimed += try c.query("SELECT count(*) AS n FROM quarry.claim('drain', ARRAY[$1], 100)", [kind]).first?.int("n") ?? 0
            }
        }
        #expect(claimed == 800)
        #expect(read < 100, "8 claims of 100 read \(read) entries of jobs_org_created_idx (5,000 queued)")
    }

    /// Full scans are elected (migration 0015): a claim scans an org from the index start only when it holds the org's
    /// cursor row, so while a concurrent claim holds that row (it is moving the cursor), a claim that finds the
    /// interval passed reads from the cursor as usual - under an old snapshot a full scan walks every entry claimed
    /// since the snapshot, and before the election every claim that saw the interval pass did that walk (and its
    /// record of the scan was then skipped, so the next claim walked again). Once the row is free the next claim does
    /// the full scan and records it, and the one after it does not walk again. In a database of its own: one org.
    @Test func aFullScanIsDoneByTheClaimHoldingTheCursorOnly() async throws {
        let db = try await IsolatedDatabase()
        defer { db.drop() }
        let store = JobStore(pool: db.pool)
        let org = UUID()
        let kind = "elected"
        let holder = try OldSnapshotHolder(url: db.url)
        defer { holder.release() }
        try await claimBehindTheCursorThenQueueMore(db: db, store: store, org: org, kind: kind)
        func claimTen() async throws -> (read: Int, claimed: Int) {
            var n = 0
            let read = try await TestDatabase.indexEntriesRead("jobs_claim_org_idx", url: db.url) { c in
                try c.query("SET statement_timeout = '5s'")
                n = try c.query("SELECT count(*) AS n FROM quarry.claim('elected', ARRAY[$1], 10)", [kind]).first?.int("n") ?? 0
            }
            return (read, n)
        }
        // A concurrent claim holds the cursor row.
        let mover = try PostgresConnection(conninfo: db.url, applicationName: "cursor-mover")
        defer { mover.close() }
        try mover.execute("BEGIN")
        try mover.query("SELECT 1 FROM quarry.claim_cursors WHERE scope = $1 FOR UPDATE", [org])
        let beside = try await claimTen()
        try mover.execute("COMMIT")
        #expect(beside.claimed == 10)
        #expect(beside.read < 300, "a claim beside the cursor's holder read \(beside.read) entries (3,000 are behind the cursor)")
        // The row free: the next claim is elected, walks from the start, and records the scan.
        let elected = try await claimTen()
        #expect(elected.claimed == 10)
        #expect(elected.read >= 3_000, "the elected claim read \(elected.read) entries: no full scan")
        let after = try await claimTen()
        #expect(after.claimed == 10)
        #expect(after.read < 300, "the claim after the full scan read \(after.read) entries: the scan was not recorded")
    }

    /// A full scan walks the org once. The claim's probe asks each org whether it has a claimable job; an org due a
    /// full scan was probed from the index start, and then claim_org scanned it from the start again - under an old
    /// snapshot each walk reads every entry claimed since the snapshot, so the claims doing full scans (the claim p99)
    /// walked the org twice. Migration 0016 probes such an org from its cursor first. An idle org beside it, so the
    /// claim takes the probing path; in a database of its own.
    @Test func aFullScanBesideIdleOrgsWalksTheOrgOnce() async throws {
        let db = try await IsolatedDatabase()
        defer { db.drop() }
        let store = JobStore(pool: db.pool)
        let org = UUID()
        let kind = "walked"
        _ = try await store.enqueue(org: UUID(), kind: "parked")
        let holder = try OldSnapshotHolder(url: db.url)
        defer { holder.release() }
        try await claimBehindTheCursorThenQueueMore(db: db, store: store, org: org, kind: kind)
        var got = 0
        let read = try await TestDatabase.indexEntriesRead("jobs_claim_org_idx", url: db.url) { c in
            got = try c.query("SELECT count(*) AS n FROM quarry.claim('walked', ARRAY[$1], 10)", [kind]).first?.int("n") ?? 0
        }
        #expect(got == 10)
        #expect(read >= 3_000, "the full scan read \(read) entries: no full scan")
        #expect(read < 4_500, "the full scan read \(read) entries of jobs_claim_org_idx (3,000 behind the cursor): the org was walked twice")
    }

    /// While an old snapshot is held: 3,000 jobs of `org` enqueued and claimed (their claim-index entries stay behind
    /// the cursor), 30 more queued, and the org's cursor made due a full scan.
    func claimBehindTheCursorThenQueueMore(db: IsolatedDatabase, store: JobStore, org: UUID, kind: String) async throws {
        _ = try await store.enqueueBulk(org: org, kind: kind, payloads: Array(repeating: "{}", count: 3_000))
        let claimed = try await store.claimUntilEmpty(workerID: kind, kinds: [kind], batch: 500, upTo: 3_000).count
        #expect(claimed == 3_000)
        _ = try await store.enqueueBulk(org: org, kind: kind, payloads: Array(repeating: "{}", count: 30))
        try await db.pool.query("UPDATE quarry.claim_cursors SET full_scan_at = now() - interval '1 hour' WHERE scope = $1", [org])
    }
}
