import Models

/// A streaming source of rows. Every reader keeps memory constant whatever the file size.
///
/// Row contract:
/// - All cells are strings; an empty cell is `""`.
/// - CSV/TSV/XLSX/XLS deliver the header as the ordinary first delivered row (usually row 1).
/// - JSON/NDJSON deliver a synthetic header as row 0 (the union of the keys of the first 1000 records,
///   in first-seen order), then each record's values in header order. A key first seen later is appended
///   as an extra column: the reader then calls `onRow(0, extendedHeader)` again before the first row
///   that carries it, so consumers can always name every column.
/// - Blank rows (no non-empty cell) are never delivered; row numbers stay physical so gaps are visible.
public protocol TabularReader: Sendable {
    /// Streams rows (all cells as strings; empty cell = "") in file order. `onRow` gets the 1-based physical row number.
    /// `progress` is called now and then with bytes consumed so far (of the source file) for byte-based progress.
    /// Must throw `JobError(.cancelled…)` promptly when `isCancelled()` returns true (checked every chunk / few thousand rows).
    func read(
        limits: ExtractionLimits,
        isCancelled: @Sendable () -> Bool,
        progress: (_ bytesRead: Int64) -> Void,
        onRow: (_ rowNumber: Int, _ fields: [String]) throws -> Void
    ) throws

    /// Describes the file (encoding, dialect, sheets) from a sample, without reading all of it; see
    /// ``TabularSourceInfo``. The default implementation reports nothing.
    func inspect(limits: ExtractionLimits) throws -> TabularSourceInfo
}

/// Which worksheet of a workbook to read.
public enum SheetSelector: Sendable, Hashable {
    /// The sheet with this name (exact match, then case-insensitive).
    case name(String)
    /// The sheet at this 0-based position in workbook order.
    case index(Int)
}

/// Text encoding of a delimited file; `.auto` detects it (BOM, UTF-16 NUL pattern, UTF-8 validity, else
/// Windows-1252 / Latin-1), see `TextEncodingDetector`.
public enum TextEncodingHint: String, Sendable, Hashable, Codable {
    case auto, utf8, utf16LE, utf16BE, windows1252, latin1
}

/// Reader options chosen by the job (all optional).
public struct TabularOptions: Sendable, Hashable {
    /// Field delimiter byte for CSV/TSV; `nil` sniffs it (see `CSVDialectSniffer`) for CSV and uses tab for TSV.
    /// Quote, escape, space padding, comments and preamble are sniffed either way.
    public var delimiter: UInt8?
    /// Worksheet for XLSX/XLS; `nil` reads the first sheet.
    public var sheet: SheetSelector?
    /// Text encoding for CSV/TSV; `nil` means `.auto`.
    public var encoding: TextEncodingHint?
    /// Deliver the lines of prose the sniffer finds above a delimited table (its preamble) instead of skipping
    /// them: set when the job places the header itself (`header_row` or `skip_rows` count physical rows).
    public var keepPreamble = false

    /// Creates options.
    public init(delimiter: UInt8? = nil, sheet: SheetSelector? = nil, encoding: TextEncodingHint? = nil) {
        self.delimiter = delimiter
        self.sheet = sheet
        self.encoding = encoding
    }
}

/// Factory of the reader matching a detected format.
public enum TabularReaders {
    /// Returns the reader for `format` over the file at `path`; throws `.unsupportedFormat` for document formats.
    public static func make(format: FileFormat, path: String, options: TabularOptions = TabularOptions()) throws -> any TabularReader {
        switch format {
        case .csv, .txt: return CSVReader(path: path, options: options, defaultDelimiter: nil)
        case .tsv: return CSVReader(path: path, options: options, defaultDelimiter: UInt8(ascii: "\t"))
        case .json: return JSONReader(path: path, lineDelimited: false)
        case .ndjson: return JSONReader(path: path, lineDelimited: true)
        case .xlsx: return XLSXReader(path: path, options: options)
        case .xls: return XLSReader(path: path, options: options)
        case .pdf, .docx, .html:
            throw JobError(.unsupportedFormat, "\(format.rawValue) is a document format, not a table", details: ["format": format.rawValue])
        }
    }

    /// The reader for `format` over bytes still arriving: only the streaming formats (CSV/TSV, JSON, NDJSON)
    /// can be read this way; `path` names the input in errors and spill files.
    /// - Throws: `.unsupportedFormat` for a format that needs the whole file (workbooks, documents).
    public static func make(
        format: FileFormat, source: any ByteStreamSource, path: String, options: TabularOptions = TabularOptions()
    ) throws -> any TabularReader {
        switch format {
        case .csv, .tsv:
            var reader = CSVReader(path: path, options: options, defaultDelimiter: format == .tsv ? UInt8(ascii: "\t") : nil)
            reader.source = source
            return reader
        case .json, .ndjson:
            var reader = JSONReader(path: path, lineDelimited: format == .ndjson)
            reader.source = source
            return reader
        case .txt, .xlsx, .xls, .pdf, .docx, .html:
            throw JobError(.unsupportedFormat, "\(format.rawValue) cannot be read while it uploads", details: ["format": format.rawValue])
        }
    }
}

/// A reader whose streaming loop keeps `isCancelled` in a stored gate (so it must be escaping);
/// `read` lends it the non-escaping closure for the duration of the call.
protocol EscapingTabularReader: TabularReader {
    func run(
        limits: ExtractionLimits,
        isCancelled: @escaping @Sendable () -> Bool,
        progress: (_ bytesRead: Int64) -> Void,
        onRow: (_ rowNumber: Int, _ fields: [String]) throws -> Void
    ) throws
}

extension EscapingTabularReader {
    public func read(
        limits: ExtractionLimits,
        isCancelled: @Sendable () -> Bool,
        progress: (_ bytesRead: Int64) -> Void,
        onRow: (_ rowNumber: Int, _ fields: [String]) throws -> Void
    ) throws {
        try withoutActuallyEscaping(isCancelled) { isCancelled in
            try run(limits: limits, isCancelled: isCancelled, progress: progress, onRow: onRow)
        }
    }
}
