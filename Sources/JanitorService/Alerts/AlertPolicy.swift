public import Alerts
public import Foundation

/// The stored state of one alert condition (one row of `quarry.alert_state`).
public struct AlertConditionState: Sendable, Hashable {
    /// A trigger was sent and no resolve since.
    public var active: Bool
    /// Consecutive checks pointing the other way: holding while inactive, clear while active.
    public var consecutive: Int
    /// When the current streak (or incident) began.
    public var firstSeen: Date?
    /// When the last trigger or reminder was sent.
    public var lastNotified: Date?

    public init(active: Bool = false, consecutive: Int = 0, firstSeen: Date? = nil, lastNotified: Date? = nil) {
        self.active = active
        self.consecutive = consecutive
        self.firstSeen = firstSeen
        self.lastNotified = lastNotified
    }
}

/// What one check saw for one condition.
public struct AlertObservation: Sendable, Hashable {
    /// `health:critical`, `health:warning`, `alert:backpressure`, `alert:dlq`, `alert:job_failed`, `alert:stalled_recovered`.
    public var key: String
    /// Whether the condition holds now (for event-like conditions: events happened since the last check).
    public var holds: Bool
    /// Event-like conditions trigger at once and resolve after one quiet check, without flap counting.
    public var eventLike: Bool
    public var severity: Alert.Severity
    public var summary: String
    public var details: [String: String]

    public init(key: String, holds: Bool, eventLike: Bool = false, severity: Alert.Severity, summary: String, details: [String: String] = [:]) {
        self.key = key
        self.holds = holds
        self.eventLike = eventLike
        self.severity = severity
        self.summary = summary
        self.details = details
    }
}

/// A notification the policy asks for.
public enum AlertNotification: String, Sendable, Hashable {
    /// The condition started.
    case trigger
    /// It still holds and the repeat interval has passed.
    case reminder
    /// It ended.
    case resolve
}

/// Storm control: when a condition's notifications are sent. A pure state machine, so it is
/// unit-testable; ``AlertStateStore`` runs it under a row lock in PostgreSQL.
///
/// - A condition must hold for `flapChecks` consecutive checks before it triggers, and be clear for
///   `flapChecks` consecutive checks before it resolves, so a flapping condition stays quiet.
/// - While it holds, a reminder goes out at most every `repeatInterval`.
/// - Event-like conditions (`alert:job_failed`, `alert:stalled_recovered`) trigger on the first check
///   that saw events (one grouped notification) and resolve after one quiet check.
public struct AlertPolicy: Sendable, Hashable {
    /// Least time between two notifications of a holding condition (`ALERT_REPEAT_INTERVAL_S`, default 3600).
    public var repeatInterval: Duration = .seconds(3600)
    /// Consecutive checks needed to trigger or resolve (`ALERT_FLAP_CHECKS`, default 2).
    public var flapChecks: Int = 2

    public init(repeatInterval: Duration = .seconds(3600), flapChecks: Int = 2) {
        self.repeatInterval = repeatInterval
        self.flapChecks = max(1, flapChecks)
    }

    /// The next state and the notification to send, if any.
    ///
    /// - Parameters:
    ///   - state: The stored state before this check.
    ///   - holds: Whether the condition holds now.
    ///   - eventLike: Whether it is an event count rather than a level.
    ///   - now: The database's clock.
    public func decide(
        _ state: AlertConditionState, holds: Bool, eventLike: Bool = false, now: Date
    ) -> (state: AlertConditionState, notification: AlertNotification?) {
        var s = state
        let needed = eventLike ? 1 : max(1, flapChecks)
        if !s.active {
            guard holds else {
                s.consecutive = 0
                s.firstSeen = nil
                return (s, nil)
            }
            if s.consecutive == 0 { s.firstSeen = now }
            s.consecutive += 1
            guard s.consecutive >= needed else { return (s, nil) }
            s.active = true
            s.consecutive = 0
            s.lastNotified = now
            return (s, .trigger)
        }
        if holds {
            s.consecutive = 0
            let repeatSeconds = Double(repeatInterval.components.seconds) + Double(repeatInterval.components.attoseconds) / 1e18
            if let last = s.lastNotified, now.timeIntervalSince(last) < repeatSeconds { return (s, nil) }
            s.lastNotified = now
            return (s, .reminder)
        }
        s.consecutive += 1
        guard s.consecutive >= needed else { return (s, nil) }
        s.active = false
        s.consecutive = 0
        s.firstSeen = nil
        return (s, .resolve)
    }
}

/// Builds the observations a check feeds to the policy; pure, so grouping is unit-testable.
public enum AlertConditions {
    public static let critical = "health:critical"
    public static let warning = "health:warning"
    public static let backpressure = "alert:backpressure"
    public static let dlq = "alert:dlq"
    public static let jobFailed = "alert:job_failed"
    public static let stalledRecovered = "alert:stalled_recovered"

    /// The level conditions derived from one health report.
    public static func fromHealth(_ report: HealthReport, thresholds: HealthThresholds) -> [AlertObservation] {
        let m = report.measurements
        let issues = report.issues.joined(separator: "; ")
        var details = [
            "queue_size": "\(m.queueSize)", "dlq_size": "\(m.dlqSize)", "stalled_jobs": "\(m.stalledJobs)",
            "live_workers": "\(m.liveWorkers)", "processing": "\(m.processing)", "runnable": "\(m.runnable)",
        ]
        if !issues.isEmpty { details["issues"] = issues }
        let backpressure = m.runnable >= thresholds.queueSize && m.liveWorkers > 0 && m.freeSlots == 0
        return [
            AlertObservation(
                key: critical, holds: report.status == .unhealthy, severity: .critical,
                summary: "Quarry is unhealthy: \(issues)", details: details),
            AlertObservation(
                key: warning, holds: report.status == .degraded, severity: .warning,
                summary: "Quarry is degraded: \(issues)", details: details),
            AlertObservation(
                key: Self.backpressure, holds: backpressure, severity: .warning,
                summary: "Backpressure: \(m.runnable) runnable jobs and every slot of \(m.liveWorkers) live workers is busy",
                details: ["runnable": "\(m.runnable)", "live_workers": "\(m.liveWorkers)", "threshold": "\(thresholds.queueSize)"]),
            AlertObservation(
                key: dlq, holds: m.dlqSize >= thresholds.dlqSize, severity: .warning,
                summary: "Dead-letter queue holds \(m.dlqSize) jobs (threshold \(thresholds.dlqSize))",
                details: ["dlq_size": "\(m.dlqSize)", "threshold": "\(thresholds.dlqSize)"]),
        ]
    }

    /// One grouped observation for all jobs dead-lettered in the window (not one per job).
    ///
    /// - Parameters:
    ///   - count: Jobs dead-lettered since the last check.
    ///   - codes: Error codes with their counts, most frequent first.
    public static func jobFailed(count: Int, codes: [(code: String, count: Int)]) -> AlertObservation {
        let top = codes.prefix(5).map { "\($0.code)×\($0.count)" }.joined(separator: ", ")
        var details = ["count": "\(count)"]
        if !top.isEmpty { details["top_error_codes"] = top }
        return AlertObservation(
            key: jobFailed, holds: count > 0, eventLike: true, severity: .error,
            summary: "\(count) job\(count == 1 ? "" : "s") dead-lettered since the last check" + (top.isEmpty ? "" : " (\(top))"),
            details: details)
    }

    /// One grouped observation for jobs the janitor recovered from dead workers in the window.
    public static func stalledRecovered(count: Int) -> AlertObservation {
        AlertObservation(
            key: stalledRecovered, holds: count > 0, eventLike: true, severity: .warning,
            summary: "\(count) stalled job\(count == 1 ? "" : "s") recovered from dead workers since the last check",
            details: ["count": "\(count)"])
    }
}
