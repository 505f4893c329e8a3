/// Guesses the ``CSVDialect`` of delimited text from a sample by scoring candidates, as CleverCSV does
/// (van den Burg, Nazábal, Sutton: "Wrangling messy CSV files by detecting row and type patterns", 2019).
///
/// Every candidate (delimiter × quote × escape, with space padding and comments decided from the bytes) parses
/// the sample with the real ``CSVParser``; its score is the *pattern score* (rows of the same field count, more
/// fields better) times the *type score* (share of cells that read as a typed value, see ``CSVCellTypes``).
/// Candidates that parse the sample identically count once; the earliest in candidate order wins ties.
///
/// Lines of prose before the table (a title, "exported on …") parse as one-field rows: when the table has two or
/// more fields, leading one-field rows (at most 20, fewer than half the sample) are the *preamble*, left out of the
/// score and reported so the reader can skip them. A leading row with several fields is never preamble — a header
/// shorter than the data stays a row. Rows after the table (footnotes) are kept: they are rows of the file.
enum CSVDialectSniffer {
    /// Delimiter candidates, in tie-break order.
    static let delimiters: [UInt8] = Array(",;\t|:~ ".utf8)
    /// Bytes of the sample that are scored.
    static let sampleBytes = 64 * 1024
    /// Records of the sample that are scored.
    static let sampleRecords = 400
    /// Most preamble rows skipped before the table.
    static let maxPreambleRows = 20

    /// What the sniffer found.
    struct Result: Sendable, Hashable {
        var dialect: CSVDialect
        /// The delimiter as reported: `", "` when every delimiter is followed by one space.
        var delimiterText: String
        /// `lf`, `crlf`, `cr` or `mixed`.
        var lineTerminator: String
        /// Records (physical, as the parser numbers them, blank lines included) before the table's first row;
        /// the reader skips them. 0 when the sniffer found no preamble.
        var preambleRecords: Int
        /// 0…1: the mean of the share of table rows with the modal field count and the margin over the next best
        /// distinct parse (1 − its score / the best score); 1 when the delimiter was given.
        var confidence: Double
    }

    /// A candidate's parse of the sample and its score.
    private struct Scored {
        var dialect: CSVDialect
        var rows: [(number: Int, fields: [String])]
        var preamble: Int
        var modalWidth: Int
        var consistency: Double
        var score: Double
    }

    /// Sniffs `sample` (UTF-8 or single-byte text). `isWholeFile` keeps a last line without a line break.
    /// With `delimiter` given only the quote, escape, padding, comments and preamble are sniffed.
    static func sniff(_ sample: [UInt8], isWholeFile: Bool, delimiter fixed: UInt8? = nil) -> Result {
        let text = cut(sample, isWholeFile: isWholeFile)
        let complete = isWholeFile && text.count == sample.count
        let present = Set(text)
        var delimiterCandidates = fixed.map { [$0] } ?? delimiters.filter { present.contains($0) }
        if delimiterCandidates.isEmpty { delimiterCandidates = [UInt8(ascii: ",")] }
        // `"` first: when the sample has no quotes every quote candidate parses alike and the RFC 4180 one is kept.
        let quotes: [UInt8?] = [UInt8(ascii: "\"")] + (present.contains(UInt8(ascii: "'")) ? [UInt8(ascii: "'")] : []) + [nil]

        var seen: [[[String]]: Int] = [:]
        var scored: [Scored] = []
        for d in delimiterCandidates {
            let trims = d == UInt8(ascii: " ") || isSpacePadded(text, delimiter: d)
            for q in quotes {
                var escapes: [CSVDialect.Escape] = [.double]
                // A backslash before a quote (`\"`) or the delimiter (`\,`, unquoted exports) makes it a candidate.
                if contains(text, [UInt8(ascii: "\\"), q ?? d]) || contains(text, [UInt8(ascii: "\\"), d]) {
                    escapes.append(.backslash)
                }
                for e in escapes {
                    let dialect = CSVDialect(delimiter: d, quote: q, escape: e, trimSpaces: trims)
                    guard let candidate = score(dialect, text, complete: complete) else { continue }
                    let key = candidate.rows.map(\.fields)
                    if seen[key] != nil { continue }
                    seen[key] = scored.count
                    scored.append(candidate)
                }
            }
        }
        guard
            var best = scored.indices.max(by: { scored[$0].score < scored[$1].score || (scored[$0].score == scored[$1].score && $0 > $1) }).map({
                scored[$0]
            })
        else {
            let dialect = CSVDialect(delimiter: fixed ?? UInt8(ascii: ","))
            return Result(
                dialect: dialect, delimiterText: String(UnicodeScalar(dialect.delimiter)), lineTerminator: lineTerminator(text), preambleRecords: 0,
                confidence: 0)
        }
        let second = scored.map(\.score).sorted(by: >).dropFirst().first ?? 0
        if let withComments = detectComments(best, text, complete: complete) { best = withComments }
        let margin = best.score > 0 ? max(0, 1 - second / best.score) : 0
        let confidence = fixed != nil ? 1 : ((0.5 * best.consistency + 0.5 * margin) * 100).rounded() / 100
        let preambleRecords = best.preamble > 0 ? best.rows[best.preamble].number - 1 : 0
        return Result(
            dialect: best.dialect, delimiterText: delimiterText(best.dialect, text), lineTerminator: lineTerminator(text),
            preambleRecords: preambleRecords, confidence: confidence)
    }

    /// Parses `text` in `dialect` and scores it; nil when the parse fails (an unterminated quote).
    private static func score(_ dialect: CSVDialect, _ text: [UInt8], complete: Bool) -> Scored? {
        guard let rows = parse(text, dialect, complete: complete), !rows.isEmpty else { return nil }
        let widths = rows.map(\.fields.count)
        var frequency: [Int: Int] = [:]
        for w in widths { frequency[w, default: 0] += 1 }
        let modal = frequency.max { ($0.value, $0.key) < ($1.value, $1.key) }?.key ?? 1
        var preamble = 0
        if modal > 1 {
            while preamble < min(maxPreambleRows, rows.count / 2) && widths[preamble] == 1 { preamble += 1 }
        }
        let table = rows[preamble...]
        var patterns: [Int: Int] = [:]
        var cells = 0
        var known = 0
        for row in table {
            patterns[row.fields.count, default: 0] += 1
            for cell in row.fields {
                cells += 1
                if CSVCellTypes.isKnown(cell) { known += 1 }
            }
        }
        // Pattern score: Σ over distinct field counts L of N_L·(L−1)/L, divided by the number of distinct counts.
        let pattern =
            patterns.reduce(0.0) { sum, p in sum + Double(p.value) * max(0.001, Double(p.key - 1) / Double(p.key)) }
            / Double(patterns.count)
        let typeScore = cells > 0 ? max(Double(known) / Double(cells), 1e-6) : 1e-6
        let consistency = Double(table.filter { $0.fields.count == modal }.count) / Double(table.count)
        return Scored(
            dialect: dialect, rows: rows, preamble: preamble, modalWidth: modal, consistency: consistency,
            score: pattern * typeScore)
    }

    private struct Enough: Error {}

    /// Parses up to ``sampleRecords`` records; the last unfinished record is dropped unless `complete`.
    private static func parse(_ text: [UInt8], _ dialect: CSVDialect, complete: Bool) -> [(number: Int, fields: [String])]? {
        var parser = CSVParser(dialect: dialect, maxRecordBytes: max(1 << 20, text.count + 1), maxFields: 100_000)
        var rows: [(number: Int, fields: [String])] = []
        let collect: (Int, [String]) throws -> Void = { n, f in
            rows.append((n, f))
            if rows.count >= sampleRecords { throw Enough() }
        }
        do {
            try parser.feed(text, onRecord: collect)
            if complete { try parser.finish(onRecord: collect) }
        } catch is Enough {
            return rows
        } catch {
            return nil
        }
        return rows
    }

    /// `#` is a comment prefix when some rows start with it and none of them has the table's field count;
    /// returns `best` re-parsed with comments then, else nil.
    private static func detectComments(_ best: Scored, _ text: [UInt8], complete: Bool) -> Scored? {
        let hash = UInt8(ascii: "#")
        let marked = best.rows.filter { $0.fields.first?.utf8.first == hash }
        guard !marked.isEmpty, marked.allSatisfy({ $0.fields.count != best.modalWidth }) else { return nil }
        var dialect = best.dialect
        dialect.commentPrefix = hash
        guard var rescored = score(dialect, text, complete: complete) else { return nil }
        rescored.score = max(rescored.score, best.score)
        return rescored
    }

    /// Space padding: (almost) every delimiter outside quotes has a space next to it.
    private static func isSpacePadded(_ text: [UInt8], delimiter d: UInt8) -> Bool {
        var total = 0
        var padded = 0
        let space = UInt8(ascii: " ")
        for i in text.indices where text[i] == d {
            total += 1
            if (i + 1 < text.count && text[i + 1] == space) || (i > 0 && text[i - 1] == space) { padded += 1 }
        }
        return total > 0 && padded * 10 >= total * 8
    }

    /// `", "` when (almost) every delimiter is followed by exactly one space and preceded by none, else the byte.
    private static func delimiterText(_ dialect: CSVDialect, _ text: [UInt8]) -> String {
        let d = dialect.delimiter
        let plain = String(UnicodeScalar(d))
        guard dialect.trimSpaces, d != UInt8(ascii: " ") else { return plain }
        var total = 0
        var oneSpaceAfter = 0
        let space = UInt8(ascii: " ")
        for i in text.indices where text[i] == d {
            total += 1
            let after = i + 1 < text.count && text[i + 1] == space
            let twoAfter = i + 2 < text.count && text[i + 2] == space
            let before = i > 0 && text[i - 1] == space
            if after && !twoAfter && !before { oneSpaceAfter += 1 }
        }
        return total > 0 && oneSpaceAfter * 10 >= total * 9 ? plain + " " : plain
    }

    /// `lf`, `crlf`, `cr` or `mixed` (more than one kind of line break in the sample).
    static func lineTerminator(_ text: [UInt8]) -> String {
        var lf = 0
        var crlf = 0
        var cr = 0
        var i = 0
        while i < text.count {
            if text[i] == UInt8(ascii: "\r") {
                if i + 1 < text.count && text[i + 1] == UInt8(ascii: "\n") {
                    crlf += 1
                    i += 1
                } else {
                    cr += 1
                }
            } else if text[i] == UInt8(ascii: "\n") {
                lf += 1
            }
            i += 1
        }
        let kinds = [(lf, "lf"), (crlf, "crlf"), (cr, "cr")].filter { $0.0 > 0 }
        return kinds.count > 1 ? "mixed" : kinds.first?.1 ?? "lf"
    }

    /// The first ``sampleBytes`` bytes, cut after the last line break unless the sample is the whole file.
    private static func cut(_ sample: [UInt8], isWholeFile: Bool) -> [UInt8] {
        if isWholeFile && sample.count <= sampleBytes { return sample }
        let n = min(sample.count, sampleBytes)
        var end = n
        while end > 0 && sample[end - 1] != UInt8(ascii: "\n") && sample[end - 1] != UInt8(ascii: "\r") { end -= 1 }
        return Array(sample[..<(end > 0 ? end : n)])
    }

    private static func contains(_ text: [UInt8], _ pair: [UInt8]) -> Bool {
        guard text.count >= 2 else { return false }
        for i in 0..<(text.count - 1) where text[i] == pair[0] && text[i + 1] == pair[1] { return true }
        return false
    }
}
