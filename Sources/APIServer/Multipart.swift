import Foundation

/// A streaming `multipart/form-data` parser: feed it body buffers, get part events back.
///
/// Holds at most one buffer plus a delimiter's worth of bytes, whatever the part sizes.
struct MultipartParser {
    enum Event {
        case partStart(headers: [String: String])
        case data([UInt8])
        case partEnd
    }

    enum State { case preamble, headers, body, done }

    private let delimiter: [UInt8]  // "\r\n--boundary"
    private var pending: [UInt8] = [13, 10]  // lets the first "--boundary" match the CRLF-prefixed delimiter
    private(set) var state = State.preamble
    static let maxHeaderBytes = 16 * 1024

    init(boundary: String) {
        delimiter = Array("\r\n--\(boundary)".utf8)
    }

    /// Extracts the boundary parameter from a Content-Type header.
    static func boundary(from contentType: String) -> String? {
        for part in contentType.split(separator: ";") {
            let kv = part.trimmingCharacters(in: .whitespaces)
            if kv.lowercased().hasPrefix("boundary=") {
                var b = String(kv.dropFirst("boundary=".count))
                if b.hasPrefix("\""), b.hasSuffix("\""), b.count >= 2 { b = String(b.dropFirst().dropLast()) }
                return b.isEmpty || b.count > 200 ? nil : b
            }
        }
        return nil
    }

    private func find(_ needle: [UInt8], in hay: [UInt8], from: Int = 0) -> Int? {
        guard needle.count <= hay.count else { return nil }
        let first = needle[0]
        var i = from
        let last = hay.count - needle.count
        while i <= last {
            if hay[i] == first {
                var j = 1
                while j < needle.count && hay[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    mutating func feed(_ bytes: [UInt8]) throws -> [Event] {
        pending.append(contentsOf: bytes)
        var events: [Event] = []
        loop: while true {
            switch state {
            case .preamble:
                guard let i = find(delimiter, in: pending) else {
                    if pending.count > delimiter.count { pending.removeFirst(pending.count - delimiter.count) }
                    break loop
                }
                let after = i + delimiter.count
                guard pending.count >= after + 2 else { break loop }
                if pending[after] == 45 && pending[after + 1] == 45 {  // "--": closing delimiter
                    state = .done
                    break loop
                }
                pending.removeFirst(after)
                state = .headers
            case .headers:
                // After the delimiter: optional whitespace, CRLF, then headers ending in CRLFCRLF.
                guard let end = find([13, 10, 13, 10], in: pending) else {
                    if pending.count > Self.maxHeaderBytes { throw APIError.badRequest("multipart part headers too large") }
                    break loop
                }
                let text = String(decoding: pending[0..<end], as: UTF8.self)
                var headers: [String: String] = [:]
                for line in text.split(separator: "\r\n") {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()] =
                        line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                pending.removeFirst(end + 4)
                events.append(.partStart(headers: headers))
                state = .body
            case .body:
                if let i = find(delimiter, in: pending) {
                    if i > 0 { events.append(.data(Array(pending[0..<i]))) }
                    events.append(.partEnd)
                    pending.removeFirst(i)
                    state = .preamble
                } else {
                    let keep = delimiter.count - 1
                    if pending.count > keep {
                        let n = pending.count - keep
                        events.append(.data(Array(pending[0..<n])))
                        pending.removeFirst(n)
                    }
                    break loop
                }
            case .done:
                pending.removeAll()
                break loop
            }
        }
        return events
    }

    /// The `name` and `filename` parameters of a Content-Disposition header.
    static func disposition(_ header: String?) -> (name: String?, filename: String?) {
        guard let header else { return (nil, nil) }
        var name: String?
        var filename: String?
        for part in header.split(separator: ";") {
            let kv = part.trimmingCharacters(in: .whitespaces)
            guard let eq = kv.firstIndex(of: "=") else { continue }
            let key = kv[..<eq].lowercased()
            var value = String(kv[kv.index(after: eq)...])
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            if key == "name" { name = value }
            if key == "filename" { filename = value }
        }
        return (name, filename)
    }
}
