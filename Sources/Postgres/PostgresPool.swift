public import Foundation
public import Logging
import Synchronization

/// Settings for a ``PostgresPool``.
public struct PostgresPoolConfiguration: Sendable {
    /// `DATABASE_URL`: a URI or a libpq conninfo string.
    public var conninfo: String
    /// Most connections this process opens (`DB_POOL_SIZE`, default 4).
    public var maxConnections: Int
    /// How long a caller waits for a free connection before `poolTimeout`.
    public var acquireTimeout: Duration
    /// How long to keep retrying a failed connect (jittered exponential backoff) before giving up.
    public var connectRetryWindow: Duration
    /// `application_name` shown in `pg_stat_activity`.
    public var applicationName: String
    /// When the calling task is cancelled mid-statement, ask the server to cancel the statement
    /// (it fails with SQLSTATE 57014) instead of letting it run to the end. The API turns this on so
    /// that its request timeout also stops a blocked query; workers keep it off, so a shutdown never
    /// cuts a completion short.
    public var cancelStatementsOnTaskCancellation: Bool

    public init(
        conninfo: String, maxConnections: Int = 4, acquireTimeout: Duration = .seconds(30),
        connectRetryWindow: Duration = .seconds(30), applicationName: String = "quarry",
        cancelStatementsOnTaskCancellation: Bool = false
    ) {
        self.cancelStatementsOnTaskCancellation = cancelStatementsOnTaskCancellation
        self.conninfo = conninfo
        self.maxConnections = max(1, maxConnections)
        self.acquireTimeout = acquireTimeout
        self.connectRetryWindow = connectRetryWindow
        self.applicationName = applicationName
    }
}

/// A bounded pool of libpq connections.
///
/// Every call runs on a dedicated serial dispatch queue per connection slot, so blocking libpq
/// calls never stall Swift's cooperative thread pool. Broken connections are dropped and
/// reopened on demand with jittered backoff; the pool never holds more than `maxConnections`.
///
/// ```swift
/// let pool = PostgresPool(configuration: .init(conninfo: url), logger: logger)
/// let rows = try await pool.query("SELECT 1 AS one")
/// ```
public final class PostgresPool: Sendable {
    public let configuration: PostgresPoolConfiguration
    let logger: Logger

    private struct Slot: @unchecked Sendable {  // the connection is only touched on `queue`
        var connection: PostgresConnection
        var queue: DispatchQueue
    }

    private struct State {
        var idle: [Slot] = []
        var open = 0
        /// FIFO, and every waiter gets the same timeout, so the first one always has the earliest deadline.
        var waiters: [Waiter] = []
        /// One task times waiters out (not one timer per waiter): it sleeps until the first deadline.
        var sweeping = false
        var closed = false
    }

    private struct Waiter {
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Slot?, any Error>
    }

    private let state = Mutex(State())

    public init(configuration: PostgresPoolConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs `body` with a connection on the connection's own thread.
    ///
    /// The body is synchronous: it may run several statements, a transaction or a COPY.
    /// A connection that broke during the body is discarded, not returned to the pool.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let slot = try await acquire()
        let run = {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, any Error>, Never>) in
                slot.queue.async {
                    continuation.resume(returning: Result { try body(slot.connection) })
                }
            }
        }
        let result: Result<T, any Error>
        if configuration.cancelStatementsOnTaskCancellation && !Task.isCancelled {
            result = await withTaskCancellationHandler(operation: run, onCancel: { slot.connection.cancelRunningStatement() })
        } else {
            result = await run()
        }
        release(slot)
        return try result.get()
    }

    /// Runs one statement and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: [(any PostgresEncodable)?] = [], prepare: Bool = false) async throws -> PostgresRows {
        try await withConnection { try $0.query(sql, parameters, prepare: prepare) }
    }

    /// Runs one statement, retrying on a fresh connection when the failure is transient.
    /// Use only for idempotent statements.
    @discardableResult
    public func queryRetrying(
        _ sql: String, _ parameters: [(any PostgresEncodable)?] = [], prepare: Bool = false, attempts: Int = 3
    ) async throws -> PostgresRows {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await query(sql, parameters, prepare: prepare)
            } catch let error as PostgresError where error.isTransient && attempt < attempts {
                try await Task.sleep(for: Backoff.delay(attempt: attempt, base: .milliseconds(100), max: .seconds(2)))
            }
        }
    }

    /// Runs `body` in a transaction on one connection.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withConnection { try $0.transaction(body) }
    }

    /// Connections currently open (idle or in use).
    public var openConnections: Int { state.withLock { $0.open } }

    /// Closes idle connections and fails waiters; connections in use close when returned.
    public func close() {
        let (idle, waiters) = state.withLock { s -> ([Slot], [CheckedContinuation<Slot?, any Error>]) in
            s.closed = true
            let idle = s.idle
            s.open -= idle.count
            s.idle = []
            let w = s.waiters.map(\.continuation)
            s.waiters = []
            return (idle, w)
        }
        for slot in idle { slot.queue.async { slot.connection.close() } }
        for w in waiters { w.resume(throwing: PostgresError(code: .poolClosed, message: "pool closed")) }
    }

    // MARK: Acquire / release

    private enum Decision { case use(Slot), open, wait }

    private func acquire() async throws -> Slot {
        let decision: Decision = try state.withLock { s in
            if s.closed { throw PostgresError(code: .poolClosed, message: "pool closed") }
            if let slot = s.idle.popLast() { return .use(slot) }
            if s.open < configuration.maxConnections {
                s.open += 1
                return .open
            }
            return .wait
        }
        switch decision {
        case .use(let slot):
            return slot
        case .open:
            do {
                return try await openSlot()
            } catch {
                state.withLock { $0.open -= 1 }
                wakeOneWaiterToOpen()
                throw error
            }
        case .wait:
            return try await waitForSlot()
        }
    }

    private func waitForSlot() async throws -> Slot {
        let deadline = ContinuousClock.now + configuration.acquireTimeout
        let slot: Slot? = try await withCheckedThrowingContinuation { continuation in
            let (closed, startSweeper) = state.withLock { s -> (Bool, Bool) in
                if s.closed { return (true, false) }
                s.waiters.append(Waiter(deadline: deadline, continuation: continuation))
                if s.sweeping { return (false, false) }
                s.sweeping = true
                return (false, true)
            }
            if closed { continuation.resume(throwing: PostgresError(code: .poolClosed, message: "pool closed")) }
            if startSweeper { Task { [weak self] in await self?.sweepWaiters() } }
        }
        if let slot { return slot }
        // Woken with permission to open a connection (one was discarded).
        do {
            return try await openSlot()
        } catch {
            state.withLock { $0.open -= 1 }
            wakeOneWaiterToOpen()
            throw error
        }
    }

    /// Fails waiters whose acquire timeout passed; runs while anyone waits, sleeping until the first deadline.
    private func sweepWaiters() async {
        while true {
            let now = ContinuousClock.now
            let (expired, next) = state.withLock { s -> ([CheckedContinuation<Slot?, any Error>], ContinuousClock.Instant?) in
                var expired: [CheckedContinuation<Slot?, any Error>] = []
                while let first = s.waiters.first, first.deadline <= now { expired.append(s.waiters.removeFirst().continuation) }
                guard let first = s.waiters.first else {
                    s.sweeping = false
                    return (expired, nil)
                }
                return (expired, first.deadline)
            }
            for c in expired {
                c.resume(throwing: PostgresError(code: .poolTimeout, message: "no connection free within the acquire timeout"))
            }
            guard let next else { return }
            try? await Task.sleep(until: next, clock: .continuous)
        }
    }

    /// When a slot is freed by discarding a connection, let a waiter open a new one.
    private func wakeOneWaiterToOpen() {
        let continuation = state.withLock { s -> CheckedContinuation<Slot?, any Error>? in
            guard !s.waiters.isEmpty, s.open < configuration.maxConnections else { return nil }
            s.open += 1
            return s.waiters.removeFirst().continuation
        }
        continuation?.resume(returning: nil)
    }

    private func release(_ slot: Slot) {
        let healthy = slot.connection.isHealthy
        let action = state.withLock { s -> (CheckedContinuation<Slot?, any Error>?, Bool) in
            if !healthy || s.closed {
                s.open -= 1
                return (nil, true)
            }
            if !s.waiters.isEmpty { return (s.waiters.removeFirst().continuation, false) }
            s.idle.append(slot)
            return (nil, false)
        }
        if let waiter = action.0 {
            waiter.resume(returning: slot)
        } else if action.1 {
            logger.debug("discarding connection", metadata: ["connection": "\(slot.connection.id)"])
            slot.queue.async { slot.connection.close() }
            wakeOneWaiterToOpen()
        }
    }

    private func openSlot() async throws -> Slot {
        let queue = DispatchQueue(label: "quarry.postgres.connection")
        let deadline = ContinuousClock.now + configuration.connectRetryWindow
        var attempt = 0
        while true {
            attempt += 1
            let conninfo = configuration.conninfo
            let name = configuration.applicationName
            let result: Result<PostgresConnection, any Error> = await withCheckedContinuation { continuation in
                queue.async { continuation.resume(returning: Result { try PostgresConnection(conninfo: conninfo, applicationName: name) }) }
            }
            switch result {
            case .success(let connection):
                if attempt > 1 { logger.info("reconnected to PostgreSQL", metadata: ["attempts": "\(attempt)"]) }
                return Slot(connection: connection, queue: queue)
            case .failure(let error):
                let delay = Backoff.delay(attempt: attempt, base: .milliseconds(100), max: .seconds(5))
                if ContinuousClock.now + delay > deadline || Task.isCancelled { throw error }
                logger.warning(
                    "connect failed, retrying",
                    metadata: ["attempt": "\(attempt)", "delay_ms": "\(delay.milliseconds)", "error": "\(error)"]
                )
                try await Task.sleep(for: delay)
            }
        }
    }
}

/// Jittered exponential backoff used for reconnects.
public enum Backoff {
    /// `min(base × 2^(attempt-1), max)`, then a uniformly random value between half and all of it
    /// ("equal jitter"), so many clients reconnecting at once spread out.
    public static func delay(attempt: Int, base: Duration, max maximum: Duration) -> Duration {
        let baseMs = Double(base.milliseconds)
        let capped = Swift.min(baseMs * pow(2, Double(Swift.max(0, attempt - 1))), Double(maximum.milliseconds))
        let jittered = capped / 2 + Double.random(in: 0...(capped / 2))
        return .milliseconds(Int64(jittered))
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (s, a) = components
        return s * 1000 + a / 1_000_000_000_000_000
    }
}
