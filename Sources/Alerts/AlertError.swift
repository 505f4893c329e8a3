import Foundation

/// A failure to deliver an alert: a stable code, a human message and whether a retry may help.
///
/// The message never contains secrets: URLs are reduced to `scheme://host[:port]/…` (see
/// ``Redaction/url(_:)``), request bodies (PagerDuty routing keys, signatures) and response bodies are
/// never included.
public struct AlertError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An extensible error code.
    public struct Code: Sendable, Hashable, RawRepresentable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Connection refused, DNS failure, TLS failure, connection reset… Retryable unless the URL itself is unusable.
        public static let networkError = Code("NETWORK_ERROR")
        /// The receiver answered with a non-success status. Retryable for 5xx and 429 only.
        public static let httpError = Code("HTTP_ERROR")
        /// The connect or total timeout expired. Retryable.
        public static let timeoutError = Code("TIMEOUT_ERROR")
    }

    public var code: Code
    /// Redacted, human-readable detail.
    public var message: String
    public var retryable: Bool
    /// The HTTP status, for `HTTP_ERROR`.
    public var httpStatus: Int?

    public init(_ code: Code, _ message: String, retryable: Bool, httpStatus: Int? = nil) {
        self.code = code
        self.message = message
        self.retryable = retryable
        self.httpStatus = httpStatus
    }

    /// An `HTTP_ERROR` for `status`, retryable when the status is 5xx or 429.
    public static func http(status: Int, notifier: String, url: String) -> AlertError {
        AlertError(
            .httpError,
            "\(notifier): HTTP \(status) from \(Redaction.url(url))",
            retryable: isRetryable(status: status),
            httpStatus: status
        )
    }

    /// Whether an HTTP status is worth retrying: 5xx (server trouble) and 429 (rate limited).
    public static func isRetryable(status: Int) -> Bool {
        status == 429 || (500...599).contains(status)
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// Helpers that strip secrets from strings that end up in errors and logs.
public enum Redaction {
    /// Reduces a URL to `scheme://host[:port]`, followed by `/…` when it had a path, query or fragment.
    ///
    /// Slack incoming-webhook URLs carry their secret in the path (`/services/T…/B…/token`), other
    /// receivers often in the query string, and some in user-info; all three are dropped.
    public static func url(_ raw: String) -> String {
        guard let schemeEnd = raw.range(of: "://") else { return "<invalid url>" }
        let scheme = raw[raw.startIndex..<schemeEnd.lowerBound]
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." }) else {
            return "<invalid url>"
        }
        let rest = raw[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        var authority = rest[rest.startIndex..<authorityEnd]
        if let at = authority.lastIndex(of: "@") {
            authority = authority[authority.index(after: at)...]
        }
        let remainder = rest[authorityEnd...]
        let hasMore = !(remainder.isEmpty || remainder == "/")
        return "\(scheme.lowercased())://\(authority)" + (hasMore ? "/…" : "")
    }
}
