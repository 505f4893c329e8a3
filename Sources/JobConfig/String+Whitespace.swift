extension StringProtocol {
    /// The string without leading/trailing Unicode whitespace and newlines.
    ///
    /// `package`: config decoding needs it here, and the `Extraction` readers use the same one.
    package func trimmingWhitespace() -> String {
        let string = String(self)
        let scalars = string.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
