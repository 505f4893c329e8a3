import Foundation
import Models
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// The SQL functions, exercised through `JobStore` against a real PostgreSQL.
@Suite(.timeLimit(.minutes(2)))
struct JobStoreTests {
    let pool: PostgresPool
    let store: JobStore

    init() async throws {
        pool = try await TestDatabase.migrated()
        store = JobStore(pool: pool, retry: RetryPolicy(maxAttempts: 3, baseDelay: .seconds(1), maxDelay: .seconds(30)))
    }

    func status(_ id: UUID) async throws -> String? {
        try await pool.query("SELECT status FROM quarry.jobs WHERE id = $1", [id]).first?.string("status")
    }

    @Test func lifecycleEnqueueClaimComplete() async throws {
        let kind = TestDatabase.uniqueKind()
        let id = try await store.enqueue(kind: kind, payload: #"{"a":1}"#)
        #expect(try await status(id) == "queued")
        let claimed = try await store.claim(workerID: "w1", kinds: [kind], limit: 10)
        #expect(claimed.map(\.id) == [id])
        #expect(claimed.first?.attempt == 1)
        #expect(claimed.first?.payload.contains("\"a\": 1") == true)
        #expect(try await status(id) == "processing")
        let done = try await store.complete([Completion(id: id, leaseToken: claimed[0].leaseToken, result: #"{"ok":true}"#, rowsProcessed: 7)])
        #expect(done == [id])
        #expect(try await status(id) == "completed")
        let metric = try await pool.query("SELECT status, rows_processed FROM quarry.job_metrics WHERE job_id = $1", [id])
        #expect(metric.count == 1)
        #expect(metric.first?.int("rows_processed") == 7)
        // A second completion with the same lease changes nothing.
        #expect(try await store.complete([Completion(id: id, leaseToken: claimed[0].leaseToken)]).isEmpty)
    }

    @Test func claimsByPriorityThenAgeThenID() async throws {
        let kind = TestDatabase.uniqueKind()
        let low = try await store.enqueue(kind: kind, priority: 0)
        let high = try await store.enqueue(kind: kind, priority: 10)
        let mid1 = try await store.enqueue(kind: kind, priority: 5)
        let mid2 = try await store.enqueue(kind: kind, priority: 5)
        let first = try await store.claim(workerID: "w", kinds: [kind], limit: 3)
        #expect(first.map(\.id) == [high, mid1, mid2])
        let rest = try await store.claim(workerID: "w", kinds: [kind], limit: 3)
        #expect(rest.map(\.id) == [low])
    }

    @Test func jobAndUploadIdsAreTimeOrderedVersion7() async throws {
        let kind = TestDatabase.uniqueKind()
        let before = UInt64(Date().timeIntervalSince1970 * 1000)
        var ids = [try await store.enqueue(kind: kind)]
        try await Task.sleep(for: .milliseconds(5))
        ids += try await store.enqueueBulk(kind: kind, payloads: ["{}", "{}"])
        let after = UInt64(Date().timeIntervalSince1970 * 1000)
        func millis(_ id: UUID) -> UInt64 {
            let u = id.uuid
            return [u.0, u.1, u.2, u.3, u.4, u.5].reduce(0) { $0 << 8 | UInt64($1) }
        }
        for id in ids {
            #expect(id.uuid.6 >> 4 == 7, "version nibble of \(id)")
            #expect(id.uuid.8 >> 6 == 0b10, "variant of \(id)")
            #expect(millis(id) + 1000 >= before && millis(id) <= after + 1000, "timestamp of \(id)")
        }
        #expect(millis(ids[0]) < millis(ids[1]), "a later job sorts after an earlier one")
        let upload = try await pool.query(
            "INSERT INTO quarry.uploads (org_id, file_name) VALUES ('00000000-0000-0000-0000-000000000000', 'x.csv') RETURNING id"
        ).first?.uuid("id")
        #expect(upload.map { $0.uuid.6 >> 4 } == 7)
        if let upload { _ = try await pool.query("DELETE FROM quarry.uploads WHERE id = $1", [upload]) }
    }

    @Test func futureRunAtIsNotClaimed() async throws {
        let kind = TestDatabase.uniqueKind()
        _ = try await store.enqueue(kind: kind, runAt: Date().addingTimeInterval(3600))
        #expect(try await store.claim(workerID: "w", kinds: [kind], limit: 5).isEmpty)
    }

    @Test func bulkEnqueue() async throws {
        let kind = TestDatabase.uniqueKind()
        let ids = try await store.enqueueBulk(kind: kind, payloads: (0..<1000).map { #"{"n":\#($0)}"# })
        #expect(Set(ids).count == 1000)
        let n = try await pool.query("SELECT count(*) AS n FROM quarry.jobs WHERE kind = $1 AND status = 'queued'", [kind]).first?.int("n")
        #expect(n == 1000)
    }

    @Test func retrySchedulesWithBackoffAndJitter() async throws {
        let kind = TestDatabase.uniqueKind()
        let id = try await store.enqueue(kind: kind, maxAttempts: 3)
        for attempt in 1...2 {
            let job = try #require(try await store.claim(workerID: "w", kinds: [kind], limit: 1).first)
            #expect(job.attempt == attempt)
            let outcome = try await store.fail(job, error: JobError(.networkError, "flaky"))
            guard case .retry = outcome else { Issue.record("expected retry, got \(outcome)"); return }
            let delay = try await pool.query(
                "SELECT extract(epoch FROM run_at - now()) * 1000 AS ms, status, error->>'code' AS code FROM quarry.jobs WHERE id = $1", [id]
            ).first
            let ms = try #require(delay?.double("ms"))
            let expected = store.retry.delayRange(afterAttempt: attempt)
            // run_at = now() + delay, measured from a later now(): allow 1 s for the gap.
            #expect(ms <= Double(expected.upperBound.milliseconds) + 5)
            #expect(ms >= Double(expected.lowerBound.milliseconds) - 1000)
            #expect(delay?.string("status") == "queued")
            #expect(delay?.string("code") == "NETWORK_ERROR")
            try await pool.query("UPDATE quarry.jobs SET run_at = now() WHERE id = $1", [id])
        }
        // Third attempt exhausts max_attempts → DLQ even though retryable.
        let job = try #require(try await store.claim(workerID: "w", kinds: [kind], limit: 1).first)
        let outcome = try await store.fail(job, error: JobError(.networkError, "still flaky"))
        #expect(outcome == .deadLettered(attempt: 3))
        #expect(try await status(id) == "dead_lettered")
        let dlq = try await pool.query("SELECT error_code, retry_count FROM quarry.dead_letter_jobs WHERE job_id = $1", [id]).first
        #expect(dlq?.string("error_code") == "NETWORK_ERROR")
        #expect(dlq?.int("retry_count") == 3)
    }

    @Test func retryDelayFormulaMatchesPolicy() async throws {
        for attempt in 1...7 {
            let r = try await pool.query("SELECT quarry.retry_delay_ms($1, 1000, 30000, 2, 0.1) AS d", [attempt]).first?.int("d")
            let range = RetryPolicy().delayRange(afterAttempt: attempt)
            let d = try #require(r)
            #expect(Int64(d) >= range.lowerBound.milliseconds && Int64(d) <= range.upperBound.milliseconds, "attempt \(attempt): \(d)")
        }
        #expect(RetryPolicy().baseDelay(afterAttempt: 1) == .seconds(1))
        #expect(RetryPolicy().baseDelay(afterAttempt: 3) == .seconds(4))
        #expect(RetryPolicy().baseDelay(afterAttempt: 10) == .seconds(30))
    }

    @Test func nonRetryableGoesToDLQAtOnce() async throws {
        let kind = TestDatabase.uniqueKind()
        let id = try await store.enqueue(kind: kind, maxAttempts: 5)
        let job = try #require(try await store.claim(workerID: "w", kinds: [kind], limit: 1).first)
        let outcome = try await store.fail(job, error: JobError(.validationError, "row 3: price missing", details: ["row": "3"]))
        #expect(outcome == .deadLettered(attempt: 1))
        let row = try await pool.query(
            "SELECT error->>'code' AS code, error->>'retryable' AS r FROM quarry.jobs WHERE id = $1", [id]
        ).first
        #expect(row?.string("code") == "VALIDATION_ERROR")
        #expect(row?.string("r") == "false")
        let dlq = try await pool.query("SELECT error_details->>'row' AS row FROM quarry.dead_letter_jobs WHERE job_id = $1", [id]).first
        #expect(dlq?.string("row") == "3")
    }

    @Test func reprocessDLQMakesANewJobOnce() async throws {
        let kind = TestDatabase.uniqueKind()
        let id = try await store.enqueue(kind: kind, payload: #"{"x":2}"#, priority: 3, maxAttempts: 1)
        let job = try #require(try await store.claim(workerID: "w", kinds: [kind], limit: 1).first)
        _ = try await store.fail(job, error: JobError(.fileNotFound, "gone"))
        let dlqID = try #require(try await pool.query("SELECT dlq_id FROM quarry.dead_letter_jobs WHERE job_id = $1", [id]).first?.uuid("dlq_id"))
        let newID = try await store.reprocessDLQ(dlqID: dlqID, by: "alice", notes: "file restored")
        #expect(newID != id)
        let newJob = try await pool.query("SELECT status, priority, payload->>'x' AS x, reprocessed_from FROM quarry.jobs WHERE id = $1", [newID])
            .first
        #expect(newJob?.string("status") == "queued")
        #expect(newJob?.int("priority") == 3)
        #expect(newJob?.string("x") == "2")
        #expect(newJob?.uuid("reprocessed_from") == id)
        let entry = try await pool.query("SELECT reprocessed_by, reprocess_notes FROM quarry.dead_letter_jobs WHERE dlq_id = $1", [dlqID]).first
        #expect(entry?.string("reprocessed_by") == "alice")
        #expect(entry?.string("reprocess_notes") == "file restored")
        await #expect(throws: PostgresError.self) { try await store.reprocessDLQ(dlqID: dlqID, by: "bob", notes: nil) }
    }

    @Test func cancelQueuedAndRunning() async throws {
        let kind = TestDatabase.uniqueKind()
        let queued = try await store.enqueue(kind: kind, priority: 0)
        let running = try await store.enqueue(kind: kind, priority: 1)
        let job = try #require(try await store.claim(workerID: "w", kinds: [kind], limit: 1).first)
        #expect(job.id == running)
        #expect(try await store.cancel(id: queued) == "cancelled")
        #expect(try await status(queued) == "cancelled")
        #expect(try await store.cancel(id: running) == "cancelling")
        #expect(try await status(running) == "processing")
        let hb = try await store.heartbeat(workerID: "w", held: [job.leaseKey])
        #expect(hb[job.leaseKey] == .cancel)
        #expect(try await store.finishCancelled(job))
        #expect(try await status(running) == "cancelled")
        #expect(try await store.cancel(id: running) == "cancelled")  // already final: reports its status
        #expect(try await store.cancel(id: UUID()) == "not_found")
        // Another org cannot cancel it.
        let other = try await store.enqueue(kind: kind)
        #expect(try await store.cancel(id: other, org: UUID()) == "not_found")
    }

    @Test func releaseDoesNotChargeAnAttempt() async throws {
        let kind = TestDatabase.uniqueKind()
        let id = try await store.enqueue(kind: kind)
        let job = try #require(try await store.claim(workerID: "w", kinds: [kind], limit: 1).first)
        #expect(try await store.release([(job.id, job.leaseToken)]) == 1)
        let row = try await pool.query("SELECT status, attempt FROM quarry.jobs WHERE id = $1", [id]).first
        #expect(row?.string("status") == "queued")
        #expect(row?.int("attempt") == 0)
    }

    @Test func stalledRecoveryVoidsTheOldLease() async throws {
        let kind = TestDatabase.uniqueKind()
        let id = try await store.enqueue(kind: kind, maxAttempts: 2)
        let old = try #require(try await store.claim(workerID: "dead-worker", kinds: [kind], limit: 1).first)
        try await pool.query("UPDATE quarry.jobs SET heartbeat_at = now() - interval '1 hour' WHERE id = $1", [id])
        let recovered = try await store.recoverStalled(stalledAfter: .seconds(30))
        #expect(recovered.contains { $0.id == id && $0.outcome == "requeued" && $0.workerID == "dead-worker" })
        // A second recovery finds nothing: no job is recovered twice.
        #expect(!(try await store.recoverStalled(stalledAfter: .seconds(30))).contains { $0.id == id })
        // The zombie's late writes change nothing.
        #expect(try await store.heartbeat(workerID: "dead-worker", held: [old.leaseKey])[old.leaseKey] == .lost)
        #expect(try await store.complete([Completion(id: id, leaseToken: old.leaseToken)]).isEmpty)
        #expect(try await store.fail(old, error: JobError(.networkError, "late")) == .lost)
        #expect(!(try await store.progress(old, json: "{}")))
        // The new owner completes it.
        let fresh = try #require(try await store.claim(workerID: "w2", kinds: [kind], limit: 1).first)
        #expect(fresh.attempt == 2)
        #expect(try await store.complete([Completion(id: id, leaseToken: fresh.leaseToken)]) == [id])
        // Out of attempts: a stalled job goes to the DLQ as STALLED.
        let id2 = try await store.enqueue(kind: kind, maxAttempts: 1)
        _ = try #require(try await store.claim(workerID: "dead-worker", kinds: [kind], limit: 1).first)
        try await pool.query("UPDATE quarry.jobs SET heartbeat_at = now() - interval '1 hour' WHERE id = $1", [id2])
        let r2 = try await store.recoverStalled(stalledAfter: .seconds(30))
        #expect(r2.contains { $0.id == id2 && $0.outcome == "dead_lettered" })
        #expect(
            try await pool.query("SELECT error_code FROM quarry.dead_letter_jobs WHERE job_id = $1", [id2]).first?.string("error_code") == "STALLED")
    }

    @Test func stalledJobWithAPendingCancelIsCancelledNotRequeued() async throws {
        let kind = TestDatabase.uniqueKind()
        let id = try await store.enqueue(kind: kind)
        _ = try #require(try await store.claim(workerID: "dying", kinds: [kind], limit: 1).first)
        #expect(try await store.cancel(id: id) == "cancelling")
        try await pool.query("UPDATE quarry.jobs SET heartbeat_at = now() - interval '1 hour' WHERE id = $1", [id])
        let r = try await store.recoverStalled(stalledAfter: .seconds(30)).filter { $0.id == id }
        #expect(r.map(\.outcome) == ["cancelled"])
        #expect(try await status(id) == "cancelled")
    }

    @Test func concurrentClaimsNeverOverlap() async throws {
        let kind = TestDatabase.uniqueKind()
        _ = try await store.enqueueBulk(kind: kind, payloads: Array(repeating: "{}", count: 2000))
        let p = TestDatabase.pool(size: 8)
        let s = JobStore(pool: p)
        let all = try await withThrowingTaskGroup(of: [UUID].self) { group in
            for w in 0..<8 {
                group.addTask {
                    var mine: [UUID] = []
                    while true {
                        let got = try await s.claim(workerID: "w\(w)", kinds: [kind], limit: Int.random(in: 1...50))
                        if got.isEmpty { break }
                        mine += got.map(\.id)
                    }
                    return mine
                }
            }
            var out: [UUID] = []
            for try await ids in group { out += ids }
            return out
        }
        #expect(all.count == 2000)
        #expect(Set(all).count == 2000)
        p.close()
    }

    @Test func poolReconnectsAfterBackendTermination() async throws {
        let p = TestDatabase.pool(size: 2, name: "quarry-test-reconnect")
        #expect(try await p.query("SELECT 1 AS one").first?.int("one") == 1)
        try await pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'quarry-test-reconnect'")
        // The first use may see the dead connection; a retrying call recovers on a fresh one.
        let r = try await p.queryRetrying("SELECT 2 AS two")
        #expect(r.first?.int("two") == 2)
        #expect(p.openConnections <= 2)
        p.close()
    }

    @Test func copyInAndTransactions() async throws {
        let table = "copy_\(UUID().uuidString.prefix(8).lowercased())"
        let n = try await pool.withConnection { c -> Int in
            try c.execute("CREATE TEMP TABLE \(table) (a int, b text)")
            let copied = try c.copyIn("COPY \(table) (a, b) FROM STDIN") { write in
                for i in 0..<1000 { try Array("\(i)\tline \(i)\n".utf8).withUnsafeBytes(write) }
            }
            #expect(copied == 1000)
            _ = try? c.transaction { tx -> Void in
                try tx.execute("DELETE FROM \(table)")
                throw PostgresError(code: .query, message: "rollback please")
            }
            return try c.query("SELECT count(*) AS n FROM \(table)").first?.int("n") ?? -1
        }
        #expect(n == 1000)
    }

    @Test func errorsCarrySQLState() async throws {
        do {
            try await pool.query("SELECT * FROM no_such_table")
            Issue.record("expected an error")
        } catch let e as PostgresError {
            #expect(e.sqlState == "42P01")
            #expect(!e.isTransient)
        }
    }
}
