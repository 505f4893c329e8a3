import Foundation
import Hummingbird

/// An error answered to the client as `{"success":false,"error":{"code","message"}}`, plus
/// `"details":{…}` (strings) when `details` is not empty.
struct APIError: Error, CustomStringConvertible {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var retryAfterSeconds: Int?
    /// Context for the code, answered as `error.details` (e.g. `field` for `INVALID_CONFIG`).
    var details: [String: String] = [:]

    var description: String { "\(status.code) \(code): \(message)" }

    static func badRequest(_ m: String) -> APIError { .init(status: .badRequest, code: "INVALID_REQUEST", message: m) }
    /// A job config the worker would refuse: its decoder's message, and its details (`field`, `index`, …).
    static func invalidConfig(_ m: String, details: [String: String]) -> APIError {
        .init(status: .badRequest, code: "INVALID_CONFIG", message: m, details: details)
    }
    static func unauthorized(_ m: String = "missing or invalid bearer token") -> APIError {
        .init(status: .unauthorized, code: "UNAUTHORIZED", message: m)
    }
    static func forbidden(_ m: String = "this view needs an admin token") -> APIError { .init(status: .forbidden, code: "FORBIDDEN", message: m) }
    static func notFound(_ m: String = "not found") -> APIError { .init(status: .notFound, code: "NOT_FOUND", message: m) }
    static func conflict(_ m: String) -> APIError { .init(status: .conflict, code: "CONFLICT", message: m) }
    static func tooLarge(_ m: String) -> APIError { .init(status: .contentTooLarge, code: "PAYLOAD_TOO_LARGE", message: m) }
    static func unsupported(_ m: String) -> APIError { .init(status: .unsupportedMediaType, code: "UNSUPPORTED_MEDIA_TYPE", message: m) }
    /// A password-protected Office file: the type is right, the content cannot be read (422, `ENCRYPTED_FILE`).
    static func encrypted() -> APIError {
        .init(
            status: .unprocessableContent, code: "ENCRYPTED_FILE",
            message: "the file is password-protected; remove the password (save it again without one) and upload it again")
    }
    static func methodNotAllowed() -> APIError { .init(status: .methodNotAllowed, code: "METHOD_NOT_ALLOWED", message: "method not allowed") }
    static func rateLimited(_ seconds: Int) -> APIError {
        .init(status: .tooManyRequests, code: "RATE_LIMITED", message: "rate limit exceeded", retryAfterSeconds: seconds)
    }
    static let timeout = APIError(status: .serviceUnavailable, code: "TIMEOUT", message: "request timed out")
    static let internalError = APIError(status: .internalServerError, code: "INTERNAL_ERROR", message: "internal error")
    static let unavailable = APIError(status: .serviceUnavailable, code: "UNAVAILABLE", message: "database unavailable")
}

/// Builds envelope responses.
enum Envelope {
    static func json(_ text: String, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// `{"success":true,"data":<raw>}` where `raw` is already JSON text (built by SQL).
    static func raw(_ dataJSON: String, status: HTTPResponse.Status = .ok) -> Response {
        json("{\"success\":true,\"data\":" + dataJSON + "}", status: status)
    }

    /// `{"success":true,"data":…}` from Foundation JSON values.
    static func ok(_ data: Any, status: HTTPResponse.Status = .ok) -> Response {
        raw(encode(data), status: status)
    }

    static func error(_ e: APIError) -> Response {
        var error: [String: Any] = ["code": e.code, "message": e.message]
        if !e.details.isEmpty { error["details"] = e.details }
        let body = encode(["success": false, "error": error] as [String: Any])
        var headers = HTTPFields()
        if let s = e.retryAfterSeconds { headers[.retryAfter] = String(s) }
        return json(body, status: e.status, headers: headers)
    }

    static func encode(_ value: Any) -> String {
        guard JSONSerialization.isValidJSONObject([value]),
            let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
        else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A JSON value that keeps booleans and numbers apart.
enum JSONValue: Codable, Sendable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let d):
            if d == d.rounded(), abs(d) < 9e15 { try c.encode(Int64(d)) } else { try c.encode(d) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    var jsonText: String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? e.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    var isNull: Bool { self == .null }
}

/// JSON request bodies: an object with only the allowed keys.
enum JSONBody {
    static func parseObject(_ bytes: [UInt8], allowed: Set<String>) throws -> [String: JSONValue] {
        if bytes.allSatisfy({ $0 == 32 || $0 == 10 || $0 == 13 || $0 == 9 }) { return [:] }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else {
            throw APIError.badRequest("malformed JSON body")
        }
        guard case .object(let object) = value else { throw APIError.badRequest("the body must be a JSON object") }
        if let bad = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw APIError.badRequest("unknown field '\(bad)'")
        }
        return object
    }

    static func int(_ v: JSONValue?, field: String, range: ClosedRange<Int>) throws -> Int? {
        switch v {
        case nil, .null?: return nil
        case .number(let d)? where d == d.rounded() && d >= Double(range.lowerBound) && d <= Double(range.upperBound):
            return Int(d)
        default: throw APIError.badRequest("'\(field)' must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
    }

    static func bool(_ v: JSONValue?, field: String) throws -> Bool? {
        switch v {
        case nil, .null?: return nil
        case .bool(let b)?: return b
        default: throw APIError.badRequest("'\(field)' must be a boolean")
        }
    }

    static func string(_ v: JSONValue?, field: String) throws -> String? {
        switch v {
        case nil, .null?: return nil
        case .string(let s)?: return s
        default: throw APIError.badRequest("'\(field)' must be a string")
        }
    }
}
