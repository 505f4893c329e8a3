public import Foundation
public import Models
public import Postgres

/// The queue's operations, each one call to a SQL function in `migrations/0001_queue.sql`.
///
/// Worker-side calls present the lease token they got from ``claim(workerID:kinds:limit:)``;
/// the database ignores updates from a worker that no longer owns the job.
public struct JobStore: Sendable {
    public let pool: PostgresPool
    public let retry: RetryPolicy

    /// The org that jobs enqueued by operators and benchmarks belong to.
    public static let systemOrg = UUID(uuidString: "00000000-0000-0000-0000-000000000000")!

    public init(pool: PostgresPool, retry: RetryPolicy = RetryPolicy()) {
        self.pool = pool
        self.retry = retry
    }

    // MARK: Enqueue

    /// Enqueues one job and returns its id.
    public func enqueue(
        org: UUID = JobStore.systemOrg, kind: String, payload: String = "{}", priority: Int = 0, maxAttempts: Int? = nil,
        runAt: Date? = nil, uploadID: UUID? = nil
    ) async throws -> UUID {
        let rows = try await pool.query(
            "SELECT quarry.enqueue($1, $2, $3::jsonb, $4, $5, $6, $7) AS id",
            [org, kind, JSONText(payload), priority, maxAttempts ?? retry.maxAttempts, runAt, uploadID], prepare: true)
        guard let id = rows.first?.uuid("id") else { throw PostgresError(code: .protocolViolation, message: "enqueue returned no id") }
        return id
    }

    /// Enqueues many jobs of one kind in one statement.
    public func enqueueBulk(
        org: UUID = JobStore.systemOrg, kind: String, payloads: [String], priority: Int = 0, maxAttempts: Int? = nil
    ) async throws -> [UUID] {
        let rows = try await pool.query(
            "SELECT id FROM quarry.enqueue_bulk($1, $2, $3::jsonb[], $4, $5) AS id",
            [org, kind, payloads, priority, maxAttempts ?? retry.maxAttempts])
        return rows.compactMap { $0.uuid("id") }
    }

    // MARK: Worker side

    /// Claims up to `limit` runnable jobs of `kinds` for `workerID`.
    ///
    /// - Parameters:
    ///   - fair: Within a priority, take jobs round-robin across orgs (migration 0007's invariants); false keeps
    ///     the global priority-then-age order.
    ///   - orgMaxRunning: At most this many jobs of one org processing at once (nil: no cap), enforced in SQL.
    public func claim(workerID: String, kinds: [String], limit: Int, fair: Bool = true, orgMaxRunning: Int? = nil) async throws
        -> [ClaimedJob]
    {
        guard limit > 0 else { return [] }
        let rows = try await pool.query(
            "SELECT id, org_id, kind, payload, upload_id, priority, attempt, max_attempts, lease_token, created_at FROM quarry.claim($1, $2, $3, $4, $5)",
            [workerID, kinds, limit, fair, orgMaxRunning], prepare: true)
        return rows.compactMap { r in
            guard let id = r.uuid("id"), let org = r.uuid("org_id"), let kind = r.string("kind"),
                let token = r.uuid("lease_token")
            else { return nil }
            return ClaimedJob(
                id: id, orgID: org, kind: kind, payload: r.string("payload") ?? "{}", uploadID: r.uuid("upload_id"),
                priority: r.int("priority") ?? 0, attempt: r.int("attempt") ?? 1, maxAttempts: r.int("max_attempts") ?? 1,
                leaseToken: token, createdAt: r.date("created_at"))
        }
    }

    /// Heartbeats every held run and the worker's registry row in one statement; answers per run.
    public func heartbeat(workerID: String, held: [LeaseKey]) async throws -> [LeaseKey: LeaseState] {
        let rows = try await pool.queryRetrying(
            "SELECT * FROM quarry.heartbeat($1, $2::uuid[], $3::uuid[])",
            [workerID, held.map(\.id), held.map(\.token)], prepare: true)
        var out: [LeaseKey: LeaseState] = [:]
        for r in rows {
            if let id = r.uuid("id"), let token = r.uuid("lease_token"), let s = r.string("state").flatMap(LeaseState.init(rawValue:)) {
                out[LeaseKey(id: id, token: token)] = s
            }
        }
        return out
    }

    /// Completes a batch; returns the ids whose lease was still valid (the others changed nothing).
    @discardableResult
    public func complete(_ batch: [Completion]) async throws -> Set<UUID> {
        guard !batch.isEmpty else { return [] }
        // Idempotent thanks to the lease fence: a retried call completes nothing twice.
        let rows = try await pool.queryRetrying(
            "SELECT id FROM quarry.complete($1::uuid[], $2::uuid[], $3::jsonb[], $4::bigint[]) AS id",
            [batch.map(\.id), batch.map(\.leaseToken), batch.map { $0.result ?? "null" }, batch.map(\.rowsProcessed)],
            prepare: true)
        return Set(rows.compactMap { $0.uuid("id") })
    }

    // MARK: The fence: completion inside the handler's transaction

    /// Completes `job` inside the caller's open transaction, fenced by its lease: the job row is locked and
    /// must still be `processing` under this lease. The handler's writes and the completion then commit
    /// together or not at all.
    ///
    /// - Throws: ``Models/JobError`` with code `LEASE_LOST` when the lease is gone; the caller must roll back
    ///   (``Postgres/PostgresConnection/transaction(_:)`` does when the error propagates).
    public static func complete(
        _ job: ClaimedJob, result: String?, rowsProcessed: Int64, inTransaction tx: PostgresConnection
    ) throws {
        try fenced(job) {
            try tx.query(
                "SELECT quarry.complete_in_tx($1, $2, $3::jsonb, $4)",
                [job.id, job.leaseToken, JSONText(result ?? "null"), rowsProcessed])
        }
    }

    /// Throws `LEASE_LOST` when `job`'s lease is already gone: a cheap check before a long write.
    public static func checkLease(_ job: ClaimedJob, on c: PostgresConnection) throws {
        try fenced(job) { try c.query("SELECT quarry.check_lease($1, $2)", [job.id, job.leaseToken]) }
    }

    /// SQLSTATE raised by the fence functions of migration 0006.
    static let leaseLostState = "QL001"

    static func fenced(_ job: ClaimedJob, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as PostgresError where e.sqlState == leaseLostState {
            throw JobError(.leaseLost, "job \(job.id.uuidString.lowercased()) is no longer held by this worker", retryable: false)
        }
    }

    /// Reports a failed attempt; the database decides retry or DLQ.
    public func fail(_ job: ClaimedJob, error: JobError) async throws -> FailOutcome {
        let details = error.details.isEmpty ? nil : JSONText(Self.jsonObject(error.details))
        let rows = try await pool.queryRetrying(
            "SELECT * FROM quarry.fail($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)",
            [
                job.id, job.leaseToken, error.code.rawValue, error.message, error.retryable, details,
                Int(retry.baseDelay.milliseconds), Int(retry.maxDelay.milliseconds), retry.multiplier, retry.jitter,
            ], prepare: true)
        guard let r = rows.first else { return .lost }
        switch r.string("outcome") {
        case "retry": return .retry(runAt: r.date("run_at"), attempt: r.int("attempt") ?? job.attempt)
        case "dead_lettered": return .deadLettered(attempt: r.int("attempt") ?? job.attempt)
        case "cancelled": return .cancelled(attempt: r.int("attempt") ?? job.attempt)
        default: return .lost
        }
    }

    /// Writes progress for a held job; false when the lease is gone.
    @discardableResult
    public func progress(_ job: ClaimedJob, json: String) async throws -> Bool {
        let rows = try await pool.query(
            "SELECT quarry.progress($1, $2, $3::jsonb) AS ok", [job.id, job.leaseToken, JSONText(json)], prepare: true)
        return rows.first?.bool("ok") ?? false
    }

    /// Marks a job the worker stopped because cancellation was requested.
    @discardableResult
    public func finishCancelled(_ job: ClaimedJob) async throws -> Bool {
        let rows = try await pool.queryRetrying(
            "SELECT quarry.finish_cancelled($1, $2) AS ok", [job.id, job.leaseToken])
        return rows.first?.bool("ok") ?? false
    }

    /// Hands jobs back (graceful shutdown) without charging the attempt.
    @discardableResult
    public func release(_ jobs: [(id: UUID, token: UUID)]) async throws -> Int {
        guard !jobs.isEmpty else { return 0 }
        let rows = try await pool.queryRetrying(
            "SELECT quarry.release($1::uuid[], $2::uuid[]) AS n", [jobs.map(\.id), jobs.map(\.token)])
        return rows.first?.int("n") ?? 0
    }

    // MARK: Operator side

    /// Cancels a job: `cancelled` at once when queued, `cancelling` when running.
    public func cancel(id: UUID, org: UUID? = nil) async throws -> String {
        let rows = try await pool.query("SELECT quarry.cancel($1, $2) AS r", [id, org])
        return rows.first?.string("r") ?? "not_found"
    }

    /// Recovers jobs whose heartbeat is older than `stalledAfter`.
    public func recoverStalled(stalledAfter: Duration) async throws -> [(id: UUID, workerID: String?, outcome: String)] {
        let rows = try await pool.query(
            "SELECT * FROM quarry.recover_stalled($1)",
            [Int(stalledAfter.milliseconds)])
        return rows.compactMap { r in r.uuid("id").map { ($0, r.string("worker_id"), r.string("outcome") ?? "") } }
    }

    /// Requeues at once the jobs of workers whose heartbeat session has ended (a crashed process), and marks those
    /// workers stopped. Alive-but-silent workers keep their session and are left to ``recoverStalled(stalledAfter:)``.
    public func recoverDeadWorkers() async throws -> [(id: UUID, orgID: UUID?, workerID: String?, outcome: String)] {
        let rows = try await pool.query("SELECT * FROM quarry.recover_dead_workers()")
        return rows.compactMap { r in r.uuid("id").map { ($0, r.uuid("org_id"), r.string("worker_id"), r.string("outcome") ?? "") } }
    }

    /// Turns a DLQ entry into a new job; returns the new job's id.
    public func reprocessDLQ(dlqID: UUID, by: String, notes: String?, org: UUID? = nil, payload: String? = nil) async throws -> UUID {
        let rows = try await pool.query(
            "SELECT quarry.reprocess_dlq($1, $2, $3, $4, $5::jsonb) AS id", [dlqID, by, notes, org, payload.map(JSONText.init)])
        guard let id = rows.first?.uuid("id") else { throw PostgresError(code: .protocolViolation, message: "reprocess returned no id") }
        return id
    }

    /// Registers (or re-registers) a worker.
    public func registerWorker(id: String, host: String, pid: Int, version: String, kinds: [String], concurrency: Int) async throws {
        try await pool.queryRetrying(
            "SELECT quarry.register_worker($1, $2, $3, $4, $5, $6)", [id, host, pid, version, kinds, concurrency])
    }

    public func deregisterWorker(id: String) async throws {
        try await pool.queryRetrying("SELECT quarry.deregister_worker($1)", [id])
    }

    static func jsonObject(_ dict: [String: String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: dict, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
