import APIAuth
import Foundation
import Hummingbird
import NIOCore
import Postgres

/// The reject file (issue 16, part 4, CSV only so far): the invalid rows as the reader delivered their cells, in
/// source column order under the source header, plus `row_number`, `column`, `code` and `message` (the row's
/// first error, else its first issue) — ready to send back to the supplier.
extension APIServer {
    func jobRejects(_ c: Call) async throws -> Response {
        let id = try c.uuid("id")
        let format = c.query("format") ?? "csv"
        guard format == "csv" else { throw APIError.badRequest("'format' must be csv (xlsx reject files are not implemented yet)") }
        guard
            let r = try await pool.query(
                """
                SELECT kind, coalesce(summary->'source_header', '[]'::jsonb)::text AS header FROM quarry.extraction_results r
                WHERE job_id = $1 AND org_id = $2 AND expires_at > now() AND \(Self.ofCompletedJob)
                """, [id, c.who.orgID]
            ).first
        else { throw APIError.notFound("no result for this job (not finished, expired or absent)") }
        guard r.string("kind") == "tabular" else { throw APIError.conflict("only tabular results have a reject file") }
        let header = (try? JSONDecoder().decode([String].self, from: Data((r.string("header") ?? "[]").utf8))) ?? []
        let pool = self.pool
        var headers = HTTPFields()
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"rejects-\(id.uuidString.lowercased()).csv\""
        let body = ResponseBody { writer in
            let line = (header + ["row_number", "column", "code", "message"]).map(CSVCell.escape).joined(separator: ",")
            try await writer.write(ByteBuffer(string: line + "\r\n"))
            var after = -1
            while true {
                let rows = try await pool.query(
                    """
                    SELECT r.row_number, coalesce(r.source, '[]'::jsonb)::text AS source, i.issue->>'column' AS col,
                           i.issue->>'code' AS code, i.issue->>'message' AS message
                    FROM quarry.result_rows r
                    LEFT JOIN LATERAL (
                        SELECT e AS issue FROM jsonb_array_elements(coalesce(r.issues, '[]'::jsonb)) WITH ORDINALITY AS x(e, n)
                        ORDER BY (e->>'severity' = 'error') DESC, n LIMIT 1
                    ) i ON true
                    WHERE r.job_id = $1 AND NOT r.valid AND r.row_number > $2 ORDER BY r.row_number LIMIT 1000
                    """, [id, after])
                if rows.isEmpty { break }
                var chunk = ""
                for row in rows {
                    var cells = (try? JSONDecoder().decode([String].self, from: Data((row.string("source") ?? "[]").utf8))) ?? []
                    if cells.count < header.count { cells += Array(repeating: "", count: header.count - cells.count) }
                    cells += [row.string("row_number") ?? "", row.string("col") ?? "", row.string("code") ?? "", row.string("message") ?? ""]
                    chunk += cells.map(CSVCell.escape).joined(separator: ",") + "\r\n"
                    after = row.int("row_number") ?? after
                }
                try await writer.write(ByteBuffer(string: chunk))
                if rows.count < 1000 { break }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}
