import Alerts
import Crypto
import Foundation
import QuarryTestSupport
import Testing

private func sampleAlert(
    action: Alert.Action = .trigger,
    severity: Alert.Severity = .critical,
    details: [String: String] = ["queue_depth": "1234", "oldest_job_age": "15m"]
) -> Alert {
    Alert(
        key: "health:critical",
        event: "health:critical",
        action: action,
        severity: severity,
        summary: "Queue depth over critical threshold",
        source: "janitor-1.example",
        component: "queue",
        details: details,
        occurredAt: Date(timeIntervalSince1970: 1_700_000_000)
    )
}

/// Fast retries so tests do not wait long; same shape as the default (3 tries, ×2).
private let fastRetry = AlertRetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(20), multiplier: 2, jitter: 0.2)

@Suite("Slack")
struct SlackTests {
    @Test func triggerBodyHasTextAndBlocks() async throws {
        let receiver = try WebhookReceiver(.respond([200]))
        defer { receiver.stop() }
        let notifier = SlackNotifier(webhookURL: receiver.url("/services/T000/B000/XXXX"))
        try await notifier.send(sampleAlert())

        let requests = receiver.requests
        try #require(requests.count == 1)
        let request = requests[0]
        #expect(request.method == "POST")
        #expect(request.path == "/services/T000/B000/XXXX")
        #expect(request.header("content-type")?.hasPrefix("application/json") == true)
        #expect(request.header("user-agent") == "quarry-alerts/1")
        let json = try #require(request.json)
        let text = try #require(json["text"] as? String)
        #expect(text.contains("Queue depth over critical threshold"))
        #expect(text.contains("CRITICAL"))
        let blocks = try #require(json["blocks"] as? [[String: Any]])
        #expect(blocks.map { $0["type"] as? String } == ["header", "section", "context"])
        let header = try #require((blocks[0]["text"] as? [String: Any])?["text"] as? String)
        #expect(header.contains("CRITICAL"))
        #expect(header.contains("🔴"))
        let fields = try #require(blocks[1]["fields"] as? [[String: Any]])
        let fieldTexts = fields.compactMap { $0["text"] as? String }
        #expect(fieldTexts.contains("*queue_depth*\n1234"))
        #expect(fieldTexts.contains("*oldest_job_age*\n15m"))
        #expect(fieldTexts.contains("*Component*\nqueue"))
        let elements = try #require(blocks[2]["elements"] as? [[String: Any]])
        let context = try #require(elements.first?["text"] as? String)
        #expect(context.contains("janitor-1.example"))
        #expect(context.contains("2023-11-14T22:13:20"))
    }

    @Test func resolveSaysResolved() async throws {
        let receiver = try WebhookReceiver(.respond([200]))
        defer { receiver.stop() }
        try await SlackNotifier(webhookURL: receiver.url()).send(sampleAlert(action: .resolve))
        let json = try #require(receiver.requests.first?.json)
        let text = try #require(json["text"] as? String)
        #expect(text.contains("RESOLVED"))
        #expect(text.contains("✅"))
        let blocks = try #require(json["blocks"] as? [[String: Any]])
        let header = try #require((blocks.first?["text"] as? [String: Any])?["text"] as? String)
        #expect(header.hasPrefix("✅ RESOLVED"))
        #expect(!header.contains("CRITICAL"))
    }
}

@Suite("PagerDuty")
struct PagerDutyTests {
    @Test func triggerThenResolveShareDedupKey() async throws {
        let receiver = try WebhookReceiver(.respond([202]))
        defer { receiver.stop() }
        let notifier = PagerDutyNotifier(routingKey: "R0UTINGKEY123", endpoint: receiver.url("/v2/enqueue"))
        let alert = sampleAlert(severity: .error)
        try await notifier.send(alert)
        try await notifier.send(alert.resolved(at: Date(timeIntervalSince1970: 1_700_000_600)))

        let requests = receiver.requests
        try #require(requests.count == 2)
        #expect(requests.allSatisfy { $0.path == "/v2/enqueue" })
        let trigger = try #require(requests[0].json)
        let resolve = try #require(requests[1].json)

        #expect(trigger["routing_key"] as? String == "R0UTINGKEY123")
        #expect(trigger["event_action"] as? String == "trigger")
        #expect(trigger["dedup_key"] as? String == "quarry:health:critical")
        let payload = try #require(trigger["payload"] as? [String: Any])
        #expect(payload["summary"] as? String == "Queue depth over critical threshold")
        #expect(payload["source"] as? String == "janitor-1.example")
        #expect(payload["severity"] as? String == "error")
        #expect(payload["component"] as? String == "queue")
        #expect(payload["group"] as? String == "quarry")
        #expect(payload["class"] as? String == "health:critical")
        #expect(payload["timestamp"] as? String == "2023-11-14T22:13:20.000Z")
        #expect(payload["custom_details"] as? [String: String] == ["queue_depth": "1234", "oldest_job_age": "15m"])

        #expect(Set(resolve.keys) == ["routing_key", "event_action", "dedup_key"])
        #expect(resolve["event_action"] as? String == "resolve")
        #expect(resolve["dedup_key"] as? String == trigger["dedup_key"] as? String)
        #expect(resolve["routing_key"] as? String == "R0UTINGKEY123")
    }

    @Test func errorNeverContainsRoutingKey() async throws {
        let receiver = try WebhookReceiver(.respond([400]))
        defer { receiver.stop() }
        let notifier = PagerDutyNotifier(routingKey: "R0UTINGKEY123", endpoint: receiver.url("/v2/enqueue"))
        let error = await #expect(throws: AlertError.self) { try await notifier.send(sampleAlert()) }
        #expect(error?.code == .httpError)
        #expect(error?.httpStatus == 400)
        #expect(error?.retryable == false)
        #expect(error.map { !"\($0)".contains("R0UTINGKEY123") } == true)
    }
}

@Suite("Generic webhook")
struct WebhookTests {
    @Test func signatureVerifiesWithRecomputedHMAC() async throws {
        let receiver = try WebhookReceiver(.respond([204]))
        defer { receiver.stop() }
        let secret = "s3cr3t-shared"
        let now = Date(timeIntervalSince1970: 1_700_000_123)
        try await WebhookNotifier(url: receiver.url("/alerts"), secret: secret, now: { now }).send(sampleAlert())

        let request = try #require(receiver.requests.first)
        let timestamp = try #require(request.header("X-Quarry-Timestamp"))
        let signature = try #require(request.header("X-Quarry-Signature"))
        #expect(timestamp == "1700000123")
        #expect(signature.hasPrefix("sha256="))

        func expected(_ key: String) -> String {
            let mac = HMAC<SHA256>.authenticationCode(
                for: Array((timestamp + ".").utf8) + request.body,
                using: SymmetricKey(data: Array(key.utf8))
            )
            return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
        }
        #expect(signature == expected(secret))
        #expect(signature != expected("wrong-secret"))
        #expect(WebhookSignature.verify(secret: secret, timestamp: timestamp, body: request.body, signature: signature))
        #expect(!WebhookSignature.verify(secret: "wrong-secret", timestamp: timestamp, body: request.body, signature: signature))
        #expect(!WebhookSignature.verify(secret: secret, timestamp: "1700000124", body: request.body, signature: signature))

        let json = try #require(request.json)
        #expect(json["event"] as? String == "health:critical")
        #expect(json["action"] as? String == "trigger")
        #expect(json["key"] as? String == "health:critical")
        #expect(json["severity"] as? String == "critical")
        #expect(json["summary"] as? String == "Queue depth over critical threshold")
        #expect(json["source"] as? String == "janitor-1.example")
        #expect(json["component"] as? String == "queue")
        #expect(json["details"] as? [String: String] == ["queue_depth": "1234", "oldest_job_age": "15m"])
        #expect(json["occurred_at"] as? String == "2023-11-14T22:13:20.000Z")
        // Sorted keys: the body is byte-stable.
        let body = String(decoding: request.body, as: UTF8.self)
        #expect(body.hasPrefix(#"{"action":"trigger","component":"queue","details":{"oldest_job_age":"15m","queue_depth":"1234"}"#))
    }

    @Test func noSecretNoSignature() async throws {
        let receiver = try WebhookReceiver(.respond([200]))
        defer { receiver.stop() }
        try await WebhookNotifier(url: receiver.url(), secret: nil).send(sampleAlert())
        let request = try #require(receiver.requests.first)
        #expect(request.header("X-Quarry-Signature") == nil)
        #expect(request.header("X-Quarry-Timestamp") == nil)
        #expect(request.json?["key"] as? String == "health:critical")
    }
}

@Suite("Dispatcher and errors")
struct DispatcherTests {
    @Test func retriesOn503ThenSucceeds() async throws {
        let receiver = try WebhookReceiver(.respond([503, 202]))
        defer { receiver.stop() }
        let dispatcher = AlertDispatcher(
            notifiers: [PagerDutyNotifier(routingKey: "rk", endpoint: receiver.url())],
            retryPolicy: fastRetry
        )
        let outcomes = await dispatcher.dispatch(sampleAlert())
        #expect(outcomes.count == 1)
        #expect(outcomes.first?.notifier == "pagerduty")
        #expect(outcomes.first?.delivered == true)
        #expect(outcomes.first?.attempts == 2)
        #expect(receiver.requests.count == 2)
    }

    @Test func gives_up_after_three_retryable_failures() async throws {
        let receiver = try WebhookReceiver(.respond([500]))
        defer { receiver.stop() }
        let dispatcher = AlertDispatcher(notifiers: [WebhookNotifier(url: receiver.url(), secret: nil)], retryPolicy: fastRetry)
        let outcome = try #require(await dispatcher.dispatch(sampleAlert()).first)
        #expect(outcome.delivered == false)
        #expect(outcome.attempts == 3)
        #expect(outcome.error?.code == .httpError)
        #expect(outcome.error?.httpStatus == 500)
        #expect(receiver.requests.count == 3)
    }

    @Test func badRequestIsNotRetried() async throws {
        let receiver = try WebhookReceiver(.respond([400, 202]))
        defer { receiver.stop() }
        let dispatcher = AlertDispatcher(
            notifiers: [PagerDutyNotifier(routingKey: "rk", endpoint: receiver.url())],
            retryPolicy: fastRetry
        )
        let outcome = try #require(await dispatcher.dispatch(sampleAlert()).first)
        #expect(outcome.delivered == false)
        #expect(outcome.attempts == 1)
        #expect(outcome.error?.code == .httpError)
        #expect(outcome.error?.retryable == false)
        #expect(receiver.requests.count == 1)
    }

    @Test func oneFailingNotifierDoesNotAffectOthers() async throws {
        let good = try WebhookReceiver(.respond([200]))
        let bad = try WebhookReceiver(.respond([404]))
        defer {
            good.stop()
            bad.stop()
        }
        let dispatcher = AlertDispatcher(
            notifiers: [
                SlackNotifier(webhookURL: bad.url("/services/T1/B2/tok")),
                WebhookNotifier(url: good.url(), secret: "x"),
            ],
            retryPolicy: fastRetry
        )
        let outcomes = await dispatcher.dispatch(sampleAlert())
        #expect(outcomes.map(\.notifier) == ["slack", "webhook"])
        #expect(outcomes.map(\.delivered) == [false, true])
        #expect(outcomes[0].error?.httpStatus == 404)
        #expect(good.requests.count == 1)
    }

    @Test func timeoutGivesTimeoutError() async throws {
        let receiver = try WebhookReceiver(.silent)
        defer { receiver.stop() }
        let client = CurlHTTPClient(configuration: HTTPClientConfiguration(connectTimeout: .seconds(1), totalTimeout: .seconds(1)))
        let notifier = WebhookNotifier(url: receiver.url(), secret: nil, client: client)
        let start = ContinuousClock.now
        let error = await #expect(throws: AlertError.self) { try await notifier.send(sampleAlert()) }
        let elapsed = ContinuousClock.now - start
        #expect(error?.code == .timeoutError)
        #expect(error?.retryable == true)
        #expect(elapsed >= .milliseconds(900))
        #expect(elapsed < .milliseconds(2500))
        #expect(receiver.requests.count == 1)
    }

    @Test func connectionRefusedGivesNetworkError() async throws {
        let port = try closedLocalPort()
        let notifier = WebhookNotifier(url: "http://127.0.0.1:\(port)/hook", secret: nil)
        let error = await #expect(throws: AlertError.self) { try await notifier.send(sampleAlert()) }
        #expect(error?.code == .networkError)
        #expect(error?.retryable == true)
    }

    @Test func slackURLIsRedactedInErrors() async throws {
        let port = try closedLocalPort()
        let hook = "http://127.0.0.1:\(port)/services/T0SECRET/B0SECRET/tokenSECRET?x=querySECRET"
        let refused = await #expect(throws: AlertError.self) { try await SlackNotifier(webhookURL: hook).send(sampleAlert()) }
        let description = try #require(refused.map { "\($0)" })
        #expect(description.contains("127.0.0.1:\(port)"))
        #expect(!description.contains("SECRET"))
        #expect(!description.contains("/services"))

        let receiver = try WebhookReceiver(.respond([404]))
        defer { receiver.stop() }
        let httpError = await #expect(throws: AlertError.self) {
            try await SlackNotifier(webhookURL: receiver.url("/services/T0SECRET/B0SECRET/tokenSECRET")).send(sampleAlert())
        }
        let httpDescription = try #require(httpError.map { "\($0)" })
        #expect(httpDescription.contains("HTTP 404"))
        #expect(!httpDescription.contains("SECRET"))
    }

    @Test func redactionOfURLs() {
        #expect(Redaction.url("https://hooks.slack.com/services/T1/B2/abc") == "https://hooks.slack.com/…")
        #expect(Redaction.url("https://user:pw@example.com:8443/x?token=1") == "https://example.com:8443/…")
        #expect(Redaction.url("https://example.com") == "https://example.com")
        #expect(Redaction.url("https://example.com/") == "https://example.com")
        #expect(Redaction.url("not a url") == "<invalid url>")
    }

    @Test func retryableStatuses() {
        #expect(AlertError.isRetryable(status: 503))
        #expect(AlertError.isRetryable(status: 500))
        #expect(AlertError.isRetryable(status: 429))
        #expect(!AlertError.isRetryable(status: 400))
        #expect(!AlertError.isRetryable(status: 404))
    }

    @Test func backoffDoublesWithJitter() {
        let policy = AlertRetryPolicy.default
        #expect(policy.maxAttempts == 3)
        for _ in 0..<20 {
            let first = policy.delay(afterAttempt: 1)
            let second = policy.delay(afterAttempt: 2)
            #expect(first >= .milliseconds(160) && first <= .milliseconds(240))
            #expect(second >= .milliseconds(320) && second <= .milliseconds(480))
        }
    }
}

@Suite("Curl client")
struct CurlClientTests {
    @Test func responseBodyIsCappedButStatusKept() async throws {
        let receiver = try WebhookReceiver(.respond([200]), responseBody: [UInt8](repeating: UInt8(ascii: "a"), count: 200_000))
        defer { receiver.stop() }
        let client = CurlHTTPClient(configuration: HTTPClientConfiguration(maxResponseBodyBytes: 1000))
        let response = try await client.send(WebhookRequest(url: receiver.url(), body: Array("{}".utf8)))
        #expect(response.status == 200)
        #expect(response.body.count == 1000)
        #expect(response.body.allSatisfy { $0 == UInt8(ascii: "a") })
    }

    @Test func smallResponseBodyIsReturnedWhole() async throws {
        let receiver = try WebhookReceiver(.respond([202]), responseBody: Array(#"{"status":"success"}"#.utf8))
        defer { receiver.stop() }
        let response = try await CurlHTTPClient().send(WebhookRequest(url: receiver.url(), body: Array("x".utf8)))
        #expect(response.status == 202)
        #expect(String(decoding: response.body, as: UTF8.self) == #"{"status":"success"}"#)
        #expect(receiver.requests.first?.body == Array("x".utf8))
    }

    @Test func emptyBodyAndCustomMethod() async throws {
        let receiver = try WebhookReceiver(.respond([200]))
        defer { receiver.stop() }
        let client = CurlHTTPClient()
        #expect(try await client.send(WebhookRequest(url: receiver.url("/a"))).status == 200)
        #expect(try await client.send(WebhookRequest(url: receiver.url("/b"), method: "PUT", body: Array("hi".utf8))).status == 200)
        let requests = receiver.requests
        #expect(requests.map(\.method) == ["POST", "PUT"])
        #expect(requests.map(\.path) == ["/a", "/b"])
        #expect(requests.map(\.body) == [[], Array("hi".utf8)])
    }

    @Test func redirectsAreNotFollowed() async throws {
        let receiver = try WebhookReceiver(.respond([302, 200]))
        defer { receiver.stop() }
        let error = await #expect(throws: AlertError.self) {
            try await WebhookNotifier(url: receiver.url(), secret: nil).send(sampleAlert())
        }
        #expect(error?.httpStatus == 302)
        #expect(error?.retryable == false)
        #expect(receiver.requests.map(\.path) == ["/hook"])
    }

    @Test func nonHTTPSchemesAreRefused() async throws {
        let error = await #expect(throws: AlertError.self) {
            _ = try await CurlHTTPClient().send(WebhookRequest(url: "file:///etc/passwd"))
        }
        #expect(error?.code == .networkError)
        #expect(error?.retryable == false)
    }

    @Test func headerInjectionIsRejected() async throws {
        let receiver = try WebhookReceiver(.respond([200]))
        defer { receiver.stop() }
        await #expect(throws: AlertError.self) {
            _ = try await CurlHTTPClient().send(WebhookRequest(url: receiver.url(), headers: [("X-A", "b\r\nX-Evil: 1")]))
        }
        #expect(receiver.requests.isEmpty)
    }

    /// Blocking transfers must not occupy Swift's cooperative pool (2 threads on this machine).
    @Test func blockingTransfersDoNotStarveTheCooperativePool() async throws {
        let receiver = try WebhookReceiver(.silent)
        defer { receiver.stop() }
        let client = CurlHTTPClient(configuration: HTTPClientConfiguration(connectTimeout: .seconds(1), totalTimeout: .seconds(1)))
        let start = ContinuousClock.now
        let transfers = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask { _ = try? await client.send(WebhookRequest(url: receiver.url(), body: [1])) }
                }
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        let probes = await withTaskGroup(of: Int.self) { group in
            for value in 0..<8 { group.addTask { value } }
            return await group.reduce(0, +)
        }
        let elapsed = ContinuousClock.now - start
        #expect(probes == 28)
        // Each transfer blocks for 1 s; on the 2-thread pool, 8 of them would hold it for ≥ 4 s.
        // The bound is loose because CI machines are loaded; starvation would still exceed it.
        #expect(elapsed < .seconds(3))
        await transfers.value
    }

    @Test func cancellationAbortsTheTransfer() async throws {
        let receiver = try WebhookReceiver(.silent)
        defer { receiver.stop() }
        let client = CurlHTTPClient(configuration: HTTPClientConfiguration(totalTimeout: .seconds(30)))
        let start = ContinuousClock.now
        let task = Task { try await client.send(WebhookRequest(url: receiver.url(), body: [1])) }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(ContinuousClock.now - start < .seconds(3))
    }
}

@Suite("Configuration")
struct ConfigurationTests {
    @Test func fromEnvironment() {
        let none = AlertNotifiers.fromEnvironment(["ALERT_SLACK_WEBHOOK_URL": "  ", "OTHER": "x"])
        #expect(none.isEmpty)

        let all = AlertNotifiers.fromEnvironment([
            "ALERT_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/a/b/c",
            "ALERT_PAGERDUTY_ROUTING_KEY": "rk",
            "ALERT_PAGERDUTY_URL": "http://127.0.0.1:1/enqueue",
            "ALERT_WEBHOOK_URL": "https://example.com/hook",
            "ALERT_WEBHOOK_SECRET": "s",
        ])
        #expect(all.map(\.name) == ["slack", "pagerduty", "webhook"])
        #expect((all[1] as? PagerDutyNotifier)?.endpoint == "http://127.0.0.1:1/enqueue")

        let pagerDutyOnly = AlertNotifiers.fromEnvironment(["ALERT_PAGERDUTY_ROUTING_KEY": "rk"])
        #expect(pagerDutyOnly.map(\.name) == ["pagerduty"])
        #expect((pagerDutyOnly.first as? PagerDutyNotifier)?.endpoint == "https://events.pagerduty.com/v2/enqueue")
    }

    @Test func defaults() {
        let configuration = HTTPClientConfiguration()
        #expect(configuration.connectTimeout == .seconds(5))
        #expect(configuration.totalTimeout == .seconds(10))
        #expect(configuration.maxResponseBodyBytes == 65536)
        #expect(configuration.userAgent == "quarry-alerts/1")
    }
}
