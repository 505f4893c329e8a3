/// Sends alerts to PagerDuty's Events API v2.
///
/// A trigger sends `{"routing_key", "event_action": "trigger", "dedup_key": "quarry:<key>", "payload":
/// {"summary", "source", "severity", "component", "group": "quarry", "class": <event>, "timestamp",
/// "custom_details"}}`; a resolve sends only `routing_key`, `event_action` and `dedup_key`, so it closes
/// the incident opened by the trigger with the same key. PagerDuty answers `202 Accepted`.
/// The routing key is a secret: it is only ever in the request body, never in errors.
public struct PagerDutyNotifier: AlertNotifier {
    public static let defaultEndpoint = "https://events.pagerduty.com/v2/enqueue"

    public let name: String
    private let routingKey: String
    public let endpoint: String
    private let client: any HTTPClient

    public init(
        routingKey: String,
        endpoint: String = PagerDutyNotifier.defaultEndpoint,
        name: String = "pagerduty",
        client: any HTTPClient = CurlHTTPClient()
    ) {
        self.routingKey = routingKey
        self.endpoint = endpoint
        self.name = name
        self.client = client
    }

    public func send(_ alert: Alert) async throws {
        let request = WebhookRequest(
            url: endpoint,
            headers: [("Content-Type", "application/json")],
            body: Self.body(for: alert, routingKey: routingKey).bytes()
        )
        _ = try await deliver(request, with: client, notifier: name)
    }

    /// `quarry:` + the alert key (PagerDuty limits dedup keys to 255 characters).
    public static func dedupKey(for alert: Alert) -> String {
        String(("quarry:" + alert.key).prefix(255))
    }

    static func body(for alert: Alert, routingKey: String) -> JSON {
        var body: [String: JSON] = [
            "routing_key": .string(routingKey),
            "event_action": .string(alert.action.rawValue),
            "dedup_key": .string(dedupKey(for: alert)),
        ]
        if alert.action == .trigger {
            body["payload"] = .object([
                "summary": .string(alert.summary.truncated(to: 1024)),
                "source": .string(alert.source.isEmpty ? "quarry" : alert.source),
                "severity": .string(alert.severity.rawValue),
                "component": .string(alert.component),
                "group": .string("quarry"),
                "class": .string(alert.event),
                "timestamp": .string(alert.occurredAt.iso8601),
                "custom_details": JSON.strings(alert.details),
            ])
        }
        return .object(body)
    }
}
