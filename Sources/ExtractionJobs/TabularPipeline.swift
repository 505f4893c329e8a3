import Extraction
import Foundation
import Models
import Postgres

/// Reads a tabular file, maps/transforms/validates each row and streams the rows, in blocks of 1,000, into
/// `quarry.result_blocks` through a ``ResultStore`` — on the connection of the job's transaction.
struct TabularPipeline {
    let jobID: UUID
    let orgID: UUID
    let config: ExtractionConfig
    let format: FileFormat
    let path: String
    let fileBytes: Int64
    let limits: ExtractionLimits
    let isCancelled: @Sendable () -> Bool
    let progress: ProgressBox
    /// Only these row numbers are processed (retry of rejected rows); nil = all.
    let onlyRows: Set<Int>?
    /// Supplier profiles recognised by their header fingerprint (a job without `supplier_id` or mapping).
    var profilesByFingerprint: [String: SupplierProfiles.Match] = [:]
    /// An upload read while it arrives, instead of the file at `path` (which then only prefixes spill files).
    var source: (any ByteStreamSource)?
    /// Whether delimited rows that are plain (``PlainRow``) skip the strings; off only to compare both paths.
    var allowsPlainRows = true

    struct Outcome {
        var rowsTotal = 0
        var rowsValid = 0
        var rowsInvalid = 0
        var duplicates = 0
        var mapping: ColumnMapping?
        var headerRow = 0
        /// 1 when the job gave `header_row` (or the format has a synthetic header), else the detector's confidence.
        var headerRowConfidence = 1.0
        /// Non-empty cells right of the header's last cell, over all rows.
        var extraCells = 0
        var issueCounts: [String: Int] = [:]
        /// What the reader reported about the file (encoding, dialect, sheets).
        var source = TabularSourceInfo()
        /// The file's header fingerprint.
        var headerFingerprint: String?
        /// The header cells as read (the reject file's header).
        var sourceHeader: [String] = []
        /// The header's original text, for delimited files (the reject file's first line).
        var sourceHeaderLine: String?
        /// The profile matched by the header fingerprint, if any.
        var matchedProfile: SupplierProfiles.Match?
        /// Rows stored as ``PlainRow``s (without a `String` per cell).
        var plainRows = 0
    }

    /// Streams every row into `results` (binary COPY of row blocks), then flags repeated SKUs.
    func run(into results: ResultStore) throws -> Outcome {
        var streamed: (Outcome, DuplicateFinder)?
        let rowType = try results.rowTypeOID()
        try results.connection.copyIn(ResultStore.blockCopyStatement) { write in
            streamed = try stream(rowType: rowType, into: write)
        }
        guard var (outcome, duplicates) = streamed else { throw JobError(.emptyFile, "the file has no rows") }
        // Repeated SKUs: found exactly in bounded memory once every row is in, then flagged in place.
        outcome.duplicates = try duplicates.finish { rows in
            if isCancelled() { throw JobError.cancelledExtraction }
            try results.flagDuplicates(rows: rows)
        }
        if outcome.duplicates > 0 { outcome.issueCounts[RowIssue.Code.duplicateSku, default: 0] += outcome.duplicates }
        return outcome
    }

    /// Reads, maps, validates and encodes every row, in blocks, as binary COPY data for
    /// ``ResultStore/blockCopyStatement``, handing it to `write` in pieces of about 256 KB. `rowType` is the OID
    /// of `quarry.result_row` (0 when the bytes are not loaded). Returns the counts and the SKUs seen (for the
    /// duplicate pass); throws `.emptyFile` when the file has no header row.
    func stream(rowType: UInt32 = 0, into write: (UnsafeRawBufferPointer) throws -> Void) throws -> (Outcome, DuplicateFinder) {
        let options = TabularOptions(config: config)
        let reader =
            try source.map { try TabularReaders.make(format: format, source: $0, path: path, options: options) }
            ?? TabularReaders.make(format: format, path: path, options: options)
        var outcome = Outcome()
        outcome.source = try reader.inspect(limits: limits)
        var processor: RowProcessor?
        let duplicates = DuplicateFinder(spillPath: path + ".skus")
        var locator = HeaderLocator(config: config, format: format)
        var encoder = CopyBinaryEncoder()
        encoder.start()
        var block = ResultBlockEncoder(rowType: rowType, jobID: jobID)
        var bytesRead: Int64 = 0
        var lastProgress = ContinuousClock.now - .seconds(1)
        // The source of a row is kept for the reject file: always for an invalid row, and for every row when a
        // price guard is in effect (a held row may be rejected in review). Delimited files also keep each such
        // row's original text; the rows the header locator holds back keep theirs until it decides.
        var keepsEveryRow = config.priceGuard != nil
        var heldBackLines: [Int: String] = [:]

        func setHeader(_ headers: [String], at row: Int, confidence: Double, line: String?) throws(JobError) {
            var effective = config
            let fingerprint = HeaderFingerprint.of(headers)
            outcome.headerFingerprint = fingerprint
            outcome.sourceHeader = headers
            if let fingerprint, let match = profilesByFingerprint[fingerprint] {
                effective = match.profile.fill(config)
                outcome.matchedProfile = match
            }
            outcome.sourceHeaderLine = line
            keepsEveryRow = effective.priceGuard != nil
            let mapping = try ColumnMapper.map(headers: headers, explicit: effective.columnMapping)
            processor = try RowProcessor(config: effective, mapping: mapping)
            outcome.mapping = mapping
            outcome.headerRow = row
            outcome.headerRowConfidence = confidence
        }

        func emit(_ rowNumber: Int, _ fields: [String], line: () -> String?) throws {
            guard let processor else { return }
            if let only = onlyRows, !only.contains(rowNumber) { return }
            guard let row = processor.process(rowNumber: rowNumber, fields: fields) else { return }
            if let sku = row.sku { try duplicates.add(sku: sku, row: rowNumber) }
            if let failure = processor.validationFailure(for: row) { throw failure }
            let isValid = row.isValid
            outcome.rowsTotal += 1
            if isValid { outcome.rowsValid += 1 } else { outcome.rowsInvalid += 1 }
            outcome.extraCells += row.extraCells
            for issue in row.issues { outcome.issueCounts[issue.code, default: 0] += 1 }
            let source = isValid && !keepsEveryRow ? nil : SourceCells(cells: fields, line: line())
            try encode(row, isValid: isValid, source: source, into: &block)
            try stored()
        }

        // A plain row (``PlainRow``): valid, no issues, nothing kept of its source.
        func emitPlain(_ row: PlainRow) throws {
            if let sku = row.sku { try duplicates.add(sku: sku.string, row: row.rowNumber) }
            outcome.rowsTotal += 1
            outcome.rowsValid += 1
            outcome.plainRows += 1
            try encode(row, into: &block)
            try stored()
        }

        // After each stored row: a full block goes out, and progress is reported now and then.
        func stored() throws {
            if block.isFull {
                block.flush(into: &encoder)
                try encoder.flush(to: write)
            }
            // Progress (seed 000): at most every 100 rows, and — unless 100 rows take longer — at least every
            // second; the clock is read once per 100 rows and the box is refreshed every 100 ms at most.
            guard outcome.rowsTotal % 100 == 0 else { return }
            let now = ContinuousClock.now
            if now - lastProgress >= .milliseconds(100) {
                lastProgress = now
                let pct = fileBytes > 0 ? 10 + Int(75 * Double(bytesRead) / Double(fileBytes)) : 50
                progress.set(
                    percent: min(pct, 85), step: "Extracting rows", stage: "parsing",
                    rows: Int64(outcome.rowsTotal), bytes: bytesRead, bytesTotal: fileBytes)
            }
        }

        // `current` is the row the reader is delivering (its line is still readable); others were held back.
        func handle(_ event: HeaderLocator.Event, current: Int, line: () -> String?) throws {
            func lineOf(_ row: Int) -> String? { heldBackLines.removeValue(forKey: row) ?? (row == current ? line() : nil) }
            switch event {
            case .header(let row, let cells, let confidence): try setHeader(cells, at: row, confidence: confidence, line: lineOf(row))
            case .row(let number, let cells): try emit(number, cells) { lineOf(number) }
            }
        }
        func onRow(_ rowNumber: Int, _ fields: [String], _ line: () -> String?) throws {
            if processor == nil, let text = line() { heldBackLines[rowNumber] = text }
            try locator.feed(rowNumber, fields) { try handle($0, current: rowNumber, line: line) }
            if processor != nil && !heldBackLines.isEmpty { heldBackLines = [:] }
        }

        if let csv = reader as? CSVReader {
            // Below the header, a row that is plain skips the strings (rows kept whole for the reject file, and
            // a retry's selection of rows, always take the full path).
            let plainRowsAllowed = allowsPlainRows && onlyRows == nil
            try csv.readRaw(limits: limits, isCancelled: isCancelled, progress: { bytesRead = $0 }) { record in
                if plainRowsAllowed, !keepsEveryRow, locator.header != nil, let processor, let plain = processor.plainRow(record) {
                    return try emitPlain(plain)
                }
                try onRow(record.number, record.fields()) { record.decodedLine() }
            }
        } else {
            try reader.read(limits: limits, isCancelled: isCancelled, progress: { bytesRead = $0 }) { n, fields in
                try onRow(n, fields) { nil }
            }
        }
        try locator.finish { try handle($0, current: -1) { nil } }
        block.flush(into: &encoder)
        encoder.finish()
        try encoder.flush(to: write, ifAtLeast: 0)
        if outcome.mapping == nil { throw JobError(.emptyFile, "the file has no rows") }
        return (outcome, duplicates)
    }

    /// A plain row as the 19 columns of `quarry.result_row`: what ``encode(_:isValid:source:into:)`` writes for
    /// the same row after `RowProcessor.process` (valid, no issues, `extra` only from unmapped columns, no source).
    private func encode(_ row: PlainRow, into e: inout ResultBlockEncoder) throws {
        let isNew = row.sku != nil
        e.beginRow()
        e.column(int4: Int32(clamping: row.rowNumber))
        e.column(true)
        e.column(row.sku)
        e.column(row.name)
        e.column(row.description)
        try e.column(numeric: row.price)
        e.column(row.currency)
        try e.column(numeric: row.quantity)
        e.column(row.unit)
        e.column(row.category)
        e.column(row.brand)
        e.column(row.barcode)
        e.column("new")  // classification
        try e.column(numeric: nil as String?)  // old_price
        e.column(nil as String?)  // old_currency
        e.column(isNew ? "new" : nil)  // change
        e.column(jsonb: row.hasExtra ? JSONFragments.extra(of: row) : nil)
        e.column(jsonb: nil)  // issues
        e.column(jsonb: nil)  // source
        e.endRow(number: row.rowNumber, valid: true, isNew: isNew, issueCodes: [])
    }

    /// The 19 columns of `quarry.result_row`, in order.
    private func encode(_ row: ProcessedRow, isValid: Bool, source: SourceCells?, into e: inout ResultBlockEncoder) throws {
        // The commit's candidates: valid rows with a SKU (classification refines `new`).
        let isNew = isValid && !(row.sku ?? "").isEmpty
        e.beginRow()
        e.column(int4: Int32(clamping: row.rowNumber))
        e.column(isValid)
        e.column(row.sku)
        e.column(row.name)
        e.column(row.description)
        try e.column(numeric: row.priceText.value ?? row.price.map { "\($0)" })
        e.column(row.currency)
        try e.column(numeric: row.quantityText.value ?? row.quantity.map { "\($0)" })
        e.column(row.unit)
        e.column(row.category)
        e.column(row.brand)
        e.column(row.barcode)
        e.column(isValid ? "new" : nil)  // classification
        try e.column(numeric: nil as String?)  // old_price
        e.column(nil as String?)  // old_currency
        e.column(isNew ? "new" : nil)  // change
        if row.extra.isEmpty && row.supplierSku == nil && row.minOrderQty == nil && row.packSize == nil && row.vatRate == nil {
            e.column(jsonb: nil)
        } else {
            var extra = row.extra
            if let s = row.supplierSku { extra["supplier_sku"] = s }
            if let m = row.minOrderQty { extra["min_order_qty"] = "\(m)" }
            if let p = row.packSize { extra["pack_size"] = p }
            if let v = row.vatRate { extra["vat_rate"] = "\(v)" }
            e.column(jsonb: JSONFragments.object(extra))
        }
        e.column(jsonb: row.issues.isEmpty ? nil : JSONFragments.issues(row.issues))
        e.column(jsonb: source.map(\.json))
        e.endRow(number: row.rowNumber, valid: isValid, isNew: isNew, issueCodes: row.issues.map(\.code))
    }
}

/// A row as it was in the source, stored in `quarry.result_row.source` for the reject file: a JSON array of its cells,
/// or — for a delimited file, whose original text is kept exactly — `{"cells": […], "line": "…"}`.
struct SourceCells {
    var cells: [String]
    var line: String?

    var json: String {
        guard let line else { return JSONFragments.array(cells) }
        var out = "{\"cells\":" + JSONFragments.array(cells) + ",\"line\":"
        JSONFragments.escape(line, into: &out)
        return out + "}"
    }
}

/// Small, allocation-light JSON writers for COPY fields.
///
/// JSON stored as `jsonb` never holds a NUL character: PostgreSQL refuses `\u0000`, and one cell with a NUL would fail
/// the whole COPY (or the summary's insert). NULs are dropped, as the text columns drop them — by ``escape(_:into:)``
/// for the JSON written here, by ``withoutNULEscapes(_:)`` for `JSONEncoder` output (the job's summary).
enum JSONFragments {
    /// `s` as a JSON string, NUL characters dropped.
    static func escape(_ s: String, into out: inout String) {
        out.append("\"")
        for ch in s.unicodeScalars {
            switch ch {
            case "\u{0}": continue
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            default:
                if ch.value < 0x20 { out.append(String(format: "\\u%04x", ch.value)) } else { out.unicodeScalars.append(ch) }
            }
        }
        out.append("\"")
    }

    static func array(_ items: [String]) -> String {
        var out = "["
        for (i, item) in items.enumerated() {
            if i > 0 { out.append(",") }
            escape(item, into: &out)
        }
        return out + "]"
    }

    static func object(_ dict: [String: String]) -> String {
        var out = "{"
        for (i, (k, v)) in dict.sorted(by: { $0.key < $1.key }).enumerated() {
            if i > 0 { out.append(",") }
            escape(k, into: &out)
            out.append(":")
            escape(v, into: &out)
        }
        return out + "}"
    }

    /// A plain row's `extra` as ``object(_:)`` writes it (keys in order, cells as they are); nil when empty.
    static func extra(of row: PlainRow) -> String? {
        var out = "{"
        row.forEachExtra { key, value in
            if out.utf8.count > 1 { out.append(",") }
            escape(key, into: &out)
            out.append(":")
            escape(value.string, into: &out)
        }
        return out.utf8.count > 1 ? out + "}" : nil
    }

    /// JSON text without `\u0000` escapes: every backslash in JSON starts an escape, so an escaped backslash followed
    /// by `u0000` is text and stays.
    static func withoutNULEscapes(_ json: Data) -> String {
        let nul = Array(#"\u0000"#.utf8)
        guard json.firstRange(of: nul) != nil else { return String(decoding: json, as: UTF8.self) }
        let bytes = [UInt8](json)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i...].starts(with: nul) {
                i += nul.count
                continue
            }
            // An escape is copied whole (two bytes, or its first two: `\uXXXX`'s digits then pass one by one).
            let step = bytes[i] == UInt8(ascii: "\\") ? 2 : 1
            out.append(contentsOf: bytes[i..<min(i + step, bytes.count)])
            i += step
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func issues(_ issues: [RowIssue]) -> String {
        var out = "["
        for (i, issue) in issues.enumerated() {
            if i > 0 { out.append(",") }
            out.append("{\"column\":"); escape(issue.column, into: &out)
            out.append(",\"code\":"); escape(issue.code, into: &out)
            out.append(",\"message\":"); escape(issue.message, into: &out)
            out.append(",\"severity\":"); escape(issue.severity.rawValue, into: &out)
            out.append("}")
        }
        return out + "]"
    }
}
