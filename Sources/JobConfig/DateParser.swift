/// Parses dates written with a simple pattern ("dd.MM.yyyy", "MM/dd/yyyy", "yyyy-MM-dd", "d.M.yy") or as
/// Excel serial numbers, producing ISO `yyyy-MM-dd`. No time zones are involved: dates are civil dates.
public enum DateParser {
    private enum Token: Equatable {
        case year4, year2, month, day, literal(Character)
    }

    /// Formats tried by `"auto"`.
    static let autoFormats = ["yyyy-MM-dd", "dd.MM.yyyy", "dd/MM/yyyy", "MM/dd/yyyy", "yyyy/MM/dd", "dd-MM-yyyy", "yyyyMMdd"]

    /// Whether `format` is usable: "auto", "excel", or a pattern made of yyyy/yy/MM/M/dd/d and separators.
    public static func isValidFormat(_ format: String) -> Bool {
        if format == "auto" || format == "excel" { return true }
        guard let tokens = tokenize(format) else { return false }
        return tokens.contains(.year4) || tokens.contains(.year2)
    }

    /// Parses `raw` with `format` ("auto" tries common patterns; any format also accepts an Excel serial
    /// number such as "45292" or "45292.5"). Returns `yyyy-MM-dd` or nil.
    public static func parse(_ raw: String, format: String) -> String? {
        let text = raw.trimmingWhitespace()
        guard !text.isEmpty else { return nil }
        if format != "excel" {
            let formats = format == "auto" ? autoFormats : [format]
            for candidate in formats {
                if let tokens = tokenize(candidate), let date = match(text, tokens) { return date }
            }
        }
        return excelSerial(text)
    }

    /// Converts an Excel (1900 date system) serial day number; serials 1…2958465 (up to 9999-12-31).
    public static func excelSerial(_ text: String) -> String? {
        let integerText = text.split(separator: ".", maxSplits: 1).first.map(String.init) ?? text
        guard !integerText.isEmpty, integerText.allSatisfy(\.isASCII), let serial = Int(integerText),
            (1...2_958_465).contains(serial)
        else { return nil }
        if text.contains("."), Double(text) == nil { return nil }
        // Excel counts 1900-02-29 (serial 60), which never existed; serials after it are shifted by one.
        let days = serial > 60 ? serial - 25_569 : serial - 25_568
        let (y, m, d) = civilFromDays(days)
        return iso(y, m, d)
    }

    private static func tokenize(_ format: String) -> [Token]? {
        var tokens: [Token] = []
        let chars = Array(format)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            var run = 1
            while i + run < chars.count, chars[i + run] == c { run += 1 }
            switch (c, run) {
            case ("y", 4): tokens.append(.year4)
            case ("y", 2): tokens.append(.year2)
            case ("M", 1), ("M", 2): tokens.append(.month)
            case ("d", 1), ("d", 2): tokens.append(.day)
            case ("y", _), ("M", _), ("d", _): return nil
            default:
                if c.isLetter { return nil }
                for _ in 0..<run { tokens.append(.literal(c)) }
            }
            i += run
        }
        return tokens
    }

    private static func match(_ text: String, _ tokens: [Token]) -> String? {
        let chars = Array(text)
        var i = 0
        var year: Int?, month: Int?, day: Int?
        for (position, token) in tokens.enumerated() {
            switch token {
            case .literal(let c):
                guard i < chars.count, chars[i] == c else { return nil }
                i += 1
            case .year4, .year2, .month, .day:
                // Variable-width fields read up to their max width; fixed-width when the next token is a field.
                let maxWidth = token == .year4 ? 4 : 2
                let nextIsField = position + 1 < tokens.count && { if case .literal = tokens[position + 1] { false } else { true } }()
                var digits = ""
                while i < chars.count, chars[i].isASCII, chars[i].isNumber, digits.count < maxWidth {
                    digits.append(chars[i])
                    i += 1
                }
                if nextIsField || token == .year4 { guard digits.count == maxWidth else { return nil } }
                guard !digits.isEmpty, let value = Int(digits) else { return nil }
                switch token {
                case .year4: year = value
                case .year2: year = value < 70 ? 2000 + value : 1900 + value
                case .month: month = value
                default: day = value
                }
            }
        }
        guard i == chars.count, let year, let month, let day, (1...12).contains(month),
            (1...daysInMonth(year, month)).contains(day)
        else { return nil }
        return iso(year, month, day)
    }

    private static func daysInMonth(_ year: Int, _ month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    private static func iso(_ y: Int, _ m: Int, _ d: Int) -> String {
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// Days since 1970-01-01 → civil (year, month, day) (Howard Hinnant's algorithm); also the workbook readers'.
    public static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
