/// How a delimited text file is written: what separates fields, how fields are quoted and escaped, whether
/// spaces around fields are padding, and which lines are comments. ``CSVParser`` reads any of them;
/// ``CSVDialectSniffer`` guesses one from a sample.
///
/// ```swift
/// let padded = CSVDialect(delimiter: UInt8(ascii: "|"), trimSpaces: true)  // "a | b " → ["a", "b"]
/// ```
public struct CSVDialect: Sendable, Hashable {
    /// How a quote character inside a quoted field is written.
    public enum Escape: String, Sendable, Hashable {
        /// RFC 4180: the quote is doubled (`""`).
        case double
        /// A backslash makes the next byte literal (`\"`, `\\`, `\,`), inside and outside quotes.
        case backslash
    }

    /// The field separator byte (a multi-character separator such as `", "` is this byte plus `trimSpaces`).
    public var delimiter: UInt8
    /// The quote byte; nil when quotes are ordinary text.
    public var quote: UInt8?
    /// How quotes are escaped inside quoted fields.
    public var escape: Escape
    /// Spaces before and after unquoted fields (and before an opening quote) are padding and dropped.
    public var trimSpaces: Bool
    /// Lines starting with this byte are comments: counted as rows (numbers stay physical), never delivered.
    public var commentPrefix: UInt8?

    /// The RFC 4180 dialect: `,`, `"` doubled, nothing trimmed, no comments.
    public static let rfc4180 = CSVDialect(delimiter: UInt8(ascii: ","))

    /// Creates a dialect.
    public init(
        delimiter: UInt8, quote: UInt8? = UInt8(ascii: "\""), escape: Escape = .double, trimSpaces: Bool = false,
        commentPrefix: UInt8? = nil
    ) {
        self.delimiter = delimiter
        self.quote = quote
        self.escape = escape
        self.trimSpaces = trimSpaces
        self.commentPrefix = commentPrefix
    }
}
