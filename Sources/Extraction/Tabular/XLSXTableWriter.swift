import Foundation
import Models
import ZIPFoundation

/// Writes one worksheet of text and number cells as a minimal .xlsx (workbook, one sheet, content types,
/// relationships, a one-style stylesheet) — the reject file's `format=xlsx`.
///
/// Problem: a large table must not be held in memory. Mechanism: rows are appended to the sheet's XML in a
/// temporary file as they come; ``finish()`` zips the parts (deflate) into the destination. Cost: the sheet XML
/// is written once to disk and read once by the zipper. Text cells are inline strings (`t="inlineStr"`), never
/// formulas, so a cell beginning with `=` is shown as text by every spreadsheet; characters XML 1.0 cannot carry
/// (C0 controls other than tab, LF and CR) are written in the OOXML `_xHHHH_` escape.
///
/// ```swift
/// let writer = try XLSXTableWriter(path: "/tmp/rejects.xlsx", sheetName: "Rejects")
/// try writer.append([.text("sku"), .text("price")])
/// try writer.append([.text("A-1"), .number(12.5)])
/// try writer.finish()
/// ```
public final class XLSXTableWriter {
    /// A cell value.
    public enum Cell: Sendable, Hashable {
        case text(String)
        case number(Double)
    }

    /// The destination .xlsx.
    public let path: String
    private let sheetName: String
    private let sheetPath: String
    private let sheet: FileHandle
    private var buffer = ""
    private var rowCount = 0

    /// Starts a workbook at `path` (replaced if present) whose only sheet is named `sheetName`.
    /// - Parameters:
    ///   - path: The .xlsx to write.
    ///   - sheetName: The worksheet's name (at most 31 characters are kept).
    public init(path: String, sheetName: String = "Sheet1") throws {
        self.path = path
        self.sheetName = String(sheetName.prefix(31))
        sheetPath = path + ".sheet.xml"
        guard FileManager.default.createFile(atPath: sheetPath, contents: nil), let handle = FileHandle(forWritingAtPath: sheetPath)
        else { throw JobError(.extractionError, "cannot create a temporary file for the workbook") }
        sheet = handle
        buffer = Self.head + "<worksheet xmlns=\"\(Self.main)\"><sheetData>"
    }

    deinit {
        try? sheet.close()
        try? FileManager.default.removeItem(atPath: sheetPath)
    }

    /// Appends a row (row 1 first).
    public func append(_ cells: [Cell]) throws {
        rowCount += 1
        let r = rowCount
        buffer += "<row r=\"\(r)\">"
        for (i, cell) in cells.enumerated() {
            let ref = Self.columnName(i) + String(r)
            switch cell {
            case .number(let v) where v.isFinite:
                let text = v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
                buffer += "<c r=\"\(ref)\"><v>\(text)</v></c>"
            case .number(let v):
                buffer += "<c r=\"\(ref)\" t=\"inlineStr\"><is><t>\(v)</t></is></c>"
            case .text(let s):
                if s.isEmpty { continue }
                buffer += "<c r=\"\(ref)\" t=\"inlineStr\"><is><t xml:space=\"preserve\">"
                Self.escape(s, into: &buffer)
                buffer += "</t></is></c>"
            }
        }
        buffer += "</row>"
        if buffer.utf8.count >= 256 * 1024 { try flush() }
    }

    /// Writes the package and removes the temporary sheet file.
    public func finish() throws {
        buffer += "</sheetData></worksheet>"
        try flush()
        try sheet.close()
        try? FileManager.default.removeItem(atPath: path)
        let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .create, pathEncoding: nil)
        for (name, text) in parts() {
            let data = Data(text.utf8)
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate) { pos, size in
                data.subdata(in: Int(pos)..<Int(pos) + size)
            }
        }
        try archive.addEntry(
            with: "xl/worksheets/sheet1.xml", fileURL: URL(fileURLWithPath: sheetPath), compressionMethod: .deflate,
            bufferSize: 256 * 1024)
        try? FileManager.default.removeItem(atPath: sheetPath)
    }

    private func flush() throws {
        try sheet.write(contentsOf: Data(buffer.utf8))
        buffer = ""
    }

    /// `A`, `B`, … `Z`, `AA`, … for a 0-based column index.
    static func columnName(_ index: Int) -> String {
        var n = index + 1
        var name = ""
        while n > 0 {
            let d = (n - 1) % 26
            name = String(UnicodeScalar(UInt8(65 + d))) + name
            n = (n - 1) / 26
        }
        return name
    }

    /// XML text escaping, plus the OOXML `_xHHHH_` escape for characters XML cannot hold and for a literal `_x`
    /// (`_xHHHH_`) that would otherwise read as one.
    static func escape(_ s: String, into out: inout String) {
        let scalars = Array(s.unicodeScalars)
        for (i, ch) in scalars.enumerated() {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\r": out += "&#13;"
            case "_" where isEscapeLike(scalars, at: i): out += "_x005F_"
            default:
                if (ch.value < 0x20 && ch != "\t" && ch != "\n") || ch.value == 0xFFFE || ch.value == 0xFFFF {
                    out += "_x" + String(format: "%04X", ch.value) + "_"
                } else {
                    out.unicodeScalars.append(ch)
                }
            }
        }
    }

    /// Whether `_xHHHH_` starts at `i` (a reader would decode it).
    private static func isEscapeLike(_ s: [Unicode.Scalar], at i: Int) -> Bool {
        guard i + 6 < s.count, s[i + 1] == "x", s[i + 6] == "_" else { return false }
        return s[(i + 2)...(i + 5)].allSatisfy { $0.properties.isASCIIHexDigit }
    }

    private static let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    private static let rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    private static let head = #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"# + "\n"

    private func parts() -> [(String, String)] {
        var name = ""
        Self.escape(sheetName, into: &name)
        name = name.replacingOccurrences(of: "\"", with: "&quot;")
        let pkg = "http://schemas.openxmlformats.org/package/2006"
        let ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
        return [
            (
                "[Content_Types].xml",
                Self.head + "<Types xmlns=\"\(pkg)/content-types\">"
                    + "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
                    + "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
                    + "<Override PartName=\"/xl/workbook.xml\" ContentType=\"\(ct).sheet.main+xml\"/>"
                    + "<Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"\(ct).worksheet+xml\"/>"
                    + "<Override PartName=\"/xl/styles.xml\" ContentType=\"\(ct).styles+xml\"/></Types>"
            ),
            (
                "_rels/.rels",
                Self.head + "<Relationships xmlns=\"\(pkg)/relationships\">"
                    + "<Relationship Id=\"rId1\" Type=\"\(Self.rel)/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>"
            ),
            (
                "xl/workbook.xml",
                Self.head + "<workbook xmlns=\"\(Self.main)\" xmlns:r=\"\(Self.rel)\">"
                    + "<sheets><sheet name=\"\(name)\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"
            ),
            (
                "xl/_rels/workbook.xml.rels",
                Self.head + "<Relationships xmlns=\"\(pkg)/relationships\">"
                    + "<Relationship Id=\"rId1\" Type=\"\(Self.rel)/worksheet\" Target=\"worksheets/sheet1.xml\"/>"
                    + "<Relationship Id=\"rId2\" Type=\"\(Self.rel)/styles\" Target=\"styles.xml\"/></Relationships>"
            ),
            (
                "xl/styles.xml",
                Self.head + "<styleSheet xmlns=\"\(Self.main)\"><fonts count=\"1\"><font><sz val=\"11\"/><name val=\"Calibri\"/></font></fonts>"
                    + "<fills count=\"2\"><fill><patternFill patternType=\"none\"/></fill><fill><patternFill patternType=\"gray125\"/></fill></fills>"
                    + "<borders count=\"1\"><border><left/><right/><top/><bottom/><diagonal/></border></borders>"
                    + "<cellStyleXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\"/></cellStyleXfs>"
                    + "<cellXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\"/></cellXfs>"
                    + "<cellStyles count=\"1\"><cellStyle name=\"Normal\" xfId=\"0\" builtinId=\"0\"/></cellStyles></styleSheet>"
            ),
        ]
    }
}
