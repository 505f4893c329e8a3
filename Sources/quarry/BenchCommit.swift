import APIAuth
import Alerts
import ArgumentParser
import Foundation
import Models
import Postgres

/// `quarry bench commit --rows N`: the catalog commit (issue 16) side by side with a plain `INSERT … ON CONFLICT`
/// of the same rows by psql, plus the worker's diff classification and, with `--api-url`, the latency of diff pages.
///
/// Setup: two orgs with the same N-product catalog for one supplier, and one result of N valid rows (¾ of them
/// name catalog SKUs — ⅔ of those at a new price, ⅓ unchanged — and ¼ new SKUs), written as the pipeline writes
/// them (blocks of 1,000). Then, timed: the classification (`quarry.classify_blocks` batches + `quarry.finish_diff` + the summary, as the
/// worker runs them); the commit's statements into org A's catalog (`quarry.commit_result` and the counts, as the
/// route runs them, in one transaction); psql's `INSERT … SELECT … ON CONFLICT DO UPDATE` of the same rows into org
/// B's identical catalog. The last line is one JSON object.
struct CommitBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "commit", abstract: "Catalog commit vs plain INSERT … ON CONFLICT; diff paging.")
    @OptionGroup var db: DatabaseOptions
    @Option var rows = 1_000_000
    @Option(name: .customLong("api-url"), help: "A running api to time GET …/diff pages through (optional).") var apiURL: String?
    @Option(help: "Diff pages of 1,000 to time.") var pages = 50

    func run() async throws {
        let url = db.databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"] ?? ""
        let pool = try db.pool(size: 2)
        let tag = "bench-commit-\(UUID().uuidString.prefix(8).lowercased())"
        let tokenA = try await APITokens.create(pool: pool, orgName: tag + "-a", name: tag, admin: false)
        let tokenB = try await APITokens.create(pool: pool, orgName: tag + "-b", name: tag, admin: false)
        let job = UUID()
        let n = rows
        var t = ContinuousClock.now
        for org in [tokenA.orgID, tokenB.orgID] {
            try await pool.query(
                """
                INSERT INTO quarry.products (org_id, supplier_id, sku, name, price, currency)
                SELECT $1, 'bench', 'SKU' || g, 'Product ' || g, (g % 1000) + 1.25, 'EUR' FROM generate_series(1, $2) g
                """, [org, n])
        }
        try await pool.query(
            "INSERT INTO quarry.extraction_results (job_id, org_id, cache_key, kind, summary, supplier_id) VALUES ($1, $2, $3, 'tabular', '{}', 'bench')",
            [job, tokenA.orgID, tag])
        try await pool.query(
            """
            INSERT INTO quarry.result_blocks (job_id, first_row, rows)
            SELECT $1, min(g), array_agg(ROW(g, true, 'SKU' || (g + $2 / 4), 'Product ' || (g + $2 / 4), NULL,
                   CASE WHEN g % 3 = 0 THEN ((g + $2 / 4) % 1000) + 1.25 ELSE ((g + $2 / 4) % 1000) + 1.35 END, 'EUR',
                   NULL, NULL, NULL, NULL, NULL, 'new', NULL, NULL, 'new', NULL, NULL, NULL)::quarry.result_row ORDER BY g)
            FROM generate_series(1, $2) g GROUP BY (g - 1) / 1000
            """, [job, n])
        try await pool.query("ANALYZE quarry.products")
        try await pool.query("ANALYZE quarry.result_blocks")
        print("setup: \(n) products × 2 orgs, \(n) result rows, \(String(format: "%.1f", (ContinuousClock.now - t).seconds)) s")

        // The worker's classification step.
        t = ContinuousClock.now
        let summary: String = try await pool.withConnection { c in
            try c.transaction { tx in
                var after = 0
                while let last = try tx.query(
                    "SELECT quarry.classify_blocks($1, $2, 'bench', NULL, $3, 1) AS last", [job, tokenA.orgID, after], prepare: true
                ).first?.int("last") {
                    after = last
                }
                try tx.query("SELECT quarry.finish_diff($1, $2, 'bench', false)", [job, tokenA.orgID])
                return try tx.query("SELECT quarry.diff_summary($1)::text AS s", [job]).first?.string("s") ?? "{}"
            }
        }
        let classifySeconds = (ContinuousClock.now - t).seconds
        print("classify (diff): \(String(format: "%.2f", classifySeconds)) s — \(summary)")
        try await pool.query("VACUUM ANALYZE quarry.result_blocks")

        // Diff pages through the api.
        var pageMs: [Double] = []
        if let apiURL {
            let client = CurlHTTPClient(
                configuration: HTTPClientConfiguration(connectTimeout: .seconds(5), totalTimeout: .seconds(60), maxResponseBodyBytes: 64 << 20))
            var cursor: String?
            for _ in 0..<pages {
                var path = apiURL + "/api/extraction/jobs/\(job.uuidString.lowercased())/diff?change=updated&limit=1000"
                if let cursor { path += "&cursor=\(cursor)" }
                let p0 = ContinuousClock.now
                let r = try await client.send(WebhookRequest(url: path, method: "GET", headers: [("Authorization", "Bearer \(tokenA.token)")]))
                pageMs.append((ContinuousClock.now - p0).seconds * 1000)
                guard r.status == 200, let object = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any] else {
                    throw ValidationError("diff page: HTTP \(r.status)")
                }
                cursor = (object["data"] as? [String: Any])?["next_cursor"] as? String
                if cursor == nil { break }
            }
            pageMs.sort()
            print(
                "diff pages of 1,000: median \(String(format: "%.1f", pageMs[pageMs.count / 2])) ms, max \(String(format: "%.1f", pageMs.last ?? 0)) ms over \(pageMs.count)"
            )
        }

        // Side by side: the commit's statements, and psql's plain upsert of the same rows.
        let jobText = job.uuidString.lowercased()
        let plainSeconds = try ExtractBench.psql(
            url,
            """
            INSERT INTO quarry.products AS p (org_id, supplier_id, sku, name, price, currency, quantity, unit, extra, updated_at, last_job_id)
            SELECT '\(tokenB.orgID.uuidString.lowercased())', 'bench', sku, name, price, currency, quantity, unit, extra, now(), job_id
            FROM quarry.result_rows WHERE job_id = '\(jobText)' AND valid
            ON CONFLICT (org_id, supplier_id, sku) DO UPDATE SET name = excluded.name, price = excluded.price,
                currency = excluded.currency, quantity = excluded.quantity, unit = excluded.unit, extra = excluded.extra,
                updated_at = now(), last_job_id = excluded.last_job_id
            """)
        print("psql INSERT … ON CONFLICT: \(String(format: "%.2f", plainSeconds)) s")
        t = ContinuousClock.now
        let counts: String = try await pool.withConnection { c in
            try c.transaction { tx in
                let r = try tx.query("SELECT inserted, updated, removed FROM quarry.commit_result($1, $2, 'bench', false)", [job, tokenA.orgID]).first
                _ = try tx.query("SELECT applied, unchanged, held_approved, held_skipped FROM quarry.commit_counts($1)", [job])
                try tx.query("UPDATE quarry.extraction_results SET committed_at = now(), commit_summary = '{}' WHERE job_id = $1", [job])
                return "inserted \(r?.int("inserted") ?? 0), updated \(r?.int("updated") ?? 0)"
            }
        }
        let commitSeconds = (ContinuousClock.now - t).seconds
        print("commit: \(String(format: "%.2f", commitSeconds)) s (\(counts)); ratio \(String(format: "%.2f", commitSeconds / plainSeconds))")
        func rounded(_ x: Double) -> Double { (x * 100).rounded() / 100 }
        var out: [String: Any] = [
            "rows": n, "classify_s": rounded(classifySeconds), "commit_s": rounded(commitSeconds), "plain_upsert_s": rounded(plainSeconds),
            "commit_over_plain": rounded(commitSeconds / plainSeconds),
        ]
        if !pageMs.isEmpty {
            out["diff_page_ms_median"] = rounded(pageMs[pageMs.count / 2])
            out["diff_page_ms_max"] = rounded(pageMs.last ?? 0)
        }
        try await pool.query("DELETE FROM quarry.products WHERE org_id = ANY($1::uuid[])", [[tokenA.orgID, tokenB.orgID]])
        try await pool.query("DELETE FROM quarry.extraction_results WHERE job_id = $1", [job])
        try await pool.query("DELETE FROM quarry.result_blocks WHERE job_id = $1", [job])
        print(String(decoding: try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys]), as: UTF8.self))
    }
}
