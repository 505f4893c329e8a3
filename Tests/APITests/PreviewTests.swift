import Foundation
import QuarryTestSupport
import Testing

/// `GET /api/uploads/:id/preview` against a real `api` process: the first rows as the extract job would read them,
/// what was detected, and the suggested mapping; org scoping; refusals.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct PreviewTests {
    static let report =
        "ACME price list 2024\n\nItem No,Description,Unit Price,Stock\nA-1,Bolt,0.42,500,loose\nA-2,Nut,0.08,2000\nA-3,Washer,0.03,5000\n"

    static func upload(_ body: Data, name: String, token: String, base: String) async throws -> String {
        let r = try await HTTP.request("POST", base + "/api/uploads?filename=\(name)", token: token, body: body)
        #expect(r.status == 201, "\(r)")
        return try #require(r.data["upload_id"] as? String, "\(r)")
    }

    static func corpus(_ name: String) throws -> Data {
        try Data(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../ExtractionTests/Fixtures/corpus/header/\(name)"))
    }

    @Test func aCSVReportIsPreviewedFromItsDetectedHeader() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let id = try await Self.upload(Data(Self.report.utf8), name: "report.csv", token: org.token, base: base)
        let r = try await HTTP.request("GET", base + "/api/uploads/\(id)/preview", token: org.token)
        #expect(r.status == 200, "\(r)")
        let d = r.data
        #expect(d["upload_id"] as? String == id)
        #expect(d["file_name"] as? String == "report.csv")
        #expect(d["format"] as? String == "csv")
        #expect(d["header_row"] as? Int == 3)
        let confidence = try #require(d["header_row_confidence"] as? Double, "\(d)")
        #expect(confidence > 0.5 && confidence <= 1)
        #expect(d["header"] as? [String] == ["Item No", "Description", "Unit Price", "Stock"])
        let rows = try #require(d["rows"] as? [[String: Any]])
        #expect(rows.map { $0["row"] as? Int } == [4, 5, 6])
        // Every cell kept, also the one right of the header.
        #expect(rows.first?["cells"] as? [String] == ["A-1", "Bolt", "0.42", "500", "loose"])
        #expect(d["truncated"] as? Bool == false)
        let mapping = try #require(d["suggested_mapping"] as? [String: [String: Any]], "\(d)")
        #expect(mapping["sku"]?["header"] as? String == "Item No")
        #expect(mapping["sku"]?["column"] as? Int == 0)
        #expect(mapping["sku"]?["confidence"] as? Double == 1)
        #expect(mapping["price"]?["header"] as? String == "Unit Price")
        #expect(mapping["quantity"]?["header"] as? String == "Stock")
        #expect(mapping["name"]?["header"] as? String == "Description")
        #expect((mapping["name"]?["confidence"] as? Double ?? 1) < 1, "a description read as the name is less certain")

        // Fewer rows, and an explicit header row (confidence 1).
        let two = try await HTTP.request("GET", base + "/api/uploads/\(id)/preview?rows=2&header_row=1", token: org.token)
        #expect(two.status == 200, "\(two)")
        #expect(two.data["header_row"] as? Int == 1)
        #expect(two.data["header_row_confidence"] as? Double == 1)
        #expect(two.data["header"] as? [String] == ["ACME price list 2024"])
        #expect((two.data["rows"] as? [[String: Any]])?.count == 2)
        #expect(two.data["truncated"] as? Bool == true)
    }

    @Test func aWorkbookWithNotesAndPadding() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let id = try await Self.upload(try Self.corpus("supplier_list_padding.xlsx"), name: "suppliers.xlsx", token: org.token, base: base)
        let r = try await HTTP.request("GET", base + "/api/uploads/\(id)/preview?rows=3", token: org.token)
        #expect(r.status == 200, "\(r)")
        #expect(r.data["format"] as? String == "xlsx")
        #expect(r.data["header_row"] as? Int == 7)
        #expect((r.data["header"] as? [String])?.contains("Artikelnummer") == true)
        #expect((r.data["rows"] as? [[String: Any]])?.count == 3)
        #expect((r.data["suggested_mapping"] as? [String: [String: Any]])?["sku"]?["header"] as? String == "Artikelnummer")
        let badSheet = try await HTTP.request("GET", base + "/api/uploads/\(id)/preview?sheet=Nope", token: org.token)
        #expect(badSheet.status == 400, "\(badSheet)")
        #expect(badSheet.errorCode == "INVALID_CONFIG")
    }

    @Test func badParametersOtherOrgsAndDocuments() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let other = try await APIHarness.shared.org()
        let id = try await Self.upload(Data(Self.report.utf8), name: "r.csv", token: org.token, base: base)
        for query in ["rows=0", "rows=201", "rows=abc", "header_row=0", "header_row=x"] {
            let r = try await HTTP.request("GET", base + "/api/uploads/\(id)/preview?\(query)", token: org.token)
            #expect(r.status == 400, "\(query): \(r)")
            #expect(r.json["success"] as? Bool == false)
        }
        let capped = try await HTTP.request("GET", base + "/api/uploads/\(id)/preview?rows=200", token: org.token)
        #expect(capped.status == 200, "\(capped)")
        // Another org's upload is invisible, as is an unknown one.
        let foreign = try await HTTP.request("GET", base + "/api/uploads/\(id)/preview", token: other.token)
        #expect(foreign.status == 404, "\(foreign)")
        let unknown = try await HTTP.request("GET", base + "/api/uploads/\(UUID().uuidString)/preview", token: org.token)
        #expect(unknown.status == 404, "\(unknown)")
        // A document is not a table.
        let pdf = try await Self.upload(
            Data("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".utf8), name: "doc.pdf", token: org.token, base: base)
        let refused = try await HTTP.request("GET", base + "/api/uploads/\(pdf)/preview", token: org.token)
        #expect(refused.status == 422, "\(refused)")
        #expect(refused.errorCode == "NOT_TABULAR")
        // A file Quarry cannot read: the code the extract job would fail with.
        // (An unbalanced quote is no longer one: the dialect sniffer then reads the file without quoting. A ZIP cut
        // short before its directory is: no OOXML package can be found in it.)
        let broken = try await Self.upload(
            Data([0x50, 0x4B, 0x03, 0x04] + Array(repeating: 0x41, count: 300)), name: "broken.xlsx", token: org.token, base: base)
        let malformed = try await HTTP.request("GET", base + "/api/uploads/\(broken)/preview", token: org.token)
        #expect(malformed.status == 422, "\(malformed)")
        #expect(malformed.errorCode == "FORMAT_MISMATCH", "\(malformed)")
    }

    /// Delimited text is read from a 2 MiB prefix of the upload; when the rows asked for run past it, the whole
    /// file is read, so the last row shown is never cut.
    @Test func rowsPastThePrefixAreReadFromTheWholeFile() async throws {
        let api = try await APIHarness.start(environment: ["EXTRACTION_MAX_FILE_SIZE_MB": "8", "API_RATE_LIMIT_PER_MIN": "100000"])
        defer { api.process.signal(SIGTERM) }
        let org = try await APIHarness.shared.org()
        var csv = "sku,blob\n"
        let blob = String(repeating: "x", count: 20_000)
        for i in 0..<250 { csv += "S-\(i),\(blob)\(i)\n" }
        let id = try await Self.upload(Data(csv.utf8), name: "wide.csv", token: org.token, base: api.base)
        let r = try await HTTP.request("GET", api.base + "/api/uploads/\(id)/preview?rows=200", token: org.token, timeout: 60)
        #expect(r.status == 200, "\(r.description.prefix(300))")
        let rows = try #require(r.data["rows"] as? [[String: Any]])
        #expect(rows.count == 200)
        #expect(rows.last?["cells"] as? [String] == ["S-199", blob + "199"])
        #expect(r.data["truncated"] as? Bool == true)
        // A few rows come from the prefix alone.
        let few = try await HTTP.request("GET", api.base + "/api/uploads/\(id)/preview?rows=5", token: org.token)
        #expect((few.data["rows"] as? [[String: Any]])?.last?["cells"] as? [String] == ["S-4", blob + "4"])
    }
}
