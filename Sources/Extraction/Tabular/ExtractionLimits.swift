/// Hard caps that keep extraction bounded in memory and time whatever the input.
public struct ExtractionLimits: Sendable, Hashable {
    /// Largest accepted source file (default 100 MB) → `.fileTooLarge`.
    public var maxFileBytes: Int64
    /// Largest single record / line / JSON object (default 1 MB) → `.rowTooLong`.
    public var maxRowBytes: Int
    /// Most data rows delivered (default 5 000 000) → `.rowLimitExceeded`.
    public var maxRows: Int
    /// Most bytes inflated from one ZIP entry (default 200 MB) → `.zipBomb`.
    public var maxUnpackedEntryBytes: Int64
    /// Most bytes inflated from one ZIP container in total (default 500 MB) → `.zipBomb`.
    public var maxUnpackedTotalBytes: Int64
    /// Deepest JSON nesting (default 64) → `.invalidJSON`.
    public var maxJSONDepth: Int
    /// Most columns in a row (default 1000) → `.rowTooLong`.
    public var maxColumns: Int
    /// Most spreadsheet cells looked at (XLSX `<c>` elements, XLS sheet records), empty or not (default 50 000 000)
    /// → `.rowLimitExceeded`.
    public var maxCellsScanned: Int

    /// Creates limits; every argument defaults to the production value.
    public init(
        maxFileBytes: Int64 = 100 * 1024 * 1024,
        maxRowBytes: Int = 1024 * 1024,
        maxRows: Int = 5_000_000,
        maxUnpackedEntryBytes: Int64 = 200 * 1024 * 1024,
        maxUnpackedTotalBytes: Int64 = 500 * 1024 * 1024,
        maxJSONDepth: Int = 64,
        maxColumns: Int = 1000,
        maxCellsScanned: Int = 50_000_000
    ) {
        self.maxFileBytes = maxFileBytes
        self.maxRowBytes = maxRowBytes
        self.maxRows = maxRows
        self.maxUnpackedEntryBytes = maxUnpackedEntryBytes
        self.maxUnpackedTotalBytes = maxUnpackedTotalBytes
        self.maxJSONDepth = maxJSONDepth
        self.maxColumns = maxColumns
        self.maxCellsScanned = maxCellsScanned
    }

    /// The production defaults.
    public static let `default` = ExtractionLimits()
}
