public import Foundation
public import Postgres

/// ``FileStore`` over `quarry.uploads` and `quarry.upload_chunks` (migration 0002).
public struct PostgresFileStore: FileStore {
    public let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    public func createUpload(org: UUID, fileName: String, contentType: String?, expectedBytes: Int64?) async throws -> UUID {
        let rows = try await pool.query(
            "INSERT INTO quarry.uploads (org_id, file_name, content_type, expected_bytes) VALUES ($1, $2, $3, $4) RETURNING id",
            [org, fileName, contentType, expectedBytes])
        guard let id = rows.first?.uuid("id") else { throw PostgresError(code: .protocolViolation, message: "no upload id") }
        return id
    }

    public func append(uploadID: UUID, seq: Int, chunk: [UInt8]) async throws {
        try await pool.query(
            "INSERT INTO quarry.upload_chunks (upload_id, seq, data) VALUES ($1, $2, $3::bytea)",
            [uploadID, seq, Bytea(chunk)])
    }

    public func finish(uploadID: UUID, sizeBytes: Int64, sha256: String, format: String?) async throws {
        try await pool.query(
            "UPDATE quarry.uploads SET size_bytes = $2, sha256 = $3, format = $4, complete = true WHERE id = $1",
            [uploadID, sizeBytes, sha256, format])
    }

    public func delete(uploadID: UUID) async throws {
        try await pool.query("DELETE FROM quarry.uploads WHERE id = $1", [uploadID])
    }

    public func fail(uploadID: UUID, reason: String) async throws {
        try await pool.query(
            """
            WITH gone AS (DELETE FROM quarry.upload_chunks WHERE upload_id = $1)
            UPDATE quarry.uploads SET failure = $2 WHERE id = $1 AND NOT complete
            """, [uploadID, reason])
    }

    public func state(uploadID: UUID, org: UUID?) async throws -> UploadState? {
        let rows = try await pool.query(
            """
            SELECT id, org_id, file_name, content_type, size_bytes, sha256, format, complete, failure, expected_bytes
            FROM quarry.uploads WHERE id = $1 AND ($2::uuid IS NULL OR org_id = $2)
            """, [uploadID, org])
        guard let r = rows.first, let id = r.uuid("id"), let o = r.uuid("org_id") else { return nil }
        return UploadState(
            id: id, orgID: o, fileName: r.string("file_name") ?? "", complete: r.bool("complete") ?? false,
            failure: r.string("failure"), sizeBytes: r.int64("size_bytes") ?? 0, sha256: r.string("sha256") ?? "",
            format: r.string("format"), contentType: r.string("content_type"), expectedBytes: r.int64("expected_bytes"))
    }

    public func chunk(uploadID: UUID, seq: Int) async throws -> [UInt8]? {
        // Binary result format: the chunk's bytes as stored, no hex text to decode.
        try await pool.withConnection {
            try $0.queryBytes("SELECT data FROM quarry.upload_chunks WHERE upload_id = $1 AND seq = $2", [uploadID, seq])
        }
    }

    public func info(uploadID: UUID, org: UUID?) async throws -> UploadInfo? {
        let rows = try await pool.query(
            """
            SELECT id, org_id, file_name, content_type, size_bytes, sha256, format FROM quarry.uploads
            WHERE id = $1 AND ($2::uuid IS NULL OR org_id = $2) AND complete
            """, [uploadID, org])
        guard let r = rows.first, let id = r.uuid("id"), let o = r.uuid("org_id") else { return nil }
        return UploadInfo(
            id: id, orgID: o, fileName: r.string("file_name") ?? "", contentType: r.string("content_type"),
            sizeBytes: r.int64("size_bytes") ?? 0, sha256: r.string("sha256") ?? "", format: r.string("format"))
    }

    /// Reads one chunk row per query, so only one chunk is in memory at a time.
    public func readChunks(uploadID: UUID) -> AsyncThrowingStream<[UInt8], any Error> {
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    var seq = 0
                    while !Task.isCancelled {
                        guard let bytes = try await chunk(uploadID: uploadID, seq: seq) else { break }
                        continuation.yield(bytes)
                        seq += 1
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
