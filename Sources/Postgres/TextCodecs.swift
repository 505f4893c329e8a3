public import Foundation

// Hand-written text codecs for the values every queue round trip carries (job ids, lease tokens, timestamps).
// Foundation's `UUID(uuidString:)` goes through `sscanf`, `uuidString` through `sprintf` plus a `lowercased()`
// copy, and the ISO 8601 parser through `CFString`; a worker claiming and completing 20,000 jobs a second spent a
// visible share of its CPU there (perf, `quarry bench queue`). These accept exactly PostgreSQL's output forms and
// fall back to Foundation for anything else.

extension UUID {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The canonical lowercase text form (`8-4-4-4-12` hex digits), as PostgreSQL prints a `uuid`.
    public var lowercasedText: String {
        let u = uuid
        return withUnsafeBytes(of: u) { raw in
            String(unsafeUninitializedCapacity: 36) { out in
                var o = 0
                for (i, byte) in raw.enumerated() {
                    if i == 4 || i == 6 || i == 8 || i == 10 {
                        out[o] = UInt8(ascii: "-")
                        o += 1
                    }
                    out[o] = Self.hexDigits[Int(byte >> 4)]
                    out[o + 1] = Self.hexDigits[Int(byte & 0x0f)]
                    o += 2
                }
                return o
            }
        }
    }

    /// Parses the canonical text form (either case); nil for anything else.
    public init?(canonicalText text: String) {
        var text = text
        let parsed: uuid_t? = text.withUTF8 { bytes -> uuid_t? in
            guard bytes.count == 36 else { return nil }
            var out: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            let ok = withUnsafeMutableBytes(of: &out) { dst -> Bool in
                var i = 0
                for n in 0..<16 {
                    if i == 8 || i == 13 || i == 18 || i == 23 {
                        guard bytes[i] == UInt8(ascii: "-") else { return false }
                        i += 1
                    }
                    guard let hi = Self.nibble(bytes[i]), let lo = Self.nibble(bytes[i + 1]) else { return false }
                    dst[n] = hi << 4 | lo
                    i += 2
                }
                return true
            }
            return ok ? out : nil
        }
        guard let parsed else { return nil }
        self.init(uuid: parsed)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

extension PostgresRow {
    /// Parses `timestamptz` output in the ISO DateStyle (`2026-11-25 03:41:26.123456+00`, offsets `+05:30`,
    /// `-08`, an optional `T`, up to 9 fraction digits); nil when the text has another shape.
    public static func parseISOTimestampFast(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { b -> Date? in
            // yyyy-mm-dd hh:mm:ss = 19 bytes minimum, then fraction and offset.
            guard b.count >= 22 else { return nil }
            func digits(_ at: Int, _ n: Int) -> Int? {
                var v = 0
                for k in at..<(at + n) {
                    let c = b[k]
                    guard c >= 48 && c <= 57 else { return nil }
                    v = v * 10 + Int(c - 48)
                }
                return v
            }
            guard let year = digits(0, 4), b[4] == UInt8(ascii: "-"), let month = digits(5, 2), b[7] == UInt8(ascii: "-"),
                let day = digits(8, 2), b[10] == UInt8(ascii: " ") || b[10] == UInt8(ascii: "T"),
                let hour = digits(11, 2), b[13] == UInt8(ascii: ":"), let minute = digits(14, 2), b[16] == UInt8(ascii: ":"),
                let second = digits(17, 2), (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
            else { return nil }
            var i = 19
            var fraction = 0.0
            if i < b.count && b[i] == UInt8(ascii: ".") {
                i += 1
                var scale = 0.1
                let start = i
                while i < b.count, b[i] >= 48, b[i] <= 57 {
                    fraction += Double(b[i] - 48) * scale
                    scale /= 10
                    i += 1
                }
                guard i > start, i - start <= 9 else { return nil }
            }
            // Offset: +hh, +hh:mm or +hh:mm:ss (PostgreSQL prints the shortest).
            guard i + 3 <= b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"), let oh = digits(i + 1, 2) else { return nil }
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            var offset = oh * 3600
            i += 3
            if i < b.count {
                guard b[i] == UInt8(ascii: ":"), i + 3 <= b.count, let om = digits(i + 1, 2) else { return nil }
                offset += om * 60
                i += 3
                if i < b.count {
                    guard b[i] == UInt8(ascii: ":"), i + 3 == b.count, let os = digits(i + 1, 2) else { return nil }
                    offset += os
                    i += 3
                }
            }
            guard i == b.count else { return nil }
            let days = Self.daysFromCivil(year: year, month: month, day: day)
            let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - sign * offset
            return Date(timeIntervalSince1970: Double(seconds) + fraction)
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
