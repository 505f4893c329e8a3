import Models

/// A tabular file opened to show what was read: its detected format, the reader's description of it, and the
/// header and rows as the extract job would see them (same reader, same options, same ``HeaderLocator``).
/// Used by `quarry parse` and `GET /api/uploads/:id/preview`.
///
/// ```swift
/// let scan = try TableScan(path: path, fileName: "prices.xlsx", config: config, limits: limits)
/// let header = try scan.run(limits: limits) { event in print(event); return true }
/// ```
public struct TableScan: Sendable {
    /// The format detected from the content and the file name.
    public let format: FileFormat
    /// What the reader reported about the file (encoding, dialect, sheets).
    public let source: TabularSourceInfo
    let reader: any TabularReader
    let config: ExtractionConfig

    /// Detects the format, opens the reader and inspects the file.
    /// - Parameters:
    ///   - fileName: The name whose extension must agree with the content (`FORMAT_MISMATCH` otherwise).
    ///   - config: `header_row`, `skip_rows`, `sheet` and `delimiter` are honoured.
    ///   - encoding: Text encoding for delimited text; nil sniffs.
    /// - Throws: the reader's `JobError`s; `.unsupportedFormat` for document formats (pdf, docx, html, txt).
    public init(path: String, fileName: String, config: ExtractionConfig, encoding: TextEncodingHint? = nil, limits: ExtractionLimits) throws {
        let format = try FormatDetector.detect(path: path, fileName: fileName)
        guard format.isTabular else {
            throw JobError(
                .unsupportedFormat, "\(fileName) is a \(format.rawValue) document, not a table",
                details: ["format": format.rawValue, "file": fileName])
        }
        self.format = format
        self.config = config
        self.reader = try TabularReaders.make(format: format, path: path, options: TabularOptions(config: config, encoding: encoding))
        self.source = try reader.inspect(limits: limits)
    }

    /// Reads the header and the rows below it in file order, handing each to `handle`, which returns false to
    /// stop: the reader then stops at once and the rest of the file is not read.
    /// - Returns: The header's 1-based physical row and confidence (nil when the file has no rows), and whether
    ///   the end of the file was reached.
    @discardableResult
    public func run(
        limits: ExtractionLimits, isCancelled: @Sendable () -> Bool = { false }, handle: (HeaderLocator.Event) throws -> Bool
    ) throws -> (header: (row: Int, confidence: Double)?, reachedEnd: Bool) {
        var locator = HeaderLocator(config: config, format: format)
        var stopped = false
        var readToEnd = false
        func forward(_ event: HeaderLocator.Event) throws {
            guard !stopped else { return }
            if try !handle(event) {
                stopped = true
                throw StopReading()
            }
        }
        do {
            try reader.read(limits: limits, isCancelled: isCancelled, progress: { _ in }) { number, cells in
                try locator.feed(number, cells, emit: forward)
            }
            readToEnd = true
            try locator.finish(emit: forward)
        } catch is StopReading {
            return (locator.header, readToEnd)
        }
        return (locator.header, true)
    }

    /// Thrown out of a reader's row callback to end the read early.
    private struct StopReading: Error {}
}
