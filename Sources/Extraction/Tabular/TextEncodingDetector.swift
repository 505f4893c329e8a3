import Models

/// Finds the text encoding of delimited text from its first bytes (or takes the job's hint).
///
/// - A byte-order mark wins: UTF-8 (`EF BB BF`), UTF-16 LE (`FF FE`), UTF-16 BE (`FE FF`); it is skipped.
/// - UTF-16 without a BOM shows as NUL bytes in every other position (ASCII text: `a\0b\0` is LE, `\0a\0b` BE).
/// - Valid UTF-8 (pure ASCII included) is `utf-8`; fields that are not valid UTF-8 later in the file still
///   decode as Windows-1252, one field at a time.
/// - Otherwise the file is single-byte. Windows-1252 and Latin-1 (ISO-8859-1) differ only in bytes 0x80–0x9F:
///   printable characters (`€ ‚ “ ” – …`) in Windows-1252, invisible C1 controls in Latin-1. When the sample
///   holds such bytes the file is `windows-1252`; when it holds none the two agree on every byte seen and
///   `latin-1` is reported. Both decode through the Windows-1252 table unless the job asks for `latin-1`.
struct TextEncodingDetector {
    /// The encoding chosen.
    enum Kind: Sendable, Hashable {
        case utf8, utf16LE, utf16BE, windows1252, latin1
    }

    /// The encoding chosen and how to read it.
    struct Detected: Sendable, Hashable {
        var kind: Kind
        /// Bytes of byte-order mark at the start of the file.
        var bomLength: Int
        /// The name reported in ``TabularSourceInfo/encoding``.
        var name: String
        /// How field bytes (after UTF-16 transcoding) become strings.
        var decoding: FieldDecoding
        /// Whether the bytes are UTF-16 and go through ``UTF16StreamTranscoder`` first.
        var isUTF16: Bool { kind == .utf16LE || kind == .utf16BE }
    }

    /// Bytes looked at for the NUL pattern and UTF-8 validity.
    static let sampleBytes = 64 * 1024

    /// Detects the encoding of a file starting with `head`; `isWholeFile` when `head` is all of it.
    static func detect(_ head: [UInt8], isWholeFile: Bool, hint: TextEncodingHint) -> Detected {
        let bom = byteOrderMark(head)
        switch hint {
        case .utf8: return make(.utf8, bom: bom?.0 == .utf8 ? 3 : 0)
        case .utf16LE: return make(.utf16LE, bom: bom?.0 == .utf16LE ? 2 : 0)
        case .utf16BE: return make(.utf16BE, bom: bom?.0 == .utf16BE ? 2 : 0)
        case .windows1252: return make(.windows1252, bom: bom?.0 == .utf8 ? 3 : 0)
        case .latin1: return make(.latin1, bom: bom?.0 == .utf8 ? 3 : 0, strictLatin1: true)
        case .auto: break
        }
        if let (kind, length) = bom { return make(kind, bom: length) }
        let sample = Array(head.prefix(sampleBytes))
        if let utf16 = utf16ByNULs(sample) { return make(utf16, bom: 0) }
        if isValidUTF8(sample, truncated: !(isWholeFile && sample.count == head.count)) { return make(.utf8, bom: 0) }
        let hasC1 = sample.contains { $0 >= 0x80 && $0 <= 0x9F }
        return make(hasC1 ? .windows1252 : .latin1, bom: 0)
    }

    private static func make(_ kind: Kind, bom: Int, strictLatin1: Bool = false) -> Detected {
        switch kind {
        case .utf8: return Detected(kind: kind, bomLength: bom, name: "utf-8", decoding: .utf8OrWindows1252)
        case .utf16LE: return Detected(kind: kind, bomLength: bom, name: "utf-16le", decoding: .utf8)
        case .utf16BE: return Detected(kind: kind, bomLength: bom, name: "utf-16be", decoding: .utf8)
        case .windows1252: return Detected(kind: kind, bomLength: bom, name: "windows-1252", decoding: .windows1252)
        case .latin1:
            return Detected(kind: kind, bomLength: bom, name: "latin-1", decoding: strictLatin1 ? .latin1 : .windows1252)
        }
    }

    private static func byteOrderMark(_ head: [UInt8]) -> (Kind, Int)? {
        if head.starts(with: [0xEF, 0xBB, 0xBF]) { return (.utf8, 3) }
        if head.starts(with: [0xFF, 0xFE]) { return (.utf16LE, 2) }
        if head.starts(with: [0xFE, 0xFF]) { return (.utf16BE, 2) }
        return nil
    }

    /// UTF-16 without BOM, by its NUL bytes (``UTF16Heuristic``, shared with format detection and the upload check).
    private static func utf16ByNULs(_ sample: [UInt8]) -> Kind? {
        switch UTF16Heuristic.byteOrder(of: sample[...]) {
        case .littleEndian: .utf16LE
        case .bigEndian: .utf16BE
        case nil: nil
        }
    }

    /// Valid UTF-8, allowing a sequence cut by the end of a sample that is not the whole file.
    private static func isValidUTF8(_ sample: [UInt8], truncated: Bool) -> Bool {
        for drop in 0...(truncated ? 3 : 0) where drop <= sample.count {
            let ok = sample.withUnsafeBufferPointer { p in
                String(validating: UnsafeBufferPointer(rebasing: p[..<(p.count - drop)]), as: UTF8.self) != nil
            }
            if ok { return true }
        }
        return false
    }
}
