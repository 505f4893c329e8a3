/// Picks the header row of a sheet when the job does not name one.
///
/// Problem: exported reports and supplier lists put title rows, notes, key–value lines ("Supplier: ACME") or
/// padding above the real header, and a table without any header starts with data. Mechanism: every one of the
/// first ``window`` rows is scored as a candidate against the rows below it (up to ``lookahead`` of them):
///
/// - **coverage** (0.30): how much of each row below falls in columns the candidate fills (square root, so a header
///   shorter than its data loses less than a one-cell title or a two-cell note over a six-column table);
/// - **text** (0.25): the share of the candidate's cells that are text, not numbers or dates;
/// - **contrast** (0.20): per column, text in the candidate over numbers or dates below scores high, a number in
///   the candidate scores nothing (it is a data row);
/// - **distinct labels** (0.10), **known aliases** from ``FieldAliases`` (0.10) and **short labels** (0.05; notes are
///   sentences);
/// - minus up to 0.15 for labels ending in a colon ("Supplier:", "Date:"), which introduce a value, not a column.
///
/// The highest score wins, the earliest row on a tie (so a table of text without a header starts at its first row).
/// Confidence is the winner's score, lowered when the runner-up is close. Cost: candidates × lookahead × width cell
/// looks, once per file.
public enum HeaderDetector {
    /// Candidate rows examined.
    public static let window = 20
    /// Rows below a candidate compared with it.
    public static let lookahead = 10
    /// Rows a streaming caller should buffer before deciding (candidates plus the last one's lookahead).
    public static var bufferedRows: Int { window + lookahead }

    /// The chosen row.
    public struct Choice: Sendable, Hashable {
        /// 0-based index into the rows given.
        public var index: Int
        /// 0…1, two decimals: the winner's score, lowered when another row scored nearly as well.
        public var confidence: Double
    }

    /// Returns the 0-based index (into `rows`) of the most likely header among the first ``window`` rows
    /// (0 for no rows).
    public static func detect(rows: [[String]]) -> Int { choose(rows: rows).index }

    /// The most likely header among the first ``window`` rows, with a confidence; index 0 and confidence 0 for no rows.
    public static func choose(rows: [[String]]) -> Choice {
        let profiles = rows.prefix(window + lookahead).map(RowProfile.init)
        var best = (index: 0, score: -Double.infinity)
        var runnerUp = 0.0
        let nonBlank = profiles.filter { $0.filled > 0 }.count
        for index in profiles.indices.prefix(window) where profiles[index].filled > 0 {
            let below = profiles[(index + 1)...].prefix(lookahead).filter { $0.filled > 0 }
            var score = Self.score(profiles[index], below: Array(below))
            // A header has rows below it: the last of several rows is judged on itself alone, and discounted.
            if below.isEmpty && nonBlank > 1 { score *= 0.9 }
            if score > best.score + 1e-9 {
                runnerUp = max(runnerUp, best.score)
                best = (index, score)
            } else {
                runnerUp = max(runnerUp, score)
            }
        }
        guard best.score.isFinite else { return Choice(index: 0, confidence: 0) }
        let margin = min(1, 0.6 + 2 * (best.score - runnerUp))
        return Choice(index: best.index, confidence: ((max(0, min(1, best.score)) * margin) * 100).rounded() / 100)
    }

    /// The candidate's score in 0…1.
    static func score(_ candidate: RowProfile, below: [RowProfile]) -> Double {
        let filled = Double(candidate.filled)
        var coverage = 1.0
        if !below.isEmpty {
            coverage = 0
            for row in below {
                var inside = 0
                for (column, kind) in row.kinds.enumerated() where kind != .blank && candidate.isFilled(column) { inside += 1 }
                coverage += Double(inside) / Double(row.filled)
            }
            coverage = (coverage / Double(below.count)).squareRoot()
        }
        let text = Double(candidate.texts) / filled
        var contrastSum = 0.0
        var contrastColumns = 0
        for (column, kind) in candidate.kinds.enumerated() where kind != .blank {
            var values = 0
            var numbers = 0
            for row in below where column < row.kinds.count && row.kinds[column] != .blank {
                values += 1
                if row.kinds[column] == .value { numbers += 1 }
            }
            guard values > 0 else { continue }
            contrastColumns += 1
            if kind == .text { contrastSum += 0.5 + 0.5 * Double(numbers) / Double(values) }
        }
        // Nothing below to contrast with: text is as likely a header as not, a number is data.
        let contrast = contrastColumns > 0 ? contrastSum / Double(contrastColumns) : 0.5 * text
        let distinct = Double(candidate.distinctLabels) / filled
        let aliases = min(1, candidate.aliasScore / 2)
        let length = candidate.meanLength <= 30 ? 1 : max(0, 1 - (candidate.meanLength - 30) / 70)
        let colons = Double(candidate.colonLabels) / filled
        return 0.30 * coverage + 0.25 * text + 0.20 * contrast + 0.10 * distinct + 0.10 * aliases + 0.05 * length - 0.15 * colons
    }

    /// What a row looks like to the scorer.
    struct RowProfile {
        enum Kind { case blank, text, value }
        var kinds: [Kind] = []
        var filled = 0
        var texts = 0
        var distinctLabels = 0
        /// Text cells ending in a colon.
        var colonLabels = 0
        /// Exact alias matches count 1, a header containing an alias ½.
        var aliasScore = 0.0
        var meanLength = 0.0

        init(_ cells: [String]) {
            var seen = Set<String>()
            var length = 0
            kinds.reserveCapacity(cells.count)
            for cell in cells {
                let trimmed = cell.trimmingWhitespace()
                guard !trimmed.isEmpty else {
                    kinds.append(.blank)
                    continue
                }
                filled += 1
                length += trimmed.count
                if seen.insert(trimmed.lowercased()).inserted { distinctLabels += 1 }
                if Self.looksLikeValue(trimmed) {
                    kinds.append(.value)
                    continue
                }
                kinds.append(.text)
                texts += 1
                if trimmed.hasSuffix(":") { colonLabels += 1 }
                // Aliases are looked up in the first 64 text cells only (a loose match scans every alias): wide
                // sheets stay cheap, and a header has shown its known labels by then.
                guard texts <= 64 else { continue }
                if FieldAliases.isKnown(trimmed) {
                    aliasScore += 1
                } else if trimmed.count <= 60, FieldAliases.containsKnown(trimmed) {
                    aliasScore += 0.5
                }
            }
            meanLength = filled > 0 ? Double(length) / Double(filled) : 0
        }

        func isFilled(_ column: Int) -> Bool { column < kinds.count && kinds[column] != .blank }

        /// Numbers ("1.234,50", "€ 12", "-3"), dates and times ("2024-05-01", "01.05.2024", "12:30"), booleans.
        static func looksLikeValue(_ text: String) -> Bool {
            if NumberParser.parse(text) != nil { return true }
            var digits = 0
            var separators = 0
            for scalar in text.unicodeScalars {
                switch scalar {
                case "0"..."9": digits += 1
                case "-", ".", "/", ":", " ", "T", "Z", "+": separators += 1
                default: return ["true", "false"].contains(text.lowercased())
                }
            }
            return digits >= 2 && separators >= 1
        }
    }
}
