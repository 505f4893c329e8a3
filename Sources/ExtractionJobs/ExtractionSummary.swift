public import Extraction
public import Foundation

/// The summary of an extract job, stored in `extraction_results.summary` and `jobs.result` (seed 000's
/// result shape, widened). Members are snake_case in JSON; absent ones are omitted.
public struct ExtractionSummary: Sendable, Codable, Hashable {
    public var fileName: String
    public var format: String
    public var sizeBytes: Int64
    public var sha256: String
    public var cached: Bool
    /// The job whose result was reused, when `cached`.
    public var cachedFrom: String?

    // Tabular
    public var rowsTotal: Int?
    public var rowsValid: Int?
    public var rowsInvalid: Int?
    public var duplicates: Int?
    public var new: Int?
    public var updated: Int?
    public var unchanged: Int?
    /// The header's 1-based physical row (as `header_row` in the config).
    public var headerRow: Int?
    /// 1 when `header_row` was given, else how sure the header detection was (0…1).
    public var headerRowConfidence: Double?
    /// Non-empty cells right of the header's last cell, summed over the rows (each row with any also carries
    /// one `EXTRA_CELLS` warning, counted in `issues_by_code`).
    public var extraCells: Int?
    /// Text encoding of a delimited or JSON file, as the reader reports it.
    public var encoding: String?
    /// The dialect a delimited text file was read with.
    public var dialect: CSVDialectReport?
    /// The worksheet read, for workbooks.
    public var sheet: String?
    /// Every worksheet of a workbook, in order.
    public var sheets: [String]?
    public var issuesByCode: [String: Int]?
    public var validationMode: String?
    /// Canonical field → the source header it was read from.
    public var mapping: [String: String]?
    public var unmappedColumns: [String]?
    public var retryOf: String?
    public var rowsKeptFromPreviousRun: Int?
    /// The supplier the rows were classified against (the job's, or the matched profile's).
    public var supplierId: String?
    /// Where the mapping came from: `profile`, `config` or `auto` (issue 16).
    public var mappingSource: String?
    /// The supplier whose profile was used, when `mapping_source` is `profile`.
    public var profileSupplierId: String?
    /// The file's normalised header cells (``HeaderFingerprint``), stored by a commit with `save_profile`.
    public var headerFingerprint: String?
    /// The header cells as read (the reject file's header); at most 1,000.
    public var sourceHeader: [String]?
    /// The header's original text, for delimited files (the reject file's first line).
    public var sourceHeaderLine: String?
    /// What the commit would change in the catalog (issue 16).
    public var diff: CatalogDiffSummary?
    /// The price guard's review (absent when nothing is held); updated by `POST …/review`.
    public var review: ReviewSummary?

    // Documents
    public var pageCount: Int?
    public var wordCount: Int?
    public var sectionCount: Int?
    public var paragraphCount: Int?
    public var paragraphs: [String]?

    // Timing
    public var durationMs: Int?
    public var phasesMs: [String: Int]?
    public var rowsPerS: Int?

    enum CodingKeys: String, CodingKey {
        case fileName = "file_name", format, sizeBytes = "size_bytes", sha256, cached, cachedFrom = "cached_from"
        case rowsTotal = "rows_total", rowsValid = "rows_valid", rowsInvalid = "rows_invalid", duplicates, new, updated, unchanged
        case headerRow = "header_row", headerRowConfidence = "header_row_confidence", extraCells = "extra_cells"
        case encoding, dialect, sheet, sheets
        case issuesByCode = "issues_by_code", validationMode = "validation_mode", mapping
        case unmappedColumns = "unmapped_columns", retryOf = "retry_of", rowsKeptFromPreviousRun = "rows_kept_from_previous_run"
        case supplierId = "supplier_id", mappingSource = "mapping_source", profileSupplierId = "profile_supplier_id"
        case headerFingerprint = "header_fingerprint", diff, review, sourceHeader = "source_header", sourceHeaderLine = "source_header_line"
        case pageCount = "page_count", wordCount = "word_count", sectionCount = "section_count", paragraphCount = "paragraph_count"
        case paragraphs, durationMs = "duration_ms", phasesMs = "phases_ms", rowsPerS = "rows_per_s"
    }

    public init(fileName: String, format: String, sizeBytes: Int64, sha256: String) {
        self.fileName = fileName
        self.format = format
        self.sizeBytes = sizeBytes
        self.sha256 = sha256
        self.cached = false
    }

    /// Sets `new`/`updated`/`unchanged` from a classification of the valid rows.
    public mutating func setClassification(updated: Int, unchanged: Int) {
        self.updated = updated
        self.unchanged = unchanged
        self.new = (rowsValid ?? 0) - updated - unchanged
    }

    /// The JSON text stored in PostgreSQL (keys sorted, so equal summaries are equal text).
    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return JSONFragments.withoutNULEscapes(try encoder.encode(self))
    }
}
