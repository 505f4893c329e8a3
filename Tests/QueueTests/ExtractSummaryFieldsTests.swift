import Foundation
import Models
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// The summary fields of issue 18 end to end (a stored upload, a real `worker` process, rows in PostgreSQL):
/// `header_row` and `header_row_confidence`, `extra_cells` with the rows' `EXTRA_CELLS` warnings and `column_N`
/// extras.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ExtractSummaryFieldsTests {
    let pool: PostgresPool
    let store: JobStore
    let org = UUID()

    init() async throws {
        pool = try await TestDatabase.migrated()
        store = JobStore(pool: pool, retry: RetryPolicy(maxAttempts: 1, baseDelay: .milliseconds(100), maxDelay: .seconds(1)))
    }

    func run(_ data: Data, name: String, config: String = "{}") async throws -> (id: UUID, summary: [String: Any], status: String?) {
        let worker = try ChildProcess("worker", environment: ["WORKER_KINDS": "extract", "EXTRACTION_POLL_INTERVAL_MS": "100"])
        defer { worker.signal(SIGTERM) }
        let upload = try await TestUploads.store(data, fileName: name, org: org, pool: pool)
        let id = try await store.enqueue(
            org: org, kind: "extract", payload: #"{"upload_id":"\#(upload.uuidString)","config":\#(config)}"#, maxAttempts: 1)
        var row: PostgresRow?
        _ = try await eventually(timeout: .seconds(60)) {
            row = try await pool.query("SELECT status, result::text AS result, error::text AS error FROM quarry.jobs WHERE id = $1", [id]).first
            return ["completed", "dead_lettered"].contains(row?.string("status") ?? "")
        }
        let summary = (try? JSONSerialization.jsonObject(with: Data((row?.string("result") ?? "{}").utf8))) as? [String: Any] ?? [:]
        #expect(row?.string("status") == "completed", "\(row?.string("error") ?? "")")
        return (id, summary, row?.string("status"))
    }

    @Test func extraCellsAreKeptFlaggedAndCounted() async throws {
        let csv = "Price list 2024\n\nsku,name,price\nP-1,Pencil,0.50,box of 12\nP-2,Eraser,0.80,,\nP-3,Ruler,1.20,metal,2024\n"
        let (id, s, _) = try await run(Data(csv.utf8), name: "extra.csv")
        #expect(s["header_row"] as? Int == 3)
        let confidence = try #require(s["header_row_confidence"] as? Double, "\(s)")
        #expect(confidence > 0.5 && confidence <= 1)
        #expect(s["extra_cells"] as? Int == 3)
        #expect((s["issues_by_code"] as? [String: Int])?["EXTRA_CELLS"] == 2)
        #expect(s["rows_valid"] as? Int == 3)
        let rows = try await pool.query(
            "SELECT row_number, extra::text AS extra, issues::text AS issues FROM quarry.result_rows WHERE job_id = $1 ORDER BY row_number", [id])
        #expect(rows.map { $0.int("row_number") } == [4, 5, 6])
        let p3 = try #require(rows.map { $0 }.last)
        let extra = (try? JSONSerialization.jsonObject(with: Data((p3.string("extra") ?? "{}").utf8))) as? [String: String]
        #expect(extra == ["column_4": "metal", "column_5": "2024"])
        #expect(p3.string("issues")?.contains("\"EXTRA_CELLS\"") == true)
        #expect(p3.string("issues")?.contains("\"warning\"") == true)
    }

    @Test func anExplicitHeaderRowHasConfidenceOne() async throws {
        let csv = "Price list 2024\nsku,price\nA,1\nB,2\n"
        let (_, s, _) = try await run(Data(csv.utf8), name: "explicit.csv", config: #"{"header_row":2}"#)
        #expect(s["header_row"] as? Int == 2)
        #expect(s["header_row_confidence"] as? Double == 1)
        #expect(s["extra_cells"] as? Int == 0)
        #expect(s["rows_total"] as? Int == 2)
    }
}
