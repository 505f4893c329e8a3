/// The file formats Quarry knows how to extract.
public enum FileFormat: String, Sendable, Codable, CaseIterable {
    case csv, tsv, xlsx, xls, json, ndjson, pdf, docx, html, txt

    /// Whether the format yields rows through a `TabularReader` (as opposed to document text).
    public var isTabular: Bool {
        switch self {
        case .csv, .tsv, .xlsx, .xls, .json, .ndjson: true
        case .pdf, .docx, .html, .txt: false
        }
    }

    /// Whether the format is read front to back in one pass, so it can be parsed while the upload arrives.
    public var isStreamable: Bool {
        switch self {
        case .csv, .tsv, .json, .ndjson: true
        case .xlsx, .xls, .pdf, .docx, .html, .txt: false
        }
    }

    /// The format a file name's extension claims, or `nil` when the extension is unknown.
    public static func fromExtension(of fileName: String) -> FileFormat? {
        guard let dot = fileName.lastIndex(of: ".") else { return nil }
        switch fileName[fileName.index(after: dot)...].lowercased() {
        case "csv": return .csv
        case "tsv", "tab": return .tsv
        case "txt", "text": return .txt
        case "xlsx", "xlsm": return .xlsx
        case "xls": return .xls
        case "json": return .json
        case "ndjson", "jsonl": return .ndjson
        case "pdf": return .pdf
        case "docx": return .docx
        case "html", "htm", "xhtml": return .html
        default: return nil
        }
    }
}
