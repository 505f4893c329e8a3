import Foundation
import Models
import ZIPFoundation

/// Decides a file's format from its content (magic bytes) and checks it against the file name's extension.
public enum FormatDetector {
    /// What the bytes look like.
    enum Content: Equatable {
        case xlsx, docx, zip, ole, encryptedOOXML, pdf, json, ndjson, html, text, binary
    }

    /// Sniffs the file at `path` and returns its format.
    ///
    /// - Throws: `.emptyFile` for an empty (or blank) file; `.formatMismatch` when the content contradicts the
    ///   extension (a ZIP or NUL-laden bytes named `.csv`, a PDF named `.xlsx`…); `.encryptedFile` for a
    ///   password-protected Office file; `.unsupportedFormat` for an unknown extension with unrecognised content.
    ///   `.csv`, `.tsv` and `.txt` with any text content are compatible with each other.
    public static func detect(path: String, fileName: String) throws -> FileFormat {
        let head = try ChunkedFile.head(path: path, count: 64 * 1024)
        if head.isEmpty { throw JobError(.emptyFile, "file is empty", details: ["file": fileName]) }
        let content = try sniff(head: head, path: path)
        let claimed = FileFormat.fromExtension(of: fileName)
        return try reconcile(content: content, claimed: claimed, fileName: fileName)
    }

    /// Like ``detect(path:fileName:)`` from the file's first bytes only (an upload still arriving). ZIP and
    /// OLE2 content cannot be told apart without the whole file, so they are reported as a generic archive —
    /// a mismatch for every streaming format.
    public static func detect(head: [UInt8], fileName: String) throws -> FileFormat {
        if head.isEmpty { throw JobError(.emptyFile, "file is empty", details: ["file": fileName]) }
        let content = try sniff(head: head, path: nil)
        return try reconcile(content: content, claimed: FileFormat.fromExtension(of: fileName), fileName: fileName)
    }

    static func reconcile(content: Content, claimed: FileFormat?, fileName: String) throws -> FileFormat {
        func mismatch(_ what: String) -> JobError {
            JobError(
                .formatMismatch, "\(fileName) is named .\(claimed?.rawValue ?? "?") but its content looks like \(what)",
                details: ["file": fileName, "claimed": claimed?.rawValue ?? "", "detected": what])
        }
        if content == .encryptedOOXML {
            throw JobError(.encryptedFile, "\(fileName) is a password-protected Office file", details: ["file": fileName])
        }
        let detected: FileFormat? =
            switch content {
            case .xlsx: .xlsx
            case .docx: .docx
            case .ole: .xls
            case .pdf: .pdf
            case .json: .json
            case .ndjson: .ndjson
            case .html: .html
            case .text: nil
            case .zip, .binary, .encryptedOOXML: nil
            }
        let isText = [.json, .ndjson, .html, .text].contains(content)
        let describe: String =
            switch content {
            case .zip: "a ZIP archive"
            case .binary: "binary data"
            default: detected?.rawValue ?? "text"
            }
        guard let claimed else {
            if let detected { return detected }
            throw JobError(.unsupportedFormat, "unsupported file type: \(fileName)", details: ["file": fileName, "detected": describe])
        }
        switch claimed {
        case .csv, .tsv, .txt:
            if isText { return claimed }
            throw mismatch(describe)
        case .json:
            if content == .json || content == .ndjson { return detected ?? .json }
            throw mismatch(describe)
        case .ndjson:
            if content == .ndjson || content == .json { return detected == .json ? .ndjson : .ndjson }
            throw mismatch(describe)
        case .html:
            if content == .html || content == .text { return .html }
            throw mismatch(describe)
        case .xlsx, .xls, .pdf, .docx:
            if detected == claimed { return claimed }
            throw mismatch(describe)
        }
    }

    static func sniff(head: [UInt8], path: String?) throws -> Content {
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            head.count >= offset + magic.count && Array(head[offset..<offset + magic.count]) == magic
        }
        if starts([0x50, 0x4B, 0x03, 0x04]) || starts([0x50, 0x4B, 0x05, 0x06]) {
            return path.map(zipKind(path:)) ?? .zip
        }
        if starts(CompoundFile.magic) {
            return path.map(oleKind(path:)) ?? .ole
        }
        // UTF-16 text (BOM): decide on the decoded prefix.
        if starts([0xFF, 0xFE]) || starts([0xFE, 0xFF]) { return .text }
        // A PDF holds binary streams (NUL bytes) right after its header: check it before the text test.
        if starts(Array("%PDF-".utf8)) { return .pdf }
        var i = starts([0xEF, 0xBB, 0xBF]) ? 3 : 0
        if head[i...].contains(0) { return UTF16Heuristic.byteOrder(of: head[...]) == nil ? .binary : .text }  // BOM-less UTF-16
        while i < head.count, [0x20, 0x09, 0x0A, 0x0D].contains(head[i]) { i += 1 }
        if i == head.count { throw JobError(.emptyFile, "file holds only whitespace") }
        let rest = head[i...]
        if rest.starts(with: Array("%PDF-".utf8)) { return .pdf }
        let lowerPrefix = String(decoding: rest.prefix(1024), as: UTF8.self).lowercased()
        if lowerPrefix.hasPrefix("<!doctype html") || lowerPrefix.hasPrefix("<html")
            || (lowerPrefix.hasPrefix("<") && lowerPrefix.contains("<html"))
        {
            return .html
        }
        if rest.first == UInt8(ascii: "{") && looksLikeNDJSON(rest, truncated: head.count == 64 * 1024) { return .ndjson }
        if rest.first == UInt8(ascii: "[") || rest.first == UInt8(ascii: "{") { return .json }
        return .text
    }

    /// Several non-blank lines, each one `{…}`.
    static func looksLikeNDJSON(_ bytes: ArraySlice<UInt8>, truncated: Bool) -> Bool {
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).map { line in
            line.drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }.reversed().drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
        }.filter { !$0.isEmpty }
        if truncated && lines.count > 1 { lines.removeLast() }
        guard lines.count >= 2 else { return false }
        // `line` is reversed: first element is the last byte.
        return lines.allSatisfy { $0.last == UInt8(ascii: "{") && $0.first == UInt8(ascii: "}") }
    }

    static func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= hay.count, let first = needle.first else { return false }
        var i = 0
        while i <= hay.count - needle.count {
            if hay[i] == first && hay[i..<i + needle.count].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }

    /// An OOXML package by its main part (``OOXMLPackage``: `_rels/.rels`, `[Content_Types].xml`, backslash
    /// entry names), else a plain ZIP.
    static func zipKind(path: String) -> Content {
        guard let archive = try? Archive(url: URL(fileURLWithPath: path), accessMode: .read, pathEncoding: nil) else { return .zip }
        var index: [String: Entry] = [:]
        for e in archive where index[OOXMLPackage.normalize(e.path)] == nil { index[OOXMLPackage.normalize(e.path)] = e }
        func read(_ name: String) -> [UInt8]? {
            guard let e = index[OOXMLPackage.normalize(name)], e.uncompressedSize <= OOXMLPackage.smallPartLimit else { return nil }
            var out: [UInt8] = []
            _ = try? archive.extract(e, bufferSize: 64 * 1024, skipCRC32: true) { data in
                guard out.count + data.count <= OOXMLPackage.smallPartLimit else { throw CocoaError(.fileReadTooLarge) }
                out.append(contentsOf: data)
            }
            return out
        }
        let main = OOXMLPackage.mainPart(read: read).map(OOXMLPackage.normalize)
        let types = read("[Content_Types].xml").map { OOXMLPackage.elements($0, named: "Override") } ?? []
        let mainType = types.first { $0["PartName"].map(OOXMLPackage.normalize) == main }?["ContentType"] ?? ""
        if mainType.contains("spreadsheetml") || mainType.contains("ms-excel") { return .xlsx }
        if mainType.contains("wordprocessingml") { return .docx }
        if let main, index[main] != nil {
            if main.hasSuffix("workbook.xml") { return .xlsx }
            if main.hasSuffix("document.xml") { return .docx }
        }
        if index["xl/workbook.xml"] != nil { return .xlsx }
        if index["word/document.xml"] != nil { return .docx }
        return .zip
    }

    /// A compound file holding `EncryptedPackage` is a password-protected OOXML file; any other is legacy Office.
    static func oleKind(path: String) -> Content {
        guard let cfb = try? CompoundFile(path: path) else { return .ole }
        return cfb.rootStream(named: ["EncryptedPackage"]) != nil ? .encryptedOOXML : .ole
    }
}
