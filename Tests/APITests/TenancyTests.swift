import APIAuth
import Foundation
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// Issue 15, the api side: priority ceiling, per-org gauges, cheap refusals, SSE limits.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct TenancyTests {
    @Test func memberPriorityAboveTheCeilingIs403AdminMayUseIt() async throws {
        let base = try await APIHarness.shared.base()
        let member = try await APIHarness.shared.org()
        let admin = try await APIHarness.shared.org(admin: true)
        let upload = try await uploadCSV(base, member)
        func create(_ org: TestOrg, _ upload: String, _ priority: Int) async throws -> HTTPResult {
            try await HTTP.request(
                "POST", base + "/api/extraction/jobs", token: org.token, body: HTTP.json(["upload_id": upload, "priority": priority]))
        }
        #expect(try await create(member, upload, 10).status == 201)  // the default ceiling itself is allowed
        let refused = try await create(member, upload, 11)
        #expect(refused.status == 403, "\(refused)")
        #expect(refused.errorCode == "FORBIDDEN")
        #expect(refused.json["success"] as? Bool == false)
        #expect(try await create(member, upload, 1000).status == 403)
        #expect(try await create(member, upload, -1000).status == 201)
        let adminUpload = try await uploadCSV(base, admin)
        #expect(try await create(admin, adminUpload, 1000).status == 201)
        #expect(try await create(admin, adminUpload, 1001).status == 400)
        // Nothing above the ceiling reached the queue for the member's org.
        let top = try await APIHarness.shared.pool.query("SELECT max(priority) AS p FROM quarry.jobs WHERE org_id = $1", [member.id]).first?.int("p")
        #expect(top == 10)
    }

    @Test func metricsArePerOrgAndReadOncePerIntervalWhateverTheScrapeRate() async throws {
        _ = try await APIHarness.shared.base()
        let (p, base) = try await APIHarness.start(environment: ["API_METRICS_REFRESH_MS": "2000"])
        defer { p.signal(SIGTERM) }
        func refreshes(_ text: String) -> Int {
            let line = text.split(separator: "\n").first { $0.hasPrefix("quarry_api_gauge_refreshes_total ") }
            return Int(line?.split(separator: " ").last ?? "") ?? -1
        }
        let org = try await APIHarness.shared.org()
        let store = JobStore(pool: APIHarness.shared.pool)
        for _ in 0..<3 { _ = try await store.enqueue(org: org.id, kind: TestDatabase.uniqueKind("gauge"), payload: "{}") }
        _ = try await store.enqueue(org: org.id, kind: "extract", payload: "{}", runAt: Date().addingTimeInterval(3600))
        // 60 scrapes in well under one interval: at most one more database read.
        let first = try await HTTP.request("GET", base + "/metrics")
        let start = ContinuousClock.now
        var last = first
        for _ in 0..<60 { last = try await HTTP.request("GET", base + "/metrics") }
        let elapsed = ContinuousClock.now - start
        let reads = refreshes(last.text) - refreshes(first.text)
        print("metrics: 60 scrapes in \(elapsed), \(reads) gauge reads")
        #expect(refreshes(first.text) >= 1)
        #expect(reads <= Int(elapsed / .seconds(2)) + 1, "\(reads) reads for 60 scrapes in \(elapsed)")
        // Per-org depth appears within one interval.
        let seen = try await eventually(timeout: .seconds(6), every: .milliseconds(250)) {
            let t = try await HTTP.request("GET", base + "/metrics").text
            return t.contains("quarry_org_jobs_queued{org_id=\"\(org.id.uuidString.lowercased())\",org=\"\(org.name)\"} 4")
                && t.contains("quarry_org_jobs_runnable{org_id=\"\(org.id.uuidString.lowercased())\",org=\"\(org.name)\"} 3")
        }
        #expect(seen, "per-org queue depth missing")
        try await APIHarness.shared.pool.query("DELETE FROM quarry.jobs WHERE org_id = $1", [org.id])
    }

    /// `METRICS_TOKEN` set: `/metrics` answers that bearer token only — not an API token (admin included), not the
    /// query parameter, not the token with its case changed — with the JSON error envelope; unset, it is open.
    @Test func metricsTokenGuardsMetricsWhenSet() async throws {
        _ = try await APIHarness.shared.base()
        let secret = "metrics-\(UUID().uuidString)"
        let (p, base) = try await APIHarness.start(environment: ["METRICS_TOKEN": secret])
        defer { p.signal(SIGTERM) }
        let admin = try await APIHarness.shared.org(admin: true).token
        let refusedHeaders: [[String: String]] = [
            [:],
            ["Authorization": "Bearer \(admin)"],
            ["Authorization": "Bearer \(secret.uppercased())"],
            ["Authorization": "Bearer \(secret)x"],
            ["Authorization": "Basic \(secret)"],
        ]
        for headers in refusedHeaders {
            let r = try await HTTP.request("GET", base + "/metrics", headers: headers)
            #expect(r.status == 401, "\(headers): \(r.status)")
            #expect(r.errorCode == "UNAUTHORIZED", "\(headers): \(r.text.prefix(200))")
        }
        let viaQuery = try await HTTP.request("GET", base + "/metrics?access_token=\(secret)")
        #expect(viaQuery.status == 401)
        let ok = try await HTTP.request("GET", base + "/metrics", headers: ["Authorization": "Bearer \(secret)"])
        #expect(ok.status == 200)
        #expect(ok.text.contains("quarry_api_up"))
        // The shared harness api runs without METRICS_TOKEN: open, as for an in-cluster Prometheus.
        let open = try await HTTP.request("GET", try await APIHarness.shared.base() + "/metrics")
        #expect(open.status == 200)
    }
}

/// Cheap refusals: a flood of unauthenticated requests costs neither an audit row each nor the latency of
/// authenticated clients on the same address.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct FloodTests {
    @Test func tenThousandUnauthenticatedRequestsLeaveFewAuditRowsAndTheApiResponsive() async throws {
        _ = try await APIHarness.shared.base()
        let pool = APIHarness.shared.pool
        let (p, base) = try await APIHarness.start(environment: [
            "API_ANON_RATE_LIMIT_PER_MIN": "60", "API_RATE_LIMIT_PER_MIN": "1000000", "API_TOKEN_CACHE_MS": "1000",
        ])
        defer { p.signal(SIGTERM) }
        let org = try await APIHarness.shared.org()
        let job = try await JobStore(pool: pool).enqueue(org: org.id, kind: TestDatabase.uniqueKind("flood"), payload: "{}")
        let jobURL = base + "/api/extraction/jobs/\(job.uuidString.lowercased())"
        // Aggregated rows are per address and minute, shared with other suites' refusals in the same minute:
        // measure the rows of the flood's minutes and the growth of their counts.
        let startMinute = try await pool.query("SELECT date_trunc('minute', now())::text AS m").first?.string("m") ?? ""
        func auditSince() async throws -> (rows: Int, counted: Int) {
            let r = try await pool.query(
                "SELECT count(*) AS rows, coalesce(sum(count), 0) AS n FROM quarry.audit_log WHERE action = 'auth.failed' AND coalesce(window_start, at) >= $1::timestamptz",
                [startMinute]
            ).first
            return (r?.int("rows") ?? 0, r?.int("n") ?? 0)
        }
        try await Task.sleep(for: .seconds(3))  // earlier refusals flushed
        let countedBefore = try await auditSince().counted

        let authURLs = Array(repeating: jobURL, count: 1000)
        let idle = try await CurlBatch.run(urls: authURLs, header: "Authorization: Bearer \(org.token)")
        #expect(idle.allSatisfy { $0.status == 200 }, "idle: \(Set(idle.map(\.status)))")

        // 10,000 refused requests in four shapes, none of which may slip past the address's bucket: no token, an
        // unknown well-formed token, the valid token with its case changed, and the valid token as ?access_token=
        // on a route that only takes the header (plus blanks around a bad one).
        let upper = "QK_" + org.token.dropFirst(3).uppercased()
        let unknown = "qk_" + String(repeating: "B", count: 43)
        let shapes: [(urls: [String], header: String?)] = [
            (Array(repeating: base + "/api/extraction/jobs", count: 2500), nil),
            (Array(repeating: jobURL, count: 2500), "Authorization: Bearer   \(unknown)  "),
            (Array(repeating: jobURL, count: 2500), "Authorization: bearer \(upper)"),
            (Array(repeating: jobURL + "?access_token=\(org.token)", count: 2500), nil),
        ]
        let floodStart = ContinuousClock.now
        async let flood = withThrowingTaskGroup(of: [CurlBatch.Sample].self) { g in
            // The attacker's CPU is not the api's: on this 2-core machine the flooding curl processes run at
            // nice 19, so the authenticated figures show what the flood costs the api (as with the attacker on
            // another host), not how the scheduler splits two cores between the api and 16 busy clients.
            for s in shapes { g.addTask { try await CurlBatch.run(urls: s.urls, header: s.header, parallel: 4, niceness: 19) } }
            var all: [CurlBatch.Sample] = []
            for try await r in g { all += r }
            return all
        }
        try await Task.sleep(for: .milliseconds(300))
        let during = try await CurlBatch.run(urls: authURLs, header: "Authorization: Bearer \(org.token)")
        let duringEnd = ContinuousClock.now
        let refused = try await flood
        let floodSeconds = (ContinuousClock.now - floodStart) / .seconds(1)

        #expect(refused.count == 10_000)
        let statuses = Dictionary(grouping: refused, by: \.status).mapValues(\.count)
        #expect(Set(statuses.keys).isSubset(of: [401, 429]), "\(statuses)")
        #expect((statuses[401] ?? 0) <= 120, "the bucket let \(statuses[401] ?? 0) refusals through to authentication")
        #expect(during.allSatisfy { $0.status == 200 }, "authenticated during the flood: \(Set(during.map(\.status)))")
        var limited = try await HTTP.request("GET", jobURL)
        var extra = 1
        while limited.status == 401 && extra < 100 {  // the bucket refilled a little while the flood drained
            limited = try await HTTP.request("GET", jobURL)
            extra += 1
        }
        #expect(limited.status == 429)
        #expect(limited.errorCode == "RATE_LIMITED")
        #expect(Int(limited.headers["retry-after"] ?? "") ?? 0 >= 1)

        // Aggregated: one row per address and minute (two if the flood straddles a minute boundary).
        var rows = 0
        var counted = 0
        _ = try await eventually(timeout: .seconds(10), every: .milliseconds(250)) {
            let r = try await auditSince()
            rows = r.rows
            counted = r.counted - countedBefore
            return counted >= 10_000 + extra
        }
        // The idle figure is taken on both sides of the flood (the machine drifts; a shared CI box more so), and
        // the larger of the two is the reference.
        let idleAfter = try await CurlBatch.run(urls: authURLs, header: "Authorization: Bearer \(org.token)")
        #expect(idleAfter.allSatisfy { $0.status == 200 }, "idle after: \(Set(idleAfter.map(\.status)))")
        let idleP99 = max(CurlBatch.quantileMs(idle, 0.99), CurlBatch.quantileMs(idleAfter, 0.99))
        let floodP99 = CurlBatch.quantileMs(during, 0.99)
        print(
            "flood: 10000 refused requests in \(String(format: "%.1f", floodSeconds)) s (\(statuses)), audit rows \(rows) counting \(counted); "
                + "authenticated GET job p50/p99 idle \(String(format: "%.2f/%.2f (after: %.2f)", CurlBatch.quantileMs(idle, 0.5), CurlBatch.quantileMs(idle, 0.99), CurlBatch.quantileMs(idleAfter, 0.99))) ms, "
                + "during flood \(String(format: "%.2f/%.2f", CurlBatch.quantileMs(during, 0.5), floodP99)) ms "
                + "(\(during.count) requests in \(duringEnd - floodStart))")
        #expect(rows <= 100, "\(rows) audit rows for 10,000 refused requests")
        // Authenticated calls keep their latency: p99 within 2× of the idle p99 (the issue's target). The idle
        // figure is floored at 2 ms — below that, p99 over 1,000 loopback calls is the scheduler's noise on a
        // 2-core machine, not the api. Without the tarpit (API_ANON_REFUSAL_DELAY_MS) the flood ran at ~3,000
        // refusals/s and p99 was 5–8× idle; with it, 0.98–2.1× in quiet runs.
        #expect(floodP99 <= 2 * max(idleP99, 2.0), "authenticated p99 \(floodP99) ms during the flood vs \(idleP99) ms idle")
        #expect(counted == 10_000 + extra, "the aggregate rows count \(counted) refusals")
        try await pool.query("DELETE FROM quarry.jobs WHERE id = $1", [job])
    }
}

/// Event streams: a cap per token, and one heartbeat per stream per interval however many streams share a job.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SSELimitTests {
    @Test func streamsPerTokenAreCapped() async throws {
        _ = try await APIHarness.shared.base()
        let (p, base) = try await APIHarness.start(environment: [
            // A closed stream is noticed at its next write: heartbeats every 300 ms free slots quickly.
            "API_SSE_MAX_STREAMS_PER_TOKEN": "3", "API_ANON_RATE_LIMIT_PER_MIN": "100000", "API_SSE_HEARTBEAT_MS": "300",
        ])
        defer { p.signal(SIGTERM) }
        let org = try await APIHarness.shared.org()
        let job = try await JobStore(pool: APIHarness.shared.pool).enqueue(org: org.id, kind: TestDatabase.uniqueKind("sse"), payload: "{}")
        let url = base + "/api/extraction/jobs/\(job.uuidString.lowercased())/events"
        var open = try (0..<3).map { _ in try CurlStream(url: url, token: org.token) }
        #expect(try await eventually(timeout: .seconds(10)) { open.allSatisfy { $0.text.contains("event: status") } })
        let fourth = try await HTTP.request("GET", url, token: org.token, timeout: 3)
        #expect(fourth.status == 429, "\(fourth)")
        #expect(fourth.errorCode == "RATE_LIMITED")
        #expect(Int(fourth.headers["retry-after"] ?? "") ?? 0 >= 1)
        // The same token another way counts against the same cap; another spelling of it is not the token.
        #expect(try await HTTP.request("GET", url + "?access_token=\(org.token)", timeout: 3).status == 429)
        #expect(try await HTTP.request("GET", url, headers: ["Authorization": "  BEARER   \(org.token)  "], timeout: 3).status == 429)
        #expect(try await HTTP.request("GET", url, token: "QK_" + org.token.dropFirst(3).uppercased(), timeout: 3).status == 401)
        // Another token of the same org has its own slots.
        let t2 = try await APITokens.create(pool: APIHarness.shared.pool, orgName: org.name, name: "second", admin: false)
        let other = try CurlStream(url: url, token: t2.token)
        #expect(try await eventually(timeout: .seconds(10)) { other.text.contains("event: status") })
        // Closing a stream frees its slot.
        kill(open.removeLast().process.processIdentifier, SIGKILL)  // SIGTERM may be ignored (inherited from the test runner)
        #expect(
            try await eventually(timeout: .seconds(10), every: .milliseconds(200)) {
                let s = try CurlStream(url: url, token: org.token)
                let ok = try await eventually(timeout: .seconds(2)) { s.text.contains("event: status") }
                if ok { open.append(s) }
                return ok
            })
        try await APIHarness.shared.pool.query("DELETE FROM quarry.jobs WHERE id = $1", [job])
    }

    @Test func twoHundredStreamsOnOneJobGetOneHeartbeatEachPerInterval() async throws {
        _ = try await APIHarness.shared.base()
        let (p, base) = try await APIHarness.start(environment: [
            "API_SSE_MAX_STREAMS_PER_TOKEN": "200", "API_SSE_HEARTBEAT_MS": "1000", "API_ANON_RATE_LIMIT_PER_MIN": "100000",
        ])
        defer { p.signal(SIGTERM) }
        let org = try await APIHarness.shared.org()
        let job = try await JobStore(pool: APIHarness.shared.pool).enqueue(org: org.id, kind: TestDatabase.uniqueKind("sse"), payload: "{}")
        let url = base + "/api/extraction/jobs/\(job.uuidString.lowercased())/events"
        let rssBefore = residentKB(p.pid)
        var streams: [CurlStream] = []
        for _ in 0..<200 { streams.append(try CurlStream(url: url, token: org.token)) }
        let allUp = try await eventually(timeout: .seconds(30), every: .milliseconds(50)) {
            streams.allSatisfy { $0.text.contains("event: status") }
        }
        #expect(allUp, "\(streams.filter { !$0.text.contains("event: status") }.count) streams never started")
        // Over a fixed window, each stream must get window / heartbeat heartbeats, give or take one.
        func heartbeats() -> [Int] { streams.map { $0.text.components(separatedBy: ": heartbeat").count - 1 } }
        let window = 6
        let t1 = ContinuousClock.now
        let c1 = heartbeats()
        try await Task.sleep(until: t1 + .seconds(window))
        let c2 = heartbeats()
        let rssDuring = residentKB(p.pid)
        for s in streams { kill(s.process.processIdentifier, SIGKILL) }
        let counts = zip(c1, c2).map { $1 - $0 }
        let off = counts.indices.filter { abs(counts[$0] - window) > 1 }
        print(
            "sse: 200 streams on one job, heartbeats per stream in \(window) s at 1/s: min \(counts.min() ?? -1) max \(counts.max() ?? -1) "
                + "(total \(counts.reduce(0, +))); api RSS \(rssBefore) kB idle, \(rssDuring) kB with 200 streams")
        #expect(off.isEmpty, "\(off.count) streams off by more than one heartbeat: \(off.prefix(5).map { counts[$0] })")
        #expect(rssDuring > 0 && rssDuring - rssBefore < 64 * 1024, "api RSS grew \(rssDuring - rssBefore) kB for 200 streams")
        try await APIHarness.shared.pool.query("DELETE FROM quarry.jobs WHERE id = $1", [job])
    }
}
