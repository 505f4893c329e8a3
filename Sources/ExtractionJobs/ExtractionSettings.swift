import Extraction
public import Foundation

/// Limits and settings of the `extract` handler, from the environment.
public struct ExtractionSettings: Sendable {
    /// `EXTRACTION_MAX_FILE_SIZE_MB` (100).
    public var maxFileBytes: Int64
    /// `EXTRACTION_MAX_ROWS` (5,000,000).
    public var maxRows: Int
    /// `EXTRACTION_MAX_ROW_BYTES` (1 MiB): a longer record fails with ROW_TOO_LONG.
    public var maxRowBytes: Int
    /// `EXTRACTION_MAX_UNPACKED_MB` (500): total inflated bytes of an XLSX/DOCX.
    public var maxUnpackedBytes: Int64
    /// `EXTRACTION_CACHE_TTL_HOURS` (24): how long results (and the cache) live.
    public var cacheTTLHours: Int
    /// `EXTRACTION_DOCUMENT_TIMEOUT_MS` (120000): limit for one document parser child process.
    public var documentTimeout: Duration
    /// `EXTRACTION_SPOOL_DIR` (`$TMPDIR` or /tmp): where uploads are spooled for parsing.
    public var spoolDirectory: String
    /// `EXTRACTION_UPLOAD_STALL_TIMEOUT_MS` (60000): a job reading an upload still in progress fails with
    /// `UPLOAD_ABANDONED` when no new chunk arrives for this long.
    public var uploadStallTimeout: Duration

    public init(environment env: [String: String] = ProcessInfo.processInfo.environment) {
        func int(_ k: String) -> Int? { env[k].flatMap { Int($0) } }
        maxFileBytes = Int64(int("EXTRACTION_MAX_FILE_SIZE_MB") ?? 100) * 1024 * 1024
        maxRows = int("EXTRACTION_MAX_ROWS") ?? 5_000_000
        maxRowBytes = int("EXTRACTION_MAX_ROW_BYTES") ?? 1024 * 1024
        maxUnpackedBytes = Int64(int("EXTRACTION_MAX_UNPACKED_MB") ?? 500) * 1024 * 1024
        cacheTTLHours = int("EXTRACTION_CACHE_TTL_HOURS") ?? 24
        documentTimeout = .milliseconds(int("EXTRACTION_DOCUMENT_TIMEOUT_MS") ?? 120_000)
        spoolDirectory = env["EXTRACTION_SPOOL_DIR"] ?? env["TMPDIR"] ?? "/tmp"
        uploadStallTimeout = .milliseconds(max(100, int("EXTRACTION_UPLOAD_STALL_TIMEOUT_MS") ?? 60_000))
    }

    var limits: ExtractionLimits {
        var l = ExtractionLimits()
        l.maxFileBytes = maxFileBytes
        l.maxRows = maxRows
        l.maxRowBytes = maxRowBytes
        l.maxUnpackedTotalBytes = maxUnpackedBytes
        l.maxUnpackedEntryBytes = min(l.maxUnpackedEntryBytes, maxUnpackedBytes)
        return l
    }
}
