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
        try c.copyIn(ResultStore.sectionCopyStatement) { write in
            var e = CopyBinaryEncoder()
            e.start()
            for s in doc.sections {
                e.row(fields: 5)
                e.field(jobID)
                e.field(int4: Int32(clamping: s.index))
                e.field(s.title)
                e.field(s.text)
                e.field(int4: Int32(clamping: s.wordCount))
                try e.flush(to: write)
            }
            e.finish()
            try e.flush(to: write, ifAtLeast: 0)
        }
        return doc
    }
}
