import Foundation
import Postgres
import QuarryTestSupport
import Queue
import Testing

@Suite(.serialized, .timeLimit(.minutes(2)))
struct ResultTests {
    /// A completed job with a stored result, written directly as the worker would.
    static func seededResult(_ org: TestOrg) async throws -> UUID {
        let pool = APIHarness.shared.pool
        let store = JobStore(pool: pool)
        let kind = TestDatabase.uniqueKind("res")
        let id = try await store.enqueue(org: org.id, kind: kind, payload: "{\"config\":{\"supplier_id\":\"sup-1\"}}")
        let job = try #require(try await store.claim(workerID: "api-test", kinds: [kind], limit: 1).first)
        try await store.complete([Completion(id: job.id, leaseToken: job.leaseToken, result: "{}", rowsProcessed: 3)])
        try await pool.query(
            "INSERT INTO quarry.extraction_results (job_id, org_id, cache_key, kind, summary, supplier_id) VALUES ($1, $2, 'k', 'tabular', '{\"rows_total\":3,\"rows_valid\":2}', 'sup-1')",
            [id, org.id])
        try await pool.query(
            """
            INSERT INTO quarry.result_rows (job_id, row_number, valid, sku, name, price, currency, issues, change) VALUES
              ($1, 1, true, 'A1', '=HYPERLINK("http://evil")', 9.99, 'EUR', '[]', 'new'),
              ($1, 2, true, 'B2', '@SUM(1)', 19.5, 'EUR', '[]', 'new'),
              ($1, 3, false, 'C3', 'Fine, quoted', NULL, NULL, '[{"field":"price","message":"missing"}]', NULL)
            """, [id])
        // The worker's classification step, as it runs after COPY (the diff the commit applies).
        try await pool.query("SELECT quarry.classify_rows($1, $2, 'sup-1', NULL, 0, 1000)", [id, org.id])
        try await pool.query("SELECT quarry.finish_diff($1, $2, 'sup-1', false)", [id, org.id])
        return id
    }

    @Test func resultPagesFiltersAndCSV() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let id = try await Self.seededResult(org)
        let all = try await HTTP.request("GET", base + "/api/extraction/jobs/\(id)/result?limit=2", token: org.token)
        #expect(all.status == 200, "\(all)")
        let rows = all.data["rows"] as? [[String: Any]] ?? []
        #expect(rows.count == 2)
        #expect((all.data["summary"] as? [String: Any])?["rows_total"] as? Int == 3)
        for k in [
            "row_number", "sku", "name", "description", "price", "currency", "quantity", "unit", "category", "brand", "barcode", "classification",
            "old_price", "extra", "issues", "valid",
        ] {
            #expect(rows.first?.keys.contains(k) == true, "\(k)")
        }
        let cursor = try #require(all.data["next_cursor"] as? String)
        let page2 = try await HTTP.request("GET", base + "/api/extraction/jobs/\(id)/result?limit=2&cursor=\(cursor)", token: org.token)
        #expect((page2.data["rows"] as? [[String: Any]])?.first?["row_number"] as? Int == 3)
        let invalid = try await HTTP.request("GET", base + "/api/extraction/jobs/\(id)/result?status=invalid", token: org.token)
        #expect((invalid.data["rows"] as? [[String: Any]])?.map { $0["sku"] as? String } == ["C3"])

        let csv = try await HTTP.request("GET", base + "/api/extraction/jobs/\(id)/result?format=csv", token: org.token)
        #expect(csv.status == 200)
        #expect(csv.headers["content-type"]?.hasPrefix("text/csv") == true)
        #expect(csv.text.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""), "\(csv.text)")
        #expect(csv.text.contains(",'@SUM(1),"))
        #expect(csv.text.contains("\"Fine, quoted\""))
        #expect(!csv.text.contains(",=HYPERLINK"))

        let other = try await APIHarness.shared.org()
        #expect(try await HTTP.request("GET", base + "/api/extraction/jobs/\(id)/result", token: other.token).status == 404)
        try await APIHarness.shared.pool.query(
            "UPDATE quarry.extraction_results SET expires_at = now() - interval '1 second' WHERE job_id = $1", [id])
        #expect(try await HTTP.request("GET", base + "/api/extraction/jobs/\(id)/result", token: org.token).status == 404)
    }

    @Test func commitIsIdempotent() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let pool = APIHarness.shared.pool
        try await pool.query(
            "INSERT INTO quarry.products (org_id, supplier_id, sku, name, price, currency) VALUES ($1, 'sup-1', 'B2', '@SUM(1)', 19.5, 'EUR')",
            [org.id])
        let id = try await Self.seededResult(org)
        let other = try await APIHarness.shared.org()
        #expect(try await HTTP.request("POST", base + "/api/extraction/jobs/\(id)/commit", token: other.token).status == 404)
        let first = try await HTTP.request("POST", base + "/api/extraction/jobs/\(id)/commit", token: org.token)
        #expect(first.status == 200, "\(first)")
        #expect(first.data["inserted"] as? Int == 1)
        #expect(first.data["updated"] as? Int == 0)
        #expect(first.data["unchanged"] as? Int == 1)
        #expect(first.data["already_committed"] as? Bool == false)
        let second = try await HTTP.request("POST", base + "/api/extraction/jobs/\(id)/commit", token: org.token)
        #expect(second.status == 200)
        #expect(second.data["already_committed"] as? Bool == true)
        #expect(second.data["inserted"] as? Int == 1)
        let n = try await pool.query("SELECT count(*) AS n FROM quarry.products WHERE org_id = $1 AND supplier_id = 'sup-1'", [org.id]).first?.int(
            "n")
        #expect(n == 2)
    }

    @Test func eventsStreamProgressThenFinalStatus() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let store = JobStore(pool: APIHarness.shared.pool)
        let kind = TestDatabase.uniqueKind("sse")
        let id = try await store.enqueue(org: org.id, kind: kind)
        let job = try #require(try await store.claim(workerID: "api-test", kinds: [kind], limit: 1).first)
        let stream = try CurlStream(url: base + "/api/extraction/jobs/\(id.uuidString.lowercased())/events", token: org.token)
        #expect(try await eventually(timeout: .seconds(10)) { stream.text.contains("event: status") }, "\(stream.text)")
        #expect(stream.text.contains("\"status\": \"processing\""))
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await store.progress(job, json: "{\"percent_complete\":42,\"current_step\":\"Validating products\"}"))
        #expect(try await eventually(timeout: .seconds(10)) { stream.text.contains("event: progress") }, "\(stream.text)")
        #expect(stream.text.contains("\"percent_complete\": 42"))
        try await store.complete([Completion(id: job.id, leaseToken: job.leaseToken, result: nil, rowsProcessed: 1)])
        #expect(try await eventually(timeout: .seconds(10)) { stream.text.contains("\"status\": \"completed\"") }, "\(stream.text)")
        // The server ends the stream after the final status.
        #expect(try await eventually(timeout: .seconds(10)) { !stream.process.isRunning })
        // Heartbeats keep idle streams alive (1 s in tests).
        let id2 = try await store.enqueue(org: org.id, kind: kind)
        let idle = try CurlStream(url: base + "/api/extraction/jobs/\(id2.uuidString.lowercased())/events", token: org.token)
        #expect(try await eventually(timeout: .seconds(10)) { idle.text.contains(": heartbeat") })
        let other = try await APIHarness.shared.org()
        #expect(try await HTTP.request("GET", base + "/api/extraction/jobs/\(id2.uuidString)/events", token: other.token).status == 404)
    }
}
