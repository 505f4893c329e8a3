/// The type test of ``CSVDialectSniffer``: a cell "has a known type" when it reads as a value a table would
/// hold — empty, a number, a date or time, a URL, or a word-like text without delimiter or quote characters.
/// A wrong dialect leaves delimiter and quote characters inside cells, so the share of known cells tells
/// dialects apart (CleverCSV's type score, van den Burg et al. 2019).
enum CSVCellTypes {
    /// Whether `cell` looks like a typed value (see the type's documentation).
    static func isKnown(_ cell: String) -> Bool {
        var bytes = Substring(cell).utf8[...]
        while bytes.first == 0x20 { bytes.removeFirst() }
        while bytes.last == 0x20 { bytes.removeLast() }
        if bytes.isEmpty { return true }
        if isNumber(bytes) || isDateOrTime(bytes) { return true }
        if bytes.starts(with: "http://".utf8) || bytes.starts(with: "https://".utf8) {
            return !bytes.contains(where: isStructural)
        }
        return isWordLike(bytes)
    }

    /// Bytes that separate or quote fields in some dialect; text made of anything else is word-like.
    @inline(__always)
    static func isStructural(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "\t"), UInt8(ascii: "|"), UInt8(ascii: ":"),
            UInt8(ascii: "~"), UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "\r"), UInt8(ascii: "\n"):
            return true
        default:
            return false
        }
    }

    /// Letters (any script), digits, spaces and ordinary punctuation, without structural bytes.
    static func isWordLike(_ bytes: Substring.UTF8View.SubSequence) -> Bool {
        !bytes.contains(where: isStructural)
    }

    /// `-1,234.50`, `12,50`, `1e-3`, `45%`, `$3.10`, `€ 12`: digits with separators, sign, currency or percent.
    static func isNumber(_ raw: Substring.UTF8View.SubSequence) -> Bool {
        var bytes = raw
        if let f = bytes.first, f == UInt8(ascii: "-") || f == UInt8(ascii: "+") || f == UInt8(ascii: "$") {
            bytes.removeFirst()
        }
        if bytes.starts(with: "€".utf8) || bytes.starts(with: "£".utf8) { bytes.removeFirst(bytes.starts(with: "€".utf8) ? 3 : 2) }
        if bytes.last == UInt8(ascii: "%") { bytes.removeLast() }
        if bytes.reversed().starts(with: "€".utf8.reversed()) { bytes.removeLast(3) }
        while bytes.first == 0x20 { bytes.removeFirst() }
        while bytes.last == 0x20 { bytes.removeLast() }
        guard let first = bytes.first, isDigit(first) || first == UInt8(ascii: ".") else { return false }
        var digits = 0
        var exponent = false
        for b in bytes {
            if isDigit(b) {
                digits += 1
            } else if b == UInt8(ascii: ".") || b == UInt8(ascii: ",") || b == UInt8(ascii: "'") {
                continue
            } else if (b == UInt8(ascii: "e") || b == UInt8(ascii: "E")) && !exponent && digits > 0 {
                exponent = true
            } else if (b == UInt8(ascii: "-") || b == UInt8(ascii: "+")) && exponent {
                continue
            } else {
                return false
            }
        }
        return digits > 0 && (bytes.last.map(isDigit) ?? false)
    }

    /// `2024-01-31`, `31.01.2024`, `1/31/24`, `13:45`, `2024-01-31T13:45:00Z`: digits and date/time separators.
    static func isDateOrTime(_ bytes: Substring.UTF8View.SubSequence) -> Bool {
        var digits = 0
        var separators = 0
        for b in bytes {
            if isDigit(b) {
                digits += 1
            } else if b == UInt8(ascii: "-") || b == UInt8(ascii: "/") || b == UInt8(ascii: ".") || b == UInt8(ascii: ":") {
                separators += 1
            } else if b == UInt8(ascii: "T") || b == UInt8(ascii: "Z") || b == UInt8(ascii: " ") || b == UInt8(ascii: "+") {
                continue
            } else {
                return false
            }
        }
        return digits >= 3 && separators >= 1 && digits >= 2 * separators
    }

    @inline(__always)
    static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
}
