import APIAuth
import Foundation
import Hummingbird
import NIOCore
import Postgres
import Queue
import Storage

extension APIServer {
    static let rowJSON = """
        jsonb_build_object('row_number', r.row_number, 'sku', r.sku, 'name', r.name, 'description', r.description,
            'price', r.price, 'currency', r.currency, 'quantity', r.quantity, 'unit', r.unit, 'category', r.category,
            'brand', r.brand, 'barcode', r.barcode, 'classification', r.classification, 'old_price', r.old_price,
            'extra', coalesce(r.extra, '{}'::jsonb), 'issues', coalesce(r.issues, '[]'::jsonb), 'valid', r.valid)
        """

    static let csvColumns = [
        "row_number", "valid", "sku", "name", "description", "price", "currency", "quantity", "unit", "category", "brand",
        "barcode", "classification", "old_price", "issues",
    ]

    /// Results are served and committed only for completed jobs (a job row pruned by retention counts as
    /// completed: results are written only together with the fenced completion).
    static let ofCompletedJob = "NOT EXISTS (SELECT 1 FROM quarry.jobs j WHERE j.id = r.job_id AND j.status <> 'completed')"

    /// The live (unexpired) result of a completed job in the caller's org.
    func resultHeader(_ id: UUID, org: UUID) async throws -> (kind: String, summary: String, committed: Bool) {
        let r = try await pool.query(
            """
            SELECT kind, summary::text AS summary, committed_at IS NOT NULL AS committed FROM quarry.extraction_results r
            WHERE job_id = $1 AND org_id = $2 AND expires_at > now() AND \(Self.ofCompletedJob)
            """, [id, org]
        ).first
        guard let r else { throw APIError.notFound("no result for this job (not finished, expired or absent)") }
        return (r.string("kind") ?? "tabular", r.string("summary") ?? "{}", r.bool("committed") ?? false)
    }

    func jobResult(_ c: Call) async throws -> Response {
        let id = try c.uuid("id")
        let header = try await resultHeader(id, org: c.who.orgID)
        let format = c.query("format") ?? "json"
        guard format == "json" || format == "csv" else { throw APIError.badRequest("'format' must be json or csv") }
        let statusFilter = c.query("status").flatMap { $0.isEmpty ? nil : $0 }
        guard statusFilter == nil || statusFilter == "valid" || statusFilter == "invalid" else {
            throw APIError.badRequest("'status' must be valid or invalid")
        }
        let valid: Bool? = statusFilter.map { $0 == "valid" }
        let limit = try c.intQuery("limit", default: 100, range: 1...1000)
        var after = -1
        if let cursor = c.query("cursor"), !cursor.isEmpty {
            guard let f = Cursor.decode(cursor), f.count == 1, let n = Int(f[0]), n >= 0 else { throw APIError.badRequest("invalid cursor") }
            after = n
        }
        if header.kind == "document" {
            if format == "csv" { throw APIError.badRequest("CSV export is for tabular results") }
            let rows = try await pool.query(
                """
                SELECT jsonb_build_object('index', s.index, 'title', s.title, 'text', s.text, 'word_count', s.word_count)::text AS j, s.index
                FROM quarry.result_sections s WHERE s.job_id = $1 AND s.index > $2 ORDER BY s.index LIMIT $3
                """, [id, after, limit + 1])
            let page = Array(rows.prefix(limit))
            let next = rows.count > limit ? Envelope.encode(Cursor.encode([page.last?.string("index") ?? "0"])) : "null"
            return Envelope.raw(
                "{\"job_id\":\"\(id.uuidString.lowercased())\",\"kind\":\"document\",\"summary\":\(header.summary),\"sections\":[\(page.compactMap { $0.string("j") }.joined(separator: ","))],\"next_cursor\":\(next)}"
            )
        }
        if format == "csv" { return csvExport(id: id, valid: valid) }
        let rows = try await pool.query(
            """
            SELECT \(Self.rowJSON)::text AS j, r.row_number FROM quarry.result_rows r
            WHERE r.job_id = $1 AND ($2::boolean IS NULL OR r.valid = $2) AND r.row_number > $3
            ORDER BY r.row_number LIMIT $4
            """, [id, valid, after, limit + 1])
        let page = Array(rows.prefix(limit))
        let next = rows.count > limit ? Envelope.encode(Cursor.encode([page.last?.string("row_number") ?? "0"])) : "null"
        return Envelope.raw(
            "{\"job_id\":\"\(id.uuidString.lowercased())\",\"kind\":\"tabular\",\"summary\":\(header.summary),\"committed\":\(header.committed),\"rows\":[\(page.compactMap { $0.string("j") }.joined(separator: ","))],\"next_cursor\":\(next)}"
        )
    }

    /// Streams a CSV export page by page; cells that a spreadsheet would run as a formula are neutralised.
    func csvExport(id: UUID, valid: Bool?) -> Response {
        let pool = self.pool
        var headers = HTTPFields()
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"result-\(id.uuidString.lowercased()).csv\""
        let columns = Self.csvColumns
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: columns.joined(separator: ",") + "\r\n"))
            var after = -1
            while true {
                let rows = try await pool.query(
                    """
                    SELECT row_number, valid, sku, name, description, price, currency, quantity, unit, category, brand,
                           barcode, classification, old_price, issues::text AS issues
                    FROM quarry.result_rows WHERE job_id = $1 AND ($2::boolean IS NULL OR valid = $2) AND row_number > $3
                    ORDER BY row_number LIMIT 1000
                    """, [id, valid, after])
                if rows.isEmpty { break }
                var chunk = ""
                for r in rows {
                    chunk += columns.map { CSVCell.escape(r[$0] ?? "") }.joined(separator: ",") + "\r\n"
                    after = r.int("row_number") ?? after
                }
                try await writer.write(ByteBuffer(string: chunk))
                if rows.count < 1000 { break }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    // MARK: Commit

    func commitResult(_ c: Call) async throws -> Response {
        let id = try c.uuid("id")
        let org = c.who.orgID
        _ = try await c.body(limit: config.maxJSONBytes)
        let outcome: Result<String, APIError> = try await pool.transaction { conn in
            guard
                let r = try conn.query(
                    """
                    SELECT kind, committed_at IS NOT NULL AS committed, commit_summary::text AS cs, committed_at
                    FROM quarry.extraction_results r WHERE job_id = $1 AND org_id = $2 AND expires_at > now()
                      AND \(Self.ofCompletedJob) FOR UPDATE
                    """, [id, org]
                ).first
            else { return .failure(.notFound("no result for this job (not finished, expired or absent)")) }
            if r.bool("committed") == true {
                let summary = r.string("cs") ?? "{}"
                let out =
                    try conn.query(
                        "SELECT ($1::jsonb || jsonb_build_object('job_id', $2::uuid, 'committed_at', $3::timestamptz, 'already_committed', true))::text AS s",
                        [JSONText(summary), id, r.string("committed_at")]
                    ).first?.string("s") ?? summary
                return .success(out)
            }
            guard r.string("kind") == "tabular" else { return .failure(.conflict("only tabular results can be committed")) }
            let supplier =
                try conn.query(
                    "SELECT coalesce(payload->'config'->>'supplier_id', '') AS s FROM quarry.jobs WHERE id = $1", [id]
                ).first?.string("s") ?? ""
            let counts = try conn.query(
                """
                WITH src AS (
                    SELECT DISTINCT ON (sku) sku, name, price, currency, quantity, unit, extra
                    FROM quarry.result_rows WHERE job_id = $1 AND valid AND sku IS NOT NULL AND sku <> ''
                    ORDER BY sku, row_number DESC
                ), up AS (
                    INSERT INTO quarry.products AS p (org_id, supplier_id, sku, name, price, currency, quantity, unit, extra, updated_at, last_job_id)
                    SELECT $2, $3, sku, name, price, currency, quantity, unit, extra, now(), $1 FROM src
                    ON CONFLICT (org_id, supplier_id, sku) DO UPDATE
                    SET name = excluded.name, price = excluded.price, currency = excluded.currency, quantity = excluded.quantity,
                        unit = excluded.unit, extra = excluded.extra, updated_at = now(), last_job_id = excluded.last_job_id
                    WHERE (p.name, p.price, p.currency, p.quantity, p.unit, p.extra)
                          IS DISTINCT FROM (excluded.name, excluded.price, excluded.currency, excluded.quantity, excluded.unit, excluded.extra)
                    RETURNING (xmax = 0) AS inserted
                )
                SELECT (SELECT count(*) FROM up WHERE inserted) AS inserted, (SELECT count(*) FROM up WHERE NOT inserted) AS updated,
                       (SELECT count(*) FROM src) AS total
                """, [id, org, supplier]
            ).first
            let inserted = counts?.int("inserted") ?? 0
            let updated = counts?.int("updated") ?? 0
            let unchanged = (counts?.int("total") ?? 0) - inserted - updated
            let summary = Envelope.encode(["inserted": inserted, "updated": updated, "unchanged": unchanged, "supplier_id": supplier])
            let out =
                try conn.query(
                    """
                    UPDATE quarry.extraction_results SET committed_at = now(), commit_summary = $2::jsonb WHERE job_id = $1
                    RETURNING (commit_summary || jsonb_build_object('job_id', job_id, 'committed_at', committed_at, 'already_committed', false))::text AS s
                    """, [id, JSONText(summary)]
                ).first?.string("s") ?? summary
            return .success(out)
        }
        switch outcome {
        case .failure(let e): throw e
        case .success(let json):
            if !json.contains("\"already_committed\": true") {
                await audit(c, action: "result.commit", target: id.uuidString.lowercased(), details: [:])
            }
            return Envelope.raw(json)
        }
    }
}

/// CSV cells, RFC 4180 quoting plus formula-injection neutralisation.
enum CSVCell {
    static func escape(_ value: String) -> String {
        var v = value
        if let first = v.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { v = "'" + v }
        if v.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + v.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return v
    }
}
