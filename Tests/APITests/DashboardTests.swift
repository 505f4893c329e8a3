import Foundation
import QuarryTestSupport
import Testing

/// The dashboard at `/` rendered by headless Chromium (Debian's `chromium`, installed by scripts/lib.sh):
/// what a person sees after opening `/?token=…`. A missing browser is a failure, not a skip.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DashboardTests {
    static let chromiumCandidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]

    static func chromium() throws -> String {
        guard let path = chromiumCandidates.first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw TestFailure(
                "headless Chromium not found (\(chromiumCandidates.joined(separator: ", "))): apt-get install -y chromium (scripts/lib.sh APT_PACKAGES)"
            )
        }
        return path
    }

    /// Runs Chromium headless on `url` with its own throwaway profile; returns stdout.
    static func runChromium(_ extra: [String], url: String) async throws -> String {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("quarry-chromium-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: profile) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try chromium())
        p.arguments =
            [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--user-data-dir=\(profile.path)", "--virtual-time-budget=5000",
            ] + extra + [url]
        // Output goes to a file: Chromium's helper processes inherit stdout, so a pipe may never reach EOF.
        let outFile = profile.appendingPathComponent("stdout")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: outFile.path, contents: nil)
        let out = try FileHandle(forWritingTo: outFile)
        defer { try? out.close() }
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = out
        let errFile = profile.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: errFile.path, contents: nil)
        let err = try FileHandle(forWritingTo: errFile)
        defer { try? err.close() }
        p.standardError = err
        try p.run()
        let end = ContinuousClock.now + .seconds(60)
        while p.isRunning && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(100)) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            let log = String(decoding: (try? Data(contentsOf: errFile)) ?? Data(), as: UTF8.self)
            throw TestFailure("chromium did not finish within 60 s: \(log.suffix(3000))")
        }
        return String(decoding: (try? Data(contentsOf: outFile)) ?? Data(), as: UTF8.self)
    }

    /// The text of the element with `id` (tags stripped), from a dumped DOM.
    static func text(ofID id: String, in dom: String) -> String? {
        guard let open = dom.range(of: "id=\"\(id)\"") else { return nil }
        guard let gt = dom[open.upperBound...].firstIndex(of: ">") else { return nil }
        // Up to the first closing tag of the element's own kind is enough for these leaf-ish elements.
        let rest = dom[dom.index(after: gt)...]
        let stop = rest.range(of: "</tr>")?.lowerBound ?? rest.range(of: "</div></div>")?.lowerBound ?? rest.endIndex
        return rest[..<stop].replacingOccurrences(of: "<[^>]+>", with: " ", options: .regularExpression)
            .replacingOccurrences(of: "\\s+", with: " ", options: .regularExpression).trimmingCharacters(in: .whitespaces)
    }

    /// Visible text between two markers of a dumped DOM.
    static func text(between a: String, and b: String, in dom: String) -> String? {
        guard let s = dom.range(of: a), let e = dom.range(of: b, range: s.upperBound..<dom.endIndex) else { return nil }
        return dom[s.upperBound..<e.lowerBound].replacingOccurrences(of: "<[^>]+>", with: " ", options: .regularExpression)
            .replacingOccurrences(of: "^[^>]*>", with: "", options: .regularExpression)
            .replacingOccurrences(of: "\\s+", with: " ", options: .regularExpression).trimmingCharacters(in: .whitespaces)
    }

    @Test func dashboardShowsQueueHealthAndRecentJobsInChromium() async throws {
        _ = try Self.chromium()
        let base = try await APIHarness.shared.base()
        let admin = try await APIHarness.shared.org(admin: true)

        // Two jobs: one that completes and one that dead-letters (final states: the page opens no event streams).
        var jobIDs: [String] = []
        for (i, csv) in ["sku,price\nD-1,1.00\nD-2,2.00\n", "[[[[oops"].enumerated() {
            let up = try await HTTP.request(
                "POST", base + "/api/uploads?filename=dash\(i).\(i == 0 ? "csv" : "json")", token: admin.token, body: Data(csv.utf8))
            #expect(up.status == 201, "\(up)")
            let job = try await HTTP.request(
                "POST", base + "/api/extraction/jobs", token: admin.token, headers: ["Content-Type": "application/json"],
                body: HTTP.json(["upload_id": try #require(up.data["upload_id"] as? String)]))
            jobIDs.append(try #require(job.data["job_id"] as? String, "\(job)"))
            for _ in 0..<3 {
                let run = try await HTTP.request("POST", base + "/api/worker/process?max_jobs=100&budget_ms=10000", token: admin.token)
                #expect(run.status == 200, "\(run)")
            }
        }
        var statuses: [String: String] = [:]
        for id in jobIDs {
            let got = try await HTTP.request("GET", base + "/api/extraction/jobs/\(id)", token: admin.token)
            statuses[id] = got.data["status"] as? String
        }
        #expect(statuses[jobIDs[0]] == "completed")
        #expect(statuses[jobIDs[1]] == "dead_lettered")
        let queue = try await HTTP.request("GET", base + "/api/extraction/monitor?view=queue", token: admin.token)
        let queued = try #require(queue.data["queued"] as? Int, "\(queue)")

        let dom = try await Self.runChromium(["--dump-dom"], url: base + "/?token=" + admin.token)
        #expect(dom.contains("<h1>Quarry</h1>"), "\(dom.prefix(500))")
        // Queue depth numbers, as rendered.
        let queueText = try #require(Self.text(between: "id=\"queue\"", and: "id=\"perf\"", in: dom), "no #queue in \(dom.prefix(2000))")
        #expect(
            queueText.contains("queued \(queued.formatted(.number.grouping(.automatic).locale(Locale(identifier: "en_US"))))"),
            "queue card: \(queueText)")
        #expect(queueText.contains("active ") && queueText.contains("dlq "), "queue card: \(queueText)")
        // Health status text.
        let health = try #require(Self.text(ofID: "health-status", in: dom))
        #expect(["healthy", "degraded", "critical", "unhealthy", "unknown"].contains { health.hasPrefix($0) }, "health: \(health)")
        // Recent jobs: each id with its status.
        for id in jobIDs {
            let row = try #require(Self.text(ofID: "job-\(id)", in: dom), "job \(id) not in the recent jobs list")
            #expect(row.contains(id) && row.contains(statuses[id] ?? "?"), "row for \(id): \(row)")
        }
        #expect(!dom.contains("UNAUTHORIZED"), "the page did not authenticate")
        // The token is not left in the address bar (the page drops it after storing it).
        #expect(!dom.contains(admin.token))

        // A screenshot for a person to look at.
        _ = try await Self.runChromium(
            ["--screenshot=/tmp/quarry-dashboard.png", "--window-size=1280,900", "--hide-scrollbars"], url: base + "/#token=" + admin.token)
        let png = try Data(contentsOf: URL(fileURLWithPath: "/tmp/quarry-dashboard.png"))
        #expect(png.count > 10_000 && png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]), "screenshot of \(png.count) bytes")
    }

    /// A fresh upload's preview, as the page shows it after an upload (the page keeps `#upload=<id>` in the address,
    /// so opening it with the id shows the same thing): what was detected, the suggested mapping, and the first rows
    /// with the cells right of the header.
    @Test func dashboardShowsThePreviewOfAFreshUpload() async throws {
        _ = try Self.chromium()
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let csv = "Preisliste 2024\n\nArtikelnummer;Bezeichnung;Preis\nA-1;Schraube;1,20;lose\nA-2;Mutter;0,80\n"
        let up = try await HTTP.request("POST", base + "/api/uploads?filename=preise.csv", token: org.token, body: Data(csv.utf8))
        let id = try #require(up.data["upload_id"] as? String, "\(up)")

        let dom = try await Self.runChromium(["--dump-dom"], url: base + "/?token=\(org.token)&upload=\(id)")
        let section = Self.text(between: "<div id=\"preview\">", and: "<h3>Recent jobs", in: dom) ?? ""
        #expect(section.hasPrefix("Detected"), "the preview section: \(section.prefix(300))")
        let detected = try #require(
            Self.text(between: "id=\"preview-detected\"", and: "</table>", in: dom), "no preview in \(dom.suffix(3000))")
        #expect(detected.contains("format csv"), "\(detected)")
        #expect(detected.contains("delimiter ;") || !detected.contains("delimiter"), "\(detected)")
        #expect(detected.contains("header row 3 (confidence"), "\(detected)")
        let mapping = try #require(Self.text(between: "id=\"preview-mapping\"", and: "</table>", in: dom))
        #expect(mapping.contains("sku Artikelnummer (1)"), "\(mapping)")
        #expect(mapping.contains("price Preis"), "\(mapping)")
        let rows = try #require(Self.text(between: "id=\"preview-rows\"", and: "</table>", in: dom))
        #expect(rows.contains("row Artikelnummer Bezeichnung Preis column_4"), "\(rows)")
        #expect(rows.contains("4 A-1 Schraube 1,20 lose"), "\(rows)")
        #expect(rows.contains("5 A-2 Mutter 0,80"), "\(rows)")
        #expect(!dom.contains(org.token))

        _ = try await Self.runChromium(
            ["--screenshot=/tmp/quarry-dashboard-preview.png", "--window-size=1280,1000", "--hide-scrollbars"],
            url: base + "/#token=\(org.token)&upload=\(id)")
    }
}
