import Models

/// Incremental recursive-descent JSON parser over a `JSONByteStream`, bounded by `maxDepth`.
/// It yields flat records: each member of a record object becomes (key, text), where strings are
/// unescaped, numbers keep their literal text, booleans are `true`/`false`, `null` is "", and nested
/// objects/arrays are re-serialised as compact JSON text.
struct JSONRecordParser {
    let stream: JSONByteStream
    let maxDepth: Int

    func error(_ message: String) -> JobError {
        JobError(.invalidJSON, "\(message) at byte \(stream.offset)", details: ["offset": String(stream.offset)])
    }

    func skipWhitespace(stopAtNewline: Bool = false) throws {
        while let b = try stream.peek() {
            if b == 0x20 || b == 0x09 || b == 0x0D || (b == 0x0A && !stopAtNewline) { _ = try stream.next() } else { return }
        }
    }

    func expect(_ c: UInt8) throws {
        try skipWhitespace()
        guard let b = try stream.next() else { throw error("unexpected end of input, expected '\(Character(Unicode.Scalar(c)))'") }
        if b != c { throw error("expected '\(Character(Unicode.Scalar(c)))' but found '\(Character(Unicode.Scalar(b)))'") }
    }

    /// Parses an object (the `{` not yet consumed) into its members.
    func parseRecord(depth: Int) throws -> [(String, String)] {
        try expect(UInt8(ascii: "{"))
        if depth > maxDepth { throw error("nesting deeper than \(maxDepth)") }
        var members: [(String, String)] = []
        try skipWhitespace()
        if try stream.peek() == UInt8(ascii: "}") { _ = try stream.next(); return members }
        while true {
            try skipWhitespace()
            let key = try parseStringValue()
            try expect(UInt8(ascii: ":"))
            try skipWhitespace()
            members.append((key, try parseFieldValue(depth: depth + 1)))
            try skipWhitespace()
            guard let b = try stream.next() else { throw error("unexpected end of input in object") }
            if b == UInt8(ascii: "}") { return members }
            if b != UInt8(ascii: ",") { throw error("expected ',' or '}' in object") }
        }
    }

    func parseFieldValue(depth: Int) throws -> String {
        guard let b = try stream.peek() else { throw error("unexpected end of input, expected a value") }
        switch b {
        case UInt8(ascii: "\""):
            return try parseStringValue()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var out: [UInt8] = []
            try parseValue(depth: depth, into: &out)
            return String(decoding: out, as: UTF8.self)
        case UInt8(ascii: "n"):
            try literal("null")
            return ""
        default:
            var out: [UInt8] = []
            try parseValue(depth: depth, into: &out)
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// Parses any value, appending its compact JSON text to `out` (pass `nil`-like scratch to skip).
    func parseValue(depth: Int, into out: inout [UInt8]) throws {
        if depth > maxDepth { throw error("nesting deeper than \(maxDepth)") }
        try skipWhitespace()
        guard let b = try stream.peek() else { throw error("unexpected end of input, expected a value") }
        switch b {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = b == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            let isObject = b == UInt8(ascii: "{")
            _ = try stream.next()
            out.append(b)
            try skipWhitespace()
            if try stream.peek() == close { _ = try stream.next(); out.append(close); return }
            while true {
                try skipWhitespace()
                if isObject {
                    guard try stream.peek() == UInt8(ascii: "\"") else { throw error("expected a string key") }
                    try parseString(into: &out, raw: true)
                    try expect(UInt8(ascii: ":"))
                    out.append(UInt8(ascii: ":"))
                }
                try parseValue(depth: depth + 1, into: &out)
                try skipWhitespace()
                guard let c = try stream.next() else { throw error("unexpected end of input") }
                if c == close { out.append(close); return }
                if c != UInt8(ascii: ",") { throw error("expected ',' or '\(Character(Unicode.Scalar(close)))'") }
                out.append(c)
            }
        case UInt8(ascii: "\""):
            try parseString(into: &out, raw: true)
        case UInt8(ascii: "t"): try literal("true"); out.append(contentsOf: Array("true".utf8))
        case UInt8(ascii: "f"): try literal("false"); out.append(contentsOf: Array("false".utf8))
        case UInt8(ascii: "n"): try literal("null"); out.append(contentsOf: Array("null".utf8))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try parseNumber(into: &out)
        default:
            throw error("unexpected character '\(Character(Unicode.Scalar(b)))'")
        }
    }

    func literal(_ word: StaticString) throws {
        let bytes = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        for expected in bytes {
            guard try stream.next() == expected else { throw error("invalid literal, expected \(word)") }
        }
    }

    func parseNumber(into out: inout [UInt8]) throws {
        let start = out.count
        while let b = try stream.peek(), (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x2B || b == 0x2E || b == 0x65 || b == 0x45 {
            out.append(b)
            _ = try stream.next()
        }
        let text = out[start...]
        // Grammar: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
        var i = text.startIndex
        if i < text.endIndex && text[i] == 0x2D { i += 1 }
        func digits() -> Int { var n = 0; while i < text.endIndex && text[i] >= 0x30 && text[i] <= 0x39 { i += 1; n += 1 }; return n }
        let intStart = i
        let intDigits = digits()
        var ok = intDigits > 0 && !(intDigits > 1 && text[intStart] == 0x30)
        if ok && i < text.endIndex && text[i] == 0x2E { i += 1; ok = digits() > 0 }
        if ok && i < text.endIndex && (text[i] == 0x65 || text[i] == 0x45) {
            i += 1
            if i < text.endIndex && (text[i] == 0x2B || text[i] == 0x2D) { i += 1 }
            ok = digits() > 0
        }
        if !ok || i != text.endIndex { throw error("invalid number '\(String(decoding: text, as: UTF8.self))'") }
    }

    func parseStringValue() throws -> String {
        var out: [UInt8] = []
        try parseString(into: &out, raw: false)
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses a string; `raw` keeps quotes and escapes verbatim (for re-serialisation), else unescapes.
    func parseString(into out: inout [UInt8], raw: Bool) throws {
        guard try stream.next() == UInt8(ascii: "\"") else { throw error("expected a string") }
        if raw { out.append(UInt8(ascii: "\"")) }
        while true {
            guard let b = try stream.next() else { throw error("unterminated string") }
            if b == UInt8(ascii: "\"") {
                if raw { out.append(b) }
                return
            }
            if b < 0x20 { throw error("control character in string") }
            if b != UInt8(ascii: "\\") { out.append(b); continue }
            guard let e = try stream.next() else { throw error("unterminated escape") }
            if raw {
                out.append(b); out.append(e)
                if e == UInt8(ascii: "u") {
                    for _ in 0..<4 { guard let h = try stream.next(), hexValue(h) != nil else { throw error("invalid \\u escape") }; out.append(h) }
                } else if !"\"\\/bfnrt".utf8.contains(e) {
                    throw error("invalid escape")
                }
                continue
            }
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var v = try hex4()
                if v >= 0xD800 && v <= 0xDBFF {
                    // Expect a low surrogate.
                    if try stream.peek() == UInt8(ascii: "\\") {
                        _ = try stream.next()
                        guard try stream.next() == UInt8(ascii: "u") else { throw error("invalid surrogate pair") }
                        let lo = try hex4()
                        if lo >= 0xDC00 && lo <= 0xDFFF { v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00) } else { v = 0xFFFD }
                    } else {
                        v = 0xFFFD
                    }
                } else if v >= 0xDC00 && v <= 0xDFFF {
                    v = 0xFFFD
                }
                let scalar = Unicode.Scalar(v) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw error("invalid escape '\\\(Character(Unicode.Scalar(e)))'")
            }
        }
    }

    func hexValue(_ h: UInt8) -> UInt32? {
        switch h {
        case 0x30...0x39: UInt32(h - 0x30)
        case 0x41...0x46: UInt32(h - 0x41 + 10)
        case 0x61...0x66: UInt32(h - 0x61 + 10)
        default: nil
        }
    }

    func hex4() throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let h = try stream.next(), let d = hexValue(h) else { throw error("invalid \\u escape") }
            v = v << 4 | d
        }
        return v
    }
}
