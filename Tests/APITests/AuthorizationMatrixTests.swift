import APIAuth
import APIServer
import Foundation
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// Every route of `APIServer.routeRules` (the table the router enforces) against every kind of caller, on
/// resources of org A. The expected cell follows from the route's declared role and tenancy, so a route added to
/// the table is covered here without editing this test, and a route whose handler disagrees with its rule fails.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct AuthorizationMatrixTests {
    enum Caller: String, CaseIterable { case noToken, badToken, revokedToken, memberOfA, memberOfB, admin }

    /// What a cell must answer: refused before the handler (401, 403), the resource invisible (404), or the
    /// handler ran (any other status: 200, 201, 400, 409 …).
    enum Outcome: Equatable, CustomStringConvertible {
        case unauthorized, forbidden, notFound, served
        var description: String {
            switch self {
            case .unauthorized: "401"
            case .forbidden: "403"
            case .notFound: "404"
            case .served: "served"
            }
        }
        init(status: Int) {
            switch status {
            case 401: self = .unauthorized
            case 403: self = .forbidden
            case 404: self = .notFound
            default: self = .served
            }
        }
    }

    /// The rule, read as a cell. The admin token belongs to an org of its own (not A).
    static func expected(_ rule: RouteRule, _ caller: Caller) -> Outcome {
        switch rule.role {
        case .open, .metrics: return .served  // METRICS_TOKEN is unset in the harness
        case .member, .admin: break
        }
        switch caller {
        case .noToken, .badToken, .revokedToken: return .unauthorized
        case .memberOfA: return rule.role == .admin ? .forbidden : .served
        case .memberOfB: return rule.role == .admin ? .forbidden : rule.tenancy == .none ? .served : .notFound
        case .admin: return rule.tenancy == .ownOrg ? .notFound : .served
        }
    }

    @Test func everyRouteEveryCaller() async throws {
        let base = try await APIHarness.shared.base()
        let pool = APIHarness.shared.pool
        let a = try await APIHarness.shared.org()
        let b = try await APIHarness.shared.org()
        let admin = try await APIHarness.shared.org(admin: true)
        let revoked = try await APITokens.create(pool: pool, orgName: a.name, name: "revoked", admin: false)
        #expect(try await APITokens.revoke(pool: pool, id: revoked.id))

        // Org A's resources: a completed job with a result, a dead-letter entry, and an upload.
        let job = try await ResultTests.seededResult(a).uuidString.lowercased()
        let uploaded = try await HTTP.request(
            "POST", base + "/api/uploads?filename=matrix.csv", token: a.token, body: Data("sku,price\nM-1,1\n".utf8))
        let upload = try #require(uploaded.data["upload_id"] as? String, "\(uploaded)")
        // Supplier routes are reached with the same id as their `:supplier_id`: org A knows that supplier.
        try await pool.query(
            "INSERT INTO quarry.supplier_profiles (org_id, supplier_id, config) VALUES ($1, $2, '{}')", [a.id, job])
        let dlq = try #require(
            try await pool.query(
                """
                INSERT INTO quarry.dead_letter_jobs (job_id, org_id, kind, payload, priority, retry_count, error_code, error_message)
                VALUES (gen_random_uuid(), $1, $2, '{}', 0, 1, 'EXTRACTION_ERROR', 'matrix') RETURNING dlq_id
                """, [a.id, TestDatabase.uniqueKind("matrix")]
            ).first?.uuid("dlq_id")
        ).uuidString.lowercased()

        let tokens: [Caller: String?] = [
            .noToken: nil, .badToken: "qk_" + String(repeating: "Z", count: 43), .revokedToken: revoked.token,
            .memberOfA: a.token, .memberOfB: b.token, .admin: admin.token,
        ]
        #expect(APIServer.routeRules.count >= 24)
        #expect(Set(APIServer.routeRules.map { "\($0.method) \($0.path)" }).count == APIServer.routeRules.count, "a route is declared twice")
        var failures: [String] = []
        var cells = 0
        // The one query: selects the member-visible monitor view and keeps the in-request trigger to one short batch;
        // every other route ignores it.
        let query = "?view=recent-jobs&max_jobs=1&budget_ms=100"
        // Callers that change state (reprocess, commit, cancel, retry) come after those that must not reach it.
        for caller in [Caller.noToken, .badToken, .revokedToken, .memberOfB, .memberOfA, .admin] {
            for rule in APIServer.routeRules {
                let path = rule.path.split(separator: "/", omittingEmptySubsequences: false).map { seg -> String in
                    guard seg.hasPrefix(":") else { return String(seg) }
                    return rule.path.contains("/dlq/") ? dlq : rule.path.hasPrefix("/api/uploads/") ? upload : job
                }.joined(separator: "/")
                let r = try await HTTP.request(rule.method, base + path + query, token: tokens[caller] ?? nil, timeout: 10)
                let got = Outcome(status: r.status)
                let want = Self.expected(rule, caller)
                cells += 1
                if got != want || r.status == 0 || r.status >= 500 {
                    failures.append("\(rule.method) \(rule.path) as \(caller): want \(want), got \(r.status) \(r.text.prefix(120))")
                }
                if got == .unauthorized || got == .forbidden { #expect(r.json["success"] as? Bool == false, "\(rule.path): envelope") }
            }
        }
        print(
            "authorization matrix: \(APIServer.routeRules.count) routes × \(Caller.allCases.count) callers = \(cells) cells, \(failures.count) wrong")
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }
}
