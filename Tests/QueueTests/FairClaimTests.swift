import Foundation
import Models
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// Fair claiming across orgs, inside the claim function (issue 15; migration 0007's invariants).
@Suite(.serialized, .timeLimit(.minutes(2)))
struct FairClaimTests {
    let pool: PostgresPool
    let store: JobStore

    init() async throws {
        pool = try await TestDatabase.migrated()
        store = JobStore(pool: pool)
    }

    /// Org A's backlog of 2,000 jobs is queued first; org B then queues 3. The global order (the claim before
    /// this change, still available as `fair: false`) hands the whole batch to A; the fair claim gives B's
    /// three jobs a place in the very next batch.
    @Test func aBacklogDoesNotDelayAnotherOrgsFirstJobsBeyondOneBatch() async throws {
        let kind = TestDatabase.uniqueKind("fair")
        let a = UUID()
        let b = UUID()
        _ = try await store.enqueueBulk(org: a, kind: kind, payloads: Array(repeating: "{}", count: 2_000))
        try await Task.sleep(for: .milliseconds(5))
        let bJobs = try await store.enqueueBulk(org: b, kind: kind, payloads: Array(repeating: "{}", count: 3))
        let unfair = try await store.claim(workerID: "w-unfair", kinds: [kind], limit: 10, fair: false)
        #expect(unfair.allSatisfy { $0.orgID == a }, "the global order starves B")
        let fair = try await store.claim(workerID: "w-fair", kinds: [kind], limit: 10)
        #expect(fair.count == 10)
        #expect(Set(fair.filter { $0.orgID == b }.map(\.id)) == Set(bJobs))
    }

    /// Priority still comes first: a higher-priority job of the big org is taken before the small org's.
    @Test func priorityComesBeforeRoundRobin() async throws {
        let kind = TestDatabase.uniqueKind("prio")
        let a = UUID()
        let b = UUID()
        _ = try await store.enqueueBulk(org: a, kind: kind, payloads: Array(repeating: "{}", count: 5))
        let urgent = try await store.enqueue(org: a, kind: kind, priority: 5)
        _ = try await store.enqueueBulk(org: b, kind: kind, payloads: Array(repeating: "{}", count: 5))
        let first = try await store.claim(workerID: "w", kinds: [kind], limit: 1)
        #expect(first.map(\.id) == [urgent])
        let next = try await store.claim(workerID: "w", kinds: [kind], limit: 4)
        // Round-robin at priority 0: A, B, A, B by rank.
        #expect(next.filter { $0.orgID == a }.count == 2)
        #expect(next.filter { $0.orgID == b }.count == 2)
    }

    /// `ORG_MAX_RUNNING` is enforced by the claim itself, exactly, even with claims racing each other.
    @Test func aPerOrgCapHoldsAcrossConcurrentClaims() async throws {
        let kind = TestDatabase.uniqueKind("cap")
        let a = UUID()
        let b = UUID()
        _ = try await store.enqueueBulk(org: a, kind: kind, payloads: Array(repeating: "{}", count: 200))
        _ = try await store.enqueueBulk(org: b, kind: kind, payloads: Array(repeating: "{}", count: 2))
        let claims = try await withThrowingTaskGroup(of: [ClaimedJob].self) { group in
            for i in 0..<8 {
                group.addTask { try await store.claim(workerID: "w\(i)", kinds: [kind], limit: 50, orgMaxRunning: 3) }
            }
            var all: [ClaimedJob] = []
            for try await c in group { all += c }
            return all
        }
        #expect(claims.filter { $0.orgID == a }.count == 3)
        #expect(claims.filter { $0.orgID == b }.count == 2)
        // Finishing one of A's frees one place for A.
        let done = try #require(claims.first { $0.orgID == a })
        #expect(try await store.complete([Completion(id: done.id, leaseToken: done.leaseToken)]).count == 1)
        let more = try await store.claim(workerID: "w", kinds: [kind], limit: 50, orgMaxRunning: 3)
        #expect(more.count == 1 && more.first?.orgID == a)
    }
}
