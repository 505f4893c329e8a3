public import Foundation

/// Parses human-written numbers from price lists: "1.234,56", "1,234.56", "€ 12,50", "$1,299.00",
/// "12.50 EUR", "-3", "3-", "(4.00)", "1'234.50", "1 234,5".
public enum NumberParser {
    /// Parses `raw`. `decimalComma` forces the decimal separator (`true` = ",", `false` = "."); when nil it is
    /// inferred: with both separators the last one is decimal; a lone "," followed by exactly three digits is a
    /// thousands separator unless the integer part is 0; a lone "." is decimal; repeated separators are grouping.
    public static func parse(_ raw: String, decimalComma: Bool? = nil) -> Decimal? {
        parseDetailed(raw, decimalComma: decimalComma)?.value
    }

    /// The number plus any currency found around it ("€" → "EUR", "USD" → "USD").
    public static func parseDetailed(_ raw: String, decimalComma: Bool? = nil) -> (value: Decimal, currency: String?)? {
        var scalars = Array(raw.unicodeScalars)
        var negative = false
        var openParen = false
        var closeParen = false
        var currency: String?

        func isSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace }
        func isCurrencySymbol(_ s: Unicode.Scalar) -> Bool { s.properties.generalCategory == .currencySymbol }

        // Peel signs, parentheses, currency symbols and short currency codes from the front…
        var changed = true
        while changed, let first = scalars.first {
            changed = true
            if isSpace(first) || first == "+" {
                scalars.removeFirst()
            } else if first == "-" || first == "\u{2212}" {
                negative.toggle()
                scalars.removeFirst()
            } else if first == "(" && !openParen {
                openParen = true
                scalars.removeFirst()
            } else if isCurrencySymbol(first) {
                currency = currency ?? CurrencyCode.normalize(String(first))
                scalars.removeFirst()
            } else if first.properties.isAlphabetic {
                let letters = scalars.prefix { $0.properties.isAlphabetic || $0 == "." }
                guard letters.count <= 4 else { return nil }
                currency = currency ?? CurrencyCode.normalize(String(String.UnicodeScalarView(letters)))
                scalars.removeFirst(letters.count)
            } else {
                changed = false
            }
        }
        // Swiss "10.-" / "10.–" means a whole amount, not a negative one.
        if scalars.count >= 2, scalars[scalars.count - 2] == ".", ["-", "\u{2013}"].contains(scalars[scalars.count - 1]) {
            scalars.removeLast(2)
        }
        // …and from the back.
        changed = true
        while changed, let last = scalars.last {
            changed = true
            if isSpace(last) {
                scalars.removeLast()
            } else if last == "-" || last == "\u{2212}" {
                negative.toggle()
                scalars.removeLast()
            } else if last == ")" && openParen && !closeParen {
                closeParen = true
                scalars.removeLast()
            } else if isCurrencySymbol(last) {
                currency = currency ?? CurrencyCode.normalize(String(last))
                scalars.removeLast()
            } else if last.properties.isAlphabetic || (last == "." && scalars.dropLast().last?.properties.isAlphabetic == true) {
                let letters = scalars.reversed().prefix { $0.properties.isAlphabetic || $0 == "." }
                guard letters.count <= 4 else { return nil }
                currency = currency ?? CurrencyCode.normalize(String(String.UnicodeScalarView(letters.reversed())))
                scalars.removeLast(letters.count)
            } else {
                changed = false
            }
        }
        guard openParen == closeParen else { return nil }
        if openParen { negative.toggle() }

        // Remaining: digits with separators; spaces and apostrophes are grouping.
        var digits: [Unicode.Scalar] = []
        for scalar in scalars {
            if scalar == "'" || scalar == "\u{2019}" || isSpace(scalar) { continue }
            guard ("0"..."9").contains(scalar) || scalar == "." || scalar == "," else { return nil }
            digits.append(scalar)
        }
        guard digits.contains(where: { ("0"..."9").contains($0) }) else { return nil }

        let commas = digits.filter { $0 == "," }.count
        let dots = digits.filter { $0 == "." }.count
        let decimalSeparator: Unicode.Scalar?
        if let decimalComma {
            let candidate: Unicode.Scalar = decimalComma ? "," : "."
            let count = decimalComma ? commas : dots
            decimalSeparator = count > 0 ? candidate : nil
            if count > 1 { return nil }
        } else if commas > 0 && dots > 0 {
            decimalSeparator = (digits.lastIndex(of: ",") ?? 0) > (digits.lastIndex(of: ".") ?? 0) ? "," : "."
            if (decimalSeparator == "," ? commas : dots) > 1 { return nil }
        } else if commas == 1 {
            let after = digits.count - 1 - (digits.firstIndex(of: ",") ?? 0)
            let before = digits.prefix { $0 != "," }
            let integerIsZero = before.allSatisfy { $0 == "0" }
            decimalSeparator = (after == 3 && !integerIsZero) ? nil : ","
        } else if dots == 1 {
            decimalSeparator = "."
        } else {
            decimalSeparator = nil  // zero separators, or repeated ones (grouping)
        }

        // Split into integer and fraction, validating grouping (groups after the first have 3 digits).
        var integerPart = digits[...]
        var fractionPart: ArraySlice<Unicode.Scalar> = []
        if let decimalSeparator, let index = digits.lastIndex(of: decimalSeparator) {
            integerPart = digits[..<index]
            fractionPart = digits[(index + 1)...]
            guard !fractionPart.contains(where: { $0 == "." || $0 == "," }) else { return nil }
        }
        let groups = integerPart.split(omittingEmptySubsequences: false) { $0 == "." || $0 == "," }
        if groups.count > 1 {
            guard !groups[0].isEmpty, groups[0].count <= 3, groups.dropFirst().allSatisfy({ $0.count == 3 }) else { return nil }
        }
        var normalized = negative ? "-" : ""
        normalized += groups.map { String(String.UnicodeScalarView($0)) }.joined()
        if normalized.isEmpty || normalized == "-" { normalized += "0" }
        if !fractionPart.isEmpty { normalized += "." + String(String.UnicodeScalarView(fractionPart)) }
        guard let value = Decimal(string: normalized, locale: Locale(identifier: "en_US_POSIX")) else { return nil }
        return (value, currency)
    }

    /// Fast path for the common plain form `digits` or `digits.digits` (ASCII, no sign, grouping, currency
    /// or spaces, at most 18 digits): the value plus its canonical text, identical to `"\(value)"`
    /// (`Decimal.description`: no leading zeros, no trailing fraction zeros). Nil means "use `parseDetailed`",
    /// not "invalid". With `decimalComma == true` a "." is grouping, so dotted input is left to the full parser.
    package static func parsePlainASCII(_ raw: String, decimalComma: Bool? = nil) -> (value: Decimal, text: String)? {
        var raw = raw
        return raw.withUTF8 { bytes -> (value: Decimal, text: String)? in
            guard let plain = PlainDecimal(bytes, decimalComma: decimalComma) else { return nil }
            guard plain.mantissa != 0 else { return (Decimal(0), "0") }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[plain.canonical]), as: UTF8.self)
            return (Decimal(sign: .plus, exponent: -plain.scale, significand: Decimal(plain.mantissa)), text)
        }
    }

    /// The plain form `digits` or `digits.digits` read from bytes (see ``parsePlainASCII(_:decimalComma:)``),
    /// without making a `String` or a `Decimal`: the digits as an integer, the scale, and the bytes of the
    /// canonical text.
    package struct PlainDecimal: Sendable {
        /// The digits without the dot, as an integer.
        package var mantissa: UInt64
        /// Digits after the dot, trailing zeros included.
        package var scale: Int
        /// Where the canonical text (`"\(value)"`) lies in the bytes read; empty when the value is zero
        /// (whose canonical text is "0").
        package var canonical: Range<Int>

        /// Nil unless `bytes` is the plain form (and then `parseDetailed` decides).
        package init?(_ bytes: UnsafeBufferPointer<UInt8>, decimalComma: Bool? = nil) {
            let n = bytes.count
            guard n > 0, n <= 19 else { return nil }
            var mantissa: UInt64 = 0
            var dot = -1
            var i = 0
            while i < n {
                let b = bytes[i]
                if b &- 0x30 < 10 {
                    mantissa = mantissa &* 10 &+ UInt64(b &- 0x30)
                } else if b == 0x2E, dot < 0, decimalComma != true {
                    dot = i
                } else {
                    return nil
                }
                i += 1
            }
            if dot >= 0 && (dot == 0 || dot == n - 1) { return nil }
            let digitCount = dot >= 0 ? n - 1 : n
            guard digitCount <= 18 else { return nil }
            self.mantissa = mantissa
            self.scale = dot >= 0 ? n - dot - 1 : 0
            guard mantissa != 0 else {
                self.canonical = 0..<0
                return
            }
            let intEnd = dot >= 0 ? dot : n
            var intStart = 0
            while intStart < intEnd - 1 && bytes[intStart] == 0x30 { intStart += 1 }
            var fracEnd = n
            if dot >= 0 { while fracEnd > dot + 1 && bytes[fracEnd - 1] == 0x30 { fracEnd -= 1 } }
            self.canonical = dot >= 0 && fracEnd > dot + 1 ? intStart..<fracEnd : intStart..<intEnd
        }
    }

    /// Plain decimal text without grouping ("1234.5", "-3").
    public static func format(_ value: Decimal) -> String {
        var value = value
        var rounded = Decimal()
        NSDecimalRound(&rounded, &value, 10, .plain)
        return rounded.description
    }
}
