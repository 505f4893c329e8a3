import Foundation
import Models
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// Issue 12's defects, each reproduced the way it happens: real worker processes paused with SIGSTOP, locks
/// held by another session, a worker that reclaims its own job, SQL sessions racing the queue functions.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct FencedJobPathTests {
    let pool: PostgresPool
    let store: JobStore
    let org = UUID()

    init() async throws {
        pool = try await TestDatabase.migrated()
        store = JobStore(pool: pool, retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(100), maxDelay: .seconds(1)))
    }

    /// A CSV of `rows` priced rows with distinct SKUs.
    static func priceList(rows: Int, prefix: String = "S") -> Data {
        var s = "sku,name,price\n"
        s.reserveCapacity(rows * 24)
        for i in 1...rows { s += "\(prefix)-\(i),Item \(i),\(i % 97).25\n" }
        return Data(s.utf8)
    }

    func submitExtract(_ data: Data, name: String = "prices.csv", config: String = "{}") async throws -> UUID {
        let upload = try await TestUploads.store(data, fileName: name, org: org, pool: pool)
        return try await store.enqueue(
            org: org, kind: "extract", payload: #"{"upload_id":"\#(upload.uuidString)","config":\#(config)}"#, maxAttempts: 3)
    }

    func status(_ id: UUID) async throws -> PostgresRow? {
        try await pool.queryRetrying(
            """
            SELECT status, attempt, error->>'code' AS code, error::text AS error, result::text AS result,
                   progress->>'stage' AS stage, coalesce((progress->>'rows_processed')::bigint, 0) AS rows,
                   extract(epoch FROM now() - heartbeat_at) * 1000 AS heartbeat_age_ms, worker_id
            FROM quarry.jobs WHERE id = $1
            """, [id]
        ).first
    }

    func waitFinal(_ id: UUID, timeout: Duration = .seconds(90)) async throws -> PostgresRow? {
        var row: PostgresRow?
        _ = try await eventually(timeout: timeout, every: .milliseconds(50)) {
            row = try await status(id)
            return ["completed", "dead_lettered", "cancelled"].contains(row?.string("status") ?? "")
        }
        return row
    }

    func extractWorker(_ extra: [String: String] = [:]) throws -> ChildProcess {
        var env = [
            "WORKER_KINDS": "extract", "EXTRACTION_POLL_INTERVAL_MS": "100", "EXTRACTION_MAX_FILE_SIZE_MB": "50",
            "EXTRACTION_PROGRESS_INTERVAL_MS": "50", "EXTRACTION_HEARTBEAT_INTERVAL_MS": "200",
            "WORKER_ID": "fence-\(UUID().uuidString.prefix(6).lowercased())",
        ]
        env.merge(extra) { _, new in new }
        return try ChildProcess("worker", environment: env)
    }

    // MARK: Defect 1: a worker that lost its lease still commits its results

    /// Worker A is paused (SIGSTOP) inside its result transaction, the job is requeued and worker B claims it;
    /// B's COPY waits on A's uncommitted rows. When A resumes it must roll back (its lease is gone), so B's
    /// valid attempt completes — before the fence, A's rows committed and B was dead-lettered on a 23505.
    @Test func aWorkerThatLostItsLeaseCommitsNothing() async throws {
        let rows = 400_000
        let id = try await submitExtract(Self.priceList(rows: rows))
        // A's heartbeat is slow, so it reaches its commit before any heartbeat could tell it the lease is gone.
        let a = try extractWorker(["EXTRACTION_HEARTBEAT_INTERVAL_MS": "60000"])
        defer { a.signal(SIGCONT); a.signal(SIGKILL) }
        // Inside the transaction: rows are streaming into result_rows.
        #expect(
            try await eventually(timeout: .seconds(60), every: .milliseconds(10)) {
                let r = try await status(id)
                return r?.string("stage") == "parsing" && (r?.int("rows") ?? 0) > 5_000
            })
        a.signal(SIGSTOP)
        try await Task.sleep(for: .milliseconds(800))
        let recovered = try await store.recoverStalled(stalledAfter: .milliseconds(500)).filter { $0.id == id }
        #expect(recovered.count == 1)
        let b = try extractWorker()
        defer { b.signal(SIGKILL) }
        // B is now writing the same job's rows (or waiting on A's uncommitted ones).
        #expect(try await eventually(timeout: .seconds(30)) { try await status(id)?.string("status") == "processing" })
        try await Task.sleep(for: .seconds(2))
        a.signal(SIGCONT)
        let final = try await waitFinal(id)
        #expect(final?.string("status") == "completed", "\(final?.string("error") ?? "")\nA: \(a.log.suffix(1500))\nB: \(b.log.suffix(1500))")
        let stored = try await pool.query(
            """
            SELECT (SELECT count(*) FROM quarry.result_rows WHERE job_id = $1) AS n,
                   (SELECT summary->>'rows_total' FROM quarry.extraction_results WHERE job_id = $1) AS total,
                   (SELECT count(*) FROM quarry.dead_letter_jobs WHERE job_id = $1) AS dlq
            """, [id]
        ).first
        #expect(stored?.int("n") == rows)
        #expect(stored?.string("total") == String(rows))
        #expect(stored?.int("dlq") == 0)
    }

    // MARK: Defect 2: heartbeats starve behind running jobs

    /// Two extract jobs wait on a lock another session holds on `result_rows`, longer than the stall threshold.
    /// With a pool no bigger than the concurrency (the dev overlay's 2/2) the heartbeats used to starve and the
    /// janitor would requeue live jobs. Now the worker refuses that pool outright, with a clear message…
    @Test func aPoolThatCannotServeTheConcurrencyIsRefused() async throws {
        let w = try extractWorker(["EXTRACTION_MAX_CONCURRENCY": "2", "DB_POOL_SIZE": "2"])
        let code = await w.waitForExit(timeout: .seconds(15))
        #expect(code != nil && code != 0, "the worker started with DB_POOL_SIZE=2 for 2 extract slots")
        // The exit can be seen before the pipe delivers the last log line.
        #expect(try await eventually(timeout: .seconds(5)) { w.log.contains("DB_POOL_SIZE") }, "\(w.log.suffix(800))")
        if code == nil { w.signal(SIGKILL) }
    }

    /// …and with the smallest pool it accepts, heartbeats go through their own connection and stay fresh
    /// while every handler waits on the lock.
    @Test func heartbeatsStayFreshWhileEveryHandlerWaitsOnALock() async throws {
        let locker = try PostgresConnection(conninfo: TestDatabase.url, applicationName: "quarry-test-locker")
        defer { locker.close() }
        try locker.execute("BEGIN; LOCK TABLE quarry.result_rows IN SHARE MODE")
        let ids = [
            try await submitExtract(Self.priceList(rows: 50, prefix: "L1")), try await submitExtract(Self.priceList(rows: 50, prefix: "L2")),
        ]
        let w = try extractWorker(["EXTRACTION_MAX_CONCURRENCY": "2", "DB_POOL_SIZE": "3"])
        defer { w.signal(SIGKILL) }
        #expect(
            try await eventually(timeout: .seconds(20)) {
                var processing = 0
                for id in ids where try await status(id)?.string("status") == "processing" { processing += 1 }
                return processing == 2
            })
        // Both handlers are blocked; far past several heartbeat intervals the heartbeats must still land.
        try await Task.sleep(for: .seconds(3))
        for id in ids {
            let age = try await status(id)?.double("heartbeat_age_ms") ?? .infinity
            #expect(age < 1_500, "heartbeat age \(age) ms while the handler waits on a lock\n\(w.log.suffix(1500))")
        }
        try locker.execute("COMMIT")
        for id in ids { #expect(try await waitFinal(id)?.string("status") == "completed") }
    }

    // MARK: Defect 3: a worker that reclaims its own job loses the old run

    /// The janitor requeues a running job and the same worker claims it again. The stale run must be stopped
    /// (its lease is lost), the job complete once, and no slot stay busy: afterwards two jobs run side by side
    /// on the two slots (before, one slot stayed taken forever).
    @Test func aWorkerThatReclaimsItsOwnJobKeepsBothRunsApart() async throws {
        let kindEnv = ["WORKER_KINDS": "sleep", "EXTRACTION_MAX_CONCURRENCY": "2", "EXTRACTION_HEARTBEAT_INTERVAL_MS": "300"]
        let id = try await store.enqueue(org: org, kind: "sleep", payload: #"{"ms":2500}"#, priority: 900)
        let w = try ChildProcess("worker", environment: kindEnv.merging(["WORKER_ID": "reclaim-\(UUID().uuidString.prefix(6))"]) { _, n in n })
        defer { w.signal(SIGKILL) }
        #expect(try await eventually { try await status(id)?.string("status") == "processing" })
        let firstAttempt = try await status(id)?.int("attempt")
        #expect(try await store.recoverStalled(stalledAfter: .milliseconds(0)).contains { $0.id == id })
        // The same (only) worker claims it again under a new lease.
        #expect(try await eventually { try await status(id)?.int("attempt") == (firstAttempt ?? 0) + 1 })
        let final = try await waitFinal(id, timeout: .seconds(20))
        #expect(final?.string("status") == "completed")
        let completions = try await pool.query(
            "SELECT count(*) AS n FROM quarry.job_metrics WHERE job_id = $1 AND status = 'completed'", [id]
        ).first?.int("n")
        #expect(completions == 1)
        try await Task.sleep(for: .seconds(1))
        // Both slots must be free again.
        let pair = [
            try await store.enqueue(org: org, kind: "sleep", payload: #"{"ms":2000}"#, priority: 900),
            try await store.enqueue(org: org, kind: "sleep", payload: #"{"ms":2000}"#, priority: 900),
        ]
        let sideBySide = try await eventually(timeout: .seconds(1.8), every: .milliseconds(25)) {
            try await pool.query("SELECT count(*) AS n FROM quarry.jobs WHERE id = ANY($1::uuid[]) AND status = 'processing'", [pair])
                .first?.int("n") == 2
        }
        #expect(sideBySide, "only one slot was free after the reclaim\n\(w.log.suffix(2000))")
        for j in pair { #expect(try await waitFinal(j, timeout: .seconds(20))?.string("status") == "completed") }
        w.signal(SIGTERM)
        #expect(await w.waitForExit(timeout: .seconds(10)) == 0)
    }

    // MARK: Defect 4: a cancel becomes a dead letter

    /// A cancel was requested while the attempt ran, and the attempt then failed with a retryable error:
    /// the cancel wins — the job ends `cancelled`, not retried and not dead-lettered.
    @Test func cancelWinsOverARetryableFailure() async throws {
        let kind = TestDatabase.uniqueKind("cancel")
        let id = try await store.enqueue(org: org, kind: kind, maxAttempts: 5)
        let job = try #require(try await store.claim(workerID: "w-cancel", kinds: [kind], limit: 1).first)
        #expect(try await store.cancel(id: id) == "cancelling")
        _ = try await store.fail(job, error: JobError(.networkError, "connection reset", retryable: true))
        let row = try await status(id)
        #expect(row?.string("status") == "cancelled")
        let dlq = try await pool.query("SELECT count(*) AS n FROM quarry.dead_letter_jobs WHERE job_id = $1", [id]).first?.int("n")
        #expect(dlq == 0)
    }

    // MARK: Defect 6: cached results carry stale classification

    /// The same file and config extracted again after the catalog changed: the cached rows are classified
    /// against today's catalog, not the one at the first extraction.
    @Test func aCachedResultIsReclassifiedAgainstTheCurrentCatalog() async throws {
        let data = Self.priceList(rows: 20, prefix: "CAT")
        let config = #"{"supplier_id":"cache-acme"}"#
        let w = try extractWorker()
        defer { w.signal(SIGKILL) }
        let first = try await submitExtract(data, config: config)
        let firstRow = try await waitFinal(first)
        #expect(firstRow?.string("status") == "completed")
        let s1 = Self.summary(firstRow)
        #expect(s1["new"] as? Int == 20)
        // The catalog now knows two SKUs: one at the file's price, one at another.
        try await pool.query(
            """
            INSERT INTO quarry.products (org_id, supplier_id, sku, price)
            VALUES ($1, 'cache-acme', 'CAT-1', 1.25), ($1, 'cache-acme', 'CAT-2', 99)
            """, [org])
        let second = try await submitExtract(data, config: config)
        let secondRow = try await waitFinal(second)
        #expect(secondRow?.string("status") == "completed")
        let s2 = Self.summary(secondRow)
        #expect(s2["cached"] as? Bool == true)
        #expect(s2["unchanged"] as? Int == 1)
        #expect(s2["updated"] as? Int == 1)
        #expect(s2["new"] as? Int == 18)
        let cat2 = try await pool.query(
            "SELECT classification, old_price::text AS old FROM quarry.result_rows WHERE job_id = $1 AND sku = 'CAT-2'", [second]
        ).first
        #expect(cat2?.string("classification") == "updated")
        #expect(cat2?.string("old") == "99.0000")
    }

    /// A result row left by a job that did not complete (what an unfenced writer could leave) is never
    /// served from the cache.
    @Test func theCacheServesOnlyCompletedJobs() async throws {
        let data = Self.priceList(rows: 5, prefix: "DLQ")
        let config = #"{"supplier_id":"dlq-cache"}"#
        let w = try extractWorker()
        defer { w.signal(SIGKILL) }
        let first = try await submitExtract(data, config: config)
        #expect(try await waitFinal(first)?.string("status") == "completed")
        // Pretend the first job was dead-lettered after its rows landed.
        try await pool.query("UPDATE quarry.jobs SET status = 'dead_lettered' WHERE id = $1", [first])
        let second = try await submitExtract(data, config: config)
        let row = try await waitFinal(second)
        #expect(row?.string("status") == "completed")
        #expect(Self.summary(row)["cached"] as? Bool == false)
    }

    // MARK: Defect 7: shutdown can throw away finished work

    /// SIGTERM while a busy worker flushes completions: no job whose handler finished may be released and
    /// run again. Every job runs exactly once across the stopped worker and the one that drains the rest.
    @Test func shutdownNeverReleasesFinishedWork() async throws {
        let kind = "noop"
        let ids = try await store.enqueueBulk(org: org, kind: kind, payloads: Array(repeating: "{}", count: 6_000), priority: 950)
        let env = [
            "WORKER_KINDS": kind, "EXTRACTION_MAX_CONCURRENCY": "64", "WORKER_CLAIM_BATCH": "64", "DB_POOL_SIZE": "4",
            "LOG_LEVEL": "info",
        ]
        let first = try ChildProcess("worker", environment: env.merging(["WORKER_ID": "drain-a-\(UUID().uuidString.prefix(6))"]) { _, n in n })
        #expect(
            try await eventually(timeout: .seconds(20), every: .milliseconds(5)) {
                try await pool.query("SELECT count(*) AS n FROM quarry.jobs WHERE id = ANY($1::uuid[]) AND status = 'completed'", [ids])
                    .first?.int("n") ?? 0 > 500
            })
        first.signal(SIGTERM)
        #expect(await first.waitForExit(timeout: .seconds(30)) == 0)
        let second = try ChildProcess("worker", environment: env.merging(["WORKER_ID": "drain-b-\(UUID().uuidString.prefix(6))"]) { _, n in n })
        defer { second.signal(SIGKILL) }
        #expect(
            try await eventually(timeout: .seconds(60)) {
                try await pool.query("SELECT count(*) AS n FROM quarry.jobs WHERE id = ANY($1::uuid[]) AND status = 'completed'", [ids])
                    .first?.int("n") == ids.count
            })
        second.signal(SIGTERM)
        _ = await second.waitForExit(timeout: .seconds(30))
        let ranInFirst = Self.completedJobIDs(in: first.log)
        let ranInSecond = Self.completedJobIDs(in: second.log)
        let twice = ranInFirst.intersection(ranInSecond).intersection(Set(ids.map { $0.uuidString.lowercased() }))
        #expect(twice.isEmpty, "\(twice.count) finished jobs were released on shutdown and ran again")
    }

    // MARK: Defect 9: some transitions are invisible

    /// Claim, retry and release each send a `quarry_events` notification, as complete and cancel do.
    @Test func claimRetryAndReleaseAreAnnounced() async throws {
        let listener = try PostgresConnection(conninfo: TestDatabase.url, applicationName: "quarry-test-events")
        defer { listener.close() }
        try listener.execute("LISTEN quarry_events")
        let kind = TestDatabase.uniqueKind("events")
        let id = try await store.enqueue(org: org, kind: kind, maxAttempts: 5)
        let key = id.uuidString.lowercased()
        func events() throws -> [String] {
            var out: [String] = []
            for n in try listener.waitForNotifications(timeout: .milliseconds(300)) {
                for entry in n.payload.split(separator: ",") where entry.hasPrefix(key) { out.append(String(entry.dropFirst(key.count + 1))) }
            }
            return out
        }
        var job = try #require(try await store.claim(workerID: "w-events", kinds: [kind], limit: 1).first)
        #expect(try events().contains("processing"))
        _ = try await store.fail(job, error: JobError(.networkError, "reset", retryable: true))
        #expect(try events().contains("retry"))
        try await pool.query("UPDATE quarry.jobs SET run_at = now() WHERE id = $1", [id])
        job = try #require(try await store.claim(workerID: "w-events", kinds: [kind], limit: 1).first)
        _ = try events()
        #expect(try await store.release([(job.id, job.leaseToken)]) == 1)
        #expect(try events().contains("queued"))
    }

    static func summary(_ row: PostgresRow?) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data((row?.string("result") ?? "{}").utf8))) as? [String: Any] ?? [:]
    }

    /// Job ids of the `job:completed` log lines in a worker's JSON-lines log.
    static func completedJobIDs(in log: String) -> Set<String> {
        var out = Set<String>()
        for line in log.split(separator: "\n") where line.contains("job:completed") {
            guard let data = line.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let id = object["job_id"] as? String
            else { continue }
            out.insert(id)
        }
        return out
    }
}
