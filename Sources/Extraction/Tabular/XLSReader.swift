import Models

/// Streams one worksheet of a legacy `.xls` workbook (BIFF5, Excel 5/95, and BIFF8, Excel 97–2003) in
/// process, memory-safely: a ``CompoundFile`` gives the `Workbook` (or `Book`) stream, ``BIFFWorkbook``
/// reads the globals (sheets, shared strings, formats, 1904 flag, code page) and ``BIFFSheet`` turns the
/// selected sheet's cell records into rows.
///
/// Same output contract as ``XLSXReader``: numbers without float noise, date-formatted numbers as ISO 8601,
/// duration formats (`[h]:mm:ss`) as elapsed time, booleans `true`/`false`, errors as their text (`#DIV/0!`),
/// formula cells as the value Excel saved. A FILEPASS record (any password, including Excel's default
/// `VelvetSweatshop`) is `.encryptedFile`; anything inconsistent is `.malformedFile`.
public struct XLSReader: EscapingTabularReader {
    /// Source path.
    public let path: String
    /// Options (sheet selection).
    public let options: TabularOptions

    /// Creates a reader.
    public init(path: String, options: TabularOptions = TabularOptions()) {
        self.path = path
        self.options = options
    }

    static func malformed(_ what: String) -> JobError { JobError(.malformedFile, "corrupt .xls workbook: \(what)") }

    /// Opens the container and reads the globals; returns them with the record reader positioned after them.
    private func open(limits: ExtractionLimits, isCancelled: () -> Bool) throws -> (BIFFWorkbook, BIFFRecordReader, Int64) {
        let size = try ChunkedFile(path: path).checkSize(limits)
        let cfb = try CompoundFile(path: path)
        guard let entry = cfb.rootStream(named: ["Workbook", "Book"]) else {
            if cfb.rootStream(named: ["EncryptedPackage"]) != nil {
                throw JobError(.encryptedFile, "the file is a password-protected Office document; remove the password and upload it again")
            }
            throw Self.malformed("no Workbook stream in the compound file")
        }
        var records = BIFFRecordReader(stream: try cfb.openStream(entry))
        let book = try BIFFWorkbook.load(&records, limits: limits, isCancelled: isCancelled)
        return (book, records, size)
    }

    /// Sheet names in workbook order and the one that would be read.
    public func inspect(limits: ExtractionLimits) throws -> TabularSourceInfo {
        let (book, _, _) = try open(limits: limits, isCancelled: { false })
        let names = book.sheets.map(\.name)
        return TabularSourceInfo(sheets: names, sheet: names[try SheetSelector.pick(options.sheet, among: names)])
    }

    func run(
        limits: ExtractionLimits,
        isCancelled: @escaping @Sendable () -> Bool,
        progress: (_ bytesRead: Int64) -> Void,
        onRow: (_ rowNumber: Int, _ fields: [String]) throws -> Void
    ) throws {
        let (book, opened, fileSize) = try open(limits: limits, isCancelled: isCancelled)
        var records = opened
        let sheet = book.sheets[try SheetSelector.pick(options.sheet, among: book.sheets.map(\.name))]
        try records.stream.seek(to: sheet.offset)
        let streamSize = Double(max(1, records.stream.size))
        var gate = RowGate(limits: limits, isCancelled: isCancelled)
        var seen = 0
        var reader = BIFFSheet(book: book, limits: limits, inRowOrder: try BIFFSheet.cellsInRowOrder(records))
        try reader.read(
            &records,
            tick: { position in
                seen += 1
                if seen > limits.maxCellsScanned {
                    throw JobError(
                        .rowLimitExceeded, "sheet has more than \(limits.maxCellsScanned) records",
                        details: ["limit": String(limits.maxCellsScanned), "reason": "cells"])
                }
                if seen & 0xFFF == 0 {
                    try gate.checkCancelled()
                    progress(Int64(Double(fileSize) * min(1, Double(position) / streamSize)))
                }
            },
            onRow: { number, fields in
                try gate.admit(rowNumber: number)
                try onRow(number, fields)
            })
        try gate.checkCancelled()
        progress(fileSize)
    }
}
