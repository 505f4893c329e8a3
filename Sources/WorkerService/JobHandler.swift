public import Foundation
public import Logging
public import Models
public import Queue

/// Runs jobs of one kind.
///
/// A handler throws ``Models/JobError`` for failures it understands (the code decides retry or
/// DLQ); any other error counts as a retryable `EXTRACTION_ERROR`. It should check
/// `context.isCancelled` between chunks and stop promptly.
public protocol JobHandler: Sendable {
    func run(_ job: ClaimedJob, context: JobContext) async throws -> JobOutcome

    /// Pooled connections one run holds for its whole duration (0 for handlers that only borrow one per
    /// statement). The worker refuses to start with a pool smaller than slots × this + 1.
    var connectionsPerRun: Int { get }
}

extension JobHandler {
    public var connectionsPerRun: Int { 0 }
}

/// What a successful run hands back.
public struct JobOutcome: Sendable {
    /// A JSON summary stored in `jobs.result`.
    public var resultJSON: String?
    public var rowsProcessed: Int64
    /// The handler already completed the job inside its own transaction, fenced by the lease
    /// (`JobStore.complete(_:result:rowsProcessed:inTransaction:)`), together with its writes.
    public var completedInTransaction: Bool

    public init(resultJSON: String? = nil, rowsProcessed: Int64 = 0, completedInTransaction: Bool = false) {
        self.resultJSON = resultJSON
        self.rowsProcessed = rowsProcessed
        self.completedInTransaction = completedInTransaction
    }
}

/// What a running handler can see and do.
public struct JobContext: Sendable {
    public let logger: Logger
    let progressSink: @Sendable (JobProgress, Bool) async -> Void
    let cancelled: @Sendable () -> Bool

    public init(
        logger: Logger, progressSink: @escaping @Sendable (JobProgress, Bool) async -> Void,
        cancelled: @escaping @Sendable () -> Bool
    ) {
        self.logger = logger
        self.progressSink = progressSink
        self.cancelled = cancelled
    }

    /// True once the job was cancelled, timed out, lost its lease or the worker is shutting down.
    public var isCancelled: Bool { cancelled() || Task.isCancelled }

    /// Throws `CANCELLED` when ``isCancelled``.
    public func checkCancellation() throws {
        if isCancelled { throw JobError(.cancelled, "job was cancelled") }
    }

    /// Reports progress; writes are throttled unless `force` (use for stage changes).
    public func report(_ progress: JobProgress, force: Bool = false) async {
        await progressSink(progress, force)
    }
}

/// Handlers by job kind.
public struct HandlerRegistry: Sendable {
    public private(set) var handlers: [String: any JobHandler] = [:]

    public init() {}

    public mutating func register(_ kind: String, _ handler: any JobHandler) {
        handlers[kind] = handler
    }

    /// The registry with the built-in test and benchmark kinds: `noop`, `sleep`, `fail`.
    public static func builtIn() -> HandlerRegistry {
        var r = HandlerRegistry()
        r.register("noop", NoopHandler())
        r.register("sleep", SleepHandler())
        r.register("fail", FailHandler())
        return r
    }

    public var kinds: [String] { handlers.keys.sorted() }
}
