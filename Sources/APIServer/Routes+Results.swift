import APIAuth
import Foundation
import Hummingbird
import JobConfig
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
            SELECT \(Self.rowJSON)::text AS j, r.row_number FROM quarry.result_page($1, $2::boolean, $3, $4) r
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
                    FROM quarry.result_page($1, $2::boolean, $3, 1000)
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

    /// `POST …/commit {"remove_missing"?: bool, "save_profile"?: bool}`: applies the stored diff through
    /// `quarry.commit_result` (new and updated rows, approved held rows; with `remove_missing`, deletes the
    /// products the diff reported removed). Refused with 409 `REVIEW_REQUIRED` while the job needs a review.
    /// Idempotent: a second commit answers the first one's summary.
    func commitResult(_ c: Call) async throws -> Response {
        let id = try c.uuid("id")
        let org = c.who.orgID
        let options = try CommitOptions(body: try await c.body(limit: config.maxJSONBytes))
        let who = c.who.tokenID
        let outcome: Result<String, APIError> = try await pool.transaction { conn in
            guard
                let r = try conn.query(
                    """
                    SELECT kind, committed_at IS NOT NULL AS committed, commit_summary::text AS cs, committed_at,
                           coalesce(supplier_id, '') AS supplier, review_state, summary->>'header_fingerprint' AS fingerprint,
                           catalog_version
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
            if r.string("review_state") == "needs_review" {
                return .failure(
                    APIError(
                        status: .conflict, code: "REVIEW_REQUIRED",
                        message: "the price guard held this job: decide its held rows with POST …/review before committing"))
            }
            let supplier = r.string("supplier") ?? ""
            if let seen = r.int("catalog_version") {
                // Commits of one supplier queue on its version row; a diff older than the catalog is refused.
                try conn.query(
                    "INSERT INTO quarry.catalog_versions (org_id, supplier_id, version) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING", [org, supplier])
                let now =
                    try conn.query(
                        "SELECT version FROM quarry.catalog_versions WHERE org_id = $1 AND supplier_id = $2 FOR UPDATE", [org, supplier]
                    ).first?.int("version") ?? 0
                if now != seen {
                    return .failure(
                        APIError(
                            status: .conflict, code: "DIFF_STALE",
                            message:
                                "the catalog of supplier '\(supplier)' changed after this diff was computed (another commit); retry the job to recompute it"
                        ))
                }
            }
            var profileConfig: String?
            if options.saveProfile {
                switch try Self.explicitMapping(of: id, supplier: supplier, on: conn) {
                case .failure(let e): return .failure(e)
                case .success(let json): profileConfig = json
                }
            }
            let applied = try conn.query(
                "SELECT inserted, updated, removed FROM quarry.commit_result($1, $2, $3, $4)", [id, org, supplier, options.removeMissing]
            ).first
            let counts = try conn.query(
                "SELECT applied, unchanged, held_approved, held_skipped FROM quarry.commit_counts($1)", [id]
            ).first
            let inserted = applied?.int("inserted") ?? 0
            let updated = applied?.int("updated") ?? 0
            var summary: [String: Any] = [
                "inserted": inserted, "updated": updated,
                "unchanged": (counts?.int("unchanged") ?? 0) + (counts?.int("applied") ?? 0) - inserted - updated,
                "removed": applied?.int("removed") ?? 0, "held_approved": counts?.int("held_approved") ?? 0,
                "held_skipped": counts?.int("held_skipped") ?? 0, "supplier_id": supplier,
            ]
            if let profileConfig {
                try conn.query(
                    """
                    INSERT INTO quarry.supplier_profiles (org_id, supplier_id, config, header_fingerprint, updated_by)
                    VALUES ($1, $2, $3::jsonb, $4, $5)
                    ON CONFLICT (org_id, supplier_id) DO UPDATE SET config = excluded.config,
                        header_fingerprint = excluded.header_fingerprint, updated_at = now(), updated_by = excluded.updated_by
                    """, [org, supplier, JSONText(profileConfig), r.string("fingerprint"), who])
                summary["profile_saved"] = true
            }
            let out =
                try conn.query(
                    """
                    UPDATE quarry.extraction_results SET committed_at = now(), commit_summary = $2::jsonb WHERE job_id = $1
                    RETURNING (commit_summary || jsonb_build_object('job_id', job_id, 'committed_at', committed_at, 'already_committed', false))::text AS s
                    """, [id, JSONText(Envelope.encode(summary))]
                ).first?.string("s") ?? Envelope.encode(summary)
            return .success(out)
        }
        switch outcome {
        case .failure(let e): throw e
        case .success(let json):
            if !json.contains("\"already_committed\": true") {
                await audit(
                    c, action: "result.commit", target: id.uuidString.lowercased(),
                    details: ["remove_missing": options.removeMissing, "save_profile": options.saveProfile])
            }
            return Envelope.raw(json)
        }
    }

    /// The job's config as a profile (its explicit `column_mapping` and the rest, without `supplier_id`), for
    /// `save_profile`; refused when the job had no explicit mapping or no supplier.
    static func explicitMapping(of job: UUID, supplier: String, on conn: PostgresConnection) throws -> Result<String, APIError> {
        guard !supplier.isEmpty else { return .failure(.badRequest("save_profile needs a job with a supplier_id")) }
        let raw = try conn.query("SELECT coalesce(payload->'config', '{}')::text AS c FROM quarry.jobs WHERE id = $1", [job]).first?.string("c")
        guard var config = try? ExtractionConfig.decode(json: Data((raw ?? "{}").utf8)), config.columnMapping != nil else {
            return .failure(.badRequest("save_profile needs a job with an explicit column_mapping"))
        }
        config.supplierId = nil
        guard let data = try? JSONEncoder().encode(config) else { return .failure(.internalError) }
        return .success(String(decoding: data, as: UTF8.self))
    }
}

/// The commit body: `{"remove_missing"?: bool, "save_profile"?: bool}` (an empty body is all defaults).
struct CommitOptions: Sendable {
    var removeMissing = false
    var saveProfile = false

    init(body: [UInt8]) throws {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return }
        guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: Data(body)) else {
            throw APIError.badRequest("the commit body must be a JSON object")
        }
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            guard key == "remove_missing" || key == "save_profile" else {
                throw APIError.badRequest("unknown field '\(key)' in the commit body (remove_missing, save_profile)")
            }
            guard case .bool(let flag) = value else { throw APIError.badRequest("'\(key)' must be true or false") }
            if key == "remove_missing" { removeMissing = flag } else { saveProfile = flag }
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
