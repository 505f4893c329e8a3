import APIAuth
import Extraction
import Foundation
import Hummingbird
import Models
import Storage
import Synchronization

extension APIServer {
    /// Most data rows a preview shows (`?rows=`).
    static let previewMaxRows = 200
    /// How much of a delimited-text or JSON upload a preview copies out of the file store before reading it; the
    /// whole file is read only when the rows asked for are not all in this prefix. Workbooks are read whole (a ZIP's
    /// directory is at its end), but only up to the rows needed.
    static let previewTextPrefixBytes: Int64 = 2 << 20

    /// `GET /api/uploads/:id/preview?rows=20[&sheet=][&header_row=]`: the first rows of an upload as the extract job
    /// would read them, what was detected (format, encoding, dialect, sheets, header row and its confidence) and
    /// the mapping the job would make — what a mapping screen needs before a job is created.
    func previewUpload(_ c: Call) async throws -> Response {
        let id = try c.uuid("id")
        let rowLimit = try c.intQuery("rows", default: 20, range: 1...Self.previewMaxRows)
        let headerRow = try c.intQuery("header_row", default: 0, range: 1...Int(Int32.max))
        let sheet = c.query("sheet").flatMap { $0.isEmpty ? nil : $0 }
        guard let upload = try await files.info(uploadID: id, org: c.who.orgID) else { throw APIError.notFound("upload not found") }
        guard let claimed = FileFormat.fromExtension(of: upload.fileName), claimed.isTabular else {
            throw Self.notTabular(upload.fileName, format: FileFormat.fromExtension(of: upload.fileName)?.rawValue)
        }
        let config = ExtractionConfig(headerRow: headerRow == 0 ? nil : headerRow, sheet: sheet)
        let limits = ExtractionLimits(maxFileBytes: self.config.maxFileBytes)

        /// The preview, or nil when a copy cut short does not hold every row asked for (the read reached the cut,
        /// or failed on it), so the whole file must be read.
        func attempt(prefix: Int64?) async throws -> TablePreview? {
            let spool = try await spoolForPreview(upload, maxBytes: prefix)
            defer { try? FileManager.default.removeItem(atPath: spool.path) }
            do {
                let (preview, reachedEnd) = try await Self.offPool { isCancelled in
                    try TablePreview.read(
                        path: spool.path, fileName: upload.fileName, config: config, rowLimit: rowLimit, limits: limits,
                        isCancelled: isCancelled)
                }
                return spool.truncated && reachedEnd ? nil : preview
            } catch let e as JobError where spool.truncated && e.code != .invalidConfig {
                return nil
            }
        }
        let preview: TablePreview
        do {
            let isText = [.csv, .tsv, .json, .ndjson].contains(claimed)
            if isText, let fromPrefix = try await attempt(prefix: Self.previewTextPrefixBytes) {
                preview = fromPrefix
            } else {
                preview = try await attempt(prefix: nil) ?? TablePreview(format: claimed.rawValue)
            }
        } catch let e as JobError {
            throw Self.previewError(e, fileName: upload.fileName)
        }
        return Envelope.raw(try UploadPreview(uploadID: id.uuidString.lowercased(), fileName: upload.fileName, preview: preview).jsonText())
    }

    /// Copies the upload (or its first `maxBytes`, in whole stored chunks) to a temporary file.
    private func spoolForPreview(_ upload: UploadInfo, maxBytes: Int64?) async throws -> (path: String, truncated: Bool) {
        let path = NSTemporaryDirectory() + "/quarry-preview-\(upload.id.uuidString.lowercased())-\(UUID().uuidString.prefix(8))"
        guard FileManager.default.createFile(atPath: path, contents: nil), let out = FileHandle(forWritingAtPath: path) else {
            throw APIError.internalError
        }
        defer { try? out.close() }
        var written: Int64 = 0
        do {
            for try await chunk in files.readChunks(uploadID: upload.id) {
                try out.write(contentsOf: chunk)
                written += Int64(chunk.count)
                if let maxBytes, written >= maxBytes, written < upload.sizeBytes { return (path, true) }
            }
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        return (path, false)
    }

    /// Runs a blocking read on a global dispatch queue (not the cooperative pool); the reader sees the request's
    /// cancellation (a timeout, a client gone) through `isCancelled`.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable (_ isCancelled: @escaping @Sendable () -> Bool) throws -> T) async throws -> T {
        let cancelled = CancelFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async {
                    continuation.resume(with: Result { try body { cancelled.isSet } })
                }
            }
        } onCancel: {
            cancelled.set()
        }
    }

    static func notTabular(_ fileName: String, format: String?) -> APIError {
        APIError(
            status: .unprocessableContent, code: "NOT_TABULAR",
            message:
                "\(fileName) is a \(format ?? "document") document: previews show tables (csv, tsv, xlsx, xls, json, ndjson); extract jobs read its text",
            details: ["format": format ?? ""])
    }

    /// A reader's refusal as an answer: a bad `sheet`/`header_row` is the request's fault (400); a file Quarry
    /// cannot read is 422 with the code the extract job would fail with (`ENCRYPTED_FILE`, `MALFORMED_FILE`, …).
    static func previewError(_ e: JobError, fileName: String) -> APIError {
        switch e.code {
        case .invalidConfig: return .invalidConfig(e.message, details: e.details)
        case .unsupportedFormat: return notTabular(fileName, format: e.details["format"])
        case .fileTooLarge: return .tooLarge(e.message)
        case .cancelled: return .timeout
        case .extractionError: return .internalError
        default: return APIError(status: .unprocessableContent, code: e.code.rawValue, message: e.message, details: e.details)
        }
    }
}

/// The preview route's `data`: the upload's id and name, then ``TablePreview``'s members.
struct UploadPreview: Encodable {
    let uploadID: String
    let fileName: String
    let preview: TablePreview

    enum CodingKeys: String, CodingKey { case uploadID = "upload_id", fileName = "file_name" }

    func encode(to encoder: any Encoder) throws {
        try preview.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(uploadID, forKey: .uploadID)
        try container.encode(fileName, forKey: .fileName)
    }

    func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

/// A flag set once from a cancellation handler and read by a blocking reader.
final class CancelFlag: Sendable {
    private let state = Mutex(false)
    var isSet: Bool { state.withLock { $0 } }
    func set() { state.withLock { $0 = true } }
}
