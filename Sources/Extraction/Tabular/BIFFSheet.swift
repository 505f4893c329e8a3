import Models

/// Turns the cell records of one worksheet substream into rows.
///
/// Excel and LibreOffice write cells in row order, so a row is delivered as soon as the next one starts and
/// memory holds one row. Some writers (Spreadsheet::WriteExcel and its ports) write cells in the order the
/// program set them; ``cellsInRowOrder(_:)`` finds that out in a cheap first pass over the record headers, and
/// such a sheet is then collected (`sorted`, capped at `maxUnpackedEntryBytes` of text) and delivered in
/// row order at its end.
struct BIFFSheet {
    let book: BIFFWorkbook
    let limits: ExtractionLimits
    private var rowNumber = -1
    private var fields: [String] = []
    private var hasValue = false
    /// The cell whose formula result is a string: it follows in a STRING record.
    private var pendingString: (row: Int, col: Int)?
    /// A formula's string result longer than its STRING record, collected from the CONTINUE records after it.
    private struct LongString {
        var row: Int, col: Int
        var text: String
        var remaining: Int
    }
    private var longString: LongString?
    /// Cells of a sheet written out of row order: row → column → text.
    private var sorted: [Int: [Int: String]]?
    private var sortedBytes: Int64 = 0

    init(book: BIFFWorkbook, limits: ExtractionLimits, inRowOrder: Bool = true) {
        self.book = book
        self.limits = limits
        if !inRowOrder { sorted = [:] }
    }

    static let cellRecords: Set<UInt16> = [
        BIFF.labelSST, BIFF.label, BIFF.rString, BIFF.number, BIFF.rk, BIFF.mulRK, BIFF.boolErr, BIFF.formula,
    ]

    /// Whether the cell records of the sheet starting at the reader's position come in row order. Reads only
    /// record headers and row numbers, on a copy of the reader.
    static func cellsInRowOrder(_ records: BIFFRecordReader) throws -> Bool {
        var stream = records.stream
        var last = -1, depth = 0
        while let type = try stream.readUInt16() {
            guard let length = try stream.readUInt16() else { throw XLSReader.malformed("the stream ends inside a record") }
            let end = stream.position + Int64(length)
            guard end <= stream.size else { throw XLSReader.malformed("the stream ends inside a record") }
            switch type {
            case BIFF.bof, 0x0009, 0x0209, 0x0409:
                depth += 1
            case BIFF.eof:
                depth -= 1
                if depth <= 0 { return true }
            default:
                if depth == 1, cellRecords.contains(type), end - stream.position >= 2, let row = try stream.readUInt16() {
                    let n = Int(row)
                    if n < last { return false }
                    last = n
                }
            }
            try stream.seek(to: end)
        }
        return true
    }

    /// Reads records from the sheet's BOF to its EOF (nested chart substreams skipped), calling `onRow`
    /// with 1-based row numbers and every `tick` record (cancellation, progress).
    mutating func read(
        _ records: inout BIFFRecordReader, tick: (_ position: Int64) throws -> Void, onRow: (_ row: Int, _ fields: [String]) throws -> Void
    ) throws {
        var record = BIFFRecord()
        guard try records.next(into: &record), record.type == BIFF.bof else {
            throw XLSReader.malformed("a sheet does not start with a BOF record")
        }
        var depth = 1
        while try records.next(into: &record) {
            try tick(records.position)
            switch record.type {
            case BIFF.bof, 0x0009, 0x0209, 0x0409:
                depth += 1
            case BIFF.eof:
                depth -= 1
                if depth == 0 {
                    try finishLongString(onRow)
                    try flush(onRow)
                    return
                }
            case BIFF.continue where longString != nil:
                continueLongString(record)
                if longString?.remaining == 0 { try finishLongString(onRow) }
            default:
                guard depth == 1 else { continue }
                try finishLongString(onRow)
                try cell(record, onRow)
            }
        }
        throw XLSReader.malformed("a sheet has no EOF record")
    }

    private mutating func cell(_ r: BIFFRecord, _ onRow: (Int, [String]) throws -> Void) throws {
        let biff8 = book.biff8
        switch r.type {
        case BIFF.labelSST:
            try need(r, 10)
            let index = Int(r.u32(6))
            guard let text = book.shared[index] else {
                throw XLSReader.malformed("shared string \(index) out of range at row \(r.u16(0) + 1)")
            }
            try put(r.u16(0), r.u16(2), text, onRow)
        case BIFF.label, BIFF.rString:
            try need(r, 8)
            try put(r.u16(0), r.u16(2), try book.text.string(r, at: 6, lengthBytes: 2, biff8: biff8), onRow)
        case BIFF.number:
            try need(r, 14)
            try put(r.u16(0), r.u16(2), book.numberText(r.f64(6), xf: r.u16(4)), onRow)
        case BIFF.rk:
            try need(r, 10)
            try put(r.u16(0), r.u16(2), rkText(r.u32(6), xf: r.u16(4)), onRow)
        case BIFF.mulRK:
            try need(r, 6)
            let row = r.u16(0), first = r.u16(2)
            let count = (r.data.count - 6) / 6
            for k in 0..<count {
                try put(row, first + k, rkText(r.u32(4 + 6 * k + 2), xf: r.u16(4 + 6 * k)), onRow)
            }
        case BIFF.boolErr:
            try need(r, 8)
            let value = r.u8(6)
            try put(r.u16(0), r.u16(2), r.u8(7) != 0 ? BIFF.errorText(value) : (value != 0 ? "true" : "false"), onRow)
        case BIFF.formula:
            try need(r, 20)
            try formula(r, onRow)
        case BIFF.string:
            guard let cell = pendingString else { return }
            pendingString = nil
            if biff8, r.data.count >= 3 {
                // A long result goes on in CONTINUE records, each starting with a fresh flags byte.
                let count = r.u16(0), wide = r.u8(2) & 0x01 != 0
                let available = (r.data.count - 3) / (wide ? 2 : 1)
                if available < count {
                    let text = BIFFText.decodeChars(r.data[3..<3 + available * (wide ? 2 : 1)], compressed: !wide)
                    longString = LongString(row: cell.row, col: cell.col, text: text, remaining: count - available)
                    return
                }
            }
            try put(cell.row, cell.col, try book.text.string(r, at: 0, lengthBytes: 2, biff8: biff8), onRow)
        default:
            break
        }
    }

    /// The cached result of a FORMULA: a number, or (bytes 6–7 = 0xFFFF) a string in the next STRING
    /// record, a boolean, an error or the empty string.
    private mutating func formula(_ r: BIFFRecord, _ onRow: (Int, [String]) throws -> Void) throws {
        let row = r.u16(0), col = r.u16(2)
        guard r.u16(12) == 0xFFFF else {
            try put(row, col, book.numberText(r.f64(6), xf: r.u16(4)), onRow)
            return
        }
        switch r.u8(6) {
        case 0: pendingString = (row, col)
        case 1: try put(row, col, r.u8(8) != 0 ? "true" : "false", onRow)
        case 2: try put(row, col, BIFF.errorText(r.u8(8)), onRow)
        default: break  // 3: empty string
        }
    }

    private mutating func continueLongString(_ r: BIFFRecord) {
        guard var long = longString, !r.data.isEmpty else { return }
        let wide = r.data[0] & 0x01 != 0
        let n = min(long.remaining, (r.data.count - 1) / (wide ? 2 : 1))
        long.text += BIFFText.decodeChars(r.data[1..<1 + n * (wide ? 2 : 1)], compressed: !wide)
        long.remaining -= n
        longString = long
    }

    /// Delivers a collected long string (cut short if its CONTINUE records ended early).
    private mutating func finishLongString(_ onRow: (Int, [String]) throws -> Void) throws {
        guard let long = longString else { return }
        longString = nil
        try put(long.row, long.col, long.text, onRow)
    }

    private func rkText(_ v: UInt32, xf: Int) -> String {
        let (value, integer) = BIFF.rk(v)
        if let integer, xf >= book.xfKinds.count || book.xfKinds[xf] == .none { return String(integer) }
        return book.numberText(value, xf: xf)
    }

    private func need(_ r: BIFFRecord, _ bytes: Int) throws {
        guard r.data.count >= bytes else { throw XLSReader.malformed("record 0x\(String(r.type, radix: 16)) is too short") }
    }

    /// Sets one cell (0-based `row`, `col`); a new row first delivers the previous one.
    private mutating func put(_ row: Int, _ col: Int, _ value: String, _ onRow: (Int, [String]) throws -> Void) throws {
        if sorted != nil {
            guard !value.isEmpty else { return }
            if col >= limits.maxColumns { throw JobError.tooManyColumns(col + 1, limit: limits.maxColumns, row: row + 1) }
            sortedBytes += Int64(value.utf8.count + 32)
            if sortedBytes > limits.maxUnpackedEntryBytes {
                throw XLSReader.malformed("cells out of row order and more than \(limits.maxUnpackedEntryBytes) bytes to sort")
            }
            sorted?[row, default: [:]][col] = value
            return
        }
        if row != rowNumber {
            guard row > rowNumber else { throw XLSReader.malformed("cells out of row order at row \(row + 1)") }
            try flush(onRow)
            rowNumber = row
        }
        guard !value.isEmpty else { return }
        if col >= limits.maxColumns { throw JobError.tooManyColumns(col + 1, limit: limits.maxColumns, row: row + 1) }
        while fields.count <= col { fields.append("") }
        fields[col] = value
        hasValue = true
    }

    private mutating func flush(_ onRow: (Int, [String]) throws -> Void) throws {
        if let rows = sorted {
            sorted = nil
            for row in rows.keys.sorted() {
                guard let cells = rows[row], let width = cells.keys.max() else { continue }
                var out = [String](repeating: "", count: width + 1)
                for (col, value) in cells { out[col] = value }
                try onRow(row + 1, out)
            }
            return
        }
        if hasValue { try onRow(rowNumber + 1, fields) }
        fields.removeAll(keepingCapacity: true)
        hasValue = false
    }
}
