import Extraction
import Foundation
import Models
import Postgres

/// Owns an extract job's results: `quarry.extraction_results` (the summary and cache key), `result_rows` and
/// `result_sections`. Every statement that writes them is here, with one column list.
///
/// A `ResultStore` works on the connection of the job's open transaction; the handler ends that
/// transaction with the fenced completion (`JobStore.complete(_:result:rowsProcessed:inTransaction:)`), so
/// results land only together with their job's completion, and only under a live lease.
struct ResultStore {
    let connection: PostgresConnection
    let jobID: UUID

    /// The columns of `result_rows` after `job_id`, in the order every copy below uses.
    static let rowColumns =
        "row_number, valid, sku, name, description, price, currency, quantity, unit, category, brand, barcode, classification, old_price, extra, issues"

    /// The binary COPY that `TabularPipeline` (through `CopyBinaryEncoder`) produces data for: every row column
    /// but `old_price`, which only classification sets.
    static let rowCopyStatement = """
        COPY quarry.result_rows (job_id, row_number, valid, sku, name, description, price, currency, quantity, unit,
            category, brand, barcode, classification, extra, issues) FROM STDIN (FORMAT binary)
        """

    /// The binary COPY of document sections (`DocumentPipeline`).
    static let sectionCopyStatement = "COPY quarry.result_sections (job_id, index, title, text, word_count) FROM STDIN (FORMAT binary)"

    /// Removes whatever an earlier attempt of this job left (nothing, when attempts are fenced; kept for results
    /// written before migration 0006).
    func clear() throws {
        try connection.query("DELETE FROM quarry.result_rows WHERE job_id = $1", [jobID])
        try connection.query("DELETE FROM quarry.result_sections WHERE job_id = $1", [jobID])
        try connection.query("DELETE FROM quarry.extraction_results WHERE job_id = $1", [jobID])
    }

    /// Adds a `DUPLICATE_SKU` warning to each of `rows` (every occurrence of a SKU after its first).
    func flagDuplicates(rows: [Int]) throws {
        try connection.query(
            """
            UPDATE quarry.result_rows
            SET issues = coalesce(issues, '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
                'column', 'sku', 'code', $3::text,
                'message', 'SKU ''' || left(sku, 100) || ''' appears more than once', 'severity', 'warning'))
            WHERE job_id = $1 AND row_number = ANY($2::int[])
            """, [jobID, rows, RowIssue.Code.duplicateSku], prepare: true)
    }

    /// Copies another job's rows into this one. `onlyValid` keeps the accepted rows only (retry of rejected
    /// rows); `resetClassification` writes valid rows as `new` again, to be classified against today's catalog.
    @discardableResult
    func copyRows(from other: UUID, onlyValid: Bool, resetClassification: Bool) throws -> Int {
        let classification = resetClassification ? "CASE WHEN valid THEN 'new' END" : "classification"
        let oldPrice = resetClassification ? "NULL::numeric" : "old_price"
        return try connection.query(
            """
            INSERT INTO quarry.result_rows (job_id, \(Self.rowColumns))
            SELECT $1, row_number, valid, sku, name, description, price, currency, quantity, unit, category, brand, barcode,
                   \(classification), \(oldPrice), extra, issues
            FROM quarry.result_rows WHERE job_id = $2 \(onlyValid ? "AND valid" : "")
            """, [jobID, other]
        ).affectedRows
    }

    func copySections(from other: UUID) throws {
        try connection.query(
            "INSERT INTO quarry.result_sections (job_id, index, title, text, word_count) SELECT $1, index, title, text, word_count FROM quarry.result_sections WHERE job_id = $2",
            [jobID, other])
    }

    /// Row numbers of another job's invalid rows (retry of rejected rows).
    func invalidRowNumbers(of other: UUID) throws -> Set<Int> {
        Set(
            try connection.query("SELECT row_number FROM quarry.result_rows WHERE job_id = $1 AND NOT valid", [other]).compactMap {
                $0.int("row_number")
            })
    }

    /// Classifies valid rows against the org's catalog for the supplier, 500 SKUs per statement. Rows were
    /// written as `new`; only SKUs found in the catalog are updated.
    func classify(org: UUID, supplier: String, isCancelled: () -> Bool) throws -> (updated: Int, unchanged: Int) {
        let hasCatalog =
            try connection.query(
                "SELECT EXISTS (SELECT 1 FROM quarry.products WHERE org_id = $1 AND supplier_id = $2) AS e", [org, supplier]
            ).first?.bool("e") ?? false
        guard hasCatalog else { return (0, 0) }
        var updated = 0
        var unchanged = 0
        var after = 0
        while true {
            if isCancelled() { throw JobError.cancelledExtraction }
            let rows = try connection.query(
                """
                WITH batch AS (
                    SELECT row_number, sku, price FROM quarry.result_rows
                    WHERE job_id = $1 AND valid AND row_number > $4 ORDER BY row_number LIMIT 500
                ), matched AS (
                    UPDATE quarry.result_rows r
                    SET classification = CASE WHEN p.price IS DISTINCT FROM b.price THEN 'updated' ELSE 'unchanged' END,
                        old_price = CASE WHEN p.price IS DISTINCT FROM b.price THEN p.price END
                    FROM batch b JOIN quarry.products p ON p.org_id = $2 AND p.supplier_id = $3 AND p.sku = b.sku
                    WHERE r.job_id = $1 AND r.row_number = b.row_number
                    RETURNING r.classification
                )
                SELECT (SELECT max(row_number) FROM batch) AS last,
                       (SELECT count(*) FROM matched WHERE classification = 'updated') AS updated,
                       (SELECT count(*) FROM matched WHERE classification = 'unchanged') AS unchanged
                """, [jobID, org, supplier, after]
            ).first
            guard let last = rows?.int("last") else { break }
            updated += rows?.int("updated") ?? 0
            unchanged += rows?.int("unchanged") ?? 0
            after = last
        }
        return (updated, unchanged)
    }

    /// Saves the summary row; the cache finds it by `cacheKey` once the job's completion commits with it.
    func save(summary: ExtractionSummary, org: UUID, uploadID: UUID, cacheKey: String, kind: String, ttlHours: Int) throws -> String {
        let json = try summary.jsonText()
        try connection.query(
            """
            INSERT INTO quarry.extraction_results (job_id, org_id, upload_id, cache_key, kind, summary, expires_at)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb, now() + make_interval(hours => $7))
            """, [jobID, org, uploadID, cacheKey, kind, JSONText(json), ttlHours])
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
