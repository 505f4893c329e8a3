import Extraction
import Foundation
import Models

/// Groups result rows into blocks of ``rowsPerBlock`` and encodes each block as one binary COPY tuple of
/// `quarry.result_blocks` (``ResultStore/blockCopyStatement``): its summaries and its rows as an array of the
/// composite `quarry.result_row` (migration 0013).
///
/// One tuple per thousand rows replaces a heap tuple, a primary-key entry and a change-index entry per row; the
/// server receives the array with `array_recv`/`record_recv` (no text parsing) and TOAST-compresses it with lz4.
/// The summaries (row range, valid/invalid counts, new rows, issue codes) are counted here as the rows go by, so
/// readers can skip blocks without detoasting them. Rows must be added in row-number order (the block invariant).
///
/// Binary layouts (PostgreSQL `array_recv`, `record_recv`): an array is ndim, has-null flag, element type OID,
/// then per dimension its size and lower bound, then each element as a length and its bytes; a record is its
/// column count, then per column its type OID and the value (length and bytes, -1 for NULL).
struct ResultBlockEncoder {
    /// Rows per block: large enough that per-tuple costs vanish, small enough that a page reads one or two blocks.
    static let rowsPerBlock = 1000
    /// Columns of `quarry.result_row`, in order.
    static let rowColumns = 19

    /// PostgreSQL's built-in type OIDs used by `quarry.result_row`.
    enum OID {
        static let bool: Int32 = 16
        static let int4: Int32 = 23
        static let text: Int32 = 25
        static let numeric: Int32 = 1700
        static let jsonb: Int32 = 3802
    }

    /// The OID of `quarry.result_row` in the target database (0 when nothing is loaded: benchmarks, tests).
    let rowType: Int32
    let jobID: UUID

    private var rows = CopyBinaryEncoder(capacity: 256 * 1024)
    private var element = 0
    private var summary = Summary()

    /// What a block's summary columns say.
    private struct Summary {
        var first = 0
        var last = 0
        var count = 0
        var valid = 0
        var new = 0
        var codes: Set<String> = []
    }

    init(rowType: UInt32, jobID: UUID) {
        self.rowType = Int32(bitPattern: rowType)
        self.jobID = jobID
    }

    /// Whether the current block holds ``rowsPerBlock`` rows.
    var isFull: Bool { summary.count >= Self.rowsPerBlock }

    /// Starts a row: call the `column…` methods for all 19 columns, then ``endRow(number:valid:isNew:issueCodes:)``.
    mutating func beginRow() {
        element = rows.beginLength()
        rows.raw(int4: Int32(Self.rowColumns))
    }

    /// Ends the row begun by ``beginRow()`` and counts it in the block's summary.
    mutating func endRow(number: Int, valid: Bool, isNew: Bool, issueCodes: [String]) {
        rows.endLength(at: element)
        if summary.count == 0 { summary.first = number }
        summary.last = number
        summary.count += 1
        if valid { summary.valid += 1 }
        if isNew { summary.new += 1 }
        for code in issueCodes { summary.codes.insert(code) }
    }

    mutating func column(int4 value: Int32) {
        rows.raw(int4: OID.int4)
        rows.field(int4: value)
    }

    mutating func column(_ value: Bool) {
        rows.raw(int4: OID.bool)
        rows.field(value)
    }

    mutating func column(_ value: String?) {
        rows.raw(int4: OID.text)
        rows.field(value)
    }

    mutating func column(numeric text: String?) throws {
        rows.raw(int4: OID.numeric)
        try rows.field(numeric: text)
    }

    mutating func column(_ value: PlainRow.Text?) {
        rows.raw(int4: OID.text)
        switch value {
        case .bytes(let b): rows.field(utf8: b)
        case .string(let s): rows.field(s)
        case nil: rows.null()
        }
    }

    mutating func column(numeric value: PlainRow.Text?) throws {
        rows.raw(int4: OID.numeric)
        switch value {
        case .bytes(let b): try rows.field(numericUTF8: b)
        case .string(let s): try rows.field(numeric: s)
        case nil: rows.null()
        }
    }

    mutating func column(jsonb value: String?) {
        rows.raw(int4: OID.jsonb)
        rows.field(jsonb: value)
    }

    /// Writes the current block (if it has rows) as one COPY tuple into `copy` and starts an empty one.
    mutating func flush(into copy: inout CopyBinaryEncoder) {
        guard summary.count > 0 else { return }
        let s = summary
        copy.row(fields: 12)
        copy.field(jobID)
        copy.field(int4: Int32(clamping: s.first))
        copy.field(int4: Int32(clamping: s.last))
        copy.field(int4: Int32(s.count))
        copy.field(int4: Int32(s.valid))
        copy.field(int4: Int32(s.count - s.valid))
        copy.field(int4: Int32(s.new))
        for _ in 0..<3 { copy.field(int4: 0) }  // updated, unchanged, held: classification sets them
        textArray(s.codes.sorted(), into: &copy)
        let array = copy.beginLength()
        copy.raw(int4: 1)  // one dimension
        copy.raw(int4: 0)  // no NULL elements
        copy.raw(int4: rowType)
        copy.raw(int4: Int32(s.count))
        copy.raw(int4: 1)  // lower bound
        copy.append(rows)
        copy.endLength(at: array)
        rows.reset()
        summary = Summary()
    }

    private func textArray(_ items: [String], into copy: inout CopyBinaryEncoder) {
        let at = copy.beginLength()
        copy.raw(int4: items.isEmpty ? 0 : 1)
        copy.raw(int4: 0)
        copy.raw(int4: OID.text)
        if !items.isEmpty {
            copy.raw(int4: Int32(items.count))
            copy.raw(int4: 1)
            for item in items { copy.field(item) }
        }
        copy.endLength(at: at)
    }
}
