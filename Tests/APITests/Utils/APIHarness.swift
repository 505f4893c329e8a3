import APIAuth
import Foundation
import Postgres
import QuarryTestSupport
import Queue

/// Starts real `api` processes on loopback and creates orgs and tokens.
actor APIHarness {
    static let shared = APIHarness()

    private var main: Task<(process: ChildProcess, base: String), any Error>?
    let pool: PostgresPool = TestDatabase.pool(size: 4, name: "quarry-api-test")

    /// The shared api process (1 MB upload limit, generous rate limit).
    func base() async throws -> String {
        // One start shared by every caller (the actor is re-entrant across the awaits below).
        if let main, let running = try? await main.value, running.process.isRunning { return running.base }
        let task = Task {
            _ = try await TestDatabase.migrated()
            return try await Self.start(environment: [
                "EXTRACTION_MAX_FILE_SIZE_MB": "1", "API_RATE_LIMIT_PER_MIN": "100000", "API_SSE_HEARTBEAT_MS": "1000", "API_TOKEN_CACHE_MS": "1000",
                // The suites send many refused requests from 127.0.0.1 on purpose (the matrix alone sends ~80).
                "API_ANON_RATE_LIMIT_PER_MIN": "100000",
            ])
        }
        main = task
        return try await task.value.base
    }

    /// Starts an api process with extra environment; waits until `/healthz` answers.
    static func start(environment: [String: String]) async throws -> (process: ChildProcess, base: String) {
        for _ in 0..<5 {
            let port = Int.random(in: 20_000..<60_000)
            var env = environment
            env["PORT"] = String(port)
            env["HOST"] = "127.0.0.1"
            env["LOG_LEVEL"] = "warning"
            let p = try ChildProcess("api", environment: env)
            let base = "http://127.0.0.1:\(port)"
            let up = try await eventually(timeout: .seconds(15), every: .milliseconds(100)) {
                guard p.isRunning else { return true }
                return (try? await HTTP.request("GET", base + "/healthz", timeout: 2).status) == 200
            }
            if up && p.isRunning { return (p, base) }
            p.signal(SIGKILL)
        }
        throw TestFailure("api did not start")
    }

    /// A fresh org with one token.
    func org(admin: Bool = false) async throws -> TestOrg {
        let name = "test-\(UUID().uuidString.prefix(8).lowercased())"
        let t = try await APITokens.create(pool: pool, orgName: name, name: "\(name)-token", admin: admin)
        return TestOrg(name: name, id: t.orgID, tokenID: t.id, token: t.token)
    }
}

struct TestOrg: Sendable {
    var name: String
    var id: UUID
    var tokenID: UUID
    var token: String
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
