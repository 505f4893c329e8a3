import Foundation

extension TabularOptions {
    /// The reader options a job's config asks for (`delimiter`, `sheet`, `encoding`): one translation for the
    /// extract job, `quarry parse` and the upload preview.
    /// - Parameter encoding: The text encoding to use for delimited text, over the config's; nil = the config's,
    ///   else detected.
    public init(config: ExtractionConfig, encoding: TextEncodingHint? = nil) {
        self.init(
            delimiter: config.delimiter.flatMap { d in d == "tab" ? 0x09 : d.utf8.first },
            sheet: config.sheet.map { s in Int(s).map { .index($0) } ?? .name(s) },
            encoding: encoding ?? config.encoding.flatMap(TextEncodingHint.init(name:)))
        keepPreamble = config.headerRow != nil || config.skipRows != nil
    }
}

extension TextEncodingHint {
    /// An encoding by the names `TabularSourceInfo.encoding` reports and people type (`utf-8`, `utf-16le`,
    /// `utf-16be`, `windows-1252`/`cp1252`, `latin-1`/`iso-8859-1` read as Windows-1252, `auto`), case-insensitive.
    public init?(name: String) {
        switch name.lowercased().replacingOccurrences(of: "_", with: "-") {
        case "auto": self = .auto
        case "utf-8", "utf8": self = .utf8
        case "utf-16le", "utf16le": self = .utf16LE
        case "utf-16be", "utf16be": self = .utf16BE
        case "windows-1252", "cp1252": self = .windows1252
        case "latin-1", "latin1", "iso-8859-1": self = .latin1
        default: return nil
        }
    }
}
