import Foundation
import Postgres
import QuarryTestSupport
import Testing

/// Upload → job → in-request processing (cron trigger) → result → commit, all over real HTTP.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct EndToEndTests {
    @Test func uploadExtractResultCommitThroughTheAPI() async throws {
        let base = try await APIHarness.shared.base()
        let admin = try await APIHarness.shared.org(admin: true)
        let member = try await APIHarness.shared.org()
        let csv = Data("Item No;Description;Unit Price;Currency\nP-1;Bolt;1,10;EUR\nP-2;Nut;0,20;EUR\nP-3;Washer;;EUR\n".utf8)
        let up = try await HTTP.request("POST", base + "/api/uploads?filename=list.csv", token: admin.token, body: csv)
        #expect(up.status == 201, "\(up)")
        let uploadID = try #require(up.data["upload_id"] as? String)
        let job = try await HTTP.request(
            "POST", base + "/api/extraction/jobs", token: admin.token, headers: ["Content-Type": "application/json"],
            body: HTTP.json(["upload_id": uploadID, "config": ["supplier_id": "s1"], "priority": 5]))
        #expect(job.status == 201 || job.status == 200, "\(job)")
        let jobID = try #require(job.data["job_id"] as? String)

        // The cron trigger is admin-only.
        let refused = try await HTTP.request("POST", base + "/api/worker/process", token: member.token)
        #expect(refused.status == 403)
        var status = ""
        for _ in 0..<20 {
            let run = try await HTTP.request("POST", base + "/api/worker/process?max_jobs=100&budget_ms=5000", token: admin.token)
            #expect(run.status == 200, "\(run)")
            let got = try await HTTP.request("GET", base + "/api/extraction/jobs/\(jobID)", token: admin.token)
            status = got.data["status"] as? String ?? ""
            if status == "completed" || status == "dead_lettered" { break }
        }
        #expect(status == "completed")
        let result = try await HTTP.request("GET", base + "/api/extraction/jobs/\(jobID)/result", token: admin.token)
        #expect(result.status == 200, "\(result)")
        let summary = result.data["summary"] as? [String: Any] ?? [:]
        #expect(summary["rows_total"] as? Int == 3)
        #expect(summary["rows_valid"] as? Int == 2)
        let rows = result.data["rows"] as? [[String: Any]] ?? []
        #expect(rows.contains { $0["sku"] as? String == "P-1" })
        // Another org cannot see it.
        let hidden = try await HTTP.request("GET", base + "/api/extraction/jobs/\(jobID)/result", token: member.token)
        #expect(hidden.status == 404)
        // Commit the valid rows into the catalog, once.
        let commit = try await HTTP.request("POST", base + "/api/extraction/jobs/\(jobID)/commit", token: admin.token)
        #expect(commit.status == 200, "\(commit)")
        let n = try await APIHarness.shared.pool.query(
            "SELECT count(*) AS n FROM quarry.products WHERE org_id = $1 AND supplier_id = 's1'", [admin.id]
        ).first?.int("n")
        #expect(n == 2)
    }
}

/// `quarry submit / job / jobs / cancel` against the real api over libcurl.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct CLIOverHTTPTests {
    @Test func submitThenShowJobThroughTheCLI() async throws {
        let base = try await APIHarness.shared.base()
        let admin = try await APIHarness.shared.org(admin: true)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString.prefix(6)).csv")
        try Data("sku,price\nC-1,3.50\nC-2,4.00\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let env = ["QUARRY_URL": base, "QUARRY_TOKEN": admin.token]
        let submit = try ChildProcess("quarry", arguments: ["submit", file.path, "--priority", "3"], environment: env)
        #expect(await submit.waitForExit(timeout: .seconds(30)) == 0, "\(submit.log)")
        let line = try #require(submit.log.split(separator: "\n").first { $0.contains("\t") })
        let jobID = String(line.split(separator: "\t").last ?? "")
        #expect(UUID(uuidString: jobID) != nil, "\(submit.log)")
        _ = try await HTTP.request("POST", base + "/api/worker/process?max_jobs=100&budget_ms=5000", token: admin.token)
        let show = try ChildProcess("quarry", arguments: ["job", jobID], environment: env)
        #expect(await show.waitForExit(timeout: .seconds(30)) == 0)
        #expect(show.log.contains("\"status\" : \"completed\""), "\(show.log)")
        let list = try ChildProcess("quarry", arguments: ["jobs", "--limit", "5"], environment: env)
        #expect(await list.waitForExit(timeout: .seconds(30)) == 0)
        #expect(list.log.contains(jobID))
        // A bad token is a clear error and a non-zero exit.
        let denied = try ChildProcess("quarry", arguments: ["jobs"], environment: ["QUARRY_URL": base, "QUARRY_TOKEN": "qk_nope"])
        #expect(await denied.waitForExit(timeout: .seconds(30)) != 0)
        #expect(denied.log.contains("401"))
    }
}
