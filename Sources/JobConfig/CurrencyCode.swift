/// Normalizes currency notations to ISO 4217 codes.
public enum CurrencyCode {
    /// Symbols and common spellings mapped to codes.
    static let aliases: [String: String] = [
        "€": "EUR", "EURO": "EUR", "EUROS": "EUR", "$": "USD", "US$": "USD", "£": "GBP", "¥": "JPY", "₹": "INR",
        "FR.": "CHF", "SFR": "CHF", "SFR.": "CHF", "KR": "SEK", "KR.": "SEK", "ZŁ": "PLN", "₽": "RUB",
        "₺": "TRY", "₩": "KRW", "R$": "BRL", "C$": "CAD", "A$": "AUD",
    ]

    /// Returns the ISO code for `raw` ("€" → "EUR", " usd " → "USD"), or nil when it is not a 3-letter code
    /// or a known symbol.
    public static func normalize(_ raw: String) -> String? {
        // Fast path: already three ASCII capitals ("EUR"); only alias lookups can change it.
        if raw.utf8.count == 3, raw.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) { return aliases[raw] ?? raw }
        let trimmed = raw.trimmingWhitespace().uppercased()
        if let code = aliases[trimmed] { return code }
        guard trimmed.unicodeScalars.count == 3, trimmed.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) }) else {
            return nil
        }
        return trimmed
    }
}
