import Models

/// The parts of an XLSX workbook needed to read one sheet: sheet list, 1904 flag, date styles.
struct XLSXWorkbook {
    struct Sheet { var name: String; var part: String }
    var sheets: [Sheet] = []
    var date1904 = false
    /// Per cell style index (`s` attribute): how its number format displays.
    var styleKinds: [DateKind] = []

    /// The shared-strings part, when the workbook has one.
    var sharedStringsPart: String?
    /// The styles part, when the workbook has one.
    var stylesPart: String?

    /// Reads the workbook part found through the package relationships (``OOXMLPackage``), its relationships
    /// (sheets, shared strings, styles; resolved against the workbook part's folder) and the styles.
    static func load(_ zip: ZipContainer, isCancelled: @Sendable () -> Bool) throws -> XLSXWorkbook {
        var wb = XLSXWorkbook()
        let read: (String) throws -> [UInt8]? = { try zip.small($0, isCancelled: isCancelled) }
        // The part the package names, else the conventional path (a package whose rels point nowhere).
        guard let main = [try OOXMLPackage.mainPart(read: read), "xl/workbook.xml"].compactMap({ $0 }).first(where: { zip.entry($0) != nil })
        else {
            throw JobError(.malformedFile, "the package has no workbook part (_rels/.rels names none)")
        }
        let rels = try OOXMLPackage.relationships(of: main, read: read)
        func related(_ suffix: String, fallback: String) -> String? {
            rels.values.first { $0.type.hasSuffix(suffix) }?.target ?? (zip.entry(fallback) != nil ? fallback : nil)
        }
        let folder = OOXMLPackage.folder(of: main)
        wb.sharedStringsPart = related("/sharedStrings", fallback: OOXMLPackage.resolve("sharedStrings.xml", from: folder))
        wb.stylesPart = related("/styles", fallback: OOXMLPackage.resolve("styles.xml", from: folder))
        let book = try zip.extract(main, isCancelled: isCancelled)
        let xml = try XMLPullReader(path: book.path, what: main)
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
                let part =
                    attrs["id"].flatMap { rels[$0]?.target } ?? OOXMLPackage.resolve("worksheets/sheet\(ordinal).xml", from: folder)
                wb.sheets.append(Sheet(name: name, part: part))
            }
        }
        if let styles = wb.stylesPart, zip.entry(styles) != nil {
            wb.styleKinds = try loadStyles(zip, part: styles, isCancelled: isCancelled)
        }
        return wb
    }

    static func loadStyles(_ zip: ZipContainer, part: String, isCancelled: @Sendable () -> Bool) throws -> [DateKind] {
        let styles = try zip.extract(part, isCancelled: isCancelled)
        let xml = try XMLPullReader(path: styles.path, what: part)
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
