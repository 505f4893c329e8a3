import Foundation
import Models
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// The `extract` job end to end: a stored upload, a real `worker` process, rows in PostgreSQL.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ExtractJobTests {
    let pool: PostgresPool
    let store: JobStore
    let org = UUID()

    init() async throws {
        pool = try await TestDatabase.migrated()
        store = JobStore(pool: pool, retry: RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(100), maxDelay: .seconds(1)))
    }

    func startWorker() throws -> ChildProcess {
        try ChildProcess(
            "worker",
            environment: [
                "WORKER_KINDS": "extract", "EXTRACTION_POLL_INTERVAL_MS": "100", "EXTRACTION_MAX_FILE_SIZE_MB": "20",
                "EXTRACTION_PROGRESS_INTERVAL_MS": "50",
            ])
    }

    func submit(_ data: Data, name: String, config: String = "{}", extra: String = "") async throws -> UUID {
        let upload = try await TestUploads.store(data, fileName: name, org: org, pool: pool)
        return try await store.enqueue(
            org: org, kind: "extract", payload: #"{"upload_id":"\#(upload.uuidString)","config":\#(config)\#(extra)}"#, maxAttempts: 2)
    }

    func waitFinal(_ id: UUID, timeout: Duration = .seconds(60)) async throws -> PostgresRow? {
        var row: PostgresRow?
        _ = try await eventually(timeout: timeout, every: .milliseconds(50)) {
            row = try await pool.query(
                "SELECT status, error->>'code' AS code, error->>'message' AS message, result::text AS result, error::text AS error FROM quarry.jobs WHERE id = $1",
                [id]
            ).first
            return ["completed", "dead_lettered", "cancelled"].contains(row?.string("status") ?? "")
        }
        return row
    }

    func summary(_ row: PostgresRow?) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data((row?.string("result") ?? "{}").utf8))) as? [String: Any] ?? [:]
    }

    @Test func messySupplierCSVIsMappedValidatedAndClassified() async throws {
        let w = try startWorker()
        defer { w.signal(SIGTERM) }
        // The catalog already knows two of the SKUs.
        try await pool.query(
            "INSERT INTO quarry.products (org_id, supplier_id, sku, price) VALUES ($1, 'acme', 'A-100', 1.25), ($1, 'acme', 'A-101', 0.75)", [org])
        let id = try await submit(try TestUploads.fixture("supplier_prices.csv"), name: "prices.csv", config: #"{"supplier_id":"acme"}"#)
        let row = try await waitFinal(id)
        #expect(row?.string("status") == "completed", "\(row?.string("error") ?? "")")
        let s = summary(row)
        #expect(s["rows_total"] as? Int == 6)
        #expect(s["rows_valid"] as? Int == 4)
        #expect(s["rows_invalid"] as? Int == 2)
        #expect(s["duplicates"] as? Int == 1)
        #expect(s["unchanged"] as? Int == 1)  // A-100 at 1.25
        #expect(s["updated"] as? Int == 2)  // A-101 0.75 → 0.80, and the duplicate A-100 at 1.30
        #expect((s["mapping"] as? [String: String])?["sku"] == "Artikelnummer")
        let a101 = try await pool.query(
            "SELECT classification, old_price::text AS old, price::text AS price FROM quarry.result_rows WHERE job_id = $1 AND sku = 'A-101'", [id]
        ).first
        #expect(a101?.string("classification") == "updated")
        #expect(a101?.string("old") == "0.7500")
        #expect(a101?.string("price") == "0.8000")
        let invalid = try await pool.query("SELECT row_number FROM quarry.result_rows WHERE job_id = $1 AND NOT valid ORDER BY 1", [id])
        #expect(invalid.compactMap { $0.int("row_number") } == [5, 7])
        // Only the second A-100 carries the duplicate warning, and it stays valid.
        let warned = try await pool.query(
            """
            SELECT row_number, valid, i->>'message' AS message FROM quarry.result_rows, jsonb_array_elements(issues) i
            WHERE job_id = $1 AND i->>'code' = 'DUPLICATE_SKU' AND i->>'severity' = 'warning'
            """, [id])
        #expect(warned.count == 1)
        #expect(warned.first?.bool("valid") == true)
        #expect(warned.first?.string("message") == "SKU 'A-100' appears more than once")
        let first = try await pool.query("SELECT min(row_number) AS n FROM quarry.result_rows WHERE job_id = $1 AND sku = 'A-100'", [id])
        #expect(warned.first?.int("row_number") ?? 0 > first.first?.int("n") ?? .max)
        #expect((s["issues_by_code"] as? [String: Int])?["DUPLICATE_SKU"] == 1)
    }

    @Test func strictModeFailsOnTheFirstInvalidRowIntoTheDLQ() async throws {
        let w = try startWorker()
        defer { w.signal(SIGTERM) }
        let id = try await submit(try TestUploads.fixture("supplier_prices.csv"), name: "prices.csv", config: #"{"validation_mode":"strict"}"#)
        let row = try await waitFinal(id)
        #expect(row?.string("status") == "dead_lettered")
        #expect(row?.string("code") == "VALIDATION_ERROR")
        #expect(row?.string("message")?.contains("row 5") == true)
        // Nothing half-written.
        #expect(try await pool.query("SELECT count(*) AS n FROM quarry.result_rows WHERE job_id = $1", [id]).first?.int("n") == 0)
        let dlq = try await pool.query("SELECT retry_count FROM quarry.dead_letter_jobs WHERE job_id = $1", [id]).first
        #expect(dlq?.int("retry_count") == 1)
    }

    @Test func sameFileAndConfigReusesTheCachedResult() async throws {
        let w = try startWorker()
        defer { w.signal(SIGTERM) }
        let data = Data("sku,price\nX1,10\nX2,20\n".utf8)
        let first = try await submit(data, name: "a.csv")
        #expect(try await waitFinal(first)?.string("status") == "completed")
        let second = try await submit(data, name: "b.csv")
        let row = try await waitFinal(second)
        let s = summary(row)
        #expect(s["cached"] as? Bool == true)
        #expect(s["cached_from"] as? String == first.uuidString.lowercased())
        #expect(try await pool.query("SELECT count(*) AS n FROM quarry.result_rows WHERE job_id = $1", [second]).first?.int("n") == 2)
        // A different config is not a cache hit.
        let third = try await submit(data, name: "c.csv", config: #"{"currency":"USD"}"#)
        #expect(summary(try await waitFinal(third))["cached"] as? Bool == false)
    }

    @Test func badInputFailsItsOwnJobWithAClearCodeAndTheWorkerKeepsServing() async throws {
        let w = try startWorker()
        defer { w.signal(SIGTERM) }
        var garbage = Data(count: 4096)
        for i in 0..<garbage.count { garbage[i] = UInt8((i * 7919) & 0xFF) }
        let cases: [(Data, String, String)] = [
            (garbage, "garbage.csv", "FORMAT_MISMATCH"),
            (Data(), "empty.csv", "EMPTY_FILE"),
            (try TestUploads.fixture("bomb.xlsx"), "bomb.xlsx", "ZIP_BOMB"),
            (try TestUploads.fixture("laughs.xlsx"), "laughs.xlsx", "XML_DTD_FORBIDDEN"),
            (try TestUploads.fixture("truncated.pdf"), "truncated.pdf", "MALFORMED_FILE"),
            (try TestUploads.fixture("encrypted.pdf"), "encrypted.pdf", "ENCRYPTED_FILE"),
            (Data("[{\"sku\": \"a\", \"price\": 1}, {\"sku\": ".utf8), "broken.json", "INVALID_JSON"),
            (Data("{}".utf8), "x.exe", "UNSUPPORTED_FORMAT"),
        ]
        var ids: [(UUID, String, String)] = []
        for (data, name, code) in cases { ids.append((try await submit(data, name: name), name, code)) }
        ids.append((try await submit(Data("a,b\n1,2\n".utf8), name: "ok.csv", config: #"{"bogus":1}"#), "config", "INVALID_CONFIG"))
        for (id, name, code) in ids {
            let row = try await waitFinal(id)
            #expect(row?.string("status") == "dead_lettered", "\(name): \(row?.string("status") ?? "-")")
            #expect(row?.string("code") == code, "\(name): \(row?.string("error") ?? "-")")
        }
        // Still serving. A price too large for the results table is that row's error, not a failed COPY.
        let ok = try await submit(Data("sku,price\nZ9,1.5\nZ10,123456789012345\n".utf8), name: "fine.csv")
        let done = try await waitFinal(ok)
        #expect(done?.string("status") == "completed", "\(done?.string("error") ?? "-")")
        let z10 = try await pool.query(
            "SELECT valid, price::text AS price, issues->0->>'code' AS code FROM quarry.result_rows WHERE job_id = $1 AND sku = 'Z10'", [ok]
        ).first
        #expect(z10?.bool("valid") == false)
        #expect(z10?.string("price") == nil)
        #expect(z10?.string("code") == "OUT_OF_RANGE")
        #expect(w.isRunning)
    }

    /// A NUL character in a cell that is kept as JSON — an unmapped field in `extra`, an invalid row's source for
    /// the reject file — failed the whole COPY (`jsonb` refuses `\u0000`) and dead-lettered the job as a database
    /// error. JSON input can carry one (`"\u0000"`; a CSV with NUL bytes is refused as binary before). The text
    /// columns drop NULs; so does the JSON now, and the job completes with every row.
    @Test func nulCharactersInCellsKeptAsJSONDoNotFailTheJob() async throws {
        let w = try startWorker()
        defer { w.signal(SIGTERM) }
        let ndjson = #"""
            {"sku":"N-1","price":1.5,"notes":"pad\u0000ded"}
            {"sku":"N-2","price":null,"notes":"bad\u0000row"}
            {"sku":"N-3","price":2,"notes":"fine"}

            """#
        let id = try await submit(Data(ndjson.utf8), name: "nul.ndjson")
        let row = try await waitFinal(id)
        #expect(row?.string("status") == "completed", "\(row?.string("error") ?? "-")")
        let rows = try await pool.query(
            "SELECT sku, valid, extra->>'notes' AS notes, source::text AS source FROM quarry.result_rows WHERE job_id = $1 ORDER BY row_number",
            [id])
        let stored = Array(rows)
        #expect(stored.map { $0.string("sku") } == ["N-1", "N-2", "N-3"])
        #expect(stored.first?.string("notes") == "padded")
        #expect(stored.count == 3 && stored[1].bool("valid") == false)
        #expect(
            stored.count == 3 && (stored[1].string("source") ?? "").contains("badrow"),
            "\(stored.count == 3 ? stored[1].string("source") ?? "-" : "-")")
        // In a field name: the header is also in the job's summary (JSON encoded, then stored as jsonb).
        let named = try await submit(Data(#"{"sku":"K-1","price":1,"no\u0000te":"x\\u0000y"}"#.utf8), name: "nulkey.ndjson")
        let done = try await waitFinal(named)
        #expect(done?.string("status") == "completed", "\(done?.string("error") ?? "-")")
        let extra = try await pool.query("SELECT extra::text AS e FROM quarry.result_rows WHERE job_id = $1", [named]).first
        // The NUL is dropped; an escaped backslash followed by "u0000" is text, kept.
        #expect(extra?.string("e") == #"{"note": "x\\u0000y"}"#, "\(extra?.string("e") ?? "-")")
        #expect(w.isRunning)
    }

    @Test func documentsGiveTextPagesAndWordCounts() async throws {
        let w = try startWorker()
        defer { w.signal(SIGTERM) }
        let pdf = try await submit(try TestUploads.fixture("three_pages.pdf"), name: "report.pdf")
        let row = try await waitFinal(pdf)
        #expect(row?.string("status") == "completed", "\(row?.string("error") ?? "")")
        let s = summary(row)
        #expect(s["page_count"] as? Int == 3)
        #expect(s["word_count"] as? Int == 21)
        #expect(try await pool.query("SELECT count(*) AS n FROM quarry.result_sections WHERE job_id = $1", [pdf]).first?.int("n") == 3)
        let docx = try await submit(try TestUploads.fixture("sample.docx"), name: "memo.docx")
        #expect(try await waitFinal(docx)?.string("status") == "completed")
    }

    @Test func cancellingARunningExtractionStopsItPromptly() async throws {
        let w = try startWorker()
        defer { w.signal(SIGTERM) }
        var block = ""
        for i in 0..<1000 { block += "S\(i),Item number \(i),\(i).99\n" }
        let csv = "sku,name,price\n" + String(repeating: block, count: 500)
        let id = try await submit(Data(csv.utf8), name: "big.csv")
        #expect(
            try await eventually {
                (try await pool.query("SELECT (progress->>'percent_complete')::int AS p FROM quarry.jobs WHERE id = $1", [id]).first?.int("p") ?? 0)
                    >= 10
            })
        let t0 = ContinuousClock.now
        #expect(try await store.cancel(id: id) == "cancelling")
        let row = try await waitFinal(id, timeout: .seconds(10))
        #expect(row?.string("status") == "cancelled")
        #expect(ContinuousClock.now - t0 < .seconds(5))
        #expect(try await pool.query("SELECT count(*) AS n FROM quarry.result_rows WHERE job_id = $1", [id]).first?.int("n") == 0)
    }

    @Test func retryOfRejectedRowsKeepsTheAcceptedOnes() async throws {
        let w = try startWorker()
        defer { w.signal(SIGTERM) }
        let data = Data("sku;price\nK1;1,50\nK2;abc\nK3;2,00\n".utf8)
        let first = try await submit(data, name: "k.csv")
        #expect(summary(try await waitFinal(first))["rows_invalid"] as? Int == 1)
        let upload = try #require(
            try await pool.query("SELECT payload->>'upload_id' AS u FROM quarry.jobs WHERE id = $1", [first]).first?.string("u"))
        let retry = try await store.enqueue(
            org: org, kind: "extract",
            payload:
                #"{"upload_id":"\#(upload)","config":{"transformations":[{"type":"default","field":"price","value":"0"},{"type":"replace","field":"price","find":"abc","with":"3,00"}]},"retry_of":"\#(first.uuidString)","only_rejected":true}"#
        )
        let s = summary(try await waitFinal(retry))
        #expect(s["rows_kept_from_previous_run"] as? Int == 2)
        #expect(s["rows_invalid"] as? Int == 0)
        let k2 = try await pool.query("SELECT price::text AS p FROM quarry.result_rows WHERE job_id = $1 AND sku = 'K2'", [retry]).first?.string("p")
        #expect(k2 == "3.0000")
    }
}
