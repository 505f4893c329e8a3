/// What a reader learned about its file before (or while) reading it: reported in the job summary, printed by
/// `quarry parse` on stderr and returned by `GET /api/uploads/:id/preview`.
///
/// Every member is optional: a reader fills in what applies to its format (delimited text: `encoding` and
/// `dialect`; workbooks: `sheets` and `sheet`; JSON: `encoding`).
public struct TabularSourceInfo: Sendable, Hashable, Codable {
    /// Text encoding used to decode the file: `utf-8`, `utf-16le`, `utf-16be`, `windows-1252`, `latin-1`.
    public var encoding: String?
    /// Dialect of a delimited text file.
    public var dialect: CSVDialectReport?
    /// Worksheet names in workbook order.
    public var sheets: [String]?
    /// The worksheet that is (or would be) read.
    public var sheet: String?

    /// Creates a description.
    public init(encoding: String? = nil, dialect: CSVDialectReport? = nil, sheets: [String]? = nil, sheet: String? = nil) {
        self.encoding = encoding
        self.dialect = dialect
        self.sheets = sheets
        self.sheet = sheet
    }
}

/// The dialect a delimited-text reader used (sniffed or given by the job).
public struct CSVDialectReport: Sendable, Hashable, Codable {
    /// Field delimiter as text, possibly more than one character (`","`, `"\t"`, `", "`).
    public var delimiter: String
    /// Quote character (`"` or `'`), nil when fields are never quoted.
    public var quote: String?
    /// How a quote inside a quoted field is written: `double` (`""`) or `backslash` (`\"`).
    public var escape: String
    /// Line terminator seen: `lf`, `crlf`, `cr` or `mixed`.
    public var lineTerminator: String
    /// Prefix of comment lines that were skipped (e.g. `#`), nil when none.
    public var commentPrefix: String?
    /// Whether spaces around fields were trimmed (space-padded dialects).
    public var trimsSpaces: Bool
    /// True when sniffed from a sample, false when the job's config gave the delimiter.
    public var sniffed: Bool
    /// Confidence of the sniffed choice in 0…1 (1 when given).
    public var confidence: Double
    /// Lines of prose before the table (a title, "exported on …") that were skipped; row numbers stay
    /// physical, so the first row delivered is numbered after them. 0 when none.
    public var preambleLines: Int

    /// Creates a dialect report.
    public init(
        delimiter: String, quote: String? = "\"", escape: String = "double", lineTerminator: String = "lf",
        commentPrefix: String? = nil, trimsSpaces: Bool = false, sniffed: Bool = true, confidence: Double = 1,
        preambleLines: Int = 0
    ) {
        self.delimiter = delimiter
        self.quote = quote
        self.escape = escape
        self.lineTerminator = lineTerminator
        self.commentPrefix = commentPrefix
        self.trimsSpaces = trimsSpaces
        self.sniffed = sniffed
        self.confidence = confidence
        self.preambleLines = preambleLines
    }

    enum CodingKeys: String, CodingKey {
        case delimiter, quote, escape, sniffed, confidence
        case lineTerminator = "line_terminator", commentPrefix = "comment_prefix", trimsSpaces = "trims_spaces"
        case preambleLines = "preamble_lines"
    }
}

extension TabularReader {
    /// Describes the file without reading all of it (a sample of delimited text, a workbook's sheet list).
    /// Readers that know more override this; the default knows nothing.
    public func inspect(limits: ExtractionLimits) throws -> TabularSourceInfo { TabularSourceInfo() }
}
