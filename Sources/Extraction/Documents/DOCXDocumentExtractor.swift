import CLibXML2
import Foundation
import Models
import ZIPFoundation

/// Extracts DOCX text: `word/document.xml` is inflated to a temporary file under a byte budget
/// (zip-bomb guard), then streamed with libxml2's reader with no entity substitution, no DTD loading
/// and no network; any DOCTYPE or entity reference is rejected as `.xmlForbidden`.
enum DOCXDocumentExtractor {
    static let documentEntry = "word/document.xml"

    static func extract(
        path: String, maxUnpackedBytes: Int64, timeout: Duration,
        isCancelled: @escaping @Sendable () -> Bool,
        progress: (_ done: Int, _ total: Int?, _ step: String) -> Void
    ) throws -> DocumentResult {
        var guardrail = ExtractionGuard(timeout: timeout, isCancelled: isCancelled)
        progress(0, nil, "unpacking document.xml")
        let xmlURL = try unpackDocumentXML(path: path, maxUnpackedBytes: maxUnpackedBytes)
        defer { try? FileManager.default.removeItem(at: xmlURL) }
        try guardrail.checkNow()
        progress(0, nil, "reading paragraphs")
        var parser = WordprocessingMLReader()
        let result = try parser.read(xmlPath: xmlURL.path, guardrail: &guardrail) { paragraphs in
            progress(paragraphs, nil, "paragraph \(paragraphs)")
        }
        return result
    }

    /// Inflates `word/document.xml` to a temporary file, counting bytes; throws `.zipBomb` over budget.
    static func unpackDocumentXML(path: String, maxUnpackedBytes: Int64) throws -> URL {
        let url = URL(fileURLWithPath: path)
        if let head = FileHandle(forReadingAtPath: path).flatMap({ try? $0.read(upToCount: 8) }),
            head.starts(with: [0xD0, 0xCF, 0x11, 0xE0])
        {
            // Password-protected Office files are OLE compound files wrapping an encrypted package.
            throw JobError(.encryptedFile, "the DOCX is password-protected (OLE-encrypted package)")
        }
        let archive: Archive
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch {
            throw JobError(.malformedFile, "the DOCX is not a readable ZIP archive", details: ["reason": "\(error)"])
        }
        guard let entry = archive[documentEntry] else {
            throw JobError(.malformedFile, "the DOCX has no \(documentEntry)")
        }
        if entry.uncompressedSize > UInt64(max(maxUnpackedBytes, 0)) {
            throw zipBomb(declared: entry.uncompressedSize, limit: maxUnpackedBytes)
        }
        let tempURL = FileManager.default.temporaryDirectory
            .appendingPathComponent("quarry-docx-\(UUID().uuidString).xml")
        guard FileManager.default.createFile(atPath: tempURL.path, contents: nil),
            let output = FileHandle(forWritingAtPath: tempURL.path)
        else {
            throw JobError(.extractionError, "could not create a temporary file for \(documentEntry)")
        }
        var written: Int64 = 0
        do {
            defer { try? output.close() }
            _ = try archive.extract(entry, skipCRC32: false) { chunk in
                written += Int64(chunk.count)
                if written > maxUnpackedBytes { throw zipBomb(declared: nil, limit: maxUnpackedBytes) }
                try output.write(contentsOf: chunk)
            }
        } catch let error as JobError {
            try? FileManager.default.removeItem(at: tempURL)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: tempURL)
            throw JobError(.malformedFile, "could not inflate \(documentEntry)", details: ["reason": "\(error)"])
        }
        return tempURL
    }

    private static func zipBomb(declared: UInt64?, limit: Int64) -> JobError {
        var details = ["limit": "\(limit)", "entry": documentEntry]
        if let declared { details["declared_size"] = "\(declared)" }
        return JobError(.zipBomb, "\(documentEntry) inflates beyond the limit of \(limit) bytes", details: details)
    }
}
