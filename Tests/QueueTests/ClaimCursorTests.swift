import Foundation
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// The claim cursors of migration 0011 must never hide a claimable job for long: these are the cases where a job sits
/// behind a cursor or in another band, and what the claim must still do.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ClaimCursorTests {
    let pool: PostgresPool
    let store: JobStore

    init() async throws {
        pool = try await TestDatabase.migrated()
        store = JobStore(pool: pool)
    }

    /// The fair claim's per-org cursors and the global order's cursor are apart: a fair claim that finds nothing for the
    /// system org (whose id is the nil UUID) must not move the global order's cursor past another org's jobs.
    @Test func fairAndGlobalClaimsKeepTheirOwnCursors() async throws {
        let kind = TestDatabase.uniqueKind("cur")
        let org = UUID()
        // Another org's jobs first, then newer ones of the system org: a fair claim takes from both, so the system
        // org's cursor ends past every one of the other org's jobs.
        _ = try await store.enqueueBulk(org: org, kind: kind, payloads: Array(repeating: "{}", count: 40))
        _ = try await store.enqueueBulk(kind: kind, payloads: Array(repeating: "{}", count: 10))
        // And a queued job of another kind for the system org, so the fair claim has two orgs to share between.
        _ = try await store.enqueue(kind: TestDatabase.uniqueKind("other"))
        for fair in [true, false, true, false] {
            let got = try await store.claim(workerID: "cursor-test", kinds: [kind], limit: 10, fair: fair)
            #expect(got.count == 10, "a \(fair ? "fair" : "global") claim took \(got.count) of 10 queued jobs")
        }
    }

    /// A job of higher priority than the cursor's band is taken first, though the cursor has moved on.
    @Test func aHigherPriorityJobIsTakenFirstAfterTheCursorMoved() async throws {
        let kind = TestDatabase.uniqueKind("cur")
        _ = try await store.enqueueBulk(kind: kind, payloads: Array(repeating: "{}", count: 20))
        #expect(try await store.claim(workerID: "cursor-test", kinds: [kind], limit: 5).count == 5)
        let urgent = try await store.enqueue(kind: kind, priority: 7)
        let next = try await store.claim(workerID: "cursor-test", kinds: [kind], limit: 1)
        #expect(next.map(\.id) == [urgent])
    }

    /// A job that lands behind the cursor (here: enqueued with a run_at in the past) is a straggler, found by the
    /// periodic full scan within about two seconds.
    @Test func aJobBehindTheCursorIsFoundByTheNextFullScan() async throws {
        let kind = TestDatabase.uniqueKind("cur")
        _ = try await store.enqueueBulk(kind: kind, payloads: Array(repeating: "{}", count: 5))
        #expect(try await store.claim(workerID: "cursor-test", kinds: [kind], limit: 5).count == 5)
        let late = try await store.enqueue(kind: kind, runAt: Date().addingTimeInterval(-3600))
        let start = ContinuousClock.now
        var found = false
        while !found && ContinuousClock.now - start < .seconds(5) {
            found = try await store.claim(workerID: "cursor-test", kinds: [kind], limit: 1).map(\.id) == [late]
            if !found { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(found, "a job enqueued behind the cursor was not claimed within 5 s")
    }

    /// Workers of different kinds never hide each other's jobs: a cursor is kept per kind list.
    @Test func workersOfOtherKindsDoNotMoveEachOthersCursor() async throws {
        let a = TestDatabase.uniqueKind("cura")
        let b = TestDatabase.uniqueKind("curb")
        let first = try await store.enqueue(kind: b)
        _ = try await store.enqueueBulk(kind: a, payloads: Array(repeating: "{}", count: 10))
        #expect(try await store.claim(workerID: "cursor-test", kinds: [a], limit: 10).count == 10)
        // b's job is older than every job a took: a cursor shared with a's claimer would now stand past it.
        #expect(try await store.claim(workerID: "cursor-test", kinds: [b], limit: 1).map(\.id) == [first])
    }
}
