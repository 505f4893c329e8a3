import Foundation
import Postgres
import QuarryTestSupport
import Testing

/// `API_REQUEST_TIMEOUT_MS` on a real api process, and the bearer header's accepted spellings.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RequestTimeoutTests {
    @Test func aRequestBlockedOnALockTimesOutAndItsStatementIsCancelled() async throws {
        _ = try await APIHarness.shared.base()
        let (p, base) = try await APIHarness.start(environment: ["API_REQUEST_TIMEOUT_MS": "500", "API_RATE_LIMIT_PER_MIN": "100000"])
        defer { p.signal(SIGKILL) }
        let org = try await APIHarness.shared.org()
        // Warm the token cache while nothing is locked.
        #expect(try await HTTP.request("GET", base + "/api/extraction/jobs", token: org.token).status == 200)

        // Another session holds an exclusive lock on the jobs table, as a long migration would.
        let locker = try PostgresConnection(conninfo: TestDatabase.url, applicationName: "timeout-test-locker")
        defer { locker.close() }
        try locker.execute("BEGIN; LOCK TABLE quarry.jobs IN ACCESS EXCLUSIVE MODE")

        let start = ContinuousClock.now
        let blocked = try await HTTP.request("GET", base + "/api/extraction/jobs", token: org.token, timeout: 20)
        let took = ContinuousClock.now - start
        #expect(blocked.status == 503, "\(blocked)")
        #expect(blocked.errorCode == "TIMEOUT")
        #expect(took < .seconds(3), "answered after \(took) with a 500 ms timeout")

        // The api asked PostgreSQL to cancel the statement: nothing of the api's is left waiting on the lock.
        let monitor = TestDatabase.pool(size: 1, name: "timeout-test-monitor")
        defer { monitor.close() }
        let released = try await eventually(timeout: .seconds(5), every: .milliseconds(100)) {
            let waiting = try await monitor.query(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'quarry-api' AND wait_event_type = 'Lock'")
            return waiting.first?.int("n") == 0
        }
        #expect(released, "an api statement is still waiting for the lock")

        try locker.execute("ROLLBACK")
        let after = try await HTTP.request("GET", base + "/api/extraction/jobs", token: org.token)
        #expect(after.status == 200, "\(after)")
    }

    @Test func bearerSchemeIsCaseInsensitiveAndBlanksAreIgnored() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        for header in ["Bearer \(org.token)", "bearer \(org.token)", "BEARER   \(org.token)  ", "  Bearer \t\(org.token)"] {
            let r = try await HTTP.request("GET", base + "/api/extraction/jobs", headers: ["Authorization": header])
            #expect(r.status == 200, "\(header.replacingOccurrences(of: org.token, with: "<token>")): \(r)")
        }
        for header in ["Basic \(org.token)", "Bearer", "Bearer\(org.token)", "Token \(org.token)"] {
            let r = try await HTTP.request("GET", base + "/api/extraction/jobs", headers: ["Authorization": header])
            #expect(r.status == 401, "\(header.replacingOccurrences(of: org.token, with: "<token>")): \(r)")
        }
    }
}
