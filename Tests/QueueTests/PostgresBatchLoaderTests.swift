import Foundation
import Postgres
import QuarryTestSupport
import Synchronization
import Testing

/// `PostgresBatchLoader` and the pool's acquire timeout, against a real PostgreSQL.
@Suite(.timeLimit(.minutes(2)))
struct PostgresBatchLoaderTests {
    /// Records every batch it was asked for, and reads `n * 10` for key n from the database.
    final class Recorder: Sendable {
        let batches = Mutex<[[Int]]>([])
        func loader(pool: PostgresPool, maxBatch: Int = 256, maxLoaders: Int = 2) -> PostgresBatchLoader<Int, Int> {
            PostgresBatchLoader(pool: pool, maxBatch: maxBatch, maxLoaders: maxLoaders) { connection, keys in
                self.batches.withLock { $0.append(keys) }
                // pg_sleep widens the window in which concurrent callers queue up behind a batch.
                let rows = try connection.query(
                    "SELECT k, k * 10 AS v FROM unnest($1::int[]) AS k, pg_sleep(0.02) WHERE k >= 0", [keys], prepare: true)
                var out: [Int: Int] = [:]
                for r in rows {
                    if let k = r.int("k"), let v = r.int("v") { out[k] = v }
                }
                return out
            }
        }
    }

    @Test func concurrentLoadsAreFoldedIntoFewStatementsAndEachGetsItsOwnValue() async throws {
        let pool = TestDatabase.pool(size: 4)
        defer { pool.close() }
        let recorder = Recorder()
        let loader = recorder.loader(pool: pool)
        let keys = Array(0..<200) + [-1, -2]  // negatives have no row
        let results = try await withThrowingTaskGroup(of: (Int, Int?).self) { group in
            for k in keys { group.addTask { (k, try await loader.load(k)) } }
            var out: [Int: Int?] = [:]
            for try await (k, v) in group { out[k] = v }
            return out
        }
        for k in 0..<200 { #expect(results[k] == .some(k * 10), "key \(k)") }
        #expect(results[-1] == .some(nil))
        #expect(results[-2] == .some(nil))
        let batches = recorder.batches.withLock { $0 }
        #expect(batches.flatMap { $0 }.sorted() == keys.sorted(), "every key read exactly once")
        #expect(batches.count < keys.count / 4, "\(batches.count) statements for \(keys.count) concurrent loads")
        #expect(pool.openConnections <= 2, "the loader holds at most maxLoaders connections")
    }

    @Test func batchesNeverExceedMaxBatch() async throws {
        let pool = TestDatabase.pool(size: 2)
        defer { pool.close() }
        let recorder = Recorder()
        let loader = recorder.loader(pool: pool, maxBatch: 7, maxLoaders: 1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for k in 0..<50 {
                group.addTask {
                    let value = try await loader.load(k)
                    #expect(value == k * 10)
                }
            }
            try await group.waitForAll()
        }
        let sizes = recorder.batches.withLock { $0.map(\.count) }
        #expect(sizes.allSatisfy { $0 <= 7 })
        #expect(sizes.reduce(0, +) == 50)
    }

    @Test func aFailedStatementFailsItsCallersAndTheLoaderRecovers() async throws {
        let pool = TestDatabase.pool(size: 2)
        defer { pool.close() }
        let loader = PostgresBatchLoader<Int, Int>(pool: pool, maxLoaders: 1) { connection, keys in
            // 1 / 0 for key 0: a division_by_zero error for the whole batch.
            let rows = try connection.query("SELECT k, 10 / k AS v FROM unnest($1::int[]) AS k", [keys])
            return Dictionary(uniqueKeysWithValues: rows.compactMap { r in r.int("k").flatMap { k in r.int("v").map { (k, $0) } } })
        }
        await #expect(throws: PostgresError.self) { try await loader.load(0) }
        #expect(try await loader.load(5) == 2)
        #expect(try await loader.load(-10) == -1)
    }

    @Test func aCallerWaitingForABusyPoolTimesOut() async throws {
        let pool = TestDatabase.pool(size: 1, acquireTimeout: .milliseconds(300))
        defer { pool.close() }
        let holder = Task { try await pool.query("SELECT pg_sleep(1.5)") }
        try await Task.sleep(for: .milliseconds(200))
        let start = ContinuousClock.now
        await #expect {
            try await pool.query("SELECT 1")
        } throws: { error in
            (error as? PostgresError)?.code == .poolTimeout
        }
        let waited = ContinuousClock.now - start
        #expect(waited >= .milliseconds(250) && waited < .seconds(1.2), "timed out after \(waited)")
        _ = try await holder.value
        // The freed connection serves the next caller at once.
        #expect(try await pool.query("SELECT 1 AS one").first?.int("one") == 1)
    }
}
