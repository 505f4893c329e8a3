import Foundation
import Postgres
import QuarryTestSupport
import Testing

/// Result rows stored in blocks of 1,000 (issue 13 part 1, migration 0013), through the real pipeline (upload,
/// in-request worker, binary COPY of blocks) and the real routes: block boundaries, pages whose cursor crosses a
/// block, filters that skip blocks on their summaries, duplicates and classification across blocks.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ResultBlockTests {
    /// A CSV of `rows` data rows (file rows 2…rows+1): SKU `B-<file row>`, price `<file row>.50`; `invalid` file rows
    /// have no SKU (required), `sku` / `price` override a file row's SKU / price.
    static func csv(rows: Int, invalid: Set<Int> = [], sku: [Int: String] = [:], price: [Int: String] = [:]) -> String {
        var out = "sku,name,price,currency\n"
        for line in 2...(rows + 1) {
            let s = invalid.contains(line) ? "" : sku[line] ?? "B-\(line)"
            out += "\(s),Part \(line),\(price[line] ?? "\(line).50"),EUR\n"
        }
        return out
    }

    struct Block: Equatable, CustomStringConvertible {
        var first: Int, last: Int, count: Int, invalid: Int
        var description: String { "[\(first)…\(last) n=\(count) invalid=\(invalid)]" }
    }

    func blocks(_ job: String, _ pool: PostgresPool) async throws -> [Block] {
        try await pool.query(
            "SELECT first_row, last_row, row_count, invalid_count FROM quarry.result_blocks WHERE job_id = $1::uuid ORDER BY first_row",
            [job]
        ).map {
            Block(
                first: $0.int("first_row") ?? -1, last: $0.int("last_row") ?? -1, count: $0.int("row_count") ?? -1,
                invalid: $0.int("invalid_count") ?? -1)
        }
    }

    /// Every page of `GET …/result` with `limit`; the row numbers in order and how many pages it took.
    func allRows(_ flow: SupplierFlow, _ job: String, limit: Int, status: String? = nil) async throws -> (rows: [Int], pages: Int) {
        var rows: [Int] = []
        var pages = 0
        var cursor: String?
        repeat {
            var url = flow.base + "/api/extraction/jobs/\(job)/result?limit=\(limit)"
            if let status { url += "&status=\(status)" }
            if let cursor { url += "&cursor=\(cursor)" }
            let page = try await HTTP.request("GET", url, token: flow.org.token)
            try #require(page.status == 200, "\(page)")
            rows += (page.data["rows"] as? [[String: Any]] ?? []).compactMap { $0["row_number"] as? Int }
            cursor = page.data["next_cursor"] as? String
            pages += 1
        } while cursor != nil
        return (rows, pages)
    }

    /// How many blocks a query unpacked: the `loops` of its `unnest` function scan (0 when none was reached).
    static func unnestedBlocks(_ sql: String, _ params: [(any PostgresEncodable)?], _ pool: PostgresPool) async throws -> Int {
        let plan = try await pool.query("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).first?.string("QUERY PLAN") ?? "[]"
        func walk(_ node: Any) -> Int {
            guard let n = node as? [String: Any] else { return 0 }
            var found = 0
            if n["Node Type"] as? String == "Function Scan", n["Function Name"] as? String == "unnest" {
                found += n["Actual Loops"] as? Int ?? 0
            }
            for child in n["Plans"] as? [Any] ?? [] { found += walk(child) }
            return found
        }
        let root = (try JSONSerialization.jsonObject(with: Data(plan.utf8)) as? [[String: Any]])?.first?["Plan"]
        return walk(root as Any)
    }

    @Test func pagesCrossBlocksAndInvalidPagesSkipAllValidBlocks() async throws {
        let flow = try await SupplierFlow.make()
        let pool = flow.pool
        // 3,001 rows: blocks [2…1001] [1002…2001] [2002…3001] [3002]; the only invalid rows are in the third block.
        let job = try await flow.extract(Self.csv(rows: 3001, invalid: [2500, 2777]), config: [:], name: "blocks.csv")
        #expect(
            try await blocks(job, pool) == [
                Block(first: 2, last: 1001, count: 1000, invalid: 0), Block(first: 1002, last: 2001, count: 1000, invalid: 0),
                Block(first: 2002, last: 3001, count: 1000, invalid: 2), Block(first: 3002, last: 3002, count: 1, invalid: 0),
            ])
        // The summaries the worker sent in its COPY are what the rows say (the trigger's definition, recomputed here).
        let mismatched = try await pool.query(
            """
            SELECT count(*) AS n FROM quarry.result_blocks b, LATERAL (
                SELECT min(r.row_number) AS f, max(r.row_number) AS l, count(*) AS c, count(*) FILTER (WHERE r.valid) AS v,
                       count(*) FILTER (WHERE r.change = 'new') AS nn,
                       coalesce((SELECT array_agg(DISTINCT i->>'code' ORDER BY i->>'code') FROM unnest(b.rows) x,
                                 jsonb_array_elements(coalesce(x.issues, '[]')) i), '{}') AS codes
                FROM unnest(b.rows) r) s
            WHERE b.job_id = $1::uuid AND (b.first_row, b.last_row, b.row_count, b.valid_count, b.invalid_count, b.n_new, b.issue_codes)
                IS DISTINCT FROM (s.f, s.l, s.c::int, s.v::int, (s.c - s.v)::int, s.nn::int, s.codes)
            """, [job])
        #expect(mismatched.first?.int("n") == 0)
        let codes = try await pool.query(
            "SELECT array_to_string(issue_codes, ',') AS c FROM quarry.result_blocks WHERE job_id = $1::uuid ORDER BY first_row", [job]
        ).map { $0.string("c") ?? "?" }
        #expect(codes == ["", "", "REQUIRED", ""], "\(codes)")
        // Pages of 300: every cursor position, several of them inside one block and some across two.
        let (rows, pages) = try await allRows(flow, job, limit: 300)
        #expect(rows == Array(2...3002))
        #expect(pages == 11)
        // A page ending exactly at a block's last row, then the next block.
        let (thousands, _) = try await allRows(flow, job, limit: 1000)
        #expect(thousands == Array(2...3002))
        let (invalid, invalidPages) = try await allRows(flow, job, limit: 1, status: "invalid")
        #expect(invalid == [2500, 2777] && invalidPages == 2, "\(invalid)")
        let (valid, _) = try await allRows(flow, job, limit: 700, status: "valid")
        #expect(valid == Array(2...3002).filter { $0 != 2500 && $0 != 2777 })
        // The invalid page unpacks only the block that has invalid rows; an unfiltered first page only the first block.
        let page = "SELECT * FROM quarry.result_page($1::uuid, $2::boolean, $3, $4)"
        #expect(try await Self.unnestedBlocks(page, [job, false, -1, 101], pool) == 1)
        #expect(try await Self.unnestedBlocks(page, [job, nil, -1, 101], pool) == 1)
        #expect(try await Self.unnestedBlocks(page, [job, nil, 2950, 101], pool) == 2)
        // The CSV export pages through the same blocks: every row once, in order.
        let csv = try await HTTP.request("GET", flow.base + "/api/extraction/jobs/\(job)/result?format=csv", token: flow.org.token)
        let lines = csv.text.split(separator: "\r\n")
        #expect(lines.count == 3002)
        #expect(lines.dropFirst().compactMap { Int($0.prefix { $0 != "," }) } == Array(2...3002))
        // The reject file holds the two invalid rows, from the one block that has them.
        let rejects = try await HTTP.request("GET", flow.base + "/api/extraction/jobs/\(job)/rejects", token: flow.org.token)
        #expect(rejects.status == 200, "\(rejects)")
        #expect(
            rejects.text.contains("Part 2500") && rejects.text.contains("Part 2777") && !rejects.text.contains("Part 2501"),
            "\(rejects.text.prefix(300))")
    }

    @Test(arguments: [1000, 1001])
    func aJobOfExactlyOneThousandOrOneThousandOneRows(rows: Int) async throws {
        let flow = try await SupplierFlow.make()
        let job = try await flow.extract(Self.csv(rows: rows), config: [:], name: "n\(rows).csv")
        let expected =
            rows == 1000
            ? [Block(first: 2, last: 1001, count: 1000, invalid: 0)]
            : [Block(first: 2, last: 1001, count: 1000, invalid: 0), Block(first: 1002, last: 1002, count: 1, invalid: 0)]
        #expect(try await blocks(job, flow.pool) == expected)
        let (all, pages) = try await allRows(flow, job, limit: 1000)
        #expect(all == Array(2...(rows + 1)))
        #expect(pages == (rows == 1000 ? 1 : 2))
        let view = try await flow.pool.query("SELECT count(*) AS n FROM quarry.result_rows WHERE job_id = $1::uuid", [job])
        #expect(view.first?.int("n") == rows)
    }

    @Test func duplicatesAcrossBlocksAreFlaggedAndOnlyTheLastIsInTheDiff() async throws {
        let flow = try await SupplierFlow.make()
        let pool = flow.pool
        // DUP-1 in blocks 1, 2 and 3; DUP-2 twice in block 3.
        let job = try await flow.extract(
            Self.csv(rows: 2600, sku: [5: "DUP-1", 1500: "DUP-1", 2400: "DUP-1", 2410: "DUP-2", 2420: "DUP-2"]),
            config: ["supplier_id": "blocks-dup"], name: "dups.csv")
        let flagged = try await pool.query(
            """
            SELECT row_number FROM quarry.result_rows, jsonb_array_elements(coalesce(issues, '[]')) i
            WHERE job_id = $1::uuid AND i->>'code' = 'DUPLICATE_SKU' ORDER BY 1
            """, [job]
        ).compactMap { $0.int("row_number") }
        #expect(flagged == [1500, 2400, 2420])
        let codes = try await pool.query(
            "SELECT first_row, array_to_string(issue_codes, ',') AS c FROM quarry.result_blocks WHERE job_id = $1::uuid ORDER BY first_row", [job]
        ).map { "\($0.int("first_row") ?? 0):\($0.string("c") ?? "")" }
        #expect(codes == ["2:", "1002:DUPLICATE_SKU", "2002:DUPLICATE_SKU"])
        let summary = try await HTTP.request("GET", flow.base + "/api/extraction/jobs/\(job)/result?limit=1", token: flow.org.token)
        #expect((summary.data["summary"] as? [String: Any])?["duplicates"] as? Int == 3)
        // The commit takes the last row of each SKU: the diff has 2,600 − 3 rows, the earlier duplicates left out.
        let (_, diff) = try await flow.diff(job, pageSize: 1000)
        let diffRows = diff.compactMap { $0["row_number"] as? Int }
        #expect(diffRows.count == 2597)
        #expect(!diffRows.contains(5) && !diffRows.contains(1500) && diffRows.contains(2400) && !diffRows.contains(2410))
        #expect(diffRows.contains(2420))
    }

    /// A retry of the rejected rows merges the retried rows into the accepted ones of the first run, and the
    /// job's rows are cut into blocks of 1,000 again (`quarry.copy_result_rows`).
    @Test func retryOfRejectedRowsAcrossBlocksRecutsTheBlocks() async throws {
        let flow = try await SupplierFlow.make()
        let bad: [Int: String] = [500: "abc", 1500: "abc", 2400: "abc"]
        let first = try await flow.extract(Self.csv(rows: 2500, price: bad), config: [:], name: "retry.csv")
        #expect(try await blocks(first, flow.pool).map(\.invalid) == [1, 1, 1])
        let retried = try await HTTP.request(
            "POST", flow.base + "/api/extraction/jobs/\(first)/retry", token: flow.org.token,
            headers: ["Content-Type": "application/json"],
            body: HTTP.json([
                "only_rejected": true,
                "config": ["transformations": [["type": "replace", "field": "price", "find": "abc", "with": "3.00"]]],
            ]))
        let job = try #require(retried.data["job_id"] as? String, "\(retried)")
        var status = ""
        for _ in 0..<40 where status != "completed" && status != "dead_lettered" {
            _ = try await HTTP.request("POST", flow.base + "/api/worker/process?max_jobs=100&budget_ms=5000", token: flow.admin.token)
            status = try await HTTP.request("GET", flow.base + "/api/extraction/jobs/\(job)", token: flow.org.token).data["status"] as? String ?? ""
        }
        try #require(status == "completed", "retry ended \(status)")
        #expect(
            try await blocks(job, flow.pool) == [
                Block(first: 2, last: 1001, count: 1000, invalid: 0), Block(first: 1002, last: 2001, count: 1000, invalid: 0),
                Block(first: 2002, last: 2501, count: 500, invalid: 0),
            ])
        let (rows, _) = try await allRows(flow, job, limit: 600)
        #expect(rows == Array(2...2501))
        let page = try await HTTP.request(
            "GET", flow.base + "/api/extraction/jobs/\(job)/result?limit=1&cursor=\(Self.cursor(1499))", token: flow.org.token)
        let row = (page.data["rows"] as? [[String: Any]])?.first
        #expect(row?["row_number"] as? Int == 1500 && row?["price"] as? Double == 3, "\(page)")
        #expect((page.data["summary"] as? [String: Any])?["rows_kept_from_previous_run"] as? Int == 2497)
    }

    /// The API's cursor for "after row n" (base64url of the row number).
    static func cursor(_ n: Int) -> String {
        Data("\(n)".utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    @Test func classificationReviewAndCommitAcrossBlocks() async throws {
        let flow = try await SupplierFlow.make()
        let pool = flow.pool
        let supplier = "blocks-\(UUID().uuidString.prefix(6))"
        // Catalog: rows 10 and 20 unchanged (block 1), 1200 updated (block 2), 2300 held (+100 %, block 3), one removed.
        var catalog: [String: SupplierFlow.Product] = [:]
        for line in [10, 20, 1200] { catalog["B-\(line)"] = .init(name: "Part \(line)", cents: line * 100 + 50, currency: "EUR") }
        catalog["B-1200"]?.cents = 110_000  // +9 %: updated
        catalog["B-2300"] = .init(name: "Part 2300", cents: 115_025, currency: "EUR")
        catalog["GONE"] = .init(name: "Gone", cents: 100, currency: "EUR")
        try await flow.insert(catalog, supplier: supplier)
        let guardConfig: [String: Any] = ["max_increase_pct": 50, "max_held_share_pct": 100]
        let job = try await flow.extract(Self.csv(rows: 2500), config: ["supplier_id": supplier, "price_guard": guardConfig], name: "cls.csv")

        let (header, updated) = try await flow.diff(job, change: "updated")
        let summary = header["summary"] as? [String: Any] ?? [:]
        #expect(summary["unchanged"] as? Int == 2 && summary["updated"] as? Int == 1 && summary["held"] as? Int == 1, "\(summary)")
        #expect(summary["new"] as? Int == 2496 && summary["removed"] as? Int == 1, "\(summary)")
        #expect(updated.map { $0["row_number"] as? Int } == [1200])
        #expect(try await flow.diff(job, change: "held").rows.map { $0["row_number"] as? Int } == [2300])
        #expect(try await flow.diff(job, change: "unchanged").rows.map { $0["row_number"] as? Int } == [10, 20])
        // The block summaries agree with the rows.
        let agree = try await pool.query(
            """
            SELECT bool_and(b.n_new = (SELECT count(*) FROM unnest(b.rows) r WHERE r.change = 'new')
                        AND b.n_updated = (SELECT count(*) FROM unnest(b.rows) r WHERE r.change = 'updated')
                        AND b.n_unchanged = (SELECT count(*) FROM unnest(b.rows) r WHERE r.change = 'unchanged')
                        AND b.n_held = (SELECT count(*) FROM unnest(b.rows) r WHERE r.change = 'held')) AS ok,
                   sum(n_held) AS held
            FROM quarry.result_blocks b WHERE job_id = $1::uuid
            """, [job]
        ).first
        #expect(agree?.bool("ok") == true && agree?.int("held") == 1)
        // The held page reads only the block with the held row.
        #expect(try await Self.unnestedBlocks("SELECT * FROM quarry.diff_page($1::uuid, 'held', -1, 101)", [job], pool) == 1)

        let url = flow.base + "/api/extraction/jobs/\(job)"
        let review = try await HTTP.request("POST", url + "/review", token: flow.org.token, body: HTTP.json(["approve": ["B-2300"]]))
        #expect(review.status == 200 && review.data["approved"] as? Int == 1 && review.data["undecided"] as? Int == 0, "\(review)")
        let commit = try await HTTP.request("POST", url + "/commit", token: flow.org.token)
        #expect(commit.status == 200, "\(commit)")
        #expect(commit.data["inserted"] as? Int == 2496 && commit.data["updated"] as? Int == 2, "\(commit)")
        #expect(commit.data["held_approved"] as? Int == 1 && commit.data["unchanged"] as? Int == 2, "\(commit)")
        let after = try await flow.catalog(supplier)
        #expect(after["B-1200"]?.cents == 120_050 && after["B-2300"]?.cents == 230_050 && after["B-10"]?.cents == 1050)
        #expect(after.count == 2501)
    }
}
