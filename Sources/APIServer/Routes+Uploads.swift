import APIAuth
import Extraction
import Foundation
import Hummingbird
import Queue
import Storage

extension APIServer {
    /// `POST /api/uploads`: raw body (`?filename=`), `multipart/form-data` (field `file`) or seed 001's JSON
    /// (`fileName`, base64 `fileData`). Streams into the file store; never holds the whole file.
    ///
    /// `?extract=true` (optional `config` — the job config as URL-encoded JSON — and `priority`) also creates the
    /// extract job and answers with its `job_id`. For a raw body the job is enqueued before the first byte is stored:
    /// a worker parses CSV/TSV/JSON/NDJSON chunks as they are committed, and copies other formats (a workbook's index
    /// is at its end) to its spool as they are committed, reading them once complete; multipart and JSON bodies are
    /// enqueued once the upload is complete. A body that fails after the job exists marks the upload failed, and the
    /// job fails `UPLOAD_FAILED`.
    func upload(_ c: Call) async throws -> Response {
        let contentType = c.request.headers[.contentType] ?? ""
        let lower = contentType.lowercased()
        if lower.hasPrefix("multipart/form-data") {
            return try await uploadMultipart(c, contentType: contentType)
        } else if lower.hasPrefix("application/json") {
            return try await uploadJSON(c)
        }
        guard let name = c.query("filename"), !name.isEmpty else {
            throw APIError.badRequest("raw uploads need ?filename=NAME (or send multipart/form-data or JSON)")
        }
        let length = c.request.headers[.contentLength].flatMap(Int64.init)
        if let length, length > config.maxFileBytes { throw tooLarge() }
        let extract = try extractRequest(c)
        let writer = try await beginWriter(c, fileName: name, contentType: contentType.isEmpty ? nil : contentType, expectedBytes: length)
        var job: UUID?
        if let extract, FileFormat.fromExtension(of: name) != nil {
            do { job = try await enqueueExtract(c, upload: writer.uploadID, extract) } catch {
                await writer.abort()
                throw error
            }
        }
        do {
            for try await buffer in c.request.body {
                try await write(writer, Array(buffer.readableBytesView), fileName: name)
            }
        } catch {
            await writer.abort(reason: job == nil ? nil : Self.failureReason(error))
            throw mapUploadError(error)
        }
        return try await finishUpload(c, writer, fileName: name, extract: extract, job: job)
    }

    /// What `?extract=true` asks for: the job's config and priority, checked as `POST /api/extraction/jobs` checks them.
    struct ExtractRequest {
        var config: JSONValue
        var priority: Int
    }

    private func extractRequest(_ c: Call) throws -> ExtractRequest? {
        guard let raw = c.query("extract"), ["true", "1"].contains(raw.lowercased()) else { return nil }
        var cfg: JSONValue?
        if let text = c.query("config"), !text.isEmpty {
            guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
                throw APIError.badRequest("'config' is not valid JSON")
            }
            cfg = value
        }
        let priority = try c.intQuery("priority", default: 0, range: -1000...1000)
        try checkPriorityCeiling(priority, c.who)
        return ExtractRequest(config: try Self.checkedConfig(cfg), priority: priority)
    }

    private func enqueueExtract(_ c: Call, upload: UUID, _ request: ExtractRequest) async throws -> UUID {
        let payload = JSONValue.object(["upload_id": .string(upload.uuidString.lowercased()), "config": request.config]).jsonText
        let id = try await jobs.enqueue(org: c.who.orgID, kind: "extract", payload: payload, priority: request.priority, uploadID: upload)
        await audit(c, action: "job.create", target: id.uuidString.lowercased(), details: ["upload_id": upload.uuidString.lowercased()])
        return id
    }

    /// The reason stored on a failed upload (what the job following it reports): the client-facing message.
    static func failureReason(_ error: any Error) -> String {
        if let e = error as? APIError { return e.message }
        if let e = error as? FileStoreError, e.code == .tooLarge { return "the file exceeds the size limit" }
        return "the request body ended before the upload was complete"
    }

    private func tooLarge() -> APIError {
        .tooLarge("files are limited to \(config.maxFileBytes >> 20) MB (EXTRACTION_MAX_FILE_SIZE_MB)")
    }

    private func mapUploadError(_ error: any Error) -> any Error {
        if let e = error as? FileStoreError, e.code == .tooLarge { return tooLarge() }
        return error
    }

    private func beginWriter(_ c: Call, fileName: String, contentType: String?, expectedBytes: Int64? = nil) async throws -> UploadWriter {
        if case .unsupportedExtension(let ext) = FormatSniffer.check(fileName: fileName, head: []) {
            throw APIError.unsupported("unsupported file type '.\(ext)'; accepted: csv, tsv, txt, json, ndjson, html, pdf, xlsx, xls, docx")
        }
        guard fileName.utf8.count <= 255, !fileName.contains("/"), !fileName.contains("\0") else {
            throw APIError.badRequest("invalid file name")
        }
        return try await files.beginUpload(
            org: c.who.orgID, fileName: fileName, contentType: contentType, maxBytes: config.maxFileBytes, expectedBytes: expectedBytes)
    }

    /// Writes bytes, and rejects a magic-byte mismatch as soon as the head is known.
    private func write(_ writer: UploadWriter, _ bytes: [UInt8], fileName: String) async throws {
        let before = await writer.head.count
        try await writer.write(bytes)
        let head = await writer.head
        if before < 4096 && head.count == 4096 {
            switch FormatSniffer.check(fileName: fileName, head: head) {
            case .mismatch(let f): throw APIError.unsupported("file content does not look like \(f)")
            case .encrypted: throw APIError.encrypted()
            case .ok, .unsupportedExtension: break
            }
        }
    }

    private func finishUpload(
        _ c: Call, _ writer: UploadWriter, fileName: String, extract: ExtractRequest? = nil, job: UUID? = nil
    ) async throws -> Response {
        func refuse(_ error: APIError) async -> APIError {
            await writer.abort(reason: job == nil ? nil : error.message)
            return error
        }
        let head = await writer.head
        let format: String
        switch FormatSniffer.check(fileName: fileName, head: head) {
        case .ok(let f): format = f
        case .mismatch(let f): throw await refuse(APIError.unsupported("file content does not look like \(f)"))
        case .encrypted: throw await refuse(APIError.encrypted())
        case .unsupportedExtension(let e): throw await refuse(APIError.unsupported("unsupported file type '.\(e)'"))
        }
        if head.isEmpty { throw await refuse(APIError.badRequest("empty file")) }
        let done: (sizeBytes: Int64, sha256: String)
        do { done = try await writer.finish(format: format) } catch {
            await writer.abort(reason: job == nil ? nil : Self.failureReason(error))
            throw error
        }
        let id = writer.uploadID.uuidString.lowercased()
        await audit(c, action: "upload.create", target: id, details: ["file_name": fileName, "size_bytes": done.sizeBytes, "format": format])
        var body: [String: Any] = [
            "upload_id": id, "size_bytes": done.sizeBytes, "sha256": done.sha256, "format": format, "file_name": fileName,
        ]
        if let extract {
            var jobID = job
            if jobID == nil { jobID = try await enqueueExtract(c, upload: writer.uploadID, extract) }
            body["job_id"] = jobID?.uuidString.lowercased()
        }
        return Envelope.ok(body, status: .created)
    }

    private func uploadMultipart(_ c: Call, contentType: String) async throws -> Response {
        guard let boundary = MultipartParser.boundary(from: contentType) else {
            throw APIError.badRequest("multipart/form-data without a boundary")
        }
        if let len = c.request.headers[.contentLength].flatMap(Int64.init), len > config.maxFileBytes + 64 * 1024 { throw tooLarge() }
        let extract = try extractRequest(c)
        var parser = MultipartParser(boundary: boundary)
        var writer: UploadWriter?
        var fileName: String?
        var inFile = false
        var fileDone = false
        do {
            for try await buffer in c.request.body {
                for event in try parser.feed(Array(buffer.readableBytesView)) {
                    switch event {
                    case .partStart(let headers):
                        let d = MultipartParser.disposition(headers["content-disposition"])
                        if d.name == "file", !fileDone, writer == nil {
                            guard let name = d.filename, !name.isEmpty else {
                                throw APIError.badRequest("the 'file' part needs a filename")
                            }
                            fileName = name
                            writer = try await beginWriter(c, fileName: name, contentType: headers["content-type"])
                            inFile = true
                        }
                    case .data(let bytes):
                        if inFile, let writer, let fileName { try await write(writer, bytes, fileName: fileName) }
                    case .partEnd:
                        if inFile { fileDone = true }
                        inFile = false
                    }
                }
            }
        } catch {
            await writer?.abort()
            throw mapUploadError(error)
        }
        guard let writer, let fileName, fileDone else {
            await writer?.abort()
            throw APIError.badRequest("multipart body has no complete 'file' part")
        }
        return try await finishUpload(c, writer, fileName: fileName, extract: extract)
    }

    private func uploadJSON(_ c: Call) async throws -> Response {
        let body = try JSONBody.parseObject(
            try await c.body(limit: config.maxJSONBytes),
            allowed: ["fileName", "fileData", "contentType", "mimeType", "sizeBytes"])
        guard let name = try JSONBody.string(body["fileName"], field: "fileName"), !name.isEmpty else {
            throw APIError.badRequest("'fileName' is required")
        }
        guard var encoded = try JSONBody.string(body["fileData"], field: "fileData") else {
            throw APIError.badRequest("'fileData' (base64) is required")
        }
        let contentType = try JSONBody.string(body["contentType"], field: "contentType") ?? JSONBody.string(body["mimeType"], field: "mimeType")
        _ = try JSONBody.int(body["sizeBytes"], field: "sizeBytes", range: 0...Int(Int32.max))
        if encoded.hasPrefix("data:"), let comma = encoded.firstIndex(of: ",") { encoded = String(encoded[encoded.index(after: comma)...]) }
        guard let data = Data(base64Encoded: encoded, options: .ignoreUnknownCharacters) else {
            throw APIError.badRequest("'fileData' is not valid base64")
        }
        if Int64(data.count) > config.maxFileBytes { throw tooLarge() }
        let extract = try extractRequest(c)
        let writer = try await beginWriter(c, fileName: name, contentType: contentType)
        do {
            try await write(writer, Array(data), fileName: name)
        } catch {
            await writer.abort()
            throw mapUploadError(error)
        }
        return try await finishUpload(c, writer, fileName: name, extract: extract)
    }
}
