/// Counts words the same way for every document kind.
public enum WordCounter {
    /// Splits `text` on Unicode whitespace and counts the tokens that contain at least one letter or digit
    /// (so "—" or "•" alone are not words, "3.5" and "e-mail" are).
    public static func count(_ text: some StringProtocol) -> Int {
        var words = 0
        var tokenHasAlphanumeric = false
        for scalar in text.unicodeScalars {
            let properties = scalar.properties
            if properties.isWhitespace {
                if tokenHasAlphanumeric { words += 1 }
                tokenHasAlphanumeric = false
            } else if !tokenHasAlphanumeric, properties.isAlphabetic || properties.numericType != nil {
                tokenHasAlphanumeric = true
            }
        }
        if tokenHasAlphanumeric { words += 1 }
        return words
    }
}
