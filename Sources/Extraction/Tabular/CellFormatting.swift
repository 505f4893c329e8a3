#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Spreadsheet number → text without float noise.
enum NumberText {
    /// `"12.500000000000002"` → `"12.5"`, `"3.0"` → `"3"`, integers kept verbatim; 15 significant digits like Excel.
    static func clean(_ raw: String) -> String {
        var raw = raw
        if raw.withUTF8({ isPlainInteger($0) || isShortPlainDecimal($0) }) { return raw }
        guard let d = Double(raw), d.isFinite else { return raw }
        return format(d)
    }

    /// `-?[0-9]+`: kept verbatim.
    static func isPlainInteger(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = b.count > 1 && b[0] == 0x2D ? 1 : 0
        guard i < b.count else { return false }
        while i < b.count {
            guard b[i] &- 0x30 < 10 else { return false }
            i += 1
        }
        return true
    }

    /// `-?[1-9][0-9]*|0` `.` digits not ending in 0, at most 15 significant digits, not below 1e-4: exactly
    /// what `%.15g` would print for it, so the `Double` round trip (the costly part) is skipped.
    static func isShortPlainDecimal(_ raw: String) -> Bool {
        var raw = raw
        return raw.withUTF8 { isShortPlainDecimal($0) }
    }

    /// `isShortPlainDecimal` over UTF-8 bytes.
    static func isShortPlainDecimal(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        if i < b.count && b[i] == 0x2D { i += 1 }
        let intStart = i
        while i < b.count && b[i] >= 0x30 && b[i] <= 0x39 { i += 1 }
        let intDigits = i - intStart
        guard intDigits > 0, i < b.count, b[i] == 0x2E else { return false }
        let intIsZero = intDigits == 1 && b[intStart] == 0x30
        guard intIsZero || b[intStart] != 0x30 else { return false }  // no leading zeros
        i += 1
        let fracStart = i
        while i < b.count && b[i] >= 0x30 && b[i] <= 0x39 { i += 1 }
        let fracDigits = i - fracStart
        guard i == b.count, fracDigits > 0, b[i - 1] != 0x30 else { return false }
        var leadingFractionZeros = 0
        if intIsZero { while leadingFractionZeros < fracDigits && b[fracStart + leadingFractionZeros] == 0x30 { leadingFractionZeros += 1 } }
        guard leadingFractionZeros < 4 else { return false }
        let significant = (intIsZero ? 0 : intDigits) + fracDigits - leadingFractionZeros
        return significant <= 15
    }

    static func format(_ d: Double) -> String {
        if d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
        var buf = [CChar](repeating: 0, count: 40)
        let n = withVaList([d]) { vsnprintf(&buf, 40, "%.15g", $0) }
        guard n > 0 else { return String(d) }
        return String(decoding: buf.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// What a number format displays; `duration` is elapsed time (`[h]:mm:ss`, `[mm]:ss`, `[ss]`).
enum DateKind: Sendable { case none, date, time, dateTime, duration }

/// Excel serial dates → ISO 8601 text.
enum ExcelDate {
    /// Classifies a built-in number format id.
    static func builtin(_ id: Int) -> DateKind {
        switch id {
        case 14...17, 27...31, 34...36, 50...58: .date
        case 46: .duration  // [h]:mm:ss
        case 18...21, 32, 33, 45, 47: .time
        case 22: .dateTime
        default: .none
        }
    }

    /// Classifies a custom format code (quoted text, escapes and `[…]` sections ignored, except the elapsed-time
    /// brackets `[h]`, `[mm]`, `[ss]` that make it a duration).
    static func classify(_ code: String) -> DateKind {
        var cleaned: [UInt8] = []
        var bracket: [UInt8] = []
        var inQuote = false, inBracket = false, escape = false, elapsed = false
        let section = code.utf8.split(separator: UInt8(ascii: ";"), maxSplits: 1, omittingEmptySubsequences: false).first ?? []
        for b in section {
            if escape { escape = false; continue }
            if inQuote { if b == UInt8(ascii: "\"") { inQuote = false }; continue }
            if inBracket {
                if b != UInt8(ascii: "]") { bracket.append(b | 0x20); continue }
                inBracket = false
                if let first = bracket.first, [UInt8(ascii: "h"), UInt8(ascii: "m"), UInt8(ascii: "s")].contains(first),
                    bracket.allSatisfy({ $0 == first })
                {
                    elapsed = true
                }
                continue
            }
            switch b {
            case UInt8(ascii: "\""): inQuote = true
            case UInt8(ascii: "["):
                inBracket = true
                bracket.removeAll()
            case UInt8(ascii: "\\"), UInt8(ascii: "_"), UInt8(ascii: "*"): escape = true
            default: cleaned.append(b | 0x20)
            }
        }
        if elapsed { return .duration }
        let has = { (c: Character) in cleaned.contains(c.asciiValue ?? 0) }
        let time = has("h") || has("s")
        let date = has("y") || has("d") || (has("m") && !time)
        switch (date, time) {
        case (true, true): return .dateTime
        case (true, false): return .date
        case (false, true): return .time
        default: return .none
        }
    }

    /// Formats serial `value` as `yyyy-MM-dd`, `HH:mm:ss` or `yyyy-MM-ddTHH:mm:ss`, or a duration as elapsed
    /// `H:MM:SS` with unbounded hours (`250:10:10`; fractions of a second kept as `.5`, negative with `-`).
    /// The one formatting function of XLSX and XLS.
    static func format(_ value: Double, kind: DateKind, date1904: Bool) -> String? {
        if kind == .duration { return duration(value) }
        guard value.isFinite, value >= 0, value < 2_958_466 else { return nil }
        var totalSeconds = Int64((value * 86400).rounded())
        var days = totalSeconds / 86400
        totalSeconds -= days * 86400
        if date1904 {
            days += 1462  // 1904-01-01 is serial 1462 in the 1900 system
        } else if days < 60 {
            days += 1  // Excel's fictitious 1900-02-29
        }
        // days since 1899-12-30 → civil date
        let civil = DateParser.civilFromDays(Int(days - 25569))
        let (y, m, d) = (Int64(civil.0), Int64(civil.1), Int64(civil.2))
        let h = totalSeconds / 3600, mi = (totalSeconds / 60) % 60, s = totalSeconds % 60
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let datePart = "\(String(repeating: "0", count: max(0, 4 - String(y).count)))\(y)-\(two(m))-\(two(d))"
        let timePart = "\(two(h)):\(two(mi)):\(two(s))"
        switch kind {
        case .date: return datePart
        case .time: return value < 1 ? timePart : "\(datePart)T\(timePart)"
        case .dateTime: return "\(datePart)T\(timePart)"
        case .none, .duration: return nil
        }
    }

    /// Elapsed days → `H:MM:SS[.fff]`.
    static func duration(_ days: Double) -> String? {
        guard days.isFinite, abs(days) < 1e9 else { return nil }
        let millis = Int64((abs(days) * 86_400_000).rounded())
        let seconds = millis / 1000, fraction = millis % 1000
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        var text = "\(days < 0 && millis > 0 ? "-" : "")\(seconds / 3600):\(two((seconds / 60) % 60)):\(two(seconds % 60))"
        if fraction > 0 {
            var digits = String(String(fraction + 1000).dropFirst())
            while digits.last == "0" { digits.removeLast() }
            text += "." + digits
        }
        return text
    }
}
