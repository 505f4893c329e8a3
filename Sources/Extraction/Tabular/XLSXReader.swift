import CLibXML2
import Models

/// Streams one worksheet of an XLSX workbook.
///
/// Parts are inflated to temp files under the ZIP caps (`.zipBomb`) and read with a hardened libxml2
/// pull reader (`.xmlForbidden` on any DTD). Shared strings are held in memory, capped at
/// `maxUnpackedEntryBytes`. Numbers come out without float noise, date-styled numbers as ISO 8601
/// (`date1904` respected), booleans as `true`/`false`, errors as their text (`#DIV/0!`).
/// Cells absent between two values become ""; rows with no value are not delivered.
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
        let zip = try ZipContainer(path: path, limits: limits)
        let workbook = try XLSXWorkbook.load(zip, isCancelled: isCancelled)
        let sheet = try select(workbook)
        let shared = try loadSharedStrings(zip, limits: limits, isCancelled: isCancelled)
        let part = try zip.extract(sheet.part, isCancelled: isCancelled)
        let xml = try XMLPullReader(path: part.path, what: sheet.part)
        var gate = RowGate(limits: limits, isCancelled: isCancelled)

        var rowNumber = 0
        var fields: [String] = []
        var hasValue = false
        var cells = 0
        var col = -1
        // Reused per cell: the `<v>` bytes and the inline-string bytes (no String until a value is kept).
        var raw: [UInt8] = []
        var inline: [UInt8] = []
        raw.reserveCapacity(64)
        inline.reserveCapacity(64)
        func finishRow() throws {
            if hasValue {
                try gate.admit(rowNumber: rowNumber)
                try onRow(rowNumber, fields)
            }
            fields.removeAll(keepingCapacity: true)
            hasValue = false
        }
        var nodes = 0
        while try xml.read() {
            nodes += 1
            if nodes & 0xFFF == 0 {
                try gate.checkCancelled()
                if part.size > 0 { progress(Int64(Double(fileSize) * min(1, Double(xml.bytesConsumed) / Double(part.size)))) }
            }
            let type = xml.nodeType
            if type == XMLPullReader.endElementType {
                guard let name = xml.localName else { continue }
                if name.isEqual("row") { try finishRow() } else if name.isEqual("sheetData") { break }
                continue
            }
            guard type == XMLPullReader.elementType, let name = xml.localName else { continue }
            if name.isEqual("c") {
                cells += 1
                if cells > limits.maxCellsScanned {
                    throw JobError(
                        .rowLimitExceeded, "sheet has more than \(limits.maxCellsScanned) cells",
                        details: ["row": String(rowNumber), "limit": String(limits.maxCellsScanned), "reason": "cells"])
                }
                var ref: Int?
                var type = CellType.number
                var style = 0
                xml.forEachAttribute { n, v in
                    if n.isEqual("r") {
                        ref = Self.column(of: v)
                    } else if n.isEqual("t") {
                        type = CellType(v)
                    } else if n.isEqual("s") {
                        style = Self.integer(v) ?? Int(String(cString: v)) ?? 0
                    }
                }
                col = ref ?? col + 1
                if xml.isEmptyElement { continue }
                raw.removeAll(keepingCapacity: true)
                inline.removeAll(keepingCapacity: true)
                let (hasRaw, hasInline) = try readCell(xml, raw: &raw, inline: &inline)
                let value = try cellText(
                    raw: hasRaw ? raw : nil, inline: hasInline ? inline : nil, type: type, style: style,
                    shared: shared, workbook: workbook, row: rowNumber, col: col)
                guard !value.isEmpty else { continue }
                if col >= limits.maxColumns { throw JobError.tooManyColumns(col + 1, limit: limits.maxColumns, row: rowNumber) }
                while fields.count <= col { fields.append("") }
                fields[col] = value
                hasValue = true
            } else if name.isEqual("row") {
                var r: Int?
                xml.forEachAttribute { n, v in if n.isEqual("r") { r = Self.integer(v) ?? Int(String(cString: v)) } }
                rowNumber = r ?? rowNumber + 1
                col = -1
                if xml.isEmptyElement { try finishRow() }
            }
        }
        progress(fileSize)
    }

    /// A cell's `t` attribute, compared as bytes; unknown types read like numbers (as before).
    enum CellType {
        case number, shared, inlineStr, bool, text
        init(_ v: UnsafePointer<UInt8>) {
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

    /// Reads a `<c>`'s children into `raw` (the `<v>` text) and `inline` (inline-string text, phonetic
    /// runs skipped); returns whether each was present.
    private func readCell(_ xml: XMLPullReader, raw: inout [UInt8], inline: inout [UInt8]) throws -> (Bool, Bool) {
        let depth = xml.depth
        var hasRaw = false
        var hasInline = false
        var phonetic = false
        while try xml.read() {
            let t = xml.nodeType
            if t == XMLPullReader.endElementType {
                if xml.depth == depth { break }
                if xml.localName?.isEqual("rPh") == true { phonetic = false }
                continue
            }
            guard t == XMLPullReader.elementType, let name = xml.localName else { continue }
            if name.isEqual("v") {
                raw.removeAll(keepingCapacity: true)  // last <v> wins
                hasRaw = true
                try xml.appendElementText(to: &raw)
            } else if name.isEqual("rPh") {
                phonetic = !xml.isEmptyElement
            } else if name.isEqual("t") && !phonetic {
                hasInline = true
                try xml.appendElementText(to: &inline)
            }
        }
        return (hasRaw, hasInline)
    }

    /// A non-negative decimal integer from ASCII digits (at most 18), nil otherwise.
    static func integer(_ p: UnsafePointer<UInt8>) -> Int? {
        var i = 0
        var v = 0
        while p[i] != 0 {
            let d = p[i] &- 0x30
            guard d < 10, i < 18 else { return nil }
            v = v * 10 + Int(d)
            i += 1
        }
        return i == 0 ? nil : v
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

    private func cellText(
        raw: [UInt8]?, inline: [UInt8]?, type: CellType, style: Int, shared: [String],
        workbook: XLSXWorkbook, row: Int, col: Int
    ) throws -> String {
        func text(_ b: [UInt8]?) -> String? { b.map { String(decoding: $0, as: UTF8.self) } }
        switch type {
        case .shared:
            guard let raw, let idx = Self.sharedIndex(raw), idx >= 0, idx < shared.count else {
                throw JobError(
                    .malformedFile, "shared string index out of range at \(Self.columnName(col))\(row)",
                    details: ["row": String(row), "column": Self.columnName(col)])
            }
            return shared[idx]
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
        let names = workbook.sheets.map(\.name).joined(separator: ", ")
        guard !workbook.sheets.isEmpty else { throw JobError(.malformedFile, "workbook has no sheets") }
        switch options.sheet {
        case nil:
            return workbook.sheets[0]
        case .index(let i):
            guard i >= 0 && i < workbook.sheets.count else {
                throw JobError(.invalidConfig, "sheet index \(i) out of range (sheets: \(names))", details: ["sheet": String(i), "sheets": names])
            }
            return workbook.sheets[i]
        case .name(let name):
            if let s = workbook.sheets.first(where: { $0.name == name })
                ?? workbook.sheets.first(where: { $0.name.lowercased() == name.lowercased() })
            {
                return s
            }
            throw JobError(.invalidConfig, "no sheet named \"\(name)\" (sheets: \(names))", details: ["sheet": name, "sheets": names])
        }
    }

    private func loadSharedStrings(_ zip: ZipContainer, limits: ExtractionLimits, isCancelled: @Sendable () -> Bool) throws -> [String] {
        guard zip.entry("xl/sharedStrings.xml") != nil else { return [] }
        let part = try zip.extract("xl/sharedStrings.xml", isCancelled: isCancelled)
        let xml = try XMLPullReader(path: part.path, what: "xl/sharedStrings.xml")
        var table: [String] = []
        var current: [UInt8] = []
        var phonetic = false
        var total = 0
        var nodes = 0
        while try xml.read() {
            nodes += 1
            if nodes & 0xFFF == 0, isCancelled() { throw JobError.cancelledExtraction }
            let t = xml.nodeType
            if t == XMLPullReader.endElementType {
                guard let name = xml.localName else { continue }
                if name.isEqual("si") {
                    total += current.count + 16
                    if Int64(total) > limits.maxUnpackedEntryBytes {
                        throw JobError(
                            .zipBomb, "shared strings exceed \(limits.maxUnpackedEntryBytes) bytes",
                            details: ["limit": String(limits.maxUnpackedEntryBytes)])
                    }
                    table.append(String(decoding: current, as: UTF8.self))
                    current.removeAll(keepingCapacity: true)
                } else if name.isEqual("rPh") {
                    phonetic = false
                }
                continue
            }
            guard t == XMLPullReader.elementType, let name = xml.localName else { continue }
            if name.isEqual("si") {
                current.removeAll(keepingCapacity: true)
                if xml.isEmptyElement { table.append("") }
            } else if name.isEqual("rPh") {
                phonetic = !xml.isEmptyElement
            } else if name.isEqual("t") && !phonetic {
                try xml.appendElementText(to: &current)
            }
        }
        return table
    }

    /// `C5` → 2 (0-based column), nil when the reference has no letters.
    static func column(of ref: UnsafePointer<UInt8>) -> Int? {
        var i = 0
        var col = 0
        while true {
            let b = ref[i] & ~0x20
            guard b >= 0x41 && b <= 0x5A else { break }
            col = col * 26 + Int(b - 0x40)
            if col > 1_000_000 { return nil }
            i += 1
        }
        return i == 0 ? nil : col - 1
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
