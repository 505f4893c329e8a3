import Foundation
import Models

/// Turns PDF, DOCX, HTML and plain-text documents into sections, paragraphs and word/page counts.
///
/// Every failure is a `JobError`: `.encryptedFile`, `.malformedFile`, `.zipBomb`, `.xmlForbidden`,
/// `.fileTooLarge`, `.timeLimitExceeded`, `.cancelled`, `.fileNotFound`.
public enum DocumentExtractor {
    /// Extracts the text of the document at `path`.
    ///
    /// - Parameters:
    ///   - kind: the document format (decided by the caller, e.g. from the detected file format).
    ///   - maxUnpackedBytes: the budget for inflated/decoded bytes: DOCX `word/document.xml` inflated size
    ///     (`.zipBomb` beyond), HTML/TXT file size and PDF text output (`.fileTooLarge` beyond).
    ///   - timeout: wall-clock limit; child processes are killed when it passes (`.timeLimitExceeded`).
    ///   - isCancelled: polled while working; `true` stops with `.cancelled` (may be called from another thread).
    ///   - progress: `(done, total, step)` — pages for PDF, paragraphs for DOCX, bytes for TXT.
    public static func extract(
        kind: DocumentKind, path: String, maxUnpackedBytes: Int64, timeout: Duration,
        isCancelled: @escaping @Sendable () -> Bool = { false },
        progress: (_ done: Int, _ total: Int?, _ step: String) -> Void = { _, _, _ in }
    ) throws -> DocumentResult {
        guard FileManager.default.fileExists(atPath: path) else {
            throw JobError(.fileNotFound, "document not found", details: ["path": path])
        }
        if isCancelled() { throw JobError.cancelledExtraction }
        do {
            switch kind {
            case .pdf:
                return try PDFDocumentExtractor.extract(
                    path: path, maxOutputBytes: maxUnpackedBytes, timeout: timeout,
                    isCancelled: isCancelled, progress: progress)
            case .docx:
                return try DOCXDocumentExtractor.extract(
                    path: path, maxUnpackedBytes: maxUnpackedBytes, timeout: timeout,
                    isCancelled: isCancelled, progress: progress)
            case .html:
                return try HTMLDocumentExtractor.extract(
                    path: path, maxBytes: maxUnpackedBytes, timeout: timeout,
                    isCancelled: isCancelled, progress: progress)
            case .txt:
                return try TextDocumentExtractor.extract(
                    path: path, maxBytes: maxUnpackedBytes, timeout: timeout,
                    isCancelled: isCancelled, progress: progress)
            }
        } catch let error as JobError {
            throw error
        } catch {
            throw JobError(.extractionError, "\(kind.rawValue) extraction failed: \(error)")
        }
    }
}
