import Extraction
import Foundation
import Postgres
import QuarryTestSupport
import Testing

/// The reject file (issue 16, part 4): invalid rows and rows rejected in review, as they were in the source.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct RejectFileTests {
    /// A semicolon file with quoted fields, a quoted line break, a short row and a formula-like cell; H-1's price
    /// jumps 400 % and is rejected in review, H-2's +10 % is not held.
    static let csv =
        "Art;Preis;Währung;Notiz\nR-1;1,00;EUR;ok\nR-2;abc;EUR;\"a \"\"quoted\"\"; note\"\n;2,00;EUR;\"two\nlines\"\n"
        + "R-4;=1+1;EUR\nH-1;50,00;EUR;held\nH-2;11,00;EUR;fine\n"

    /// Runs the job, rejects H-1 in review; returns the job id.
    func rejectedJob(_ flow: SupplierFlow) async throws -> String {
        try await flow.insert(
            ["H-1": .init(name: nil, cents: 1000, currency: "EUR"), "H-2": .init(name: nil, cents: 1000, currency: "EUR")], supplier: "rejects")
        let config: [String: Any] = [
            "supplier_id": "rejects", "column_mapping": ["sku": "Art", "price": "Preis", "currency": "Währung"],
            "price_guard": ["max_increase_pct": 30, "max_held_share_pct": 100],
        ]
        let job = try await flow.extract(Self.csv, config: config, name: "rejects.csv")
        let review = try await HTTP.request(
            "POST", flow.base + "/api/extraction/jobs/\(job)/review", token: flow.org.token, body: HTTP.json(["reject": ["H-1"]]))
        try #require(review.status == 200, "\(review)")
        return job
    }

    /// CSV from a CSV: the header line and each rejected record's text exactly, then `;` and the four columns.
    @Test func csvKeepsTheOriginalLinesExactly() async throws {
        let flow = try await SupplierFlow.make()
        let job = try await rejectedJob(flow)
        let r = try await HTTP.request("GET", flow.base + "/api/extraction/jobs/\(job)/rejects?format=csv", token: flow.org.token)
        #expect(r.status == 200 && r.headers["content-type"]?.hasPrefix("text/csv") == true, "\(r)")
        let expected =
            "Art;Preis;Währung;Notiz;row_number;column;code;message\n"
            + "R-2;abc;EUR;\"a \"\"quoted\"\"; note\";3;price;INVALID_NUMBER;'abc' is not a number\n"
            + ";2,00;EUR;\"two\nlines\";4;sku;REQUIRED;required field 'sku' is empty\n"
            + "R-4;=1+1;EUR;;5;price;INVALID_NUMBER;'=1+1' is not a number\n"
            + "H-1;50,00;EUR;held;6;price;REJECTED_IN_REVIEW;price change rejected in review: 10.0000 EUR -> 50.0000 EUR\n"
        #expect(r.text == expected, "\(r.text.debugDescription)")
        let other = try await APIHarness.shared.org()
        #expect(try await HTTP.request("GET", flow.base + "/api/extraction/jobs/\(job)/rejects", token: other.token).status == 404)
        #expect(try await HTTP.request("GET", flow.base + "/api/extraction/jobs/\(job)/rejects?format=pdf", token: flow.org.token).status == 400)
    }

    /// A comma file with CRLF line ends, no price guard: a quoted CRLF inside a field stays in its record, a row
    /// wider than the header keeps its extra cell, and lines end with CRLF as in the file. Valid rows keep no text.
    @Test func crlfFileAndWideRows() async throws {
        let flow = try await SupplierFlow.make()
        let csv = "sku,price,note\r\nC-1,1.00,ok\r\nC-2,\"a,b\",\"multi\r\nline\"\r\nC-3,x,wide,extra\r\n"
        let job = try await flow.extract(csv, config: ["supplier_id": "crlf"], name: "crlf.csv")
        let r = try await HTTP.request("GET", flow.base + "/api/extraction/jobs/\(job)/rejects", token: flow.org.token)
        #expect(r.status == 200, "\(r)")
        let expected =
            "sku,price,note,row_number,column,code,message\r\n"
            + "C-2,\"a,b\",\"multi\r\nline\",3,price,INVALID_NUMBER,\"'a,b' is not a number\"\r\n"
            + "C-3,x,wide,extra,4,price,INVALID_NUMBER,'x' is not a number\r\n"
        #expect(r.text == expected, "\(r.text.debugDescription)")
        let kept = try await flow.pool.query(
            "SELECT count(*) FILTER (WHERE source IS NOT NULL) AS n FROM quarry.result_rows WHERE job_id = $1::uuid AND valid", [job]
        ).first?.int("n")
        #expect(kept == 0)
    }

    /// XLSX: the same rows as cells, read back by the XLSX reader.
    @Test func xlsxReadsBackCellByCell() async throws {
        let flow = try await SupplierFlow.make()
        let job = try await rejectedJob(flow)
        let r = try await HTTP.request("GET", flow.base + "/api/extraction/jobs/\(job)/rejects?format=xlsx", token: flow.org.token)
        #expect(r.status == 200 && r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "\(r.status)")
        let path = NSTemporaryDirectory() + "rejects-\(UUID().uuidString).xlsx"
        try r.body.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        // A copy for a person (or openpyxl / python-calamine) to open.
        try? r.body.write(to: URL(fileURLWithPath: "/tmp/quarry-rejects.xlsx"))
        var rows: [[String]] = []
        try TabularReaders.make(format: .xlsx, path: path).read(limits: ExtractionLimits(), isCancelled: { false }, progress: { _ in }) {
            rows.append($1)
        }
        #expect(rows.count == 5, "\(rows)")
        #expect(rows.first == ["Art", "Preis", "Währung", "Notiz", "row_number", "column", "code", "message"])
        #expect(
            rows.dropFirst().map { Array($0.prefix(6)) } == [
                ["R-2", "abc", "EUR", "a \"quoted\"; note", "3", "price"], ["", "2,00", "EUR", "two\nlines", "4", "sku"],
                ["R-4", "=1+1", "EUR", "", "5", "price"], ["H-1", "50,00", "EUR", "held", "6", "price"],
            ])
        #expect(rows.last?.dropFirst(6).first == "REJECTED_IN_REVIEW")
        #expect(rows.dropFirst().allSatisfy { $0.count == 8 && !$0[7].isEmpty }, "\(rows)")
    }
}
