import Extraction
import Foundation
import Models
import Postgres

/// An upload's metadata.
struct UploadRecord: Sendable {
    var id: UUID
    var orgID: UUID
    var fileName: String
    var sizeBytes: Int64
    var sha256: String
    var complete: Bool
}

/// Streams an upload out of `quarry.upload_chunks` into a local spool file, one chunk at a time.
enum UploadSpool {
    static func load(_ id: UUID, on c: PostgresConnection) throws -> UploadRecord? {
        guard
            let r = try c.query(
                "SELECT id, org_id, file_name, size_bytes, coalesce(sha256, '') AS sha256, complete FROM quarry.uploads WHERE id = $1", [id]
            ).first, let org = r.uuid("org_id")
        else { return nil }
        return UploadRecord(
            id: id, orgID: org, fileName: r.string("file_name") ?? "upload", sizeBytes: r.int64("size_bytes") ?? 0,
            sha256: r.string("sha256") ?? "", complete: r.bool("complete") ?? false)
    }

    /// Copies the upload to `path`; calls `progress` with bytes written; returns bytes written.
    static func copy(
        _ upload: UploadRecord, to path: String, on c: PostgresConnection, maxBytes: Int64, isCancelled: () -> Bool,
        progress: (Int64) -> Void
    ) throws -> Int64 {
        guard FileManager.default.createFile(atPath: path, contents: nil), let out = FileHandle(forWritingAtPath: path) else {
            throw JobError(.extractionError, "cannot create spool file")
        }
        defer { try? out.close() }
        var written: Int64 = 0
        // The file store writes chunks as seq 0, 1, 2, … (Storage.PostgresFileStore); one binary
        // query per chunk, no hex decoding.
        var seq = 0
        while let bytes = try c.queryBytes(
            "SELECT data FROM quarry.upload_chunks WHERE upload_id = $1 AND seq = $2", [upload.id, seq])
        {
            if isCancelled() { throw JobError.cancelledExtraction }
            written += Int64(bytes.count)
            if written > maxBytes {
                throw JobError(.fileTooLarge, "file exceeds the \(maxBytes / 1_048_576) MB limit")
            }
            out.write(Data(bytes))
            progress(written)
            seq += 1
        }
        return written
    }
}
