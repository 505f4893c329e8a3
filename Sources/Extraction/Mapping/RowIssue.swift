/// A problem found in one row.
public struct RowIssue: Sendable, Codable, Hashable {
    /// How bad an issue is: errors make the row invalid, warnings do not.
    public enum Severity: String, Sendable, Codable, Hashable { case error, warning }

    /// Stable issue codes.
    public enum Code {
        public static let required = "REQUIRED"
        public static let invalidNumber = "INVALID_NUMBER"
        public static let negativePrice = "NEGATIVE_PRICE"
        public static let invalidDate = "INVALID_DATE"
        public static let invalidCurrency = "INVALID_CURRENCY"
        public static let duplicateSku = "DUPLICATE_SKU"
        public static let tooLong = "TOO_LONG"
        public static let transformFailed = "TRANSFORM_FAILED"
        /// A price or quantity beyond what the results table stores (`numeric(18,4)`: under 10^14).
        public static let outOfRange = "OUT_OF_RANGE"
        /// Non-empty cells right of the header's last cell, kept in `extra` as `column_N` (a warning).
        public static let extraCells = "EXTRA_CELLS"
    }

    /// The canonical field (or header) concerned.
    public var column: String
    /// One of `RowIssue.Code`.
    public var code: String
    public var message: String
    public var severity: Severity

    public init(column: String, code: String, message: String, severity: Severity) {
        self.column = column
        self.code = code
        self.message = message
        self.severity = severity
    }
}
