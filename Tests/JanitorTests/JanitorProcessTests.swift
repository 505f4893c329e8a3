import Foundation
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// Real `janitor` and `worker` processes, each test in a database of its own.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct JanitorProcessTests {
    func janitor(_ db: IsolatedDatabase, id: String, _ env: [String: String] = [:]) throws -> ChildProcess {
        var e = ["DATABASE_URL": db.url, "JANITOR_ID": id, "JANITOR_FAILOVER_S": "2", "LOG_LEVEL": "info"]
        for (k, v) in env { e[k] = v }
        return try ChildProcess("janitor", environment: e)
    }

    func leader(_ db: IsolatedDatabase) async throws -> String? {
        try await db.pool.query("SELECT instance_id FROM quarry.janitor_leader").first?.string("instance_id")
    }

    func advisoryHolders(_ db: IsolatedDatabase) async throws -> Int {
        try await db.pool.query(
            "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).first?.int("n") ?? 0
    }

    @Test func oneLeaderFailoverOnKillAndCleanExitOnTerm() async throws {
        let db = try await IsolatedDatabase()
        defer { db.drop() }
        let a = try janitor(db, id: "janitor-a")
        let b = try janitor(db, id: "janitor-b")
        #expect(try await eventually(timeout: .seconds(15)) { try await leader(db) != nil })
        // Give the standby several retries (every 0.5 s) to prove it stays standby.
        try await Task.sleep(for: .seconds(2))
        let first = try #require(try await leader(db))
        #expect(["janitor-a", "janitor-b"].contains(first))
        #expect(try await advisoryHolders(db) == 1)
        let acquired = [a, b].filter { $0.log.contains("leader:acquired") }
        #expect(acquired.count == 1, "exactly one replica logged leader:acquired: a: \(a.log.suffix(2500))\nb: \(b.log.suffix(2500))")
        let (leaderProcess, standby) = first == "janitor-a" ? (a, b) : (b, a)
        let standbyID = first == "janitor-a" ? "janitor-b" : "janitor-a"

        leaderProcess.signal(SIGKILL)
        let killedAt = ContinuousClock.now
        let tookOver = try await eventually(timeout: .seconds(10), every: .milliseconds(50)) { try await leader(db) == standbyID }
        let elapsed = ContinuousClock.now - killedAt
        #expect(tookOver, "killed: \(leaderProcess.log.suffix(2500))\nstandby: \(standby.log.suffix(2500))")
        #expect(elapsed < .seconds(2), "failover took \(elapsed); JANITOR_FAILOVER_S=2")
        // The log line follows the leader record; the pipe may deliver it a moment later.
        #expect(try await eventually(timeout: .seconds(5)) { standby.log.contains("leader:acquired") })
        // The new leader heartbeats its record.
        let beat1 = try await db.pool.query("SELECT heartbeat_at FROM quarry.janitor_leader").first?.string("heartbeat_at")
        #expect(
            try await eventually(timeout: .seconds(3)) {
                try await db.pool.query("SELECT heartbeat_at FROM quarry.janitor_leader").first?.string("heartbeat_at") != beat1
            })

        standby.signal(SIGTERM)
        let status = await standby.waitForExit(timeout: .seconds(15))
        #expect(status == 0, "janitor log: \(standby.log.suffix(2000))")
        #expect(standby.log.contains("leader:released"))
        #expect(try await leader(db) == nil, "a clean exit removes the leader record")
        #expect(try await advisoryHolders(db) == 0)
    }

    @Test func leaderWhoseSessionIsKilledStepsDownAndCompetesAgain() async throws {
        let db = try await IsolatedDatabase()
        defer { db.drop() }
        let a = try janitor(db, id: "janitor-solo")
        #expect(try await eventually(timeout: .seconds(15)) { try await leader(db) == "janitor-solo" })
        // Kill the leader's session from the server side: the lock goes with it.
        try await db.pool.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'quarry-janitor-leader' AND datname = current_database()"
        )
        #expect(try await eventually(timeout: .seconds(10)) { a.log.contains("leader:lost") })
        #expect(
            try await eventually(timeout: .seconds(10)) {
                a.log.components(separatedBy: "leader:acquired").count - 1 >= 2
            }, "re-acquired after reconnecting: \(a.log.suffix(1500))")
        #expect(try await eventually(timeout: .seconds(5)) { try await advisoryHolders(db) == 1 })
        a.signal(SIGTERM)
        #expect(await a.waitForExit(timeout: .seconds(15)) == 0)
    }

    @Test func stalledJobsFromAKilledWorkerCompleteExactlyOnce() async throws {
        let db = try await IsolatedDatabase()
        defer { db.drop() }
        let store = JobStore(pool: db.pool)
        let ids = try await store.enqueueBulk(kind: "sleep", payloads: Array(repeating: #"{"ms": 1500}"#, count: 3))
        let workerEnv = [
            "DATABASE_URL": db.url, "WORKER_KINDS": "sleep", "EXTRACTION_MAX_CONCURRENCY": "3",
            "EXTRACTION_HEARTBEAT_INTERVAL_MS": "200", "LOG_LEVEL": "warning",
        ]
        let victim = try ChildProcess("worker", environment: workerEnv)
        func statuses() async throws -> [String: Int] {
            var out: [String: Int] = [:]
            for r in try await db.pool.query(
                "SELECT status, count(*) AS n FROM quarry.jobs WHERE id = ANY($1::uuid[]) GROUP BY status", [ids])
            {
                out[r.string("status") ?? "?"] = r.int("n")
            }
            return out
        }
        #expect(try await eventually(timeout: .seconds(20)) { try await statuses()["processing"] == 3 })
        victim.signal(SIGKILL)
        _ = await victim.waitForExit(timeout: .seconds(5))

        let j = try janitor(db, id: "janitor-stall", ["EXTRACTION_STALLED_AFTER_MS": "1000", "JANITOR_STALLED_INTERVAL_MS": "300"])
        #expect(try await eventually(timeout: .seconds(15)) { try await statuses()["queued"] == 3 }, "\(j.log.suffix(1500))")
        let rows = try await db.pool.query(
            "SELECT attempt, error->>'code' AS code FROM quarry.jobs WHERE id = ANY($1::uuid[])", [ids])
        #expect(rows.allSatisfy { $0.int("attempt") == 1 && $0.string("code") == "STALLED" })
        // One JSON log line per recovered job, with its ids (written after the recovery commits, so they may
        // reach the pipe a moment after the jobs show as queued). A killed worker's session is gone, so the
        // crash detection usually gets there before the stall sweep.
        func recoveredLines() -> [Substring] {
            j.log.split(separator: "\n").filter { $0.contains("job:stalled_recovered") || $0.contains("job:crash_recovered") }
        }
        #expect(try await eventually(timeout: .seconds(5)) { recoveredLines().count >= 3 })
        let lines = recoveredLines()
        #expect(lines.count == 3)
        for id in ids {
            #expect(lines.contains { $0.contains(id.uuidString.lowercased()) && $0.contains("\"worker_id\"") && $0.contains("\"org_id\"") })
        }
        #expect(try await eventually(timeout: .seconds(5)) { j.log.contains("worker:marked_stopped") })

        let rescuer = try ChildProcess("worker", environment: workerEnv)
        #expect(try await eventually(timeout: .seconds(30)) { try await statuses()["completed"] == 3 })
        let completions = try await db.pool.query(
            "SELECT job_id, count(*) AS n FROM quarry.job_metrics WHERE status = 'completed' AND job_id = ANY($1::uuid[]) GROUP BY job_id",
            [ids])
        #expect(completions.count == 3)
        #expect(completions.allSatisfy { $0.int("n") == 1 })
        let attempts = try await db.pool.query("SELECT max(attempt) AS a FROM quarry.jobs WHERE id = ANY($1::uuid[])", [ids])
        #expect(attempts.first?.int("a") == 2)
        rescuer.signal(SIGTERM)
        j.signal(SIGTERM)
        #expect(await j.waitForExit(timeout: .seconds(15)) == 0)
        _ = await rescuer.waitForExit(timeout: .seconds(15))
    }

    @Test func alertsTriggerOnceResolveOnceAndSurviveALeaderChange() async throws {
        let db = try await IsolatedDatabase()
        defer { db.drop() }
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let env = [
            "HEALTH_QUEUE_SIZE_THRESHOLD": "3", "EXTRACTION_HEALTH_CHECK_INTERVAL_MS": "300", "ALERT_FLAP_CHECKS": "1",
            "ALERT_WEBHOOK_URL": receiver.url("/hook"), "ALERT_SLACK_WEBHOOK_URL": receiver.url("/slack"),
            "ALERT_PAGERDUTY_ROUTING_KEY": "test", "ALERT_PAGERDUTY_URL": receiver.url("/pd"),
        ]
        let store = JobStore(pool: db.pool)
        let kind = "nobody_runs_this"
        let ids = try await store.enqueueBulk(kind: kind, payloads: Array(repeating: "{}", count: 5))

        func hooks(_ action: String) -> [ReceivedRequest] {
            receiver.requests.filter { $0.path == "/hook" && ($0.json?["action"] as? String) == action }
        }
        func pd(_ action: String) -> [ReceivedRequest] {
            receiver.requests.filter { $0.path == "/pd" && ($0.json?["event_action"] as? String) == action }
        }
        func slack() -> [ReceivedRequest] { receiver.requests.filter { $0.path == "/slack" } }
        func checks() async throws -> Int {
            try await db.pool.query("SELECT count(*) AS n FROM quarry.health_checks").first?.int("n") ?? 0
        }

        // Five runnable jobs, no worker: unhealthy (queue over 3, nobody to run them).
        let first = try janitor(db, id: "janitor-alert-1", env)
        #expect(try await eventually(timeout: .seconds(20)) { !hooks("trigger").isEmpty }, "\(first.log.suffix(2000))")
        let checksAtTrigger = try await checks()
        #expect(try await eventually(timeout: .seconds(10)) { try await checks() >= checksAtTrigger + 6 })
        #expect(hooks("trigger").map { $0.json?["key"] as? String } == ["health:critical"], "one trigger, not one per check")
        #expect(pd("trigger").count == 1)
        #expect((pd("trigger").first?.json?["dedup_key"] as? String) == "quarry:health:critical")
        #expect(slack().count == 1)
        let stored = try await db.pool.query("SELECT status, issues, details->>'queue_size' AS q FROM quarry.health_checks ORDER BY id DESC LIMIT 1")
            .first
        #expect(stored?.string("status") == "unhealthy")
        #expect(stored?.string("q") == "5")

        // A new leader while the condition holds: the stored state says "already paged".
        first.signal(SIGTERM)
        #expect(await first.waitForExit(timeout: .seconds(15)) == 0)
        let second = try janitor(db, id: "janitor-alert-2", env)
        #expect(try await eventually(timeout: .seconds(15)) { try await leader(db) == "janitor-alert-2" })
        let checksAtHandover = try await checks()
        #expect(try await eventually(timeout: .seconds(10)) { try await checks() >= checksAtHandover + 6 })
        #expect(hooks("trigger").count == 1, "no second trigger after the leader change")
        #expect(pd("trigger").count == 1)

        // Cancel the jobs: healthy again → one resolve per notifier.
        for id in ids { _ = try await store.cancel(id: id) }
        #expect(try await eventually(timeout: .seconds(10)) { hooks("resolve").count == 1 })
        let checksAtResolve = try await checks()
        #expect(try await eventually(timeout: .seconds(10)) { try await checks() >= checksAtResolve + 5 })
        #expect(hooks("resolve").count == 1)
        #expect((hooks("resolve").first?.json?["key"] as? String) == "health:critical")
        #expect(pd("resolve").count == 1)
        #expect(slack().count == 2)
        #expect(receiver.requests.filter { $0.path == "/hook" }.count == 2, "nothing else was sent")

        let log = try await db.pool.query("SELECT key, action FROM quarry.alert_log ORDER BY id").map {
            "\($0.string("key")!) \($0.string("action")!)"
        }
        #expect(log == ["health:critical trigger", "health:critical resolve"])
        let state = try await db.pool.query("SELECT active FROM quarry.alert_state WHERE key = 'health:critical'").first
        #expect(state?.bool("active") == false)
        second.signal(SIGTERM)
        #expect(await second.waitForExit(timeout: .seconds(15)) == 0)
    }
}
