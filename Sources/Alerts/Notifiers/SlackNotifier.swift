import Foundation

/// Posts alerts to a Slack incoming webhook.
///
/// Body: `{"text": <fallback>, "blocks": [header, section with fields, context]}`. The header shows the
/// severity for triggers (`🔴 CRITICAL: …`) and `✅ RESOLVED: …` for resolves; the fields section holds
/// the event, component and details (Slack allows 10 fields); the context shows source and time.
/// The webhook URL is a secret: it never appears in errors (see ``Redaction``).
public struct SlackNotifier: AlertNotifier {
    public let name: String
    private let webhookURL: String
    private let client: any HTTPClient

    public init(webhookURL: String, name: String = "slack", client: any HTTPClient = CurlHTTPClient()) {
        self.webhookURL = webhookURL
        self.name = name
        self.client = client
    }

    public func send(_ alert: Alert) async throws {
        let request = WebhookRequest(
            url: webhookURL,
            headers: [("Content-Type", "application/json; charset=utf-8")],
            body: Self.body(for: alert).bytes()
        )
        _ = try await deliver(request, with: client, notifier: name)
    }

    static func body(for alert: Alert) -> JSON {
        let title: String
        let fallback: String
        switch alert.action {
        case .trigger:
            title = "\(emoji(alert.severity)) \(alert.severity.rawValue.uppercased()): \(alert.summary)"
            fallback = "[\(alert.severity.rawValue.uppercased())] \(alert.summary) (\(alert.component) on \(alert.source))"
        case .resolve:
            title = "✅ RESOLVED: \(alert.summary)"
            fallback = "✅ [RESOLVED] \(alert.summary) (\(alert.component) on \(alert.source))"
        }

        var fields: [(String, String)] = [("Event", alert.event), ("Component", alert.component)]
        if alert.action == .trigger { fields.append(("Severity", alert.severity.rawValue)) }
        let details = alert.details.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        let room = 10 - fields.count
        if details.count <= room {
            fields += details
        } else {
            fields += details.prefix(room - 1)
            fields.append(("More", "\(details.count - (room - 1)) more detail(s)"))
        }

        let header: JSON = .object([
            "type": .string("header"),
            "text": .object(["type": .string("plain_text"), "text": .string(title.truncated(to: 150)), "emoji": .bool(true)]),
        ])
        let section: JSON = .object([
            "type": .string("section"),
            "fields": .array(
                fields.map { field in
                    .object([
                        "type": .string("mrkdwn"),
                        "text": .string("*\(escape(field.0))*\n\(escape(field.1))".truncated(to: 2000)),
                    ])
                }),
        ])
        let context: JSON = .object([
            "type": .string("context"),
            "elements": .array([
                .object([
                    "type": .string("mrkdwn"),
                    "text": .string("Source: *\(escape(alert.source))* · \(alert.occurredAt.iso8601) · key `\(escape(alert.key))`"),
                ])
            ]),
        ])
        return .object(["text": .string(fallback), "blocks": .array([header, section, context])])
    }

    static func emoji(_ severity: Alert.Severity) -> String {
        switch severity {
        case .critical: "🔴"
        case .error: "🟠"
        case .warning: "🟡"
        case .info: "🔵"
        }
    }

    /// Slack mrkdwn control characters.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;")
            .replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
