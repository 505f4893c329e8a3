import Extraction
import Foundation
import Models
import Postgres

/// Extracts a document's text per page/section and stores it in `quarry.result_sections`.
enum DocumentPipeline {
    static func run(
        jobID: UUID, format: FileFormat, path: String, settings: ExtractionSettings, isCancelled: @escaping @Sendable () -> Bool,
        progress: ProgressBox, on c: PostgresConnection
    ) throws -> DocumentResult {
        let kind: DocumentKind
        switch format {
        case .pdf: kind = .pdf
        case .docx: kind = .docx
        case .html: kind = .html
        default: kind = .txt
        }
        let doc = try DocumentExtractor.extract(
            kind: kind, path: path, maxUnpackedBytes: settings.maxUnpackedBytes, timeout: settings.documentTimeout,
            isCancelled: isCancelled
        ) { done, total, step in
            let pct = total.map { $0 > 0 ? 10 + 80 * done / $0 : 50 } ?? 50
            progress.set(percent: min(pct, 90), step: step, stage: "extracting", rows: Int64(done), rowsTotal: total.map(Int64.init))
        }
        let id = jobID.uuidString.lowercased()
        try c.copyIn("COPY quarry.result_sections (job_id, index, title, text, word_count) FROM STDIN") { write in
            var e = CopyTextEncoder()
            for s in doc.sections {
                e.field(id)
                e.field(String(s.index))
                e.field(s.title)
                e.field(s.text)
                e.field(String(s.wordCount))
                e.endRow()
                if e.count > 256 * 1024 {
                    try e.buffer.withUnsafeBytes(write)
                    e.reset()
                }
            }
            if e.count > 0 { try e.buffer.withUnsafeBytes(write) }
        }
        return doc
    }
}
