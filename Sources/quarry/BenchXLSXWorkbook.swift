import Foundation
import ZIPFoundation

/// The workbook `quarry bench xlsx` measures: N rows of a 10-column supplier price list, written with
/// ZIPFoundation (shared strings for text, numbers as numbers), the two large parts streamed.
extension XLSXBench {
    /// Shared-string layout: 10 headers, "EUR", 4 units, 4 categories, 50 brands, then 3 per row
    /// (sku, name, description).
    static let headers = ["sku", "name", "description", "price", "currency", "quantity", "unit", "category", "brand", "barcode"]
    static let units = ["pcs", "box", "kg", "m"]
    static let categories = ["Fasteners", "Tools", "Electrical", "Plumbing"]
    static let fixedStrings = headers + ["EUR"] + units + categories + (0..<50).map { "Brand \($0)" }
    static let eurIndex = 10, unitBase = 11, categoryBase = 15, brandBase = 19
    static let rowStringBase = fixedStrings.count  // 69

    struct Generated { var fileBytes: Int; var sheetBytes: Int64; var sharedBytes: Int64 }

    /// Writes the workbook with ZIPFoundation; the two big parts are produced on demand through the
    /// provider closure (one counting pass first, since the entry size must be declared up front).
    static func generate(rows: Int, path: String) throws -> Generated {
        try? FileManager.default.removeItem(atPath: path)
        let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .create, pathEncoding: nil)
        func addSmall(_ name: String, _ text: String) throws {
            let data = Data(text.utf8)
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate) { pos, size in
                data.subdata(in: Int(pos)..<Int(pos) + size)
            }
        }
        func addStreamed(_ name: String, _ make: () -> StreamedPart) throws -> Int64 {
            let size = make().countAll()
            let part = make()
            try archive.addEntry(
                with: name, type: .file, uncompressedSize: size, compressionMethod: .deflate,
                bufferSize: 256 * 1024
            ) { _, n in part.next(n) }
            return size
        }
        let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
        let rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
        let head = #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"# + "\n"
        try addSmall(
            "[Content_Types].xml",
            head + """
                <Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
                <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
                <Default Extension="xml" ContentType="application/xml"/>\
                <Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>\
                <Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>\
                <Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>\
                <Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>\
                </Types>
                """)
        try addSmall(
            "_rels/.rels",
            head + """
                <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
                <Relationship Id="rId1" Type="\(rel)/officeDocument" Target="xl/workbook.xml"/></Relationships>
                """)
        try addSmall(
            "xl/workbook.xml",
            head + """
                <workbook xmlns="\(main)" xmlns:r="\(rel)"><sheets><sheet name="Prices" sheetId="1" r:id="rId1"/></sheets></workbook>
                """)
        try addSmall(
            "xl/_rels/workbook.xml.rels",
            head + """
                <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
                <Relationship Id="rId1" Type="\(rel)/worksheet" Target="worksheets/sheet1.xml"/>\
                <Relationship Id="rId2" Type="\(rel)/styles" Target="styles.xml"/>\
                <Relationship Id="rId3" Type="\(rel)/sharedStrings" Target="sharedStrings.xml"/></Relationships>
                """)
        try addSmall(
            "xl/styles.xml",
            head + """
                <styleSheet xmlns="\(main)"><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>\
                <fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>\
                <borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
                <cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>\
                <cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>\
                <cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>
                """)
        let sharedBytes = try addStreamed("xl/sharedStrings.xml") { StreamedPart(rows: rows, sheet: false) }
        let sheetBytes = try addStreamed("xl/worksheets/sheet1.xml") { StreamedPart(rows: rows, sheet: true) }
        let fileBytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return Generated(fileBytes: fileBytes, sheetBytes: sheetBytes, sharedBytes: sharedBytes)
    }

    /// Produces sheet1.xml or sharedStrings.xml a few rows at a time into a reusable byte buffer, so
    /// memory stays bounded whatever N.
    final class StreamedPart {
        let rows: Int
        let sheet: Bool
        var buf: [UInt8] = []
        var start = 0
        var nextRow = -1  // -1: prologue not written yet
        var done = false
        var digits = [UInt8](repeating: 0, count: 24)

        init(rows: Int, sheet: Bool) {
            self.rows = rows
            self.sheet = sheet
            buf.reserveCapacity(512 * 1024)
        }

        /// Total bytes (a full generating pass).
        func countAll() -> Int64 {
            var total: Int64 = 0
            while !done {
                fill()
                total += Int64(buf.count - start)
                buf.removeAll(keepingCapacity: true)
                start = 0
            }
            return total
        }

        /// Exactly `n` bytes (fewer only at the end).
        func next(_ n: Int) -> Data {
            while buf.count - start < n && !done {
                if start > 0 {
                    buf.removeFirst(start)
                    start = 0
                }
                fill()
            }
            let end = min(buf.count, start + n)
            let d = Data(buf[start..<end])
            start = end
            return d
        }

        private func append(_ s: StaticString) {
            buf.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
        }

        private func append(_ s: String) { buf.append(contentsOf: s.utf8) }

        private func number(_ value: Int) {
            var v = value, n = 0
            repeat { digits[n] = UInt8(truncatingIfNeeded: 48 + v % 10); v /= 10; n += 1 } while v > 0
            while n > 0 { n -= 1; buf.append(digits[n]) }
        }

        /// Appends about 64 KB.
        private func fill() {
            let target = buf.count + 64 * 1024
            if nextRow == -1 {
                append(#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#)
                append("\n")
                if sheet {
                    append(
                        #"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><dimension ref="A1:J"#
                    )
                    number(rows + 1)
                    append(#""/><sheetData><row r="1">"#)
                    for c in 0..<10 { stringCell(col: c, row: 1, index: c) }
                    append("</row>")
                } else {
                    let count = XLSXBench.rowStringBase + 3 * rows
                    append(#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count=""#)
                    number(count)
                    append(#"" uniqueCount=""#)
                    number(count)
                    append(#"">"#)
                    for s in XLSXBench.fixedStrings { append("<si><t>"); append(s); append("</t></si>") }
                }
                nextRow = 0
            }
            while buf.count < target && nextRow < rows {
                let i = nextRow
                if sheet { sheetRow(i) } else { sharedRow(i) }
                nextRow += 1
            }
            if nextRow >= rows && !done {
                append(sheet ? "</sheetData></worksheet>" : "</sst>")
                done = true
            }
        }

        private static let letters: [UInt8] = Array("ABCDEFGHIJ".utf8)

        private func cellOpen(col: Int, row: Int) {
            append(#"<c r=""#)
            buf.append(Self.letters[col])
            number(row)
        }

        private func stringCell(col: Int, row: Int, index: Int) {
            cellOpen(col: col, row: row)
            append(#"" t="s"><v>"#)
            number(index)
            append("</v></c>")
        }

        private func sharedRow(_ i: Int) {
            // SKU-i, Product i, Quality item i, durable
            append("<si><t>SKU-"); number(i); append("</t></si>")
            append("<si><t>Product "); number(i); append("</t></si>")
            append("<si><t>Quality item "); number(i); append(", durable</t></si>")
        }

        private func sheetRow(_ i: Int) {
            let r = i + 2
            let base = XLSXBench.rowStringBase + 3 * i
            append(#"<row r=""#); number(r); append(#"">"#)
            stringCell(col: 0, row: r, index: base)
            stringCell(col: 1, row: r, index: base + 1)
            stringCell(col: 2, row: r, index: base + 2)
            // price: the CSV bench's text "(i%997).(i%100)" as a canonical number ("5.10" → 5.1, "5.0" → 5)
            cellOpen(col: 3, row: r); append(#""><v>"#)
            number(i % 997)
            var frac = i % 100
            if frac != 0 {
                while frac % 10 == 0 { frac /= 10 }
                buf.append(UInt8(ascii: "."))
                number(frac)
            }
            append("</v></c>")
            stringCell(col: 4, row: r, index: XLSXBench.eurIndex)
            cellOpen(col: 5, row: r); append(#""><v>"#); number(i % 500); append("</v></c>")
            stringCell(col: 6, row: r, index: XLSXBench.unitBase + i % 4)
            stringCell(col: 7, row: r, index: XLSXBench.categoryBase + i % 4)
            stringCell(col: 8, row: r, index: XLSXBench.brandBase + i % 50)
            cellOpen(col: 9, row: r); append(#""><v>"#); number(4_000_000_000_000 + i); append("</v></c>")
            append("</row>")
        }
    }
}
