/// A source column not mapped to a canonical field; its values go to `ProcessedRow.extra` under `header`.
public struct UnmappedColumn: Sendable, Hashable, Codable {
    public var index: Int
    public var header: String
    public init(index: Int, header: String) {
        self.index = index
        self.header = header
    }
}

/// Which column feeds each canonical field.
public struct ColumnMapping: Sendable, Hashable, Codable {
    /// Canonical field name (`CanonicalField.rawValue`) → 0-based column index.
    public var fieldToIndex: [String: Int]
    /// Columns not mapped, in column order.
    public var unmapped: [UnmappedColumn]
    /// The header row the mapping was made from.
    public var headers: [String]

    public init(fieldToIndex: [String: Int], unmapped: [UnmappedColumn], headers: [String]) {
        self.fieldToIndex = fieldToIndex
        self.unmapped = unmapped
        self.headers = headers
    }
}
