import APIAuth
import ArgumentParser
import Foundation
import Models
import Postgres
import Queue

/// What a new user does, timed: `curl` uploads the file to a real `api` process, a real `worker` extracts it,
/// and the job's status is polled every 50 ms — from the upload's first byte to `completed`.
///
/// With `streaming` the upload itself creates the job (`POST /api/uploads?extract=true`), so the worker parses
/// while the bytes arrive; without it (`--two-step`, and what binaries before issue 13 can do) the upload
/// finishes first and `POST /api/extraction/jobs` creates the job.
struct APIExtractRun {
    var seconds: Double
    var uploadSeconds: Double
    var rss: Int
    var cpuSeconds: Double
    var phases: String
    var job: UUID
    var upload: UUID
}

/// One `api` process started from the binary beside this one (or `QUARRY_API_BIN`).
final class APIProcess: @unchecked Sendable {  // only used from the command's task
    let process: Process
    let base: String

    private init(process: Process, base: String) {
        self.process = process
        self.base = base
    }

    static func start(environment: [String: String]) async throws -> APIProcess {
        let binary = siblingBinary("api")
        let port = Int.random(in: 20_000..<60_000)
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        env["PORT"] = String(port)
        env["HOST"] = "127.0.0.1"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.environment = env
        try p.run()
        let api = APIProcess(process: p, base: "http://127.0.0.1:\(port)")
        for _ in 0..<150 {
            if (try? curl(["-sf", "-o", "/dev/null", api.base + "/healthz"])) != nil { return api }
            guard p.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        api.stop()
        throw ValidationError("the api did not start")
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    /// Runs curl and returns its standard output; throws when curl fails.
    @discardableResult
    static func curl(_ arguments: [String]) throws -> Data {
        let p = Process()
        let out = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = arguments
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ValidationError("curl failed (\(p.terminationStatus))") }
        return data
    }

    /// The `data` object of an envelope.
    static func data(_ body: Data) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any], let data = object["data"] as? [String: Any] else {
            throw ValidationError("unexpected response: \(String(decoding: body.prefix(300), as: UTF8.self))")
        }
        return data
    }
}

extension ExtractBench {
    /// Uploads `path` (sent as `contentType`) through a real api and extracts it with one real worker; see
    /// ``APIExtractRun``. `environment` is added to both processes' settings.
    static func runThroughAPI(
        path: String, size: Int, rows: Int, streaming: Bool, databaseURL: String, pool: PostgresPool, contentType: String = "text/csv",
        environment extra: [String: String] = [:]
    ) async throws -> APIExtractRun {
        let mb = max(100, size / 1_048_576 + 10)
        let api = try await APIProcess.start(
            environment: [
                "DATABASE_URL": databaseURL, "LOG_LEVEL": "warning", "EXTRACTION_MAX_FILE_SIZE_MB": "\(mb)", "API_REQUEST_TIMEOUT_MS": "600000",
            ].merging(extra) { _, new in new })
        defer { api.stop() }
        let fleet = try WorkerFleet.start(
            count: 1,
            environment: [
                "DATABASE_URL": databaseURL, "WORKER_KINDS": "extract", "LOG_LEVEL": "warning", "EXTRACTION_POLL_INTERVAL_MS": "50",
                "EXTRACTION_MAX_FILE_SIZE_MB": "\(mb)", "EXTRACTION_MAX_ROWS": "\(rows + 10)",
            ].merging(extra) { _, new in new })
        defer { fleet.stop() }
        let token = try await APITokens.create(
            pool: pool, orgName: "bench-\(UUID().uuidString.prefix(8).lowercased())", name: "bench", admin: false)
        try await Task.sleep(for: .milliseconds(300))
        let auth = "Authorization: Bearer \(token.token)"
        let name = (path as NSString).lastPathComponent
        let config = #"{"currency":"EUR"}"#
        let cpuBefore = fleet.cpuSeconds()

        let t0 = ContinuousClock.now
        var query = "filename=\(name)"
        if streaming { query += "&extract=true&config=" + (config.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "") }
        // -T streams the file (--data-binary @file would read it all into memory first).
        let uploaded = try APIProcess.data(
            try APIProcess.curl([
                "-sS", "-X", "POST", "-T", path, "-H", "Content-Type: \(contentType)", "-H", auth, "-H", "Expect:",
                "\(api.base)/api/uploads?\(query)",
            ]))
        let uploadSeconds = (ContinuousClock.now - t0).seconds
        guard let uploadText = uploaded["upload_id"] as? String, let upload = UUID(uuidString: uploadText) else {
            throw ValidationError("the upload answered no upload_id")
        }
        let jobText: String?
        if streaming {
            jobText = uploaded["job_id"] as? String
        } else {
            let created = try APIProcess.data(
                try APIProcess.curl([
                    "-sS", "-X", "POST", "-H", "Content-Type: application/json", "-H", auth,
                    "--data", #"{"upload_id":"\#(uploadText)","config":\#(config)}"#, "\(api.base)/api/extraction/jobs",
                ]))
            jobText = created["job_id"] as? String
        }
        guard let jobText, let job = UUID(uuidString: jobText) else { throw ValidationError("no job id") }
        while true {
            let r = try await pool.query("SELECT status, error::text AS e FROM quarry.jobs WHERE id = $1", [job]).first
            let status = r?.string("status") ?? ""
            if status == "completed" { break }
            if ["dead_lettered", "cancelled"].contains(status) { throw ValidationError("extract job ended \(status): \(r?.string("e") ?? "")") }
            if !fleet.allRunning { throw ValidationError("worker exited during the benchmark") }
            try await Task.sleep(for: .milliseconds(50))
        }
        let seconds = (ContinuousClock.now - t0).seconds
        let rss = fleet.processes.first.map { peakRSSMegabytes(pid: $0.processIdentifier) } ?? 0
        let cpu = fleet.cpuSeconds() - cpuBefore
        fleet.stop()
        let summary = try await pool.query(
            "SELECT summary->>'phases_ms' AS p, summary->>'rows_total' AS n FROM quarry.extraction_results WHERE job_id = $1", [job]
        ).first
        guard summary?.int("n") == rows else { throw ValidationError("the job reports \(summary?.string("n") ?? "no") rows, expected \(rows)") }
        return APIExtractRun(
            seconds: seconds, uploadSeconds: uploadSeconds, rss: rss, cpuSeconds: cpu, phases: summary?.string("p") ?? "{}", job: job,
            upload: upload)
    }
}
