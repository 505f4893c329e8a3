import Models

/// The parts of an XLSX workbook needed to read one sheet: sheet list, 1904 flag, date styles.
struct XLSXWorkbook {
    struct Sheet { var name: String; var part: String }
    var sheets: [Sheet] = []
    var date1904 = false
    /// Per cell style index (`s` attribute): how its number format displays.
    var styleKinds: [DateKind] = []

    static func load(_ zip: ZipContainer, isCancelled: @Sendable () -> Bool) throws -> XLSXWorkbook {
        var wb = XLSXWorkbook()
        // Relationships: Id → part path.
        var targets: [String: String] = [:]
        if zip.entry("xl/_rels/workbook.xml.rels") != nil {
            let rels = try zip.extract("xl/_rels/workbook.xml.rels", isCancelled: isCancelled)
            let xml = try XMLPullReader(path: rels.path, what: "xl/_rels/workbook.xml.rels")
            while try xml.read() {
                guard xml.nodeType == XMLPullReader.elementType, xml.nameIs("Relationship") else { continue }
                let attrs = Dictionary(xml.attributes(), uniquingKeysWith: { a, _ in a })
                if let id = attrs["Id"], let target = attrs["Target"] { targets[id] = resolve(target) }
            }
        }
        let book = try zip.extract("xl/workbook.xml", isCancelled: isCancelled)
        let xml = try XMLPullReader(path: book.path, what: "xl/workbook.xml")
        var ordinal = 0
        while try xml.read() {
            guard xml.nodeType == XMLPullReader.elementType else { continue }
            if xml.nameIs("workbookPr") {
                let v = xml.attributes().first { $0.0 == "date1904" }?.1 ?? "0"
                wb.date1904 = v == "1" || v.lowercased() == "true"
            } else if xml.nameIs("sheet") {
                ordinal += 1
                let attrs = Dictionary(xml.attributes(), uniquingKeysWith: { a, _ in a })
                let name = attrs["name"] ?? "Sheet\(ordinal)"
                let part = attrs["id"].flatMap { targets[$0] } ?? "xl/worksheets/sheet\(ordinal).xml"
                wb.sheets.append(Sheet(name: name, part: part))
            }
        }
        if zip.entry("xl/styles.xml") != nil {
            wb.styleKinds = try loadStyles(zip, isCancelled: isCancelled)
        }
        return wb
    }

    /// `worksheets/sheet1.xml` → `xl/worksheets/sheet1.xml`; `/xl/…` → `xl/…`; `..` collapsed.
    static func resolve(_ target: String) -> String {
        let raw = target.hasPrefix("/") ? String(target.dropFirst()) : "xl/" + target
        var parts: [Substring] = []
        for p in raw.split(separator: "/") {
            if p == ".." { _ = parts.popLast() } else if p != "." { parts.append(p) }
        }
        return parts.joined(separator: "/")
    }

    static func loadStyles(_ zip: ZipContainer, isCancelled: @Sendable () -> Bool) throws -> [DateKind] {
        let styles = try zip.extract("xl/styles.xml", isCancelled: isCancelled)
        let xml = try XMLPullReader(path: styles.path, what: "xl/styles.xml")
        var custom: [Int: DateKind] = [:]
        var kinds: [DateKind] = []
        var inCellXfs = false
        while try xml.read() {
            let t = xml.nodeType
            if t == XMLPullReader.endElementType, xml.nameIs("cellXfs") { inCellXfs = false; continue }
            guard t == XMLPullReader.elementType else { continue }
            if xml.nameIs("numFmt") {
                let attrs = Dictionary(xml.attributes(), uniquingKeysWith: { a, _ in a })
                if let id = attrs["numFmtId"].flatMap(Int.init), let code = attrs["formatCode"] {
                    custom[id] = ExcelDate.classify(code)
                }
            } else if xml.nameIs("cellXfs") {
                inCellXfs = !xml.isEmptyElement
            } else if inCellXfs && xml.nameIs("xf") {
                let id = xml.attributes().first { $0.0 == "numFmtId" }.flatMap { Int($0.1) } ?? 0
                kinds.append(custom[id] ?? ExcelDate.builtin(id))
            }
        }
        return kinds
    }
}
