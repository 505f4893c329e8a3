/// The first rows of a table as read and what was detected about it: the body of
/// `GET /api/uploads/:id/preview` (`data`), and — without `header`, `rows` and `suggested_mapping` — the line
/// `quarry parse` prints on stderr. Members are snake_case in JSON.
public struct TablePreview: Sendable, Codable, Hashable {
    /// The detected format (`csv`, `tsv`, `xlsx`, `xls`, `json`, `ndjson`).
    public var format: String
    /// Text encoding of delimited text or JSON.
    public var encoding: String?
    /// Dialect of delimited text.
    public var dialect: CSVDialectReport?
    /// Worksheets of a workbook, in order.
    public var sheets: [String]?
    /// The worksheet read.
    public var sheet: String?
    /// The header's 1-based physical row (as `header_row` in a job config); nil when the file has no rows.
    public var headerRow: Int?
    /// 1 when `header_row` was given, else the detector's confidence (0…1).
    public var headerRowConfidence: Double?
    /// The header's cells.
    public var header: [String]?
    /// The first data rows below the header, every cell kept (also those right of the header's last cell).
    public var rows: [Row]?
    /// Canonical field → the header it would be read from, as the extract job would map it without a
    /// `column_mapping`.
    public var suggestedMapping: [String: SuggestedColumn]?
    /// True when the file has more rows than shown.
    public var truncated: Bool?

    /// One data row.
    public struct Row: Sendable, Codable, Hashable {
        /// 1-based physical row number in the file.
        public var row: Int
        public var cells: [String]
        public init(row: Int, cells: [String]) {
            self.row = row
            self.cells = cells
        }
    }

    enum CodingKeys: String, CodingKey {
        case format, encoding, dialect, sheets, sheet, header, rows, truncated
        case headerRow = "header_row", headerRowConfidence = "header_row_confidence", suggestedMapping = "suggested_mapping"
    }

    /// A preview of a format with nothing else known.
    public init(format: String) { self.format = format }

    /// A description of `scan` without rows (what `quarry parse` reports).
    public init(scan: TableScan, header: (row: Int, confidence: Double)?) {
        format = scan.format.rawValue
        encoding = scan.source.encoding
        dialect = scan.source.dialect
        sheets = scan.source.sheets
        sheet = scan.source.sheet
        headerRow = header?.row
        headerRowConfidence = header?.confidence
    }

    /// Reads the header and the first `rowLimit` data rows; reading stops after the row that follows them.
    /// - Returns: The preview, and whether the reader reached the end of the file (a caller that gave a
    ///   truncated copy of the file must then read the whole file: the last row may be cut).
    public static func read(
        path: String, fileName: String, config: ExtractionConfig, rowLimit: Int, limits: ExtractionLimits,
        isCancelled: @Sendable () -> Bool = { false }
    ) throws -> (preview: TablePreview, reachedEnd: Bool) {
        let scan = try TableScan(path: path, fileName: fileName, config: config, limits: limits)
        var header: [String] = []
        var rows: [Row] = []
        var more = false
        let result = try scan.run(limits: limits, isCancelled: isCancelled) { event in
            switch event {
            case .header(_, let cells, _):
                header = cells
                return true
            case .row(let number, let cells):
                // One row past the limit proves the last one shown is complete, and that there is more.
                guard rows.count < rowLimit else {
                    more = true
                    return false
                }
                rows.append(Row(row: number, cells: cells))
                return true
            }
        }
        var preview = TablePreview(scan: scan, header: result.header)
        if result.header != nil {
            preview.header = header
            preview.rows = rows
            preview.truncated = more
            preview.suggestedMapping = ColumnMapper.suggest(headers: header)
        }
        return (preview, result.reachedEnd)
    }
}

/// A source column suggested for a canonical field.
public struct SuggestedColumn: Sendable, Codable, Hashable {
    /// The header cell.
    public var header: String
    /// 0-based column index.
    public var column: Int
    /// 0…1: 1 for an exact alias ("Artikelnummer" → sku), lower for generic or partial matches.
    public var confidence: Double

    public init(header: String, column: Int, confidence: Double) {
        self.header = header
        self.column = column
        self.confidence = confidence
    }
}
