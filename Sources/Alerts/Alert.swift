public import Foundation

/// One alert event to deliver. The alert *policy* (when to trigger, repeat or resolve) lives elsewhere;
/// this module only delivers.
public struct Alert: Sendable, Hashable, Codable {
    /// Whether the alert opens (or repeats) an incident, or closes it.
    public enum Action: String, Sendable, Hashable, Codable, CaseIterable {
        case trigger
        case resolve
    }

    /// Severity, spelled as PagerDuty's Events API v2 spells it.
    public enum Severity: String, Sendable, Hashable, Codable, CaseIterable {
        case critical
        case error
        case warning
        case info
    }

    /// Stable deduplication key, e.g. `health:critical`, `alert:dlq`. A resolve closes the trigger with the same key.
    public var key: String
    /// Seed event name: `health:critical`, `health:warning`, `alert:backpressure`, `alert:dlq`,
    /// `alert:job_failed`, `alert:stalled_recovered`.
    public var event: String
    public var action: Action
    public var severity: Severity
    /// One-line human summary.
    public var summary: String
    /// Host / instance that raised the alert.
    public var source: String
    /// Part of the system concerned (`queue`, `worker`, `janitor`…).
    public var component: String
    /// Extra context shown by every notifier.
    public var details: [String: String]
    public var occurredAt: Date

    public init(
        key: String,
        event: String,
        action: Action = .trigger,
        severity: Severity,
        summary: String,
        source: String,
        component: String,
        details: [String: String] = [:],
        occurredAt: Date = Date()
    ) {
        self.key = key
        self.event = event
        self.action = action
        self.severity = severity
        self.summary = summary
        self.source = source
        self.component = component
        self.details = details
        self.occurredAt = occurredAt
    }

    /// This alert as a resolve of the same key, at `date`.
    public func resolved(at date: Date = Date()) -> Alert {
        var copy = self
        copy.action = .resolve
        copy.occurredAt = date
        return copy
    }
}

/// A receiver of alerts (Slack, PagerDuty, a generic webhook…).
public protocol AlertNotifier: Sendable {
    /// Short stable name used in logs and outcomes (`slack`, `pagerduty`, `webhook`).
    var name: String { get }
    /// Delivers one alert. Throws ``AlertError`` (whose `retryable` tells the dispatcher whether to retry).
    func send(_ alert: Alert) async throws
}
