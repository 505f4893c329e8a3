import Foundation

/// Builds the configured notifiers.
public enum AlertNotifiers {
    /// Notifiers configured by environment variables; unset or blank variables disable a notifier.
    ///
    /// - `ALERT_SLACK_WEBHOOK_URL` → ``SlackNotifier``
    /// - `ALERT_PAGERDUTY_ROUTING_KEY` (+ optional `ALERT_PAGERDUTY_URL`, default Events API v2) → ``PagerDutyNotifier``
    /// - `ALERT_WEBHOOK_URL` (+ optional `ALERT_WEBHOOK_SECRET` to sign) → ``WebhookNotifier``
    ///
    /// Order: Slack, PagerDuty, webhook.
    public static func fromEnvironment(
        _ environment: [String: String],
        client: any HTTPClient = CurlHTTPClient()
    ) -> [any AlertNotifier] {
        func value(_ name: String) -> String? {
            guard let raw = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !raw.isEmpty else {
                return nil
            }
            return raw
        }
        var notifiers: [any AlertNotifier] = []
        if let url = value("ALERT_SLACK_WEBHOOK_URL") {
            notifiers.append(SlackNotifier(webhookURL: url, client: client))
        }
        if let routingKey = value("ALERT_PAGERDUTY_ROUTING_KEY") {
            notifiers.append(
                PagerDutyNotifier(
                    routingKey: routingKey,
                    endpoint: value("ALERT_PAGERDUTY_URL") ?? PagerDutyNotifier.defaultEndpoint,
                    client: client
                )
            )
        }
        if let url = value("ALERT_WEBHOOK_URL") {
            notifiers.append(WebhookNotifier(url: url, secret: value("ALERT_WEBHOOK_SECRET"), client: client))
        }
        return notifiers
    }
}
