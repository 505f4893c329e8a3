import APIAuth
import Foundation
import Postgres
import QuarryTestSupport
import Testing

@Suite(.serialized, .timeLimit(.minutes(2)))
struct AuthTests {
    @Test func missingBadAndRevokedTokensAre401AndAudited() async throws {
        let base = try await APIHarness.shared.base()
        let pool = APIHarness.shared.pool
        let startMinute = try await pool.query("SELECT date_trunc('minute', now())::text AS m").first?.string("m") ?? ""

        let none = try await HTTP.request("GET", base + "/api/extraction/jobs")
        #expect(none.status == 401)
        #expect(none.errorCode == "UNAUTHORIZED")
        #expect(none.json["success"] as? Bool == false)

        let bad = try await HTTP.request("GET", base + "/api/extraction/jobs", token: "qk_" + String(repeating: "A", count: 43))
        #expect(bad.status == 401)

        let org = try await APIHarness.shared.org()
        let ok = try await HTTP.request("GET", base + "/api/extraction/jobs", token: org.token)
        #expect(ok.status == 200, "\(ok)")

        // Revoke through the CLI-equivalent path, then the same token fails once the api's verified-token cache
        // (API_TOKEN_CACHE_MS, 1 s in this harness) has expired it.
        #expect(try await APITokens.revoke(pool: pool, id: org.tokenID))
        let revokedSoon = try await eventually(timeout: .seconds(5), every: .milliseconds(200)) {
            try await HTTP.request("GET", base + "/api/extraction/jobs", token: org.token).status == 401
        }
        #expect(revokedSoon, "a revoked token still answered 200 after 5 s")
        let revoked = try await HTTP.request("GET", base + "/api/extraction/jobs", token: org.token)
        #expect(revoked.status == 401)

        // Refusals are audited in aggregate: one row per address and minute, flushed every ~2 s, with a count
        // per reason and the revoked token.
        var rows: [PostgresRow] = []
        let flushed = try await eventually(timeout: .seconds(10), every: .milliseconds(200)) {
            // Another suite's refusals in the same minute add to the same row, so select by minute, not by id.
            rows = Array(
                try await pool.query(
                    "SELECT token_id, count, details FROM quarry.audit_log WHERE action = 'auth.failed' AND window_start >= $1::timestamptz",
                    [startMinute]))
            return rows.contains { $0.uuid("token_id") == org.tokenID }
        }
        #expect(flushed, "no aggregated auth.failed row names the revoked token")
        let details = rows.compactMap { $0.string("details") }.joined()
        #expect(details.contains("\"missing\""))
        #expect(details.contains("\"unknown\""))
        #expect(details.contains("\"revoked\""))
        #expect(rows.reduce(0) { $0 + ($1.int("count") ?? 0) } >= 3)
    }

    @Test func noPlaintextTokenInTheDatabase() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        _ = try await HTTP.request("GET", base + "/api/extraction/jobs", token: org.token)
        _ = try await HTTP.request("GET", base + "/api/extraction/jobs", token: org.token + "x")
        let pool = APIHarness.shared.pool
        let secret = String(org.token.dropFirst(3))
        let hits = try await pool.query(
            """
            SELECT (SELECT count(*) FROM quarry.api_tokens t WHERE t::text LIKE '%' || $1 || '%'
                       OR encode(t.token_sha256, 'escape') LIKE '%' || $1 || '%') +
                   (SELECT count(*) FROM quarry.audit_log a WHERE a::text LIKE '%' || $1 || '%') AS n
            """, [secret]
        ).first?.int("n")
        #expect(hits == 0)
        let stored = try await pool.query("SELECT encode(token_sha256, 'hex') AS h FROM quarry.api_tokens WHERE id = $1", [org.tokenID]).first?
            .string("h")
        #expect(stored == APITokens.hash(org.token).map { String(format: "%02x", $0) }.joined())
    }

    @Test func tokenCreateCommandPrintsTokenLast() async throws {
        let base = try await APIHarness.shared.base()
        let p = try ChildProcess("quarry", arguments: ["token", "create", "--org", "cli-\(UUID().uuidString.prefix(6))", "--admin"])
        #expect(await p.waitForExit(timeout: .seconds(30)) == 0)
        // The last non-blank line (the pipe may deliver a trailing blank chunk after it).
        let token =
            p.log.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.last { !$0.isEmpty } ?? ""
        #expect(APITokens.isWellFormed(token), "\(p.log)")
        let r = try await HTTP.request("GET", base + "/api/extraction/monitor?view=queue", token: token)
        #expect(r.status == 200, "\(r)")
    }

    @Test func memberTokenGets403OnAdminViews() async throws {
        let base = try await APIHarness.shared.base()
        let member = try await APIHarness.shared.org()
        for view in ["dashboard", "health", "queue", "performance", "errors", "dlq", "hourly-stats"] {
            let r = try await HTTP.request("GET", base + "/api/extraction/monitor?view=\(view)", token: member.token)
            #expect(r.status == 403, "\(view): \(r)")
            #expect(r.errorCode == "FORBIDDEN")
        }
        let recent = try await HTTP.request("GET", base + "/api/extraction/monitor?view=recent-jobs", token: member.token)
        #expect(recent.status == 200)
        let fleet = try await HTTP.request("GET", base + "/api/extraction/dlq?all=true", token: member.token)
        #expect(fleet.status == 403)
    }

    @Test func rateLimitAnswers429WithRetryAfter() async throws {
        _ = try await APIHarness.shared.base()
        let (p, base) = try await APIHarness.start(environment: ["API_RATE_LIMIT_PER_MIN": "3"])
        defer { p.signal(SIGTERM) }
        let org = try await APIHarness.shared.org()
        var statuses: [Int] = []
        var last: HTTPResult?
        for _ in 0..<5 {
            let r = try await HTTP.request("GET", base + "/api/extraction/jobs", token: org.token)
            statuses.append(r.status)
            last = r
        }
        #expect(statuses.prefix(3).allSatisfy { $0 == 200 }, "\(statuses)")
        #expect(statuses.last == 429)
        #expect(last?.errorCode == "RATE_LIMITED")
        #expect(Int(last?.headers["retry-after"] ?? "") ?? 0 >= 1)
        // Graceful shutdown on SIGTERM.
        p.signal(SIGTERM)
        #expect(await p.waitForExit(timeout: .seconds(15)) == 0)
    }
}
