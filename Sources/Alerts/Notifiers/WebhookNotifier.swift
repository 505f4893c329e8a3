import Crypto
public import Foundation

/// Posts alerts as JSON to any HTTP endpoint.
///
/// Body (keys sorted, UTF-8): `{"action", "component", "details", "event", "key", "occurred_at",
/// "severity", "source", "summary"}` with `occurred_at` in ISO 8601 (UTC).
///
/// ## Signature
/// When a secret is configured, two headers are added:
/// - `X-Quarry-Timestamp: <unix seconds>`
/// - `X-Quarry-Signature: sha256=<hex>` where `<hex>` is the lowercase hex HMAC-SHA256, keyed with the
///   UTF-8 secret, of the bytes `<timestamp> + "." + <raw request body>`.
///
/// A receiver recomputes the HMAC over the timestamp header, a `.` and the body exactly as received,
/// compares it in constant time, and rejects timestamps too far from its clock (e.g. ±5 minutes) to stop
/// replays. ``WebhookSignature/verify(secret:timestamp:body:signature:)`` does this check.
public struct WebhookNotifier: AlertNotifier {
    public let name: String
    private let url: String
    private let secret: String?
    private let client: any HTTPClient
    private let now: @Sendable () -> Date

    public init(
        url: String,
        secret: String?,
        name: String = "webhook",
        client: any HTTPClient = CurlHTTPClient(),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.url = url
        self.secret = secret.flatMap { $0.isEmpty ? nil : $0 }
        self.name = name
        self.client = client
        self.now = now
    }

    public func send(_ alert: Alert) async throws {
        let body = Self.body(for: alert).bytes()
        var headers = [("Content-Type", "application/json")]
        if let secret {
            let timestamp = String(now().unixSeconds)
            headers.append(("X-Quarry-Timestamp", timestamp))
            headers.append(("X-Quarry-Signature", WebhookSignature.sign(secret: secret, timestamp: timestamp, body: body)))
        }
        _ = try await deliver(WebhookRequest(url: url, headers: headers, body: body), with: client, notifier: name)
    }

    static func body(for alert: Alert) -> JSON {
        .object([
            "event": .string(alert.event),
            "action": .string(alert.action.rawValue),
            "key": .string(alert.key),
            "severity": .string(alert.severity.rawValue),
            "summary": .string(alert.summary),
            "source": .string(alert.source),
            "component": .string(alert.component),
            "details": JSON.strings(alert.details),
            "occurred_at": .string(alert.occurredAt.iso8601),
        ])
    }
}

/// The `X-Quarry-Signature` scheme of ``WebhookNotifier``: `sha256=` + hex HMAC-SHA256(secret, timestamp + "." + body).
public enum WebhookSignature {
    /// The `X-Quarry-Signature` header value for `body` sent at `timestamp` (unix seconds, as sent in `X-Quarry-Timestamp`).
    public static func sign(secret: String, timestamp: String, body: [UInt8]) -> String {
        "sha256=" + hex(mac(secret: secret, timestamp: timestamp, body: body))
    }

    /// Whether `signature` (an `X-Quarry-Signature` value) matches; constant-time. Does not check the
    /// timestamp's freshness — receivers should also reject old timestamps.
    public static func verify(secret: String, timestamp: String, body: [UInt8], signature: String) -> Bool {
        guard signature.hasPrefix("sha256="), let given = unhex(signature.dropFirst(7)) else { return false }
        var message = Array(timestamp.utf8)
        message.append(UInt8(ascii: "."))
        message += body
        return HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: message, using: SymmetricKey(data: Array(secret.utf8)))
    }

    private static func mac(secret: String, timestamp: String, body: [UInt8]) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: Array(secret.utf8)))
        hmac.update(data: Array(timestamp.utf8))
        hmac.update(data: [UInt8(ascii: ".")])
        hmac.update(data: body)
        return Array(hmac.finalize())
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func unhex(_ text: Substring) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        var index = 0
        while index < chars.count {
            guard let high = value(chars[index]), let low = value(chars[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
