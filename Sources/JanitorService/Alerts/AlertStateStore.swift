public import Alerts
public import Foundation
public import Postgres

/// Runs ``AlertPolicy`` against `quarry.alert_state`, one condition per transaction under
/// `SELECT … FOR UPDATE`, so two janitors (or a new leader) never both notify for one transition.
///
/// The state is committed before the notification is sent: a crash in between loses that one
/// notification rather than sending it twice.
public struct AlertStateStore: Sendable {
    let pool: PostgresPool
    let policy: AlertPolicy

    public init(pool: PostgresPool, policy: AlertPolicy) {
        self.pool = pool
        self.policy = policy
    }

    /// What to send after one condition was evaluated.
    public struct Decision: Sendable {
        public var notification: AlertNotification
        public var observation: AlertObservation
        /// For a resolve: the summary of the incident it closes.
        public var previousSummary: String?
    }

    /// Evaluates one condition.
    ///
    /// - Parameters:
    ///   - key: The condition's key.
    ///   - observe: Called inside the transaction with the time of the previous evaluation of this key
    ///     (nil the first time) and the database's `now()`; returns what the check saw. Event-like
    ///     conditions count their events in that window.
    public func evaluate(
        key: String, observe: @escaping @Sendable (PostgresConnection, _ since: Date?, _ now: Date) throws -> AlertObservation
    ) async throws -> Decision? {
        let policy = self.policy
        return try await pool.transaction { c -> Decision? in
            let fresh =
                try c.query(
                    "INSERT INTO quarry.alert_state (key) VALUES ($1) ON CONFLICT (key) DO NOTHING RETURNING key", [key]
                ).count == 1
            guard
                let row = try c.query(
                    """
                    SELECT active, consecutive, first_seen, last_notified, last_value, updated_at
                    FROM quarry.alert_state WHERE key = $1 FOR UPDATE
                    """, [key]
                ).first,
                // Read after the row lock is held: a janitor that waited on the lock must not write an older time
                // than the one that held it (the transaction's now() is from before the wait). The guard keeps the
                // stored time monotonic even across clock steps.
                let clock = try c.query("SELECT clock_timestamp() AS now").first?.date("now")
            else { return nil }
            let now = max(clock, row.date("updated_at") ?? clock)
            let state = AlertConditionState(
                active: row.bool("active") ?? false, consecutive: row.int("consecutive") ?? 0,
                firstSeen: row.date("first_seen"), lastNotified: row.date("last_notified"))
            let since = fresh ? nil : row.date("updated_at")
            let observation = try observe(c, since, now)
            let (next, notification) = policy.decide(state, holds: observation.holds, eventLike: observation.eventLike, now: now)
            var previousSummary: String?
            if let raw = row.string("last_value"),
                let object = try? JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String: Any]
            {
                previousSummary = object["summary"] as? String
            }
            let value: String? =
                switch notification {
                case .trigger, .reminder: Self.json(["summary": observation.summary, "details": observation.details])
                case .resolve, nil: nil
                }
            try c.query(
                """
                UPDATE quarry.alert_state SET active = $2, consecutive = $3, first_seen = $4, last_notified = $5,
                    last_value = coalesce($6::jsonb, last_value), updated_at = $7
                WHERE key = $1
                """, [key, next.active, next.consecutive, next.firstSeen, next.lastNotified, value.map(JSONText.init), now])
            return notification.map { Decision(notification: $0, observation: observation, previousSummary: previousSummary) }
        }
    }

    /// Records a sent notification in `quarry.alert_log`.
    public func log(_ alert: Alert, outcomes: [NotifierOutcome]) async throws {
        let list: [[String: Any]] = outcomes.map { o in
            var entry: [String: Any] = ["notifier": o.notifier, "attempts": o.attempts, "delivered": o.delivered]
            if let e = o.error { entry["error"] = "\(e)" }
            return entry
        }
        let data = (try? JSONSerialization.data(withJSONObject: list, options: [.sortedKeys])) ?? Data("[]".utf8)
        try await pool.query(
            "INSERT INTO quarry.alert_log (key, action, severity, summary, outcomes) VALUES ($1, $2, $3, $4, $5::jsonb)",
            [
                alert.key, alert.action.rawValue, alert.severity.rawValue, alert.summary,
                JSONText(String(decoding: data, as: UTF8.self)),
            ])
    }

    static func json(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
