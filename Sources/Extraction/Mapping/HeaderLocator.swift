/// Turns a reader's row stream into a header and the data rows below it — the one place that applies
/// `skip_rows`, `header_row` or ``HeaderDetector``, shared by the extract job, `quarry parse` and the upload preview.
///
/// Rows above the header (titles, notes) are dropped. Without `header_row`, the first
/// ``HeaderDetector/bufferedRows`` rows are held back until the header is chosen; memory stays bounded.
///
/// ```swift
/// var locator = HeaderLocator(headerRow: config.headerRow, skipRows: config.skipRows ?? 0, syntheticHeader: false)
/// try reader.read(limits: limits, isCancelled: { false }, progress: { _ in }) { n, cells in
///     try locator.feed(n, cells, emit: handle)
/// }
/// try locator.finish(emit: handle)
/// ```
public struct HeaderLocator: Sendable {
    /// What the locator hands on, in file order.
    public enum Event: Sendable, Hashable {
        /// The header (again, for JSON whose key set grew), its 1-based physical row and the confidence of the choice.
        case header(row: Int, cells: [String], confidence: Double)
        /// A data row below the header.
        case row(Int, [String])
    }

    /// `header_row` from the job (1-based physical row; the first delivered row at or after it is the header).
    public let headerRow: Int?
    /// `skip_rows`: delivered rows dropped before anything else.
    public let skipRows: Int
    /// JSON readers deliver a synthetic header as row 0 (see ``TabularReader``).
    public let syntheticHeader: Bool
    /// The header's physical row and confidence, once known.
    public private(set) var header: (row: Int, confidence: Double)?

    private var delivered = 0
    private var pending: [(Int, [String])] = []

    /// Creates a locator.
    /// - Parameters:
    ///   - headerRow: The job's `header_row`; nil detects it.
    ///   - skipRows: The job's `skip_rows`.
    ///   - syntheticHeader: True for JSON/NDJSON readers (header delivered as row 0).
    public init(headerRow: Int?, skipRows: Int = 0, syntheticHeader: Bool) {
        self.headerRow = headerRow
        self.skipRows = skipRows
        self.syntheticHeader = syntheticHeader
    }

    /// A locator for `format` configured like the job.
    public init(config: ExtractionConfig, format: FileFormat) {
        self.init(headerRow: config.headerRow, skipRows: config.skipRows ?? 0, syntheticHeader: format == .json || format == .ndjson)
    }

    /// Feeds one delivered row.
    public mutating func feed(_ rowNumber: Int, _ cells: [String], emit: (Event) throws -> Void) rethrows {
        if syntheticHeader {
            if rowNumber == 0 {
                header = (0, 1)
                try emit(.header(row: 0, cells: cells, confidence: 1))
            } else {
                try emit(.row(rowNumber, cells))
            }
            return
        }
        if header != nil {
            try emit(.row(rowNumber, cells))
            return
        }
        delivered += 1
        if delivered <= skipRows { return }
        if let wanted = headerRow {
            guard rowNumber >= wanted else { return }
            header = (rowNumber, 1)
            try emit(.header(row: rowNumber, cells: cells, confidence: 1))
            return
        }
        pending.append((rowNumber, cells))
        if pending.count >= HeaderDetector.bufferedRows { try decide(emit: emit) }
    }

    /// Ends the stream: decides on the rows held back, if any.
    public mutating func finish(emit: (Event) throws -> Void) rethrows {
        if header == nil && !pending.isEmpty { try decide(emit: emit) }
    }

    private mutating func decide(emit: (Event) throws -> Void) rethrows {
        let choice = HeaderDetector.choose(rows: pending.map(\.1))
        let index = min(max(0, choice.index), pending.count - 1)
        let rows = pending
        pending = []
        header = (rows[index].0, choice.confidence)
        try emit(.header(row: rows[index].0, cells: rows[index].1, confidence: choice.confidence))
        for (number, cells) in rows[(index + 1)...] { try emit(.row(number, cells)) }
    }
}
