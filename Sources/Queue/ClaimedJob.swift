public import Foundation

/// A job a worker holds: what to run and the lease that proves it still owns it.
public struct ClaimedJob: Sendable, Hashable {
    public var id: UUID
    public var orgID: UUID
    public var kind: String
    /// The job's payload as JSON text.
    public var payload: String
    public var uploadID: UUID?
    public var priority: Int
    /// This run's attempt number (1-based; charged at claim).
    public var attempt: Int
    public var maxAttempts: Int
    /// Presented with every update; the database rejects updates with a stale token.
    public var leaseToken: UUID
    public var createdAt: Date?

    /// The job and this run's lease: what a worker keys a held job by (it may hold a stale run and a fresh
    /// claim of one job at once).
    public var leaseKey: LeaseKey { LeaseKey(id: id, token: leaseToken) }

    public init(
        id: UUID, orgID: UUID, kind: String, payload: String, uploadID: UUID?, priority: Int, attempt: Int,
        maxAttempts: Int, leaseToken: UUID, createdAt: Date?
    ) {
        self.id = id
        self.orgID = orgID
        self.kind = kind
        self.payload = payload
        self.uploadID = uploadID
        self.priority = priority
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.leaseToken = leaseToken
        self.createdAt = createdAt
    }
}

/// One run of a job: its id and the lease token of the claim that started it.
public struct LeaseKey: Sendable, Hashable, CustomStringConvertible {
    public var id: UUID
    public var token: UUID
    public init(id: UUID, token: UUID) {
        self.id = id
        self.token = token
    }
    public var description: String { "\(id.uuidString.lowercased())@\(token.uuidString.prefix(8).lowercased())" }
}

/// A finished attempt waiting to be written in a batch.
public struct Completion: Sendable, Hashable {
    public var id: UUID
    public var leaseToken: UUID
    /// Result summary as JSON text (nil for none).
    public var result: String?
    public var rowsProcessed: Int64

    public init(id: UUID, leaseToken: UUID, result: String? = nil, rowsProcessed: Int64 = 0) {
        self.id = id
        self.leaseToken = leaseToken
        self.result = result
        self.rowsProcessed = rowsProcessed
    }
}

/// What happened to a failed attempt.
public enum FailOutcome: Sendable, Hashable {
    /// Rescheduled; runs again at `runAt`.
    case retry(runAt: Date?, attempt: Int)
    /// Moved to the dead-letter queue.
    case deadLettered(attempt: Int)
    /// A cancel had been requested: the job ended `cancelled` (cancel wins over a retry).
    case cancelled(attempt: Int)
    /// The lease was gone (recovered by the janitor, or cancelled): nothing changed.
    case lost
}

/// Heartbeat verdict for one held job.
public enum LeaseState: String, Sendable, Hashable {
    case ok, cancel, lost
}
