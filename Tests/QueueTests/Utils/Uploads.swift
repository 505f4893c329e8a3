import Foundation
import Postgres
import QuarryTestSupport

/// Stores a file as an upload straight through SQL (the API's file store layout), for worker tests.
enum TestUploads {
    static func store(_ data: Data, fileName: String, org: UUID, pool: PostgresPool) async throws -> UUID {
        let hex = data.map { String(format: "%02x", $0) }.joined()
        let rows = try await pool.query(
            """
            WITH u AS (
              INSERT INTO quarry.uploads (org_id, file_name, size_bytes, sha256, complete)
              VALUES ($1, $2, $3, encode(sha256(decode($4, 'hex')), 'hex'), true) RETURNING id)
            INSERT INTO quarry.upload_chunks (upload_id, seq, data) SELECT id, 0, decode($4, 'hex') FROM u RETURNING upload_id
            """, [org, fileName, data.count, hex])
        guard let id = rows.first?.uuid("upload_id") else { throw PostgresError(code: .query, message: "upload insert failed") }
        return id
    }

    static func fixture(_ name: String) throws -> Data {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        for dir in ["Fixtures", "../ExtractionTests/Fixtures", "../ExtractionTests/Fixtures/docs"] {
            let url = here.appendingPathComponent(dir).appendingPathComponent(name)
            if let d = try? Data(contentsOf: url) { return d }
        }
        throw CocoaError(.fileNoSuchFile)
    }
}
