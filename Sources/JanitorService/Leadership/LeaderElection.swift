public import Foundation
public import Logging
import Models
public import Postgres
import Synchronization

/// Chooses the one janitor replica that acts, with a session-level advisory lock held on a
/// dedicated connection (not from the pool: a pooled connection could be returned with the lock).
///
/// The lock lives exactly as long as the session: when the leader dies, PostgreSQL ends its
/// session and a standby's next `pg_try_advisory_lock` wins. The session also sets
/// `idle_session_timeout`, so a leader that hangs (stops heartbeating without dying) is
/// disconnected by the server and replaced too.
public final class LeaderElection: Sendable {
    /// The advisory lock key every janitor competes for ("QJAN").
    public static let lockKey: Int64 = 0x514A_414E_0000_0001

    public let instanceID: String
    let conninfo: String
    let idleSessionTimeout: Duration
    let logger: Logger

    /// The session and everything done on it run on this serial queue (libpq is blocking and the
    /// connection is not thread-safe).
    private let queue = DispatchQueue(label: "quarry.janitor.leader")
    private struct State: @unchecked Sendable {  // the connection is only touched on `queue`
        var connection: PostgresConnection?
        var isLeader = false
    }
    private let state = Mutex(State())

    /// - Parameters:
    ///   - conninfo: `DATABASE_URL`.
    ///   - instanceID: This replica's id, recorded in `quarry.janitor_leader`.
    ///   - idleSessionTimeout: The server ends the leader's session after this much silence.
    public init(conninfo: String, instanceID: String, idleSessionTimeout: Duration, logger: Logger) {
        self.conninfo = conninfo
        self.instanceID = instanceID
        self.idleSessionTimeout = idleSessionTimeout
        self.logger = logger
    }

    /// Whether this replica holds the lock (as of the last acquire or verify).
    public var isLeader: Bool { state.withLock { $0.isLeader } }

    /// Tries once to become leader; opens the session if needed. Returns whether this replica leads.
    public func tryAcquire() async -> Bool {
        let result: Result<Bool, any Error> = await onSession { [self] in
            let connection = try self.session()
            let won = try connection.query("SELECT pg_try_advisory_lock($1) AS won", [Self.lockKey]).first?.bool("won") ?? false
            guard won else { return false }
            try connection.query(
                """
                INSERT INTO quarry.janitor_leader (id, instance_id, host, pid, since, heartbeat_at)
                VALUES (true, $1, $2, $3, now(), now())
                ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, host = excluded.host,
                    pid = excluded.pid, since = excluded.since, heartbeat_at = excluded.heartbeat_at
                """, [instanceID, ProcessInfo.processInfo.hostName, Int(getpid())])
            return true
        }
        switch result {
        case .success(let won):
            state.withLock { $0.isLeader = won }
            if won { logger.notice("leader:acquired", metadata: ["instance_id": "\(instanceID)"]) }
            return won
        case .failure(let error):
            logger.warning("leader:acquire_failed", metadata: ["error": "\(error)"])
            await dropSession()
            return false
        }
    }

    /// Confirms the session (and so the lock) is alive and bumps the heartbeat. A failure means
    /// leadership is lost: the session is dropped and the caller must stop acting and compete again.
    public func verify() async -> Bool {
        // The session this check ran on: a failure only ends *that* session, never a newer one
        // that another caller acquired meanwhile.
        let checked = state.withLock { $0.connection }
        let result: Result<Bool, any Error> = await onSession { [self] in
            guard let connection = checked, self.state.withLock({ $0.connection === connection }) else { return false }
            let row = try connection.query(
                """
                WITH beat AS (
                    UPDATE quarry.janitor_leader SET heartbeat_at = now() WHERE instance_id = $1 RETURNING 1
                )
                SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted) AS held,
                       (SELECT count(*) FROM beat) AS beats
                """, [instanceID]
            ).first
            let held = row?.bool("held") ?? false
            if held && (row?.int("beats") ?? 0) == 0 {
                // The record was removed or overwritten by hand; we still hold the lock, so restore it.
                try connection.query(
                    """
                    INSERT INTO quarry.janitor_leader (id, instance_id, host, pid) VALUES (true, $1, $2, $3)
                    ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, host = excluded.host,
                        pid = excluded.pid, since = now(), heartbeat_at = now()
                    """, [instanceID, ProcessInfo.processInfo.hostName, Int(getpid())])
            }
            return held
        }
        let held = (try? result.get()) ?? false
        if held { return true }
        // Only the session that failed is dropped; if it was already replaced, report the current state.
        let dropped = state.withLock { s -> (connection: PostgresConnection?, wasLeader: Bool)? in
            guard let checked, s.connection === checked else { return nil }
            let was = s.isLeader
            s.connection = nil
            s.isLeader = false
            return (checked, was)
        }
        guard let dropped else { return checked == nil ? false : isLeader }
        if dropped.wasLeader {
            var metadata: Logger.Metadata = ["instance_id": "\(instanceID)"]
            if case .failure(let error) = result { metadata["error"] = "\(error)" }
            logger.error("leader:lost", metadata: metadata)
        }
        if let connection = dropped.connection { await close(connection) }
        return false
    }

    /// Gives up leadership: unlocks, removes the leader record and closes the session.
    public func release() async {
        let wasLeader = state.withLock { s in
            let was = s.isLeader
            s.isLeader = false
            return was
        }
        _ = await onSession { [self] in
            guard let connection = self.state.withLock({ $0.connection }) else { return false }
            if wasLeader {
                _ = try? connection.query("DELETE FROM quarry.janitor_leader WHERE instance_id = $1", [instanceID])
                _ = try? connection.query("SELECT pg_advisory_unlock($1)", [Self.lockKey])
            }
            return true
        }
        await dropSession()
        if wasLeader { logger.notice("leader:released", metadata: ["instance_id": "\(instanceID)"]) }
    }

    /// The session's server pid (for tests that terminate it).
    public var backendPID: Int32 { state.withLock { $0.connection?.backendPID ?? 0 } }

    // MARK: Session

    /// Opens the session on first use. Called on `queue` only.
    private func session() throws -> PostgresConnection {
        if let c = state.withLock({ $0.connection }) {
            if c.isHealthy { return c }
            c.close()
        }
        let connection = try PostgresConnection(conninfo: conninfo, applicationName: "quarry-janitor-leader")
        let timeoutMs = max(1000, idleSessionTimeout.milliseconds)
        // PostgreSQL 14+; older servers just keep the default (a hung leader then holds on until TCP gives up).
        _ = try? connection.execute("SET idle_session_timeout = \(timeoutMs)")
        state.withLock { $0.connection = connection }
        return connection
    }

    private func dropSession() async {
        let connection = state.withLock { s -> PostgresConnection? in
            let c = s.connection
            s.connection = nil
            s.isLeader = false
            return c
        }
        guard let connection else { return }
        await close(connection)
    }

    private func close(_ connection: PostgresConnection) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                connection.close()
                continuation.resume()
            }
        }
    }

    private func onSession<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async -> Result<T, any Error> {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: Result { try body() }) }
        }
    }
}
