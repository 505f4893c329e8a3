import Crypto
import Extraction
import Foundation
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// Issue 13 part 3: `POST /api/uploads?extract=true` creates the job before the first byte is stored, a real
/// worker parses the chunks as they are committed, and the job ends only on the complete, verified file.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct StreamingUploadTests {
    /// A worker for extract jobs; `stallMs` is `EXTRACTION_UPLOAD_STALL_TIMEOUT_MS`.
    static func worker(stallMs: Int = 30_000) throws -> ChildProcess {
        try ChildProcess(
            "worker",
            environment: [
                "WORKER_KINDS": "extract", "EXTRACTION_POLL_INTERVAL_MS": "50", "EXTRACTION_PROGRESS_INTERVAL_MS": "100",
                "EXTRACTION_MAX_FILE_SIZE_MB": "20", "EXTRACTION_UPLOAD_STALL_TIMEOUT_MS": String(stallMs), "LOG_LEVEL": "warning",
            ])
    }

    /// A CSV of `rows` rows of about 200 bytes (3 MiB ≈ 15,000 rows: three stored chunks).
    static func csv(rows: Int) -> Data {
        var text = "sku,name,description,price,currency\n"
        let filler = String(repeating: "x", count: 160)
        for i in 0..<rows { text += "S-\(i),Part \(i),\(filler),\(i % 90 + 1).25,EUR\n" }
        return Data(text.utf8)
    }

    static func api() async throws -> (process: ChildProcess, base: String) {
        _ = try await TestDatabase.migrated()
        return try await APIHarness.start(environment: [
            "EXTRACTION_MAX_FILE_SIZE_MB": "20", "API_RATE_LIMIT_PER_MIN": "100000", "API_ANON_RATE_LIMIT_PER_MIN": "100000",
        ])
    }

    /// Starts `curl` posting `file` at `rate` bytes/s (optionally giving up after `maxTime` seconds).
    static func slowUpload(
        _ file: URL, url: String, token: String, rate: String, maxTime: Int? = nil, contentType: String = "text/csv"
    ) throws -> (Process, Pipe) {
        let p = Process()
        let out = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments =
            [
                "-sS", "-X", "POST", "-T", file.path, "--limit-rate", rate, "-H", "Expect:", "-H", "Content-Type: \(contentType)", "-H",
                "Authorization: Bearer \(token)",
            ]
            + (maxTime.map { ["--max-time", String($0)] } ?? []) + [url]
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        return (p, out)
    }

    static func jobState(_ pool: PostgresPool, upload: UUID) async throws -> (job: UUID?, status: String, rows: Int, complete: Bool, code: String?) {
        let r = try await pool.query(
            """
            SELECT j.id, j.status, coalesce((j.progress->>'rows_processed')::int, 0) AS rows, u.complete,
                   coalesce(j.error->>'code', d.error_code) AS code
            FROM quarry.uploads u LEFT JOIN quarry.jobs j ON j.upload_id = u.id
            LEFT JOIN quarry.dead_letter_jobs d ON d.job_id = j.id
            WHERE u.id = $1
            """, [upload]
        ).first
        return (r?.uuid("id"), r?.string("status") ?? "", r?.int("rows") ?? 0, r?.bool("complete") ?? false, r?.string("code"))
    }

    /// The org's newest upload.
    static func latestUpload(_ pool: PostgresPool, org: UUID) async throws -> UUID? {
        try await pool.query("SELECT id FROM quarry.uploads WHERE org_id = $1 ORDER BY created_at DESC LIMIT 1", [org]).first?.uuid("id")
    }

    /// Polls the org's newest upload and its job every 50 ms while `curl` runs; whether `seen` held at some poll.
    static func sawWhileUploading(
        _ curl: Process, _ pool: PostgresPool, org: UUID,
        _ seen: ((job: UUID?, status: String, rows: Int, complete: Bool, code: String?)) -> Bool
    ) async throws -> Bool {
        var saw = false
        while curl.isRunning {
            if let upload = try await latestUpload(pool, org: org), seen(try await jobState(pool, upload: upload)) { saw = true }
            try await Task.sleep(for: .milliseconds(50))
        }
        curl.waitUntilExit()
        return saw
    }

    /// The `job_id` and `data` of the upload's answer, read from curl's output.
    static func answeredJob(_ out: Pipe) throws -> (job: UUID, data: [String: Any]) {
        let response = try JSONSerialization.jsonObject(with: out.fileHandleForReading.readDataToEndOfFile()) as? [String: Any]
        let data = try #require(response?["data"] as? [String: Any], "\(String(describing: response))")
        let job = try #require((data["job_id"] as? String).flatMap(UUID.init(uuidString:)), "the upload answered no job_id: \(data)")
        return (job, data)
    }

    /// Waits (up to 90 s) until the job is completed or dead-lettered; expects that it ends.
    static func awaitEnd(_ pool: PostgresPool, job: UUID) async throws {
        let done = try await eventually(timeout: .seconds(90), every: .milliseconds(100)) {
            let s = try await pool.query("SELECT status FROM quarry.jobs WHERE id = $1", [job]).first?.string("status")
            return s == "completed" || s == "dead_lettered"
        }
        #expect(done)
    }

    /// Waits (up to 30 s) until the upload's job is completed or dead-lettered; returns its last state.
    static func awaitEnd(_ pool: PostgresPool, upload: UUID) async throws -> (job: UUID?, status: String, rows: Int, complete: Bool, code: String?) {
        var last = try await jobState(pool, upload: upload)
        let ended = try await eventually(timeout: .seconds(30), every: .milliseconds(100)) {
            last = try await jobState(pool, upload: upload)
            return last.status == "dead_lettered" || last.status == "completed"
        }
        #expect(ended, "\(last)")
        return last
    }

    @Test func workerParsesRowsWhileTheUploadArrives() async throws {
        let (api, base) = try await Self.api()
        defer { api.signal(SIGKILL) }
        let worker = try Self.worker()
        defer { worker.signal(SIGTERM) }
        let org = try await APIHarness.shared.org()
        let pool = APIHarness.shared.pool
        let body = Self.csv(rows: 15_000)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("stream-\(UUID().uuidString.prefix(6)).csv")
        try body.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }

        // About 3 s of upload: the worker must have parsed rows before the last byte is stored.
        let (curl, out) = try Self.slowUpload(file, url: base + "/api/uploads?filename=prices.csv&extract=true", token: org.token, rate: "1M")
        let sawRowsWhileIncomplete = try await Self.sawWhileUploading(curl, pool, org: org.id) {
            !$0.complete && $0.status == "processing" && $0.rows > 0
        }
        let (jobID, data) = try Self.answeredJob(out)
        #expect(sawRowsWhileIncomplete, "no rows were parsed before the upload completed")

        try await Self.awaitEnd(pool, job: jobID)
        let summary = try await pool.query(
            "SELECT summary->>'rows_total' AS n, summary->>'sha256' AS sha, summary->>'size_bytes' AS size, j.status FROM quarry.extraction_results r JOIN quarry.jobs j ON j.id = r.job_id WHERE r.job_id = $1",
            [jobID]
        ).first
        #expect(summary?.string("status") == "completed")
        #expect(summary?.int("n") == 15_000)
        let digest = SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
        #expect(summary?.string("sha") == digest)
        #expect(summary?.string("sha") == data["sha256"] as? String)
        #expect(summary?.int64("size") == Int64(body.count))
    }

    @Test func aClientThatGoesAwayFailsTheJobWithUploadFailed() async throws {
        let (api, base) = try await Self.api()
        defer { api.signal(SIGKILL) }
        let worker = try Self.worker()
        defer { worker.signal(SIGTERM) }
        let org = try await APIHarness.shared.org()
        let pool = APIHarness.shared.pool
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gone-\(UUID().uuidString.prefix(6)).csv")
        try Self.csv(rows: 15_000).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        // curl gives up after 2 s, about a third of the way.
        let (curl, _) = try Self.slowUpload(
            file, url: base + "/api/uploads?filename=gone.csv&extract=true", token: org.token, rate: "600K", maxTime: 2)
        curl.waitUntilExit()
        let upload = try #require(try await Self.latestUpload(pool, org: org.id))
        let last = try await Self.awaitEnd(pool, upload: upload)
        #expect(last.job != nil)
        #expect(last.status == "dead_lettered")
        #expect(last.code == "UPLOAD_FAILED", "\(last)")
        #expect(!last.complete)
        let chunks = try await pool.query("SELECT count(*) AS n FROM quarry.upload_chunks WHERE upload_id = $1", [upload]).first?.int("n")
        #expect(chunks == 0)
    }

    /// A workbook of `rows` rows whose cells barely compress (about 100 bytes of the ZIP per row).
    static func xlsx(rows: Int, at path: String) throws {
        let writer = try XLSXTableWriter(path: path, sheetName: "Prices")
        try writer.append([.text("sku"), .text("name"), .text("price")])
        var g = SystemRandomNumberGenerator()
        for i in 0..<rows {
            let noise = (0..<12).map { _ in String(g.next() as UInt64, radix: 36) }.joined()
            try writer.append([.text("W-\(i)"), .text(noise), .number(Double(i % 90) + 1.5)])
        }
        try writer.finish()
    }

    /// A workbook cannot be parsed before its last byte (the ZIP index is at its end), but its job still starts with
    /// the upload: the worker copies the chunks to its spool as they commit and reads the file the moment it is
    /// verified (it used to be enqueued only once the upload was complete, then download the file again).
    @Test func aWorkbookJobStartsWhileItsUploadArrives() async throws {
        let (api, base) = try await Self.api()
        defer { api.signal(SIGKILL) }
        let worker = try Self.worker()
        defer { worker.signal(SIGTERM) }
        let org = try await APIHarness.shared.org()
        let pool = APIHarness.shared.pool
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("stream-\(UUID().uuidString.prefix(6)).xlsx")
        try Self.xlsx(rows: 4_000, at: path.path)
        defer { try? FileManager.default.removeItem(at: path) }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path.path)[.size] as? Int)
        #expect(size > 200_000, "the workbook compressed too well to upload slowly: \(size) bytes")

        // About 2.5 s of upload.
        let (curl, out) = try Self.slowUpload(
            path, url: base + "/api/uploads?filename=prices.xlsx&extract=true", token: org.token, rate: String(size / 2_500) + "K",
            contentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        let sawJobWhileIncomplete = try await Self.sawWhileUploading(curl, pool, org: org.id) {
            !$0.complete && $0.job != nil && $0.status == "processing"
        }
        let (jobID, _) = try Self.answeredJob(out)
        #expect(sawJobWhileIncomplete, "no worker held the job before the upload completed")

        try await Self.awaitEnd(pool, job: jobID)
        let summary = try await pool.query(
            "SELECT summary->>'rows_total' AS n, summary->>'sha256' AS sha, j.status FROM quarry.extraction_results r JOIN quarry.jobs j ON j.id = r.job_id WHERE r.job_id = $1",
            [jobID]
        ).first
        #expect(summary?.string("status") == "completed")
        #expect(summary?.int("n") == 4_000)
        let digest = SHA256.hash(data: try Data(contentsOf: path)).map { String(format: "%02x", $0) }.joined()
        #expect(summary?.string("sha") == digest)
    }

    /// A workbook whose client goes away half-way fails its job `UPLOAD_FAILED`, as a CSV does.
    @Test func aWorkbookWhoseClientGoesAwayFailsItsJob() async throws {
        let (api, base) = try await Self.api()
        defer { api.signal(SIGKILL) }
        let worker = try Self.worker()
        defer { worker.signal(SIGTERM) }
        let org = try await APIHarness.shared.org()
        let pool = APIHarness.shared.pool
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gone-\(UUID().uuidString.prefix(6)).xlsx")
        try Self.xlsx(rows: 4_000, at: path.path)
        defer { try? FileManager.default.removeItem(at: path) }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path.path)[.size] as? Int)
        let (curl, _) = try Self.slowUpload(
            path, url: base + "/api/uploads?filename=gone.xlsx&extract=true", token: org.token, rate: String(size / 4_000) + "K",
            maxTime: 2, contentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        curl.waitUntilExit()
        let upload = try #require(try await Self.latestUpload(pool, org: org.id))
        let last = try await Self.awaitEnd(pool, upload: upload)
        #expect(last.status == "dead_lettered", "\(last)")
        #expect(last.code == "UPLOAD_FAILED", "\(last)")
        #expect(!last.complete)
    }

    /// An upload row written by hand: no api involved, so the test controls every chunk and the final digest.
    static func handMadeUpload(_ pool: PostgresPool, org: UUID, chunk: Data) async throws -> UUID {
        let id = try #require(
            try await pool.query("INSERT INTO quarry.uploads (org_id, file_name) VALUES ($1, 'hand.csv') RETURNING id", [org]).first?.uuid("id"))
        try await pool.query("INSERT INTO quarry.upload_chunks (upload_id, seq, data) VALUES ($1, 0, $2)", [id, Bytea(Array(chunk))])
        return id
    }

    @Test func abandonedAndAlteredUploadsNeverComplete() async throws {
        _ = try await TestDatabase.migrated()
        let worker = try Self.worker(stallMs: 1500)
        defer { worker.signal(SIGTERM) }
        let org = try await APIHarness.shared.org()
        let pool = APIHarness.shared.pool
        let store = JobStore(pool: pool)
        let chunk = Data("sku,price\nA-1,1.00\nA-2,2.00\n".utf8)

        // No byte after the first chunk, never complete: UPLOAD_ABANDONED after the stall timeout (1.5 s).
        let abandoned = try await Self.handMadeUpload(pool, org: org.id, chunk: chunk)
        _ = try await store.enqueue(
            org: org.id, kind: "extract", payload: #"{"upload_id":"\#(abandoned.uuidString.lowercased())"}"#, uploadID: abandoned)

        // Complete, but with a digest other than the bytes stored: the job must not complete on it.
        let altered = try await Self.handMadeUpload(pool, org: org.id, chunk: chunk)
        _ = try await store.enqueue(
            org: org.id, kind: "extract", payload: #"{"upload_id":"\#(altered.uuidString.lowercased())"}"#, uploadID: altered)
        let claimed = try await eventually(timeout: .seconds(20)) { try await Self.jobState(pool, upload: altered).status == "processing" }
        #expect(claimed)
        try await Task.sleep(for: .milliseconds(300))  // usually the follower is now waiting for chunk 1; either path must refuse
        try await pool.query(
            "UPDATE quarry.uploads SET complete = true, size_bytes = $2, sha256 = repeat('0', 64) WHERE id = $1", [altered, Int64(chunk.count)])

        for (upload, code) in [(abandoned, "UPLOAD_ABANDONED"), (altered, "UPLOAD_FAILED")] {
            let last = try await Self.awaitEnd(pool, upload: upload)
            #expect(last.status == "dead_lettered", "\(code): \(last)")
            #expect(last.code == code, "\(last)")
        }
    }
}
