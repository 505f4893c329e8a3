public import Foundation
public import Logging
import Synchronization

/// A dedicated `LISTEN` session on its own thread, delivering notifications as an async stream.
///
/// The thread blocks in `poll(2)` on the connection's socket, so waiting costs nothing. When the
/// connection drops it reconnects with jittered backoff, re-issues `LISTEN`, and yields
/// ``Event/reconnected`` so consumers can re-check state they may have missed.
public final class PostgresListener: Sendable {
    /// What the listener reports.
    public enum Event: Sendable, Hashable {
        case notification(PostgresNotification)
        /// The session was (re)established; notifications sent while it was down are lost.
        case reconnected
    }

    private let conninfo: String
    private let channels: [String]
    private let logger: Logger
    private let applicationName: String
    private let stopped = Atomic<Bool>(false)
    private let pid = Atomic<Int32>(0)

    /// - Parameter applicationName: shown in `pg_stat_activity` (e.g. `quarry-worker-listener`).
    public init(conninfo: String, channels: [String], logger: Logger, applicationName: String = "quarry-listener") {
        self.applicationName = applicationName
        self.conninfo = conninfo
        self.channels = channels
        self.logger = logger
    }

    /// The backend pid of the current session (0 when disconnected).
    public var backendPID: Int32 { pid.load(ordering: .relaxed) }

    /// Starts the listening thread and returns its events. Call once.
    public func events() -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        let thread = Thread { [self] in
            self.run(continuation)
            continuation.finish()
        }
        thread.name = "quarry.listener"
        thread.start()
        continuation.onTermination = { [weak self] _ in self?.stop() }
        return stream
    }

    /// Stops the thread within one poll interval.
    public func stop() { stopped.store(true, ordering: .relaxed) }

    private func run(_ continuation: AsyncStream<Event>.Continuation) {
        var attempt = 0
        while !stopped.load(ordering: .relaxed) {
            let connection: PostgresConnection
            do {
                connection = try PostgresConnection(conninfo: conninfo, applicationName: applicationName)
                for channel in channels { try connection.execute("LISTEN \"\(channel)\"") }
            } catch {
                attempt += 1
                let delay = Backoff.delay(attempt: attempt, base: .milliseconds(100), max: .seconds(5))
                logger.warning("listener connect failed", metadata: ["error": "\(error)", "delay_ms": "\(delay.milliseconds)"])
                sleepInterruptibly(delay)
                continue
            }
            attempt = 0
            pid.store(connection.backendPID, ordering: .relaxed)
            continuation.yield(.reconnected)
            while !stopped.load(ordering: .relaxed) {
                do {
                    for n in try connection.waitForNotifications(timeout: .milliseconds(250)) {
                        continuation.yield(.notification(n))
                    }
                } catch {
                    logger.warning("listener connection lost", metadata: ["error": "\(error)"])
                    break
                }
            }
            pid.store(0, ordering: .relaxed)
            connection.close()
        }
    }

    private func sleepInterruptibly(_ d: Duration) {
        let end = ContinuousClock.now + d
        while ContinuousClock.now < end && !stopped.load(ordering: .relaxed) {
            Thread.sleep(forTimeInterval: 0.05)
        }
    }
}
