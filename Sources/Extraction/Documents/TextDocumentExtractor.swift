import Foundation
import Models

/// Streams a plain-text file in chunks: lines are decoded one by one (UTF-8, Windows-1252 fallback),
/// blank-line-separated blocks become paragraphs, form feeds start a new page/section.
enum TextDocumentExtractor {
    static let chunkSize = 256 << 10
    /// A "line" longer than this is cut into pieces so memory stays bounded.
    static let maxLineBytes = 1 << 20

    static func extract(
        path: String, maxBytes: Int64, timeout: Duration,
        isCancelled: @escaping @Sendable () -> Bool,
        progress: (_ done: Int, _ total: Int?, _ step: String) -> Void
    ) throws -> DocumentResult {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw JobError(.fileNotFound, "cannot open text file", details: ["path": path])
        }
        defer { try? handle.close() }
        let fileSize = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
        if let fileSize, fileSize > maxBytes {
            throw JobError(
                .fileTooLarge, "text file is \(fileSize) bytes, over the limit of \(maxBytes)",
                details: ["size": "\(fileSize)", "limit": "\(maxBytes)"])
        }
        let guardrail = ExtractionGuard(timeout: timeout, isCancelled: isCancelled)
        var builder = DocumentBuilder()
        var block: [String] = []
        var line: [UInt8] = []
        var pages = 1
        var contentOnPage = false
        var bytesRead: Int64 = 0
        var isFirstChunk = true
        let total = fileSize.map { Int(clamping: $0) }

        func flushBlock() {
            if !block.isEmpty { builder.addParagraph(block.joined(separator: "\n")) }
            block.removeAll(keepingCapacity: true)
        }
        func endLine() {
            if line.last == 0x0D { line.removeLast() }
            let text = TextDecoding.decode(line)
            line.removeAll(keepingCapacity: true)
            if text.trimmingWhitespace().isEmpty { flushBlock() } else { block.append(text); contentOnPage = true }
        }

        while true {
            try guardrail.checkNow()
            let chunk: Data
            do {
                chunk = try handle.read(upToCount: chunkSize) ?? Data()
            } catch {
                throw JobError(.malformedFile, "could not read text file: \(error)")
            }
            if chunk.isEmpty { break }
            bytesRead += Int64(chunk.count)
            if bytesRead > maxBytes {
                throw JobError(
                    .fileTooLarge, "text file exceeds the limit of \(maxBytes) bytes",
                    details: ["limit": "\(maxBytes)"])
            }
            var bytes = chunk[...]
            if isFirstChunk {
                isFirstChunk = false
                if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
            }
            for byte in bytes {
                switch byte {
                case 0x0A:
                    endLine()
                case 0x0C:
                    endLine()
                    flushBlock()
                    builder.closePage()
                    pages += 1
                    contentOnPage = false
                default:
                    line.append(byte)
                    if line.count >= maxLineBytes { endLine() }
                }
            }
            progress(Int(clamping: bytesRead), total, "reading text")
        }
        if !line.isEmpty { endLine() }
        flushBlock()
        // A trailing form feed does not start a real page.
        if pages > 1, !contentOnPage { pages -= 1 }
        return builder.finish(pageCount: pages)
    }
}
