import Synchronization

/// Coalesces concurrent point reads into one statement per batch (the "data loader" pattern).
///
/// Callers ask for one key each; whoever finds no loader running starts one, which takes a pooled
/// connection and keeps draining what queued up meanwhile, up to `maxBatch` keys per statement, until
/// nothing is left. Under load a request then costs a share of one round trip instead of a pool
/// checkout, a thread hop and a statement of its own; when idle a lone request runs at once, alone.
///
/// ```swift
/// let loader = PostgresBatchLoader<UUID, String>(pool: pool) { connection, ids in
///     let rows = try connection.query("SELECT id, name FROM t WHERE id = ANY($1)", [ids], prepare: true)
///     return Dictionary(uniqueKeysWithValues: rows.compactMap { r in … })
/// }
/// let name = try await loader.load(id)   // nil when there is no such row
/// ```
public final class PostgresBatchLoader<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// Reads the values for a batch of distinct keys on `connection`; keys without a row are left out.
    public typealias Load = @Sendable (_ connection: PostgresConnection, _ keys: [Key]) throws -> [Key: Value]

    private struct Waiter {
        var id: UInt64
        var key: Key
    }

    private struct State {
        var pending: [Waiter] = []
        /// Whoever removes a caller's continuation from here resumes it: a finished batch, or the caller's cancellation.
        var continuations: [UInt64: CheckedContinuation<Value?, any Error>] = [:]
        var nextID: UInt64 = 0
        var loaders = 0
    }

    private let pool: PostgresPool
    private let maxBatch: Int
    private let maxLoaders: Int
    private let loadBatch: Load
    private let state = Mutex(State())

    /// - Parameters:
    ///   - maxBatch: Most keys one statement reads.
    ///   - maxLoaders: Most connections the loader holds at once (the rest of the pool stays free for other work).
    public init(pool: PostgresPool, maxBatch: Int = 256, maxLoaders: Int = 2, load: @escaping Load) {
        self.pool = pool
        self.maxBatch = max(1, maxBatch)
        self.maxLoaders = max(1, maxLoaders)
        self.loadBatch = load
    }

    /// The value for `key`, or nil when the load found none.
    ///
    /// A cancelled caller stops waiting at once with `CancellationError` (its key may still be read).
    public func load(_ key: Key) async throws -> Value? {
        let id = state.withLock { s -> UInt64 in
            s.nextID &+= 1
            return s.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let startLoader = state.withLock { s -> Bool? in
                    if Task.isCancelled { return nil }
                    s.continuations[id] = continuation
                    s.pending.append(Waiter(id: id, key: key))
                    guard s.loaders < maxLoaders else { return false }
                    s.loaders += 1
                    return true
                }
                switch startLoader {
                case nil: continuation.resume(throwing: CancellationError())
                case true?: Task { await self.drain() }
                case false?: break
                }
            }
        } onCancel: {
            let continuation = state.withLock { s -> CheckedContinuation<Value?, any Error>? in
                s.pending.removeAll { $0.id == id }
                return s.continuations.removeValue(forKey: id)
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// Answers the callers of a batch that are still waiting.
    private func finish(_ batch: [Waiter], _ outcome: Result<[Key: Value], any Error>) {
        let waiting = state.withLock { s in batch.compactMap { w in s.continuations.removeValue(forKey: w.id).map { (w.key, $0) } } }
        for (key, continuation) in waiting {
            switch outcome {
            case .success(let values): continuation.resume(returning: values[key])
            case .failure(let error): continuation.resume(throwing: error)
            }
        }
    }

    /// Holds one connection and answers batches until the queue is empty.
    private func drain() async {
        do {
            try await pool.withConnection { [self] connection in
                while let batch = nextBatch() {
                    do {
                        finish(batch, .success(try loadBatch(connection, Array(Set(batch.map(\.key))))))
                    } catch {
                        finish(batch, .failure(error))
                        state.withLock { $0.loaders -= 1 }
                        throw error  // let the pool judge the connection; a new loader picks up the rest
                    }
                }
            }
        } catch let error as PostgresError where error.code == .poolTimeout || error.code == .poolClosed {
            // No connection: nobody else would answer what is queued, so fail it rather than hang.
            let stranded = state.withLock { s -> [Waiter] in
                defer { s.pending = [] }
                s.loaders -= 1
                return s.pending
            }
            finish(stranded, .failure(error))
            return
        } catch {
            // A failed batch already answered its callers.
        }
        restartIfNeeded()
    }

    /// Takes the next batch, or retires this loader (atomically with seeing the queue empty).
    private func nextBatch() -> [Waiter]? {
        state.withLock { s -> [Waiter]? in
            if s.pending.isEmpty {
                s.loaders -= 1
                return nil
            }
            let n = min(s.pending.count, maxBatch)
            let batch = Array(s.pending.prefix(n))
            s.pending.removeFirst(n)
            return batch
        }
    }

    private func restartIfNeeded() {
        let start = state.withLock { s -> Bool in
            guard !s.pending.isEmpty, s.loaders < maxLoaders else { return false }
            s.loaders += 1
            return true
        }
        if start { Task { await self.drain() } }
    }
}
