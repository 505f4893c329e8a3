import Models

/// The workbook globals of a BIFF5/BIFF8 stream: sheets, shared strings, number formats, 1904 flag and
/// code page — everything a sheet's cells need to become text.
struct BIFFWorkbook {
    /// A worksheet and the stream offset of its BOF record.
    struct Sheet {
        var name: String
        var offset: Int64
    }

    var biff8 = true
    var sheets: [Sheet] = []
    var shared = SharedStringTable.empty
    var date1904 = false
    var text = BIFFText()
    /// Per XF index: how its number format displays.
    var xfKinds: [DateKind] = []

    /// Reads the globals substream from the start of `records` up to its EOF.
    static func load(_ records: inout BIFFRecordReader, limits: ExtractionLimits, isCancelled: () -> Bool) throws -> BIFFWorkbook {
        var book = BIFFWorkbook()
        var record = BIFFRecord()
        guard try records.next(into: &record) else { throw XLSReader.malformed("the workbook stream is empty") }
        if BIFF.oldBOFs.contains(record.type) {
            throw JobError(.unsupportedFormat, "Excel 2.x–4.x (BIFF2–4) workbooks are not supported; save the file as .xlsx")
        }
        guard record.type == BIFF.bof else { throw XLSReader.malformed("the workbook stream does not start with a BOF record") }
        let version = record.u16(0)
        guard version == 0x0600 || version == 0x0500 else {
            throw JobError(.unsupportedFormat, "unsupported BIFF version 0x\(String(version, radix: 16)); save the file as .xlsx")
        }
        book.biff8 = version == 0x0600
        var formats: [Int: DateKind] = [:]
        var xfFormats: [Int] = []
        var sst: BIFFSharedStrings?
        var inSST = false
        var count = 0
        while try records.next(into: &record) {
            count += 1
            if count & 0xFFF == 0, isCancelled() { throw JobError.cancelledExtraction }
            if inSST && record.type == BIFF.continue {
                try sst?.feed(record.data, first: false)
                continue
            }
            inSST = false
            switch record.type {
            case BIFF.eof:
                book.shared = try sst?.finish() ?? .empty
                book.xfKinds = xfFormats.map { formats[$0] ?? ExcelDate.builtin($0) }
                return book
            case BIFF.filePass:
                throw JobError(
                    .encryptedFile, "the workbook is password-protected (encrypted .xls); remove the password in Excel and upload it again")
            case BIFF.codePage:
                book.text.codePage = record.u16(0)
            case BIFF.dateMode:
                book.date1904 = record.u16(0) == 1
            case BIFF.format:
                let code = try book.text.string(record, at: 2, lengthBytes: book.biff8 ? 2 : 1, biff8: book.biff8)
                formats[record.u16(0)] = ExcelDate.classify(code)
            case BIFF.xf:
                xfFormats.append(record.u16(2))
            case BIFF.boundSheet:
                // Worksheets only (type 0); charts, macro and VB sheets hold no table.
                guard record.u8(5) == 0 else { continue }
                let name = try book.text.string(record, at: 6, lengthBytes: 1, biff8: book.biff8)
                book.sheets.append(Sheet(name: name, offset: Int64(record.u32(0))))
            case BIFF.sst where book.biff8:
                var parser = try BIFFSharedStrings(limit: limits.maxUnpackedEntryBytes)
                try parser.feed(record.data, first: true)
                sst = parser
                inSST = true
            default:
                break
            }
        }
        throw XLSReader.malformed("the workbook globals have no EOF record")
    }

    /// A number in XF `xf`'s format: ISO date/time, elapsed duration, or plain number without float noise.
    func numberText(_ value: Double, xf: Int) -> String {
        if xf < xfKinds.count, xfKinds[xf] != .none, let text = ExcelDate.format(value, kind: xfKinds[xf], date1904: date1904) {
            return text
        }
        return NumberText.format(value)
    }
}
