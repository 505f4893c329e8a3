/// Decides an upload's format from its extension and first bytes.
public enum FormatSniffer {
    public enum Verdict: Sendable, Equatable {
        case ok(String)
        case unsupportedExtension(String)
        case mismatch(format: String)
    }

    /// The format an extension claims, or nil when unsupported (mirrors `Extraction.FileFormat`).
    public static func format(forFileName name: String) -> String? {
        guard let dot = name.lastIndex(of: ".") else { return nil }
        switch name[name.index(after: dot)...].lowercased() {
        case "csv": return "csv"
        case "tsv", "tab": return "tsv"
        case "txt", "text": return "txt"
        case "xlsx", "xlsm": return "xlsx"
        case "xls": return "xls"
        case "json": return "json"
        case "ndjson", "jsonl": return "ndjson"
        case "pdf": return "pdf"
        case "docx": return "docx"
        case "html", "htm", "xhtml": return "html"
        default: return nil
        }
    }

    static let pdf: [UInt8] = Array("%PDF".utf8)
    static let zip: [UInt8] = [0x50, 0x4B, 0x03, 0x04]
    static let ole: [UInt8] = [0xD0, 0xCF, 0x11, 0xE0]
    static let binaryMagics: [[UInt8]] = [
        pdf, zip, ole, [0x89, 0x50, 0x4E, 0x47], [0xFF, 0xD8, 0xFF], Array("GIF8".utf8), [0x7F, 0x45, 0x4C, 0x46],
        Array("MZ".utf8), [0x1F, 0x8B],
    ]

    /// Checks the first bytes of a file against the format its name claims.
    public static func check(fileName: String, head: [UInt8]) -> Verdict {
        guard let format = format(forFileName: fileName) else {
            let ext = fileName.split(separator: ".").count > 1 ? String(fileName.split(separator: ".").last!) : ""
            return .unsupportedExtension(ext)
        }
        func starts(_ magic: [UInt8]) -> Bool { head.count >= magic.count && Array(head.prefix(magic.count)) == magic }
        switch format {
        case "pdf": return starts(pdf) ? .ok(format) : .mismatch(format: format)
        case "xlsx", "docx": return starts(zip) ? .ok(format) : .mismatch(format: format)
        case "xls": return starts(ole) ? .ok(format) : .mismatch(format: format)
        default:
            if head.isEmpty { return .ok(format) }
            // UTF-16 text has NUL bytes but starts with a byte-order mark.
            if starts([0xFF, 0xFE]) || starts([0xFE, 0xFF]) { return .ok(format) }
            if binaryMagics.contains(where: starts) { return .mismatch(format: format) }
            if head.contains(0) { return .mismatch(format: format) }
            return .ok(format)
        }
    }
}
