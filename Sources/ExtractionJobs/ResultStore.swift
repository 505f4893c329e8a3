import Extraction
import Foundation
import Models
import Postgres

/// Owns an extract job's results: `quarry.extraction_results` (the summary and cache key), the row blocks
/// (`result_blocks`, migration 0013) and `result_sections`. Every statement that writes them is here.
///
/// A `ResultStore` works on the connection of the job's open transaction; the handler ends that
/// transaction with the fenced completion (`JobStore.complete(_:result:rowsProcessed:inTransaction:)`), so
/// results land only together with their job's completion, and only under a live lease.
struct ResultStore {
    let connection: PostgresConnection
    let jobID: UUID

    /// The binary COPY that `TabularPipeline` (through ``ResultBlockEncoder``) produces data for: one tuple per
    /// block of 1,000 rows, its summaries first (classification fills the updated/unchanged/held counts), then the
    /// rows as a `quarry.result_row[]`.
    static let blockCopyStatement = """
        COPY quarry.result_blocks (job_id, first_row, last_row, row_count, valid_count, invalid_count, n_new, n_updated,
            n_unchanged, n_held, issue_codes, rows) FROM STDIN (FORMAT binary)
        """

    /// The binary COPY of document sections (`DocumentPipeline`).
    static let sectionCopyStatement = "COPY quarry.result_sections (job_id, index, title, text, word_count) FROM STDIN (FORMAT binary)"

    /// The OID of the composite `quarry.result_row`, which the binary array of a block names.
    func rowTypeOID() throws -> UInt32 {
        guard let oid = try connection.query("SELECT 'quarry.result_row'::regtype::oid::bigint AS oid").first?.int("oid") else {
            throw JobError(.databaseError, "the type quarry.result_row is missing (migration 0013)")
        }
        return UInt32(truncatingIfNeeded: oid)
    }

    /// Removes whatever an earlier attempt of this job left (nothing, when attempts are fenced; kept for results
    /// written before migration 0006).
    func clear() throws {
        try connection.query("DELETE FROM quarry.result_blocks WHERE job_id = $1", [jobID])
        try connection.query("DELETE FROM quarry.result_decisions WHERE job_id = $1", [jobID])
        try connection.query("DELETE FROM quarry.result_sections WHERE job_id = $1", [jobID])
        try connection.query("DELETE FROM quarry.extraction_results WHERE job_id = $1", [jobID])
    }

    /// Adds a `DUPLICATE_SKU` warning to each of `rows` (every occurrence of a SKU after its first), rewriting
    /// only the blocks that hold them (`quarry.flag_duplicates`).
    func flagDuplicates(rows: [Int]) throws {
        try connection.query(
            "SELECT quarry.flag_duplicates($1, $2::int[], $3)", [jobID, rows, RowIssue.Code.duplicateSku], prepare: true)
    }

    /// Copies another job's rows into this one, merged with the rows this job already has and cut into blocks
    /// again (`quarry.copy_result_rows`). `onlyValid` keeps the accepted rows only (retry of rejected rows);
    /// `resetClassification` writes valid rows as `new` again, to be classified against today's catalog.
    @discardableResult
    func copyRows(from other: UUID, onlyValid: Bool, resetClassification: Bool) throws -> Int {
        try connection.query(
            "SELECT quarry.copy_result_rows($1, $2, $3, $4) AS n", [jobID, other, onlyValid, resetClassification]
        ).first?.int("n") ?? 0
    }

    func copySections(from other: UUID) throws {
        try connection.query(
            "INSERT INTO quarry.result_sections (job_id, index, title, text, word_count) SELECT $1, index, title, text, word_count FROM quarry.result_sections WHERE job_id = $2",
            [jobID, other])
    }

    /// Row numbers of another job's invalid rows (retry of rejected rows).
    func invalidRowNumbers(of other: UUID) throws -> Set<Int> {
        Set(
            try connection.query(
                """
                SELECT r.row_number FROM quarry.result_blocks b CROSS JOIN LATERAL unnest(b.rows) r
                WHERE b.job_id = $1 AND b.invalid_count > 0 AND NOT r.valid
                """, [other]
            ).compactMap { $0.int("row_number") })
    }

    /// Classifies valid rows against the org's catalog for the supplier, one block of 1,000 rows per statement
    /// (`quarry.classify_blocks`, the one definition of what the commit would change), then marks earlier
    /// duplicates of a SKU as ignored and records the supplier's products the file does not name
    /// (`quarry.finish_diff`). Returns the seed's price-only counts and the diff summary.
    func classify(catalog: inout CatalogScope, hasDuplicates: Bool, isCancelled: () -> Bool) throws -> Classification {
        // Read first: a commit landing while the batches run makes this diff stale, never falsely current.
        catalog.catalogVersion =
            try connection.query(
                "SELECT coalesce((SELECT version FROM quarry.catalog_versions WHERE org_id = $1 AND supplier_id = $2), 0) AS v",
                [catalog.org, catalog.supplier]
            ).first?.int("v") ?? 0
        let hasCatalog =
            try connection.query(
                "SELECT EXISTS (SELECT 1 FROM quarry.products WHERE org_id = $1 AND supplier_id = $2) AS e", [catalog.org, catalog.supplier]
            ).first?.bool("e") ?? false
        let guardJSON = try catalog.priceGuard.map { JSONText(String(decoding: try JSONEncoder().encode($0), as: UTF8.self)) }
        var after = 0
        while hasCatalog {
            if isCancelled() { throw JobError.cancelledExtraction }
            guard
                let last = try connection.query(
                    "SELECT quarry.classify_blocks($1, $2, $3, $4::jsonb, $5, 1) AS last",
                    [jobID, catalog.org, catalog.supplier, guardJSON, after], prepare: true
                ).first?.int("last")
            else { break }
            after = last
        }
        try connection.query("SELECT quarry.finish_diff($1, $2, $3, $4)", [jobID, catalog.org, catalog.supplier, hasDuplicates])
        let r = try connection.query(
            """
            SELECT quarry.diff_summary($1)::text AS diff,
                   count(*) FILTER (WHERE r.valid AND r.classification = 'updated') AS updated,
                   count(*) FILTER (WHERE r.valid AND r.classification = 'unchanged') AS unchanged
            FROM quarry.result_blocks b CROSS JOIN LATERAL unnest(b.rows) r
            WHERE b.job_id = $1 AND $2::boolean AND b.valid_count > 0
            """, [jobID, hasCatalog]
        ).first
        var diff = try JSONDecoder().decode(CatalogDiffSummary.self, from: Data((r?.string("diff") ?? "{}").utf8))
        if catalog.priceGuard != nil {
            diff.heldSharePct = diff.matched > 0 ? (Double(diff.held) * 10000 / Double(diff.matched)).rounded() / 100 : 0
        }
        return Classification(updated: r?.int("updated") ?? 0, unchanged: r?.int("unchanged") ?? 0, diff: diff)
    }

    /// Saves the summary row; the cache finds it by `cacheKey` once the job's completion commits with it.
    /// The catalog scope is stored with it: the diff, the review and the commit use the same supplier and guard.
    func save(
        summary: ExtractionSummary, org: UUID, uploadID: UUID, cacheKey: String, kind: String, ttlHours: Int, catalog: CatalogScope?
    ) throws -> String {
        let json = try summary.jsonText()
        let guardJSON = try catalog?.priceGuard.map { JSONText(String(decoding: try JSONEncoder().encode($0), as: UTF8.self)) }
        try connection.query(
            """
            INSERT INTO quarry.extraction_results (job_id, org_id, upload_id, cache_key, kind, summary, expires_at, supplier_id,
                price_guard, review_state, catalog_version)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb, now() + make_interval(hours => $7), $8, $9::jsonb, $10, $11)
            """,
            [
                jobID, org, uploadID, cacheKey, kind, JSONText(json), ttlHours, catalog?.supplier, guardJSON, summary.review?.state,
                catalog?.catalogVersion,
            ])
        return json
    }
    /// A recent result of a *completed* job of the org with the same cache key, other than `excluding`.
    static func cached(org: UUID, cacheKey: String, excluding jobID: UUID, on c: PostgresConnection) throws -> (
        jobID: UUID, kind: String, summary: ExtractionSummary
    )? {
        guard
            let r = try c.query(
                """
                SELECT r.job_id, r.kind, r.summary::text AS summary FROM quarry.extraction_results r
                JOIN quarry.jobs j ON j.id = r.job_id AND j.status = 'completed'
                WHERE r.org_id = $1 AND r.cache_key = $2 AND r.expires_at > now() AND r.job_id <> $3
                ORDER BY r.created_at DESC LIMIT 1
                """, [org, cacheKey, jobID]
            ).first, let id = r.uuid("job_id"),
            let summary = try? JSONDecoder().decode(ExtractionSummary.self, from: Data((r.string("summary") ?? "{}").utf8))
        else { return nil }
        return (id, r.string("kind") ?? "tabular", summary)
    }
}
