import Models

/// Decides an upload's format from its extension and first bytes — the api's check before it stores anything. The
/// worker decides again on the whole file (``FormatDetector``), which can look inside ZIP and OLE containers.
public enum FormatSniffer {
    public enum Verdict: Sendable, Equatable {
        case ok(String)
        case unsupportedExtension(String)
        case mismatch(format: String)
        /// A password-protected Office file (an OLE compound file holding `EncryptedPackage`) named as `format`.
        case encrypted(format: String)
    }

    /// The format an extension claims (``FileFormat/fromExtension(of:)``), or nil when unsupported.
    public static func format(forFileName name: String) -> String? {
        FileFormat.fromExtension(of: name)?.rawValue
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
        case "xlsx", "docx":
            if starts(zip) { return .ok(format) }
            return starts(ole) && isEncryptedPackage(head) ? .encrypted(format: format) : .mismatch(format: format)
        case "xls":
            guard starts(ole) else { return .mismatch(format: format) }
            return isEncryptedPackage(head) ? .encrypted(format: format) : .ok(format)
        default:
            if head.isEmpty { return .ok(format) }
            // UTF-16 text has NUL bytes but starts with a byte-order mark.
            if starts([0xFF, 0xFE]) || starts([0xFE, 0xFF]) { return .ok(format) }
            if binaryMagics.contains(where: starts) { return .mismatch(format: format) }
            if head.contains(0) { return UTF16Heuristic.byteOrder(of: head[...]) == nil ? .mismatch(format: format) : .ok(format) }
            return .ok(format)
        }
    }

    /// Whether a compound file's head shows an `EncryptedPackage` stream (how Office stores a password-protected
    /// OOXML file). The directory sector named in the header is read when it lies inside `head` (it usually does:
    /// Office and msoffcrypto write it within the first 4 KB); otherwise the stream name is looked for in `head`.
    /// The worker's `FormatDetector` decides again on the whole file through the full compound-file reader.
    static func isEncryptedPackage(_ head: [UInt8]) -> Bool {
        let name = Array("EncryptedPackage".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        guard head.count >= 512 else { return false }
        let shift = Int(head[30]) | Int(head[31]) << 8
        let sector = Int(head[48]) | Int(head[49]) << 8 | Int(head[50]) << 16 | Int(head[51]) << 24
        if shift == 9 || shift == 12, sector < 1 << 20 {
            let start = (sector + 1) << shift
            if start + (1 << shift) <= head.count {
                return stride(from: start, to: start + (1 << shift), by: 128).contains { entry in
                    head[entry + 66] == 2 && Array(head[entry..<entry + name.count]) == name
                }
            }
        }
        return head.count >= name.count && (0...(head.count - name.count)).contains { head[$0..<$0 + name.count].elementsEqual(name) }
    }
}
