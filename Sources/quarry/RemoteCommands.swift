import Alerts
import ArgumentParser
import Foundation
import JobConfig
import Models

/// Options for the commands that talk to a running `api` over HTTP (through libcurl).
struct RemoteOptions: ParsableArguments {
    @Option(help: "API base URL (default: $QUARRY_URL or http://127.0.0.1:8080).") var url: String?
    @Option(help: "API token (default: $QUARRY_TOKEN).") var token: String?

    var base: String {
        (url ?? ProcessInfo.processInfo.environment["QUARRY_URL"] ?? "http://127.0.0.1:8080").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
    }

    func call(_ method: String, _ path: String, body: [UInt8] = [], contentType: String? = nil) async throws -> [String: Any] {
        guard let token = token ?? ProcessInfo.processInfo.environment["QUARRY_TOKEN"], !token.isEmpty else {
            throw ValidationError("QUARRY_TOKEN is not set (or pass --token)")
        }
        var headers = [("Authorization", "Bearer \(token)")]
        if let contentType { headers.append(("Content-Type", contentType)) }
        let client = CurlHTTPClient(
            configuration: HTTPClientConfiguration(
                connectTimeout: .seconds(5), totalTimeout: .seconds(300), maxResponseBodyBytes: 8 << 20))
        let response = try await client.send(WebhookRequest(url: base + path, method: method, headers: headers, body: body))
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        if response.status >= 400 {
            let error = object["error"] as? [String: Any]
            throw ValidationError(
                "HTTP \(response.status) \(error?["code"] ?? ""): \(error?["message"] ?? String(decoding: response.body.prefix(300), as: UTF8.self))")
        }
        return object["data"] as? [String: Any] ?? [:]
    }
}

func printJSON(_ value: Any) {
    if let data = try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys]) {
        print(String(decoding: data, as: UTF8.self))
    }
}

/// `quarry submit FILE… [--wait]`: upload, create jobs, show live progress and the summary.
struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Upload files and extract them (over HTTP).")
    @OptionGroup var remote: RemoteOptions
    @Argument(help: "Files to submit.") var files: [String]
    @Option(help: "Extraction config JSON.") var config = "{}"
    @Option(help: "Priority.") var priority = 0
    @Flag(help: "Wait for the jobs, with progress bars, and print the summaries.") var wait = false

    func run() async throws {
        guard (try? JSONSerialization.jsonObject(with: Data(config.utf8))) is [String: Any] else {
            throw ValidationError("--config must be a JSON object")
        }
        // The api would refuse it with the same message; say so before uploading anything.
        do {
            _ = try ExtractionConfig.decode(json: Data(config.utf8))
        } catch {
            throw ValidationError("--config: \(error.message)")
        }
        var jobs: [(String, String)] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            let name = (file as NSString).lastPathComponent
            let encoded = name.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? name
            let upload = try await remote.call("POST", "/api/uploads?filename=\(encoded)", body: Array(data))
            guard let uploadID = upload["upload_id"] as? String else { throw ValidationError("upload returned no id") }
            let body = "{\"upload_id\":\"\(uploadID)\",\"config\":\(config),\"priority\":\(priority)}"
            let job = try await remote.call("POST", "/api/extraction/jobs", body: Array(body.utf8), contentType: "application/json")
            guard let jobID = job["job_id"] as? String else { throw ValidationError("job creation returned no id") }
            print("\(name)\t\(jobID)")
            jobs.append((name, jobID))
        }
        guard wait else { return }
        var finished: [String: String] = [:]
        var first = true
        while finished.count < jobs.count {
            if !first { print("\u{1B}[\(jobs.count)A", terminator: "") }
            first = false
            for (name, id) in jobs {
                let job = try await remote.call("GET", "/api/extraction/jobs/\(id)")
                let status = job["status"] as? String ?? "?"
                var pct = (job["progress"] as? [String: Any])?["percent_complete"] as? Int ?? 0
                if status == "completed" { pct = 100 }
                if ["completed", "dead_lettered", "cancelled", "failed"].contains(status) { finished[id] = status }
                let bar = String(repeating: "#", count: pct * 30 / 100) + String(repeating: "-", count: 30 - pct * 30 / 100)
                let code = ((job["error"] as? [String: Any])?["code"] as? String) ?? ""
                print(
                    "  \(name.padding(toLength: 24, withPad: " ", startingAt: 0)) [\(bar)] \(String(format: "%3d", pct))%  \(status) \(code)\u{1B}[K")
            }
            if finished.count < jobs.count { try await Task.sleep(for: .milliseconds(300)) }
        }
        var failed = false
        for (name, id) in jobs {
            if finished[id] == "completed" {
                let result = try await remote.call("GET", "/api/extraction/jobs/\(id)/result?limit=1")
                print("\(name): ", terminator: "")
                printJSON(result["summary"] ?? [:])
            } else {
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}

/// `quarry jobs`: the org's recent jobs.
struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List recent jobs (over HTTP).")
    @OptionGroup var remote: RemoteOptions
    @Option var status: String?
    @Option var limit = 20

    func run() async throws {
        var path = "/api/extraction/jobs?limit=\(limit)"
        if let status { path += "&status=\(status)" }
        let data = try await remote.call("GET", path)
        for job in data["jobs"] as? [[String: Any]] ?? [] {
            let p = (job["progress"] as? [String: Any])?["percent_complete"] as? Int
            print([job["job_id"], job["status"], job["kind"], p.map { "\($0)%" }, job["created_at"]].map { "\($0 ?? "-")" }.joined(separator: "\t"))
        }
    }
}

/// `quarry job ID [--diff [--change C] [--limit N]]`: one job's status, progress and error, or its catalog diff.
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "job", abstract: "Show one job, or its catalog diff (over HTTP).")
    @OptionGroup var remote: RemoteOptions
    @Argument var id: String
    @Flag(help: "Show what a commit would change in the catalog (the diff) instead of the job.") var diff = false
    @Option(help: "With --diff: only rows of this change (new, updated, unchanged, held, removed).") var change: String?
    @Option(help: "With --diff: at most this many rows (pages of up to 1,000 are followed).") var limit = 100

    func run() async throws {
        guard diff else {
            printJSON(try await remote.call("GET", "/api/extraction/jobs/\(id)"))
            return
        }
        try await DiffPrinter(remote: remote, job: id, change: change, limit: limit).run()
    }
}

/// `quarry cancel ID`.
struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a job (over HTTP).")
    @OptionGroup var remote: RemoteOptions
    @Argument var id: String

    func run() async throws { printJSON(try await remote.call("DELETE", "/api/extraction/jobs/\(id)")) }
}
