import Models

/// Streams one worksheet of an XLSX workbook.
///
/// Parts are inflated under the ZIP caps (`.zipBomb`). The workbook, relationships and styles (small) go to
/// temp files read with libxml2's hardened pull reader; the sheet and the shared strings — the parts that
/// grow with the file — are inflated straight into ``XMLByteScanner`` (`.xmlForbidden` on any DTD or
/// undeclared entity), so no temp file grows with the workbook.
/// Shared strings go to a memory-mapped ``SharedStringTable``, capped at `maxUnpackedEntryBytes`. Numbers come out without float
/// noise, date-styled numbers as ISO 8601 (`date1904` respected), booleans as `true`/`false`, errors as
/// their text (`#DIV/0!`). Cells absent between two values become ""; rows with no value are not delivered.
public struct XLSXReader: EscapingTabularReader {
    /// Source path.
    public let path: String
    /// Options (sheet selection).
    public let options: TabularOptions

    /// Creates a reader.
    public init(path: String, options: TabularOptions = TabularOptions()) {
        self.path = path
        self.options = options
    }

    func run(
        limits: ExtractionLimits,
        isCancelled: @escaping @Sendable () -> Bool,
        progress: (_ bytesRead: Int64) -> Void,
        onRow: (_ rowNumber: Int, _ fields: [String]) throws -> Void
    ) throws {
        let fileSize = try ChunkedFile(path: path).checkSize(limits)
        let zip = try openPackage(limits: limits)
        let workbook = try XLSXWorkbook.load(zip, isCancelled: isCancelled)
        let sheet = try select(workbook)
        let shared = try loadSharedStrings(zip, workbook: workbook, limits: limits, isCancelled: isCancelled)
        let declared = zip.declaredSize(sheet.part)
        var gate = RowGate(limits: limits, isCancelled: isCancelled)
        var sheetState = SheetState(shared: shared, workbook: workbook, limits: limits)
        var scanner = XMLByteScanner(what: sheet.part, maxTokenBytes: max(1 << 20, limits.maxRowBytes))
        var inflated: Int64 = 0
        // Rows collected while a piece was scanned are delivered right after it, where `onRow` may throw.
        func deliver() throws {
            for (rowNumber, fields) in sheetState.completed {
                try gate.admit(rowNumber: rowNumber)
                try onRow(rowNumber, fields)
            }
            sheetState.completed.removeAll(keepingCapacity: true)
        }
        // The sheet is inflated straight into the scanner: no temp file, whatever its size.
        _ = try zip.stream(sheet.part, isCancelled: isCancelled) { bytes in
            try scanner.feed(bytes, delegate: &sheetState)
            try deliver()
            inflated += Int64(bytes.count)
            if declared > 0 { progress(Int64(Double(fileSize) * min(1, Double(inflated) / Double(declared)))) }
        }
        try scanner.finish(delegate: &sheetState)
        try deliver()
        try gate.checkCancelled()
        progress(fileSize)
    }

    /// Turns the scanner's events of `<sheetData>` into rows: `<row r>`, `<c r t s>`, `<v>`, inline `<is><t>`
    /// (phonetic `<rPh>` runs skipped). Cells absent between two values become ""; rows with no value are dropped.
    struct SheetState: XMLScanDelegate {
        let shared: SharedStringTable
        let workbook: XLSXWorkbook
        let limits: ExtractionLimits
        /// Rows finished since the last delivery.
        var completed: [(Int, [String])] = []

        private enum Capture { case none, raw, inline }
        private var rowNumber = 0
        private var fields: [String] = []
        private var hasValue = false
        private var cells = 0
        private var col = -1
        private var inCell = false
        private var cellType = CellType.number
        private var style = 0
        private var raw: [UInt8] = []
        private var inline: [UInt8] = []
        private var hasRaw = false
        private var hasInline = false
        private var phonetic = false
        private var capture = Capture.none

        init(shared: SharedStringTable, workbook: XLSXWorkbook, limits: ExtractionLimits) {
            self.shared = shared
            self.workbook = workbook
            self.limits = limits
            raw.reserveCapacity(64)
            inline.reserveCapacity(64)
        }

        mutating func startElement(_ name: UnsafeBufferPointer<UInt8>, _ attributes: XMLScanAttributes) -> XMLScanStop? {
            if name.isByte("c") {
                cells += 1
                if cells > limits.maxCellsScanned {
                    return XMLScanStop(
                        error: JobError(
                            .rowLimitExceeded, "sheet has more than \(limits.maxCellsScanned) cells",
                            details: ["row": String(rowNumber), "limit": String(limits.maxCellsScanned), "reason": "cells"]))
                }
                var ref: Int?
                var type = CellType.number
                var style = 0
                attributes.forEach { n, v in
                    if n.isByte("r") {
                        ref = XLSXReader.column(of: v)
                    } else if n.isByte("t") {
                        type = CellType(v)
                    } else if n.isByte("s") {
                        style = XLSXReader.integer(v) ?? Int(String(decoding: v, as: UTF8.self)) ?? 0
                    }
                }
                col = ref ?? col + 1
                cellType = type
                self.style = style
                inCell = true
                // raw is cleared when a <v> opens; inline is rare.
                if !inline.isEmpty { inline.removeAll(keepingCapacity: true) }
                hasRaw = false
                hasInline = false
                phonetic = false
            } else if inCell {
                if name.isByte("v") {
                    if !raw.isEmpty { raw.removeAll(keepingCapacity: true) }  // last <v> wins
                    hasRaw = true
                    capture = .raw
                } else if name.isEqual("rPh") {
                    phonetic = true
                } else if name.isByte("t") && !phonetic {
                    hasInline = true
                    capture = .inline
                }
            } else if name.isEqual("row") {
                var r: Int?
                attributes.forEach { n, v in if n.isByte("r") { r = XLSXReader.integer(v) ?? Int(String(decoding: v, as: UTF8.self)) } }
                rowNumber = r ?? rowNumber + 1
                col = -1
                fields.removeAll(keepingCapacity: true)
                hasValue = false
            }
            return nil
        }

        mutating func characters(_ bytes: UnsafeBufferPointer<UInt8>) {
            switch capture {
            case .none: return
            case .raw: raw.append(contentsOf: bytes)
            case .inline: inline.append(contentsOf: bytes)
            }
        }

        mutating func endElement(_ name: UnsafeBufferPointer<UInt8>) -> XMLScanStop? {
            if inCell {
                if name.isByte("c") {
                    inCell = false
                    capture = .none
                    return finishCell()
                } else if name.isByte("v") || name.isByte("t") {
                    capture = .none
                } else if name.isEqual("rPh") {
                    phonetic = false
                }
            } else if name.isEqual("row") {
                if hasValue { completed.append((rowNumber, fields)) }
                fields.removeAll(keepingCapacity: true)
                hasValue = false
            } else if name.isEqual("sheetData") {
                return .finished
            }
            return nil
        }

        private mutating func finishCell() -> XMLScanStop? {
            guard hasRaw || hasInline else { return nil }  // <c r="B2" s="3"/>: styled but empty
            do {
                let value = try XLSXReader.cellText(
                    raw: hasRaw ? raw : nil, inline: hasInline ? inline : nil, type: cellType, style: style,
                    shared: shared, workbook: workbook, row: rowNumber, col: col)
                guard !value.isEmpty else { return nil }
                if col >= limits.maxColumns { throw JobError.tooManyColumns(col + 1, limit: limits.maxColumns, row: rowNumber) }
                while fields.count <= col { fields.append("") }
                fields[col] = value
                hasValue = true
                return nil
            } catch {
                return XMLScanStop(error: error)
            }
        }
    }

    /// A cell's `t` attribute, compared as bytes; unknown types read like numbers (as before).
    enum CellType {
        case number, shared, inlineStr, bool, text
        init(_ v: UnsafeBufferPointer<UInt8>) {
            if v.isEqual("s") {
                self = .shared
            } else if v.isEqual("inlineStr") {
                self = .inlineStr
            } else if v.isEqual("b") {
                self = .bool
            } else if v.isEqual("e") || v.isEqual("str") || v.isEqual("d") {
                self = .text
            } else {
                self = .number
            }
        }
    }

    /// A non-negative decimal integer from ASCII digits (at most 18), nil otherwise.
    static func integer(_ p: UnsafeBufferPointer<UInt8>) -> Int? {
        var v = 0
        for (i, b) in p.enumerated() {
            let d = b &- 0x30
            guard d < 10, i < 18 else { return nil }
            v = v * 10 + Int(d)
        }
        return p.isEmpty ? nil : v
    }

    /// Shared-string index from `<v>` bytes, ASCII whitespace ignored anywhere (as before).
    static func sharedIndex(_ bytes: [UInt8]) -> Int? {
        var v = 0
        var n = 0
        for b in bytes {
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { continue }
            let d = b &- 0x30
            guard d < 10, n < 18 else {
                // Rare forms ("+3", Unicode spaces): the original String path.
                return Int(String(String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace }))
            }
            v = v * 10 + Int(d)
            n += 1
        }
        return n == 0 ? nil : v
    }

    static func cellText(
        raw: [UInt8]?, inline: [UInt8]?, type: CellType, style: Int, shared: SharedStringTable,
        workbook: XLSXWorkbook, row: Int, col: Int
    ) throws -> String {
        func text(_ b: [UInt8]?) -> String? { b.map { String(decoding: $0, as: UTF8.self) } }
        switch type {
        case .shared:
            guard let raw, let idx = Self.sharedIndex(raw), let text = shared[idx] else {
                throw JobError(
                    .malformedFile, "shared string index out of range at \(Self.columnName(col))\(row)",
                    details: ["row": String(row), "column": Self.columnName(col)])
            }
            return text
        case .inlineStr:
            return text(inline) ?? text(raw) ?? ""
        case .bool:
            return text(raw).map { $0 == "1" || $0.lowercased() == "true" ? "true" : "false" } ?? ""
        case .text:
            return text(raw) ?? text(inline) ?? ""
        case .number:
            guard let raw, !raw.isEmpty else { return text(inline) ?? "" }
            let s = String(decoding: raw, as: UTF8.self)
            if style > 0 && style < workbook.styleKinds.count, workbook.styleKinds[style] != .none,
                let d = Double(s), let text = ExcelDate.format(d, kind: workbook.styleKinds[style], date1904: workbook.date1904)
            {
                return text
            }
            return NumberText.clean(s)
        }
    }

    private func select(_ workbook: XLSXWorkbook) throws -> XLSXWorkbook.Sheet {
        workbook.sheets[try SheetSelector.pick(options.sheet, among: workbook.sheets.map(\.name))]
    }

    /// Opens the package; an OLE compound file in place of the ZIP is a password-protected workbook
    /// (`EncryptionInfo` + `EncryptedPackage`) → `.encryptedFile`.
    private func openPackage(limits: ExtractionLimits) throws -> ZipContainer {
        if try ChunkedFile.head(path: path, count: 8) == CompoundFile.magic {
            if let cfb = try? CompoundFile(path: path), cfb.rootStream(named: ["EncryptedPackage"]) != nil {
                throw JobError(.encryptedFile, "the workbook is password-protected; remove the password in Excel and upload it again")
            }
            throw JobError(.formatMismatch, "the file is an OLE compound file (a legacy .xls?), not an .xlsx package")
        }
        return try ZipContainer(path: path, limits: limits)
    }

    /// Sheet names in workbook order and the one that would be read.
    public func inspect(limits: ExtractionLimits) throws -> TabularSourceInfo {
        try ChunkedFile(path: path).checkSize(limits)
        let workbook = try XLSXWorkbook.load(try openPackage(limits: limits), isCancelled: { false })
        return TabularSourceInfo(sheets: workbook.sheets.map(\.name), sheet: try select(workbook).name)
    }

    private func loadSharedStrings(
        _ zip: ZipContainer, workbook: XLSXWorkbook, limits: ExtractionLimits, isCancelled: @Sendable () -> Bool
    ) throws -> SharedStringTable {
        guard let part = workbook.sharedStringsPart, zip.entry(part) != nil else { return .empty }
        var table = SharedStringsParser(limit: limits.maxUnpackedEntryBytes, writer: try SharedStringTableWriter())
        var scanner = XMLByteScanner(what: part, maxTokenBytes: max(1 << 20, limits.maxRowBytes))
        _ = try zip.stream(part, isCancelled: isCancelled) { bytes in try scanner.feed(bytes, delegate: &table) }
        try scanner.finish(delegate: &table)
        return try table.writer.finish()
    }

    /// `<sst><si><t>…</t><r><t>…</t></r><rPh>…</rPh></si>…`: one string per `<si>`, phonetic runs skipped,
    /// the whole table capped at `limit` bytes (`.zipBomb` beyond), written out by a ``SharedStringTableWriter``.
    struct SharedStringsParser: XMLScanDelegate {
        let limit: Int64
        let writer: SharedStringTableWriter
        private var current: [UInt8] = []
        private var inText = false
        private var phonetic = false
        private var total: Int64 = 0

        init(limit: Int64, writer: SharedStringTableWriter) {
            self.limit = limit
            self.writer = writer
        }

        mutating func startElement(_ name: UnsafeBufferPointer<UInt8>, _ attributes: XMLScanAttributes) -> XMLScanStop? {
            if name.isEqual("si") {
                current.removeAll(keepingCapacity: true)
            } else if name.isEqual("rPh") {
                phonetic = true
            } else if name.isByte("t") && !phonetic {
                inText = true
            }
            return nil
        }

        mutating func characters(_ bytes: UnsafeBufferPointer<UInt8>) {
            if inText { current.append(contentsOf: bytes) }
        }

        mutating func endElement(_ name: UnsafeBufferPointer<UInt8>) -> XMLScanStop? {
            if name.isByte("t") {
                inText = false
            } else if name.isEqual("rPh") {
                phonetic = false
            } else if name.isEqual("si") {
                total += Int64(current.count + 16)
                if total > limit {
                    return XMLScanStop(error: JobError(.zipBomb, "shared strings exceed \(limit) bytes", details: ["limit": String(limit)]))
                }
                do { try writer.append(current) } catch { return XMLScanStop(error: error) }
            }
            return nil
        }
    }

    /// `C5` → 2 (0-based column), nil when the reference has no letters.
    static func column(of ref: UnsafeBufferPointer<UInt8>) -> Int? {
        var letters = 0
        var col = 0
        for byte in ref {
            let b = byte & ~0x20
            guard b >= 0x41 && b <= 0x5A else { break }
            col = col * 26 + Int(b - 0x40)
            if col > 1_000_000 { return nil }
            letters += 1
        }
        return letters == 0 ? nil : col - 1
    }

    /// 2 → "C".
    static func columnName(_ index: Int) -> String {
        var n = index + 1
        var s = ""
        while n > 0 {
            let r = (n - 1) % 26
            s = String(Character(Unicode.Scalar(UInt8(65 + r)))) + s
            n = (n - 1) / 26
        }
        return s
    }
}
