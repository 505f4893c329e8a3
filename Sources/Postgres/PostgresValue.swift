public import Foundation

/// A value that can be sent as a query parameter in PostgreSQL's text format.
public protocol PostgresEncodable: Sendable {
    /// The text form PostgreSQL parses for this value.
    var postgresText: String { get }
    /// The value in PostgreSQL's binary format, sent as is (nil: send ``postgresText``).
    var postgresBinary: [UInt8]? { get }
}

extension PostgresEncodable {
    public var postgresBinary: [UInt8]? { nil }
}

/// A `bytea` parameter sent in binary format: the bytes travel as they are, with no hex text to build on
/// the client or to parse on the server (half the bytes on the wire, no copy through a `String`).
public struct Bytea: PostgresEncodable {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var postgresBinary: [UInt8]? { bytes }

    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The hex text form (`\\x0a1b…`), for callers that need text (arrays of values).
    public var postgresText: String {
        var out = [UInt8](repeating: 0, count: 2 + bytes.count * 2)
        out[0] = UInt8(ascii: "\\")
        out[1] = UInt8(ascii: "x")
        var i = 2
        for b in bytes {
            out[i] = Self.digits[Int(b >> 4)]
            out[i + 1] = Self.digits[Int(b & 0x0f)]
            i += 2
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String: PostgresEncodable { public var postgresText: String { self } }
extension Substring: PostgresEncodable { public var postgresText: String { String(self) } }
extension Int: PostgresEncodable { public var postgresText: String { String(self) } }
extension Int32: PostgresEncodable { public var postgresText: String { String(self) } }
extension Int64: PostgresEncodable { public var postgresText: String { String(self) } }
extension Double: PostgresEncodable { public var postgresText: String { String(self) } }
extension Bool: PostgresEncodable { public var postgresText: String { self ? "t" : "f" } }
extension UUID: PostgresEncodable { public var postgresText: String { lowercasedText } }
extension Decimal: PostgresEncodable { public var postgresText: String { "\(self)" } }
extension Date: PostgresEncodable {
    public var postgresText: String { formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)) }
}

extension Array: PostgresEncodable where Element: PostgresEncodable {
    /// An array literal (`{"a","b"}`) with every element quoted and escaped.
    public var postgresText: String {
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(2 + count * 40)
        for (i, element) in enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            for byte in element.postgresText.utf8 {
                // Quote and backslash are single bytes in UTF-8 and never part of a multi-byte sequence.
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                out.append(byte)
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}

/// A JSON document sent as text; cast in SQL with `$1::jsonb`.
public struct JSONText: PostgresEncodable, Hashable {
    public var text: String
    public init(_ text: String) { self.text = text }
    public var postgresText: String { text }
}
