import Foundation

/// A small JSON tree, encoded with sorted keys so bodies (and their signatures) are byte-stable.
enum JSON: Encodable, Sendable, Hashable {
    case string(String)
    case number(Int)
    case bool(Bool)
    case array([JSON])
    case object([String: JSON])
    case null

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }

    /// UTF-8 bytes, keys sorted, slashes not escaped.
    func bytes() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding strings, numbers, arrays and string-keyed objects cannot fail.
        return (try? Array(encoder.encode(self))) ?? Array("null".utf8)
    }

    static func strings(_ dictionary: [String: String]) -> JSON {
        .object(dictionary.mapValues { .string($0) })
    }
}

extension Date {
    /// ISO 8601 in UTC with millisecond precision, e.g. `2025-01-31T12:00:00.123Z`.
    var iso8601: String {
        formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    var unixSeconds: Int {
        Int(timeIntervalSince1970.rounded(.down))
    }
}

extension String {
    /// Truncates to at most `limit` characters, ending with `…` when cut.
    func truncated(to limit: Int) -> String {
        count <= limit ? self : String(prefix(max(0, limit - 1))) + "…"
    }
}

/// Sends `request` and maps a non-2xx answer to `HTTP_ERROR` (retryable for 5xx and 429).
func deliver(_ request: WebhookRequest, with client: any HTTPClient, notifier: String) async throws -> WebhookResponse {
    let response: WebhookResponse
    do {
        response = try await client.send(request)
    } catch var error as AlertError {
        error.message = "\(notifier): \(error.message)"
        throw error
    }
    guard (200...299).contains(response.status) else {
        throw AlertError.http(status: response.status, notifier: notifier, url: request.url)
    }
    return response
}
