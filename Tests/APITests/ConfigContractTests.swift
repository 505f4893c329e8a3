import Foundation
import Postgres
import QuarryTestSupport
import Testing

/// The api judges a job's `config` with the worker's own decoder (issue 12, point 10): a config the api answers
/// 201 to is one the worker runs, and one the worker would dead-letter is a 400 `INVALID_CONFIG` up front.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ConfigContractTests {
    func createJob(_ base: String, _ org: TestOrg, upload: String, config: Any) async throws -> HTTPResult {
        try await HTTP.request(
            "POST", base + "/api/extraction/jobs", token: org.token, body: HTTP.json(["upload_id": upload, "config": config]))
    }

    /// How many jobs exist for an upload (a refused config must not enqueue anything).
    func jobCount(upload: String) async throws -> Int {
        try await APIHarness.shared.pool.query("SELECT count(*) AS n FROM quarry.jobs WHERE upload_id = $1::uuid", [upload])
            .first?.int("n") ?? -1
    }

    @Test func headerRowZeroIsInvalidConfigNamingTheField() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let upload = try await uploadCSV(base, org)
        let r = try await createJob(base, org, upload: upload, config: ["header_row": 0])
        #expect(r.status == 400, "\(r)")
        #expect(r.errorCode == "INVALID_CONFIG", "\(r)")
        #expect(r.errorDetails["field"] as? String == "header_row", "\(r)")
        #expect(r.errorMessage?.contains("header_row") == true, "\(r)")
        #expect(try await jobCount(upload: upload) == 0)
    }

    @Test func mappingValuesTheWorkerCannotDecodeAreRefused() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let upload = try await uploadCSV(base, org)
        let array = try await createJob(base, org, upload: upload, config: ["column_mapping": ["sku": ["a"]]])
        #expect(array.status == 400, "\(array)")
        #expect(array.errorCode == "INVALID_CONFIG")
        #expect(array.errorDetails["field"] as? String == "column_mapping", "\(array)")
        let negative = try await createJob(base, org, upload: upload, config: ["column_mapping": ["sku": -1]])
        #expect(negative.status == 400, "\(negative)")
        #expect(negative.errorCode == "INVALID_CONFIG")
        let unknownField = try await createJob(base, org, upload: upload, config: ["column_mapping": ["colour": "Farbe"]])
        #expect(unknownField.status == 400, "\(unknownField)")
        #expect(unknownField.errorCode == "INVALID_CONFIG")
        #expect(try await jobCount(upload: upload) == 0)
    }

    @Test func unknownMemberIsInvalidConfig() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let upload = try await uploadCSV(base, org)
        let r = try await createJob(base, org, upload: upload, config: ["colour": "red"])
        #expect(r.status == 400, "\(r)")
        #expect(r.errorCode == "INVALID_CONFIG")
        #expect(r.errorDetails["field"] as? String == "colour", "\(r)")
        // A bad transformation is caught too (the old validator took any array).
        let transform = try await createJob(base, org, upload: upload, config: ["transformations": [["type": "explode"]]])
        #expect(transform.status == 400, "\(transform)")
        #expect(transform.errorCode == "INVALID_CONFIG")
        // `config` itself must be an object: that is the body's shape, checked before the config contract.
        let notObject = try await createJob(base, org, upload: upload, config: [1, 2])
        #expect(notObject.status == 400, "\(notObject)")
        #expect(try await jobCount(upload: upload) == 0)
    }

    /// Integer column indexes are part of the contract: the api accepts them and the worker extracts with them.
    @Test func integerColumnIndexesAreAcceptedAndExtracted() async throws {
        let base = try await APIHarness.shared.base()
        let admin = try await APIHarness.shared.org(admin: true)
        // Headers no alias table knows, so only the indexes can map the columns.
        let csv = Data("first column,second column\nIX-1,2.50\nIX-2,3.75\n".utf8)
        let up = try await HTTP.request("POST", base + "/api/uploads?filename=indexes.csv", token: admin.token, body: csv)
        let upload = try #require(up.data["upload_id"] as? String, "\(up)")
        let config: [String: Any] = ["column_mapping": ["sku": 0, "price": 1], "currency": "€"]
        let job = try await createJob(base, admin, upload: upload, config: config)
        #expect(job.status == 201, "\(job)")
        let jobID = try #require(job.data["job_id"] as? String)

        // The worker gets the client's config as given (its cache key hashes it), not the decoded model.
        let payload =
            try await APIHarness.shared.pool.query("SELECT payload::text AS p FROM quarry.jobs WHERE id = $1::uuid", [jobID]).first?
            .string("p") ?? ""
        let stored = try #require(try JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any])
        let storedConfig = stored["config"] as? [String: Any] ?? [:]
        #expect(storedConfig["currency"] as? String == "€")
        #expect(storedConfig["column_mapping"] as? [String: Int] == ["sku": 0, "price": 1])

        var status = ""
        for _ in 0..<20 {
            let run = try await HTTP.request("POST", base + "/api/worker/process?max_jobs=100&budget_ms=5000", token: admin.token)
            #expect(run.status == 200, "\(run)")
            let got = try await HTTP.request("GET", base + "/api/extraction/jobs/\(jobID)", token: admin.token)
            status = got.data["status"] as? String ?? ""
            if status == "completed" || status == "dead_lettered" || status == "failed" { break }
        }
        #expect(status == "completed")
        let result = try await HTTP.request("GET", base + "/api/extraction/jobs/\(jobID)/result", token: admin.token)
        #expect(result.status == 200, "\(result)")
        let summary = result.data["summary"] as? [String: Any] ?? [:]
        #expect(summary["rows_valid"] as? Int == 2, "\(result)")
        let rows = result.data["rows"] as? [[String: Any]] ?? []
        let first = try #require(rows.first { $0["sku"] as? String == "IX-1" }, "\(result)")
        #expect((first["price"] as? NSNumber)?.doubleValue == 2.5)
        #expect(first["currency"] as? String == "EUR")
    }

    /// A finished (cancelled) job of a fresh org on a fresh upload, ready to be retried.
    func cancelledJob() async throws -> (base: String, org: TestOrg, upload: String, id: String) {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let upload = try await uploadCSV(base, org)
        let created = try await createJob(base, org, upload: upload, config: ["supplier_id": "s1"])
        let id = try #require(created.data["job_id"] as? String, "\(created)")
        _ = try await HTTP.request("DELETE", base + "/api/extraction/jobs/\(id)", token: org.token)
        return (base, org, upload, id)
    }

    @Test func retryWithABadConfigIsInvalidConfig() async throws {
        let (base, org, upload, id) = try await cancelledJob()
        for route in ["/api/extraction/jobs/\(id)/retry", "/api/jobs/\(id)/retry"] {
            let bad = try await HTTP.request("POST", base + route, token: org.token, body: HTTP.json(["config": ["header_row": 0]]))
            #expect(bad.status == 400, "\(route): \(bad)")
            #expect(bad.errorCode == "INVALID_CONFIG", "\(route)")
            #expect(bad.errorDetails["field"] as? String == "header_row", "\(route)")
        }
        #expect(try await jobCount(upload: upload) == 1)
        let good = try await HTTP.request(
            "POST", base + "/api/extraction/jobs/\(id)/retry", token: org.token, body: HTTP.json(["config": ["column_mapping": ["sku": 0]]]))
        #expect(good.status == 201, "\(good)")
    }

    /// A job stored under older rules (here: `ean` and `barcode` both mapped, once resolved by dictionary order)
    /// and retried without a new config: 400 `INVALID_CONFIG` naming the field, not a job the worker dead-letters.
    @Test func retryOfAStoredConfigThatTodaysRulesRefuseIsInvalidConfig() async throws {
        let (base, org, upload, id) = try await cancelledJob()
        try await APIHarness.shared.pool.query(
            "UPDATE quarry.jobs SET payload = jsonb_set(payload, '{config}', '{\"column_mapping\": {\"ean\": 0, \"barcode\": 1}}') WHERE id = $1::uuid",
            [id])
        let stale = try await HTTP.request("POST", base + "/api/jobs/\(id)/retry", token: org.token, body: HTTP.json([String: Any]()))
        #expect(stale.status == 400, "\(stale)")
        #expect(stale.errorCode == "INVALID_CONFIG")
        #expect(stale.errorMessage?.contains("stored config") == true, "\(stale)")
        #expect(stale.errorDetails["field"] as? String == "ean", "\(stale)")
        #expect(try await jobCount(upload: upload) == 1)
        let fixed = try await HTTP.request(
            "POST", base + "/api/jobs/\(id)/retry", token: org.token, body: HTTP.json(["config": ["column_mapping": ["ean": 0]]]))
        #expect(fixed.status == 201, "\(fixed)")
    }
}

extension HTTPResult {
    /// `error.message` of an error envelope.
    var errorMessage: String? { (json["error"] as? [String: Any])?["message"] as? String }
    /// `error.details` of an error envelope (empty when absent).
    var errorDetails: [String: Any] { (json["error"] as? [String: Any])?["details"] as? [String: Any] ?? [:] }
}
