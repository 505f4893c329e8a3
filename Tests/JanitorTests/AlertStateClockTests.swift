import Alerts
import Foundation
import JanitorService
import Postgres
import QuarryTestSupport
import Synchronization
import Testing

/// Issue 12, defect 8: alert state must never move backwards in time.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct AlertStateClockTests {
    /// Two janitors overlap during a failover: one holds the condition's row lock while the other starts its
    /// evaluation and waits. The waiter's window must start where the holder left off and end after it, and
    /// the time it stores must not be older than the holder's — before, it stored its transaction's `now()`
    /// (taken before the wait), so the next window re-counted events and paged again.
    @Test func aJanitorThatWaitedOnTheLockNeverWritesAnOlderTime() async throws {
        let pool = try await TestDatabase.migrated()
        let key = "test:clock:\(UUID().uuidString.prefix(8))"
        let store = AlertStateStore(pool: pool, policy: AlertPolicy())
        let quiet = AlertObservation(key: key, holds: false, eventLike: true, severity: .warning, summary: "quiet")
        _ = try await store.evaluate(key: key) { _, _, _ in quiet }

        let holder = try PostgresConnection(conninfo: TestDatabase.url, applicationName: "quarry-test-alert-holder")
        defer { holder.close() }
        try holder.execute("BEGIN")
        try holder.query("SELECT 1 FROM quarry.alert_state WHERE key = $1 FOR UPDATE", [key])
        let windows = Mutex<[(since: Date?, now: Date)]>([])
        let waiter = Task {
            try await store.evaluate(key: key) { _, since, now in
                windows.withLock { $0.append((since, now)) }
                return quiet
            }
        }
        try await Task.sleep(for: .milliseconds(700))
        // The holder finishes its own evaluation later than the waiter's transaction began.
        let written = try #require(
            try holder.query("UPDATE quarry.alert_state SET updated_at = clock_timestamp() WHERE key = $1 RETURNING updated_at", [key])
                .first?.date("updated_at"))
        try holder.execute("COMMIT")
        _ = try await waiter.value

        let window = try #require(windows.withLock { $0.first })
        let since = try #require(window.since)
        #expect(abs(since.timeIntervalSince(written)) < 0.001)
        #expect(window.now.timeIntervalSince(since) >= 0, "the window ran backwards: \(since) → \(window.now)")
        let stored = try #require(
            try await pool.query("SELECT updated_at FROM quarry.alert_state WHERE key = $1", [key]).first?.date("updated_at"))
        #expect(stored.timeIntervalSince(written) >= -0.001, "stored \(stored), older than the holder's \(written)")
    }
}
