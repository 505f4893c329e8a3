import Synchronization

/// Enforces the request timeout (`API_REQUEST_TIMEOUT_MS`) for every in-flight request with one
/// periodic sweep, instead of arming a timer per request.
///
/// A timed request runs in its own task, registered here with its deadline; the sweep cancels tasks
/// past their deadline. Cancellation reaches the database too: the api's pool sends PostgreSQL a
/// cancel for a statement whose task was cancelled, so a request blocked on a lock ends on time.
final class RequestWatchdog: Sendable {
    private struct Entry {
        var deadline: ContinuousClock.Instant
        var cancel: @Sendable () -> Void
        var timedOut = false
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())
    /// How often the sweep runs: a request overruns its timeout by at most about this much.
    let resolution: Duration

    init(resolution: Duration = .milliseconds(100)) {
        self.resolution = resolution
    }

    /// Runs `body` in a child task that is cancelled once `limit` has passed; then throws `APIError.timeout`
    /// as soon as the body has wound down.
    func run<T: Sendable>(limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await body() }
        let deadline = ContinuousClock.now + limit
        let id = state.withLock { s -> UInt64 in
            s.nextID &+= 1
            s.entries[s.nextID] = Entry(deadline: deadline, cancel: { task.cancel() })
            return s.nextID
        }
        let outcome = await withTaskCancellationHandler {
            await task.result
        } onCancel: {
            task.cancel()
        }
        let timedOut = state.withLock { s in s.entries.removeValue(forKey: id)?.timedOut == true }
        if timedOut { throw APIError.timeout }
        return try outcome.get()
    }

    /// Cancels every registered task whose deadline has passed (once; `run` removes the entry).
    func sweep(now: ContinuousClock.Instant = .now) {
        let expired = state.withLock { s -> [@Sendable () -> Void] in
            var out: [@Sendable () -> Void] = []
            for (id, e) in s.entries where !e.timedOut && e.deadline <= now {
                out.append(e.cancel)
                s.entries[id]?.timedOut = true
            }
            return out
        }
        for cancel in expired { cancel() }
    }

    /// Sweeps every `resolution` until the surrounding task is cancelled.
    func runSweeps() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: resolution)
            sweep()
        }
    }
}
