/// Picks the header row of a sheet.
public enum HeaderDetector {
    /// Rows examined.
    public static let window = 20

    /// Returns the 0-based index (into `rows`) of the most likely header among the first 20 rows: the row with
    /// the most cells matching field aliases, ties broken by the most non-empty non-numeric cells, then the
    /// earliest row. Returns 0 for no rows.
    public static func detect(rows: [[String]]) -> Int {
        var best = (index: 0, aliases: -1, texts: -1)
        for (index, row) in rows.prefix(window).enumerated() {
            var aliases = 0
            var texts = 0
            for cell in row {
                let trimmed = cell.trimmingWhitespace()
                guard !trimmed.isEmpty, NumberParser.parse(trimmed) == nil else { continue }
                texts += 1
                if FieldAliases.isKnown(trimmed) { aliases += 1 }
            }
            if aliases > best.aliases || (aliases == best.aliases && texts > best.texts) {
                best = (index, aliases, texts)
            }
        }
        return best.index
    }
}
