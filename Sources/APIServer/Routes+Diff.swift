import APIAuth
import Foundation
import Hummingbird
import Postgres

/// The catalog diff and the price guard's review (issue 16). The diff is what the worker's classification
/// stored (each row's `change` in its block, `result_removed`), read here page by page; the commit applies the
/// same rows. Decisions on held rows live in `result_decisions`.
extension APIServer {
    static let diffChanges: Set<String> = ["new", "updated", "unchanged", "held", "removed"]

    static let diffRowJSON = """
        jsonb_build_object('row_number', r.row_number, 'sku', r.sku, 'name', r.name, 'change', r.change,
            'old_price', CASE WHEN r.change <> 'new' THEN coalesce(r.old_price, r.price) END, 'new_price', r.price,
            'price_change', CASE WHEN r.old_price IS NOT NULL THEN r.price - r.old_price END,
            'price_change_pct', CASE WHEN r.old_price > 0 THEN round((r.price - r.old_price) / r.old_price * 100, 2) END,
            'currency', r.currency, 'old_currency', r.old_currency,
            'currency_changed', r.change <> 'new' AND r.old_currency IS DISTINCT FROM r.currency, 'decision',
            (SELECT d.decision FROM quarry.result_decisions d WHERE d.job_id = $1 AND d.row_number = r.row_number))
        """

    /// The diff header: the result's diff summary, review and supplier, for a completed tabular job of the org.
    func diffHeader(_ id: UUID, org: UUID) async throws -> String {
        let r = try await pool.query(
            """
            SELECT kind, jsonb_build_object('job_id', job_id, 'supplier_id', supplier_id, 'committed', committed_at IS NOT NULL,
                'summary', coalesce(summary->'diff', 'null'::jsonb),
                'review', jsonb_build_object('state', review_state, 'reviewed_by', reviewed_by, 'reviewed_at', reviewed_at,
                    'price_guard', price_guard))::text AS h
            FROM quarry.extraction_results r
            WHERE job_id = $1 AND org_id = $2 AND expires_at > now() AND \(Self.ofCompletedJob)
            """, [id, org]
        ).first
        guard let r else { throw APIError.notFound("no result for this job (not finished, expired or absent)") }
        guard r.string("kind") == "tabular" else { throw APIError.conflict("only tabular results have a catalog diff") }
        return r.string("h") ?? "{}"
    }

    /// `GET …/diff?change=new|updated|unchanged|held|removed&limit=&cursor=`: keyset pages (row number; SKU for
    /// `removed`). Without `change`, every row the commit considers (not `removed`).
    func jobDiff(_ c: Call) async throws -> Response {
        let id = try c.uuid("id")
        let change = c.query("change").flatMap { $0.isEmpty ? nil : $0 }
        if let change, !Self.diffChanges.contains(change) {
            throw APIError.badRequest("'change' must be one of new, updated, unchanged, held, removed")
        }
        let limit = try c.intQuery("limit", default: 100, range: 1...1000)
        let cursor = try c.query("cursor").flatMap { raw -> String? in
            guard !raw.isEmpty else { return nil }
            guard let f = Cursor.decode(raw) else { throw APIError.badRequest("invalid cursor") }
            return f.joined(separator: "|")
        }
        let header = try await diffHeader(id, org: c.who.orgID)
        let rows: PostgresRows
        let key: String
        if change == "removed" {
            key = "sku"
            rows = try await pool.query(
                """
                SELECT jsonb_build_object('sku', x.sku, 'name', x.name, 'change', 'removed', 'old_price', x.price,
                    'old_currency', x.currency)::text AS j, x.sku
                FROM quarry.result_removed x WHERE x.job_id = $1 AND ($2::text IS NULL OR x.sku > $2) ORDER BY x.sku LIMIT $3
                """, [id, cursor, limit + 1], prepare: true)
        } else {
            key = "row_number"
            var after = -1
            if let cursor {
                guard let n = Int(cursor), n >= 0 else { throw APIError.badRequest("invalid cursor") }
                after = n
            }
            // Blocks without a row of the wanted change are skipped on their summaries (quarry.diff_page).
            rows = try await pool.query(
                "SELECT \(Self.diffRowJSON)::text AS j, r.row_number FROM quarry.diff_page($1, $2::text, $3, $4) r",
                [id, change, after, limit + 1], prepare: true)
        }
        let page = Array(rows.prefix(limit))
        let next = rows.count > limit ? Envelope.encode(Cursor.encode([page.last?.string(key) ?? ""])) : "null"
        let body = "{\"rows\":[\(page.compactMap { $0.string("j") }.joined(separator: ","))],\"next_cursor\":\(next)}"
        return Envelope.raw(String(header.dropLast()) + "," + body.dropFirst())
    }

    // MARK: Review

    /// `POST …/review {"approve": ["sku", …] | "all", "reject": ["sku", …] | "all"}`: records decisions on held
    /// rows, with who and when (audited). 409 when the job has no held rows or is committed; 400 naming a SKU that
    /// is not a held row of the job.
    func reviewResult(_ c: Call) async throws -> Response {
        let id = try c.uuid("id")
        let org = c.who.orgID
        let body = try await c.body(limit: config.maxJSONBytes)
        let who = c.who.tokenID
        let outcome: Result<(String, ReviewRequest), APIError> = try await pool.transaction { conn in
            guard
                let r = try conn.query(
                    """
                    SELECT kind, committed_at IS NOT NULL AS committed, review_state FROM quarry.extraction_results r
                    WHERE job_id = $1 AND org_id = $2 AND expires_at > now() AND \(Self.ofCompletedJob) FOR UPDATE
                    """, [id, org]
                ).first
            else { return .failure(.notFound("no result for this job (not finished, expired or absent)")) }
            // The body is judged once the job is known to be the caller's (another org's job is 404 whatever it says).
            let request: ReviewRequest
            do { request = try ReviewRequest(body: body) } catch let e as APIError { return .failure(e) }
            if r.bool("committed") == true { return .failure(.conflict("this result is already committed")) }
            guard r.string("kind") == "tabular", let state = r.string("review_state") else {
                return .failure(APIError(status: .conflict, code: "NOT_HELD", message: "the price guard held no rows of this job"))
            }
            let named = request.approve.skus + request.reject.skus
            if !named.isEmpty {
                let known = Set(
                    try conn.query(
                        "SELECT sku FROM quarry.held_rows($1) WHERE sku = ANY($2::text[])", [id, named]
                    ).compactMap { $0.string("sku") })
                let unknown = named.filter { !known.contains($0) }
                if let first = unknown.first {
                    var e = APIError.badRequest(
                        "not a held row of this job: \(unknown.prefix(10).map { "'\($0)'" }.joined(separator: ", "))\(unknown.count > 10 ? " …" : "")"
                    )
                    e.details = ["sku": first]
                    return .failure(e)
                }
            }
            var decided: [String: Int] = [:]
            // An "all" applies first, so the other list's SKUs override it.
            let steps = [("approved", request.approve), ("rejected", request.reject)].sorted { $0.1.all && !$1.1.all }
            for (decision, selection) in steps where !selection.isEmpty {
                decided[decision] =
                    try conn.query(
                        """
                        INSERT INTO quarry.result_decisions (job_id, row_number, decision)
                        SELECT $1, h.row_number, $2 FROM quarry.held_rows($1) h WHERE $3 OR h.sku = ANY($4::text[])
                        ON CONFLICT (job_id, row_number) DO UPDATE SET decision = excluded.decision
                        """, [id, decision, selection.all, selection.skus]
                    ).affectedRows
            }
            let undecided =
                try conn.query(
                    """
                    SELECT count(*) AS n FROM quarry.held_rows($1) h
                    WHERE NOT EXISTS (SELECT 1 FROM quarry.result_decisions d WHERE d.job_id = $1 AND d.row_number = h.row_number)
                    """, [id]
                ).first?.int("n") ?? 0
            let newState = undecided == 0 ? "reviewed" : state
            let review =
                try conn.query(
                    """
                    WITH u AS (
                        UPDATE quarry.extraction_results SET review_state = $2, reviewed_by = $3, reviewed_at = now()
                        WHERE job_id = $1
                        RETURNING jsonb_build_object('state', review_state, 'reviewed_by', reviewed_by, 'reviewed_at', reviewed_at) AS review
                    ), s AS (
                        UPDATE quarry.extraction_results e SET summary = jsonb_set(e.summary, '{review}', u.review) FROM u WHERE e.job_id = $1
                    ), j AS (
                        UPDATE quarry.jobs SET result = jsonb_set(result, '{review}', u.review) FROM u
                        WHERE id = $1 AND jsonb_typeof(result) = 'object'
                    )
                    SELECT review::text AS r FROM u
                    """, [id, newState, who]
                ).first?.string("r") ?? "null"
            let counts =
                try conn.query(
                    """
                    SELECT count(*) FILTER (WHERE d.decision = 'approved') AS a, count(*) FILTER (WHERE d.decision = 'rejected') AS r
                    FROM quarry.held_rows($1) h JOIN quarry.result_decisions d ON d.job_id = $1 AND d.row_number = h.row_number
                    """, [id]
                ).first
            return .success(
                (
                    "{\"job_id\":\"\(id.uuidString.lowercased())\",\"review\":\(review),\"approved\":\(counts?.int("a") ?? 0),\"rejected\":\(counts?.int("r") ?? 0),\"undecided\":\(undecided),\"changed\":\(decided.values.reduce(0, +))}",
                    request
                ))
        }
        switch outcome {
        case .failure(let e): throw e
        case .success(let (json, request)):
            await audit(
                c, action: "result.review", target: id.uuidString.lowercased(),
                details: [
                    "approve": request.approve.all ? "all" : request.approve.skus.count,
                    "reject": request.reject.all ? "all" : request.reject.skus.count,
                ])
            return Envelope.raw(json)
        }
    }
}

/// The review body: `approve` and `reject`, each a list of SKUs or `"all"` (all held rows not named by the
/// other list); at least one of them, no SKU in both.
struct ReviewRequest: Sendable {
    struct Selection: Sendable {
        var all = false
        var skus: [String] = []
        var isEmpty: Bool { !all && skus.isEmpty }
    }
    var approve = Selection()
    var reject = Selection()

    init(body: [UInt8]) throws {
        guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: Data(body)) else {
            throw APIError.badRequest("the review body must be a JSON object: {\"approve\": [sku…] | \"all\", \"reject\": [sku…] | \"all\"}")
        }
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            var selection = Selection()
            switch value {
            case .string("all"): selection.all = true
            case .array(let items):
                for item in items {
                    guard case .string(let sku) = item else { throw APIError.badRequest("'\(key)' must list SKUs as strings") }
                    selection.skus.append(sku)
                }
            case .null: break
            default: throw APIError.badRequest("'\(key)' must be a list of SKUs or \"all\"")
            }
            switch key {
            case "approve": approve = selection
            case "reject": reject = selection
            default: throw APIError.badRequest("unknown field '\(key)' in the review body (approve, reject)")
            }
        }
        if approve.isEmpty && reject.isEmpty { throw APIError.badRequest("the review body needs 'approve' or 'reject'") }
        if approve.all && reject.all { throw APIError.badRequest("'approve' and 'reject' cannot both be \"all\"") }
        if let both = Set(approve.skus).intersection(reject.skus).sorted().first {
            throw APIError.badRequest("SKU '\(both)' is both approved and rejected")
        }
    }
}
