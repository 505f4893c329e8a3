import Foundation
import Logging
import Postgres
import ServiceLifecycle
import Synchronization

/// One shared `LISTEN quarry_events` for the whole api process, fanned out to SSE subscribers by job id.
final class EventHub: Service, Sendable {
    enum Event: Sendable, Equatable {
        case job(String)  // progress, completed, dead_lettered, cancelled
        case resync  // the listener reconnected: re-read state
        case heartbeat
    }

    private struct State {
        var subscribers: [UUID: [UInt64: AsyncStream<Event>.Continuation]] = [:]
        var next: UInt64 = 0
    }

    private let listener: PostgresListener
    private let logger: Logger
    private let state = Mutex(State())

    init(listener: PostgresListener, logger: Logger) {
        self.listener = listener
        self.logger = logger
    }

    func run() async throws {
        let stream = listener.events()
        await withGracefulShutdownHandler {
            for await event in stream {
                switch event {
                case .reconnected:
                    broadcast(.resync)
                case .notification(let n):
                    for entry in n.payload.split(separator: ",") {
                        let parts = entry.split(separator: ":", maxSplits: 1)
                        guard parts.count == 2, let id = UUID(uuidString: String(parts[0])) else { continue }
                        deliver(id, .job(String(parts[1])))
                    }
                }
            }
        } onGracefulShutdown: { [listener] in
            listener.stop()
        }
        finishAll()
    }

    /// One subscriber: its stream, and its own continuation (for events meant for it alone, like heartbeats).
    struct Subscription: Sendable {
        let stream: AsyncStream<Event>
        let continuation: AsyncStream<Event>.Continuation
    }

    /// Subscribes to one job's events; the stream ends when the caller stops iterating.
    func subscribe(_ job: UUID) -> Subscription {
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(64))
        let key = state.withLock { s -> UInt64 in
            s.next += 1
            s.subscribers[job, default: [:]][s.next] = continuation
            return s.next
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { s in
                s.subscribers[job]?[key] = nil
                if s.subscribers[job]?.isEmpty == true { s.subscribers[job] = nil }
            }
        }
        return Subscription(stream: stream, continuation: continuation)
    }

    var subscriberCount: Int { state.withLock { $0.subscribers.values.reduce(0) { $0 + $1.count } } }

    func deliver(_ job: UUID, _ event: Event) {
        let targets = state.withLock { Array(($0.subscribers[job] ?? [:]).values) }
        for t in targets { t.yield(event) }
    }

    private func broadcast(_ event: Event) {
        let targets = state.withLock { $0.subscribers.values.flatMap(\.values) }
        for t in targets { t.yield(event) }
    }

    private func finishAll() {
        let targets = state.withLock { s -> [AsyncStream<Event>.Continuation] in
            let t = s.subscribers.values.flatMap(\.values)
            s.subscribers = [:]
            return t
        }
        for t in targets { t.finish() }
    }
}
