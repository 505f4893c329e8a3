import Foundation
import QuarryTestSupport
import Testing

/// Hostile files through the real upload → job → in-request worker path of one `api` process with the
/// default 100 MB upload limit. Each file is either refused at upload (415) or ends `dead_lettered` with
/// the expected error code; the process keeps serving, and a normal CSV still completes afterwards.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct HostileUploadTests {
    /// What a hostile file may end as.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var fileName: String
        /// Error codes the job may dead-letter with; empty means it must complete.
        var codes: Set<String>
        /// A 415 at upload is an accepted outcome.
        var mayRejectAtUpload = false
        /// A completed job is an accepted outcome (with `rowsTotal` rows when set).
        var mayComplete = false
        var rowsTotal: Int?
        /// Upload to final state must take at most this long.
        var deadline: Duration = .seconds(120)
        var make: @Sendable () throws -> Data
        var testDescription: String { name }
    }

    static let extractionFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("ExtractionTests/Fixtures")
    static let apiFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func fixture(_ path: String) -> @Sendable () throws -> Data {
        { try Data(contentsOf: extractionFixtures.appendingPathComponent(path)) }
    }

    static let cases: [Case] = [
        Case(name: "zip-bomb xlsx", fileName: "bomb.xlsx", codes: ["ZIP_BOMB"], make: fixture("bomb.xlsx")),
        Case(name: "billion-laughs xlsx", fileName: "laughs.xlsx", codes: ["XML_DTD_FORBIDDEN"], make: fixture("laughs.xlsx")),
        Case(name: "truncated pdf", fileName: "truncated.pdf", codes: ["MALFORMED_FILE"], make: fixture("docs/truncated.pdf")),
        Case(name: "encrypted pdf", fileName: "encrypted.pdf", codes: ["ENCRYPTED_FILE"], make: fixture("docs/encrypted.pdf")),
        Case(name: "docx with entities", fileName: "entities.docx", codes: ["XML_DTD_FORBIDDEN"], make: fixture("docs/entities.docx")),
        // Excel's default-password (VelvetSweatshop) .xls: an OLE file named .xls passes the upload check; the worker
        // sees the FILEPASS record and dead-letters it as encrypted (libfreexl answered "no worksheet", MALFORMED_FILE).
        Case(
            name: "xls with FILEPASS", fileName: "velvet.xls", codes: ["ENCRYPTED_FILE"],
            make: fixture("corpus/xls/filepass-velvetsweatshop.xls")),
        Case(name: "binary garbage .csv", fileName: "garbage.csv", codes: ["FORMAT_MISMATCH"], mayRejectAtUpload: true) {
            // Deterministic pseudo-random bytes (xorshift), NULs included.
            var x: UInt64 = 0x9E37_79B9_7F4A_7C15
            return Data(
                (0..<200_000).map { _ in
                    x ^= x << 13; x ^= x >> 7; x ^= x << 17
                    return UInt8(truncatingIfNeeded: x)
                })
        },
        // Bytes 0x80–0xFF with no NUL are indistinguishable from CP1252 text: the reader's CP1252 fallback
        // accepts them as one column of odd characters. That is allowed; what matters is a clean final state.
        Case(
            name: "binary garbage .csv without NULs", fileName: "garbage2.csv", codes: ["FORMAT_MISMATCH", "MALFORMED_FILE"],
            mayRejectAtUpload: true, mayComplete: true
        ) {
            var x: UInt64 = 0x2545_F491_4F6C_DD1D
            return Data(
                (0..<200_000).map { _ in
                    x ^= x << 13; x ^= x >> 7; x ^= x << 17
                    return UInt8(truncatingIfNeeded: x) | 0x80  // high bytes only: no NULs, no newlines, not UTF-8
                })
        },
        Case(name: "50 MB single-line csv", fileName: "oneline.csv", codes: ["ROW_TOO_LONG"]) {
            var d = Data("sku,description\nA-1,".utf8)
            d.append(Data(repeating: UInt8(ascii: "x"), count: 50 << 20))
            d.append(UInt8(ascii: "\n"))
            return d
        },
        Case(name: "invalid UTF-8 csv (CP1252 fallback)", fileName: "cp1252.csv", codes: [], mayComplete: true, rowsTotal: 2) {
            var d = Data("sku,description,price\nC-1,".utf8)
            d.append(contentsOf: [0x43, 0x61, 0x66, 0xE9])  // "Café" in CP1252: 0xE9 alone is invalid UTF-8
            d.append(Data(",1.50\nC-2,".utf8))
            d.append(contentsOf: [0x93, 0x71, 0x94])  // “q” in CP1252
            d.append(Data(",2.00\n".utf8))
            return d
        },
        Case(name: "deeply nested json", fileName: "nested.json", codes: ["INVALID_JSON"]) {
            Data((String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)).utf8)
        },
        Case(
            name: "xlsx with a million empty styled cells", fileName: "empty_cells.xlsx",
            codes: ["ROW_LIMIT_EXCEEDED", "EMPTY_FILE"], mayComplete: true, rowsTotal: 0, deadline: .seconds(30)
        ) { try Data(contentsOf: apiFixtures.appendingPathComponent("empty_cells.xlsx")) },
    ]

    @Test(arguments: cases)
    func hostileFileEndsCleanly(_ c: Case) async throws {
        let api = try await HostileAPI.shared.start()
        let admin = try await APIHarness.shared.org(admin: true)
        let body = try c.make()
        let started = ContinuousClock.now
        let up = try await HTTP.request(
            "POST", api.base + "/api/uploads?filename=\(c.fileName)", token: admin.token,
            headers: ["Content-Type": "application/octet-stream"], body: body, timeout: 300)
        if up.status == 415 {
            #expect(c.mayRejectAtUpload, "\(c.name): unexpected 415 at upload: \(up)")
            #expect(up.errorCode == "UNSUPPORTED_MEDIA_TYPE", "\(up)")
            try await HostileAPI.shared.expectAlive()
            return
        }
        #expect(up.status == 201, "\(c.name): \(up)")
        let uploadID = try #require(up.data["upload_id"] as? String, "\(c.name): \(up)")
        let job = try await HTTP.request(
            "POST", api.base + "/api/extraction/jobs", token: admin.token, headers: ["Content-Type": "application/json"],
            body: HTTP.json(["upload_id": uploadID]))
        #expect(job.status == 201, "\(c.name): \(job)")
        let jobID = try #require(job.data["job_id"] as? String)

        let final = try await HostileAPI.shared.runUntilFinal(jobID: jobID, token: admin.token, deadline: c.deadline)
        let elapsed = ContinuousClock.now - started
        let status = final.data["status"] as? String ?? ""
        let code = (final.data["error"] as? [String: Any])?["code"] as? String
        print("hostile: \(c.name): \(status) \(code ?? "-") in \(elapsed)")
        #expect(elapsed <= c.deadline, "\(c.name) took \(elapsed)")
        if status == "completed" {
            #expect(c.mayComplete, "\(c.name) completed, expected one of \(c.codes.sorted())")
            if let want = c.rowsTotal {
                let result = try await HTTP.request("GET", api.base + "/api/extraction/jobs/\(jobID)/result", token: admin.token)
                #expect(result.status == 200, "\(result)")
                let summary = result.data["summary"] as? [String: Any] ?? [:]
                #expect(summary["rows_total"] as? Int == want, "\(c.name): \(summary)")
            }
        } else {
            #expect(status == "dead_lettered", "\(c.name): \(final)")
            #expect(code.map(c.codes.contains) == true, "\(c.name): got \(code ?? "nil"), expected one of \(c.codes.sorted())")
        }
        try await HostileAPI.shared.expectAlive()
    }

    /// A password-protected workbook (OLE compound file with `EncryptedPackage`) is refused at upload with the
    /// error envelope, 422 `ENCRYPTED_FILE` — not 415 "does not look like xlsx".
    @Test func passwordProtectedOfficeFileRefusedAtUpload() async throws {
        let api = try await HostileAPI.shared.start()
        let admin = try await APIHarness.shared.org(admin: true)
        let body = try Self.fixture("corpus/xlsx/encrypted-agile.xlsx")()
        for name in ["prices.xlsx", "letter.docx"] {
            let up = try await HTTP.request(
                "POST", api.base + "/api/uploads?filename=\(name)", token: admin.token,
                headers: ["Content-Type": "application/octet-stream"], body: body, timeout: 60)
            #expect(up.status == 422, "\(name): \(up)")
            #expect(up.errorCode == "ENCRYPTED_FILE", "\(name): \(up)")
        }
        try await HostileAPI.shared.expectAlive()
    }

    /// The CP1252 rows keep their characters (decoded, not replaced).
    @Test func invalidUTF8IsDecodedAsCP1252() async throws {
        let api = try await HostileAPI.shared.start()
        let admin = try await APIHarness.shared.org(admin: true)
        var csv = Data("sku,description,price\nW-1,".utf8)
        csv.append(contentsOf: [0x43, 0x61, 0x66, 0xE9, 0x20, 0x80])  // "Café €"
        csv.append(Data(",3.00\n".utf8))
        let jobID = try await HostileAPI.shared.submit(csv, name: "w1252.csv", token: admin.token)
        let final = try await HostileAPI.shared.runUntilFinal(jobID: jobID, token: admin.token, deadline: .seconds(60))
        #expect(final.data["status"] as? String == "completed", "\(final)")
        let result = try await HTTP.request("GET", api.base + "/api/extraction/jobs/\(jobID)/result", token: admin.token)
        #expect(result.text.contains("Café €"), "\(result)")
    }

    /// After every hostile file above, the same api process still serves and completes a normal CSV.
    @Test func normalCSVStillCompletesAfterHostileFiles() async throws {
        let api = try await HostileAPI.shared.start()
        let admin = try await APIHarness.shared.org(admin: true)
        // Make sure at least one hostile file went through this process first.
        let bomb = try Data(contentsOf: Self.extractionFixtures.appendingPathComponent("bomb.xlsx"))
        let bombJob = try await HostileAPI.shared.submit(bomb, name: "bomb.xlsx", token: admin.token)
        let bombFinal = try await HostileAPI.shared.runUntilFinal(jobID: bombJob, token: admin.token, deadline: .seconds(60))
        #expect(bombFinal.data["status"] as? String == "dead_lettered")

        let jobID = try await HostileAPI.shared.submit(Data("sku,price\nN-1,1.00\nN-2,2.00\n".utf8), name: "normal.csv", token: admin.token)
        let final = try await HostileAPI.shared.runUntilFinal(jobID: jobID, token: admin.token, deadline: .seconds(60))
        #expect(final.data["status"] as? String == "completed", "\(final)")
        #expect(await HostileAPI.shared.starts == 1, "the api process had to be restarted")
        #expect(api.process.isRunning)
    }
}

/// One api process for the suite, with the default (100 MB) upload limit.
actor HostileAPI {
    static let shared = HostileAPI()
    private var running: (process: ChildProcess, base: String)?
    private(set) var starts = 0

    func start() async throws -> (process: ChildProcess, base: String) {
        if let running, running.process.isRunning { return running }
        _ = try await TestDatabase.migrated()
        let r = try await APIHarness.start(environment: ["API_RATE_LIMIT_PER_MIN": "100000", "DB_POOL_SIZE": "8"])
        running = r
        starts += 1
        return r
    }

    func expectAlive() async throws {
        let r = try #require(running)
        #expect(r.process.isRunning, "api process died")
        let h = try await HTTP.request("GET", r.base + "/healthz", timeout: 5)
        #expect(h.status == 200, "\(h)")
    }

    func submit(_ data: Data, name: String, token: String) async throws -> String {
        let r = try await start()
        let up = try await HTTP.request("POST", r.base + "/api/uploads?filename=\(name)", token: token, body: data, timeout: 120)
        #expect(up.status == 201, "\(up)")
        let uploadID = try #require(up.data["upload_id"] as? String)
        let job = try await HTTP.request(
            "POST", r.base + "/api/extraction/jobs", token: token, headers: ["Content-Type": "application/json"],
            body: HTTP.json(["upload_id": uploadID]))
        return try #require(job.data["job_id"] as? String, "\(job)")
    }

    /// Triggers in-request processing until the job is final or the deadline passes; returns the last job read.
    func runUntilFinal(jobID: String, token: String, deadline: Duration) async throws -> HTTPResult {
        let r = try await start()
        let end = ContinuousClock.now + deadline
        var last = HTTPResult(status: 0, headers: [:], body: Data())
        repeat {
            let budget = max(100, min(30_000, Int((end - ContinuousClock.now).components.seconds * 1000)))
            let run = try await HTTP.request(
                "POST", r.base + "/api/worker/process?max_jobs=5&budget_ms=\(budget)", token: token, timeout: budget / 1000 + 30)
            #expect(run.status == 200, "\(run)")
            last = try await HTTP.request("GET", r.base + "/api/extraction/jobs/\(jobID)", token: token)
            let status = last.data["status"] as? String ?? ""
            if ["completed", "dead_lettered", "failed", "cancelled"].contains(status) { return last }
            try await Task.sleep(for: .milliseconds(200))
        } while ContinuousClock.now < end
        return last
    }
}
