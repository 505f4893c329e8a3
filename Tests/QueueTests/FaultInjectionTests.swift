import Foundation
import Models
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// Faults injected for real: a frozen worker, a PostgreSQL crash-restart, a chaos run.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct FaultInjectionTests {
    let pool: PostgresPool
    let store: JobStore

    init() async throws {
        pool = try await TestDatabase.migrated()
        store = JobStore(pool: pool)
    }

    func count(_ ids: [UUID], status: String) async throws -> Int {
        try await pool.queryRetrying(
            "SELECT count(*) AS n FROM quarry.jobs WHERE id = ANY($1::uuid[]) AND status = $2", [ids, status]
        ).first?.int("n") ?? 0
    }

    func completions(_ ids: [UUID]) async throws -> (total: Int, maxPerJob: Int) {
        let r = try await pool.queryRetrying(
            """
            SELECT count(*) AS total, coalesce(max(n), 0) AS maxn FROM (
              SELECT job_id, count(*) AS n FROM quarry.job_metrics
              WHERE status = 'completed' AND job_id = ANY($1::uuid[]) GROUP BY job_id) s
            """, [ids]
        ).first
        return (r?.int("total") ?? 0, r?.int("maxn") ?? 0)
    }

    /// Scenario 3: SIGSTOP a worker past the stalled threshold, requeue its jobs, SIGCONT it:
    /// its late heartbeats and completions change nothing; every job completes once.
    @Test func frozenWorkerCannotOverwriteTheNewOwner() async throws {
        let ids = try await store.enqueueBulk(kind: "sleep", payloads: Array(repeating: #"{"ms":1500}"#, count: 3))
        let zombie = try ChildProcess(
            "worker",
            environment: [
                "WORKER_KINDS": "sleep", "EXTRACTION_HEARTBEAT_INTERVAL_MS": "200", "WORKER_ID": "zombie-\(UUID().uuidString.prefix(6))",
            ])
        #expect(try await eventually { try await count(ids, status: "processing") == 3 })
        zombie.signal(SIGSTOP)
        try await Task.sleep(for: .seconds(1.5))
        let recovered = try await store.recoverStalled(stalledAfter: .seconds(1)).filter { ids.contains($0.id) }
        let state = try await pool.query(
            "SELECT status, worker_id, extract(epoch FROM now() - heartbeat_at) AS age FROM quarry.jobs WHERE id = ANY($1::uuid[])", [ids]
        ).map { "\($0["status"] ?? "-") \($0["worker_id"] ?? "-") \($0["age"] ?? "-")" }
        #expect(recovered.count == 3, "jobs: \(state)")
        let rescuer = try ChildProcess("worker", environment: ["WORKER_KINDS": "sleep"])
        #expect(try await eventually { try await count(ids, status: "processing") == 3 })
        zombie.signal(SIGCONT)  // its 1.5 s sleeps finish first: it tries to complete jobs it no longer owns
        #expect(try await eventually { try await count(ids, status: "completed") == 3 })
        try await Task.sleep(for: .seconds(1))
        let c = try await completions(ids)
        #expect(c.total == 3 && c.maxPerJob == 1)
        #expect(zombie.log.contains("lease gone") || zombie.log.contains("lease lost"))
        zombie.signal(SIGTERM)
        rescuer.signal(SIGTERM)
        #expect(await zombie.waitForExit(timeout: .seconds(10)) == 0)
        #expect(await rescuer.waitForExit(timeout: .seconds(10)) == 0)
    }

    /// Scenario 4: PostgreSQL restarted with `-m immediate` under load: acknowledged completions stay,
    /// workers reconnect by themselves, nothing is lost or completed twice, connections stay bounded.
    @Test func databaseCrashRestartUnderLoad() async throws {
        let env = ProcessInfo.processInfo.environment
        guard let bin = env["QUARRY_PG_BIN"], let data = env["QUARRY_PGDATA"], let port = env["QUARRY_PG_PORT"] else {
            Issue.record("QUARRY_PG_BIN/QUARRY_PGDATA/QUARRY_PG_PORT not set: run through scripts/test")
            return
        }
        let ids = try await store.enqueueBulk(kind: "sleep", payloads: Array(repeating: #"{"ms":20}"#, count: 3000))
        let workers = try (0..<2).map { _ in
            try ChildProcess(
                "worker",
                environment: [
                    "WORKER_KINDS": "sleep", "EXTRACTION_MAX_CONCURRENCY": "20", "DB_POOL_SIZE": "3",
                    "EXTRACTION_HEARTBEAT_INTERVAL_MS": "500", "LOG_LEVEL": "warning",
                ])
        }
        #expect(try await eventually { try await count(ids, status: "completed") > 300 })
        let acknowledged = try await pool.query(
            "SELECT id FROM quarry.jobs WHERE id = ANY($1::uuid[]) AND status = 'completed'", [ids]
        ).compactMap { $0.uuid("id") }
        let pgctl = ["\(bin)/pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "60", "-l", "\(data)/server.log", "-o", "-p \(port)", "restart"]
        let status = spawnAndWait(getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + pgctl : pgctl)
        #expect(status == 0)
        let t0 = ContinuousClock.now
        // Progress resumes within 30 s.
        // The server is in crash recovery for a moment: errors until it accepts connections again.
        func countOrZero(_ status: String) async -> Int { (try? await count(ids, status: status)) ?? 0 }
        let before = acknowledged.count
        #expect(try await eventually(timeout: .seconds(30), every: .milliseconds(200)) { await countOrZero("completed") > before })
        #expect(ContinuousClock.now - t0 < .seconds(30))
        // Jobs claimed before the crash are stalled now (their leases died with nobody's heartbeat
        // failing)… heartbeats resume, so everything finishes; sweep anything truly orphaned.
        _ = try await eventually(timeout: .seconds(60), every: .milliseconds(500)) {
            _ = try? await store.recoverStalled(stalledAfter: .seconds(3))
            return await countOrZero("completed") == ids.count
        }
        #expect(try await count(ids, status: "completed") == ids.count)
        let stillDone = try await pool.query(
            "SELECT count(*) AS n FROM quarry.jobs WHERE id = ANY($1::uuid[]) AND status = 'completed'", [acknowledged]
        ).first?.int("n")
        #expect(stillDone == acknowledged.count)
        let c = try await completions(ids)
        #expect(c.total == ids.count && c.maxPerJob == 1)
        let conns =
            try await pool.query(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name IN ('quarry-worker','quarry-worker-listener')"
            ).first?.int("n") ?? 0
        #expect(conns <= 2 * (3 + 1))
        for w in workers {
            #expect(w.isRunning)
            w.signal(SIGTERM)
        }
        for w in workers { #expect(await w.waitForExit(timeout: .seconds(15)) == 0) }
    }

    /// Scenario 6 (bounded): random SIGKILL / SIGSTOP+SIGCONT / restarts of workers while jobs flow,
    /// with stalled sweeps standing in for the janitor: 0 lost, 0 completed twice.
    @Test func chaosSoakLosesAndDuplicatesNothing() async throws {
        let seconds = Int(ProcessInfo.processInfo.environment["QUARRY_CHAOS_SECONDS"] ?? "12") ?? 12
        let ids = try await store.enqueueBulk(kind: "sleep", payloads: (0..<1500).map { #"{"ms":\#(5 + $0 % 40)}"# })
        let env = [
            "WORKER_KINDS": "sleep", "EXTRACTION_MAX_CONCURRENCY": "10", "EXTRACTION_HEARTBEAT_INTERVAL_MS": "200",
            "LOG_LEVEL": "warning", "EXTRACTION_POLL_INTERVAL_MS": "100",
        ]
        var workers = try (0..<3).map { _ in try ChildProcess("worker", environment: env) }
        var faults: [String: Int] = [:]
        let end = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(Int.random(in: 300...900)))
            let i = Int.random(in: 0..<workers.count)
            switch Int.random(in: 0..<3) {
            case 0:
                workers[i].signal(SIGKILL)
                faults["sigkill", default: 0] += 1
                workers[i] = try ChildProcess("worker", environment: env)
            case 1:
                workers[i].signal(SIGSTOP)
                try await Task.sleep(for: .milliseconds(Int.random(in: 100...1200)))
                workers[i].signal(SIGCONT)
                faults["sigstop", default: 0] += 1
            default:
                workers[i].signal(SIGTERM)
                faults["restart", default: 0] += 1
                workers[i] = try ChildProcess("worker", environment: env)
            }
            _ = try await store.recoverStalled(stalledAfter: .seconds(1))
        }
        let done = try await eventually(timeout: .seconds(90), every: .milliseconds(300)) {
            _ = try await store.recoverStalled(stalledAfter: .seconds(1))
            return try await count(ids, status: "completed") + count(ids, status: "dead_lettered") == ids.count
        }
        #expect(done)
        let c = try await completions(ids)
        let dlq = try await count(ids, status: "dead_lettered")
        print("chaos: \(ids.count) jobs, faults \(faults), completed \(c.total), dead-lettered \(dlq), max completions per job \(c.maxPerJob)")
        #expect(c.maxPerJob == 1)
        #expect(c.total + dlq == ids.count)
        for w in workers { w.signal(SIGTERM) }
        for w in workers { _ = await w.waitForExit(timeout: .seconds(15)) }
    }

    /// The fenced job path under pressure (issue 12): extract jobs on workers whose pools are as small as they
    /// may be, a session that keeps taking a lock the handlers need, workers frozen past the stall threshold
    /// and thawed, and stalled sweeps standing in for the janitor. Ends with 0 jobs lost, 0 valid attempts
    /// dead-lettered, 0 completions twice, and every job's rows written by the run that completed it.
    @Test func extractSoakUnderPoolPressureLocksAndFreezes() async throws {
        let org = UUID()
        let rowsPerFile = 5_000
        let fileCount = 48
        // Jobs arrive in waves while the faults run, so every fault meets jobs in flight.
        var ids: [UUID] = []
        var body = ""
        for i in 2...rowsPerFile { body += "SOAK-\(i),Item \(i),\(i % 50).5\n" }
        func enqueueWave() async throws {
            for n in ids.count..<min(ids.count + 6, fileCount) {
                // One distinct first row per file, so no file is served from the result cache.
                let csv = "sku,name,price\nSOAK\(n)-1,Item 1,1.5\n" + body
                let upload = try await TestUploads.store(Data(csv.utf8), fileName: "soak\(n).csv", org: org, pool: pool)
                ids.append(
                    try await store.enqueue(
                        org: org, kind: "extract", payload: #"{"upload_id":"\#(upload.uuidString)","config":{}}"#, maxAttempts: 12))
            }
        }
        try await enqueueWave()
        let env = [
            "WORKER_KINDS": "extract", "EXTRACTION_MAX_CONCURRENCY": "2", "DB_POOL_SIZE": "3", "EXTRACTION_HEARTBEAT_INTERVAL_MS": "200",
            "EXTRACTION_POLL_INTERVAL_MS": "100", "EXTRACTION_PROGRESS_INTERVAL_MS": "50", "LOG_LEVEL": "warning",
        ]
        let workers = try (0..<3).map { _ in try ChildProcess("worker", environment: env) }
        let locker = try PostgresConnection(conninfo: TestDatabase.url, applicationName: "quarry-test-soak-locker")
        defer { locker.close() }
        var faults: [String: Int] = [:]
        let finished = {
            try await self.count(ids, status: "completed") + self.count(ids, status: "dead_lettered") + self.count(ids, status: "cancelled")
        }
        let minimum = ContinuousClock.now + .seconds(15)
        let end = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < end {
            let done = try await finished()
            if ContinuousClock.now >= minimum && ids.count == fileCount && done == ids.count { break }
            try await enqueueWave()
            switch Int.random(in: 0..<3) {
            case 0:
                // Every handler that reaches its first write waits behind this lock.
                try locker.execute("BEGIN; LOCK TABLE quarry.result_rows IN SHARE MODE")
                try await Task.sleep(for: .milliseconds(Int.random(in: 200...1_500)))
                try locker.execute("COMMIT")
                faults["lock", default: 0] += 1
            case 1:
                // Frozen past the stall threshold: its jobs are recovered and claimed by others meanwhile.
                let w = workers[Int.random(in: 0..<workers.count)]
                w.signal(SIGSTOP)
                try await Task.sleep(for: .milliseconds(Int.random(in: 600...2_000)))
                _ = try await store.recoverStalled(stalledAfter: .seconds(1))
                w.signal(SIGCONT)
                faults["sigstop", default: 0] += 1
            default:
                try await Task.sleep(for: .milliseconds(300))
            }
            _ = try await store.recoverStalled(stalledAfter: .seconds(1))
        }
        for w in workers { w.signal(SIGCONT) }
        _ = try await eventually(timeout: .seconds(60), every: .milliseconds(300)) {
            _ = try await store.recoverStalled(stalledAfter: .seconds(1))
            return try await finished() == ids.count
        }
        let completed = try await count(ids, status: "completed")
        let c = try await completions(ids)
        let mismatched = try await pool.query(
            """
            SELECT count(*) AS n FROM quarry.jobs j
            LEFT JOIN quarry.extraction_results r ON r.job_id = j.id
            WHERE j.id = ANY($1::uuid[]) AND (
                r.job_id IS NULL OR j.result IS DISTINCT FROM r.summary
                OR (r.summary->>'rows_total')::int <> $2
                OR (SELECT count(*) FROM quarry.result_rows rr WHERE rr.job_id = j.id) <> $2)
            """, [ids, rowsPerFile]
        ).first?.int("n")
        print("extract soak: \(ids.count) jobs, faults \(faults), completed \(completed), max completions per job \(c.maxPerJob)")
        #expect(completed == ids.count, "lost or dead-lettered valid attempts")
        #expect(c.maxPerJob == 1)
        #expect(mismatched == 0, "results not written by the run that completed the job")
        for w in workers { w.signal(SIGTERM) }
        for w in workers { #expect(await w.waitForExit(timeout: .seconds(20)) == 0) }
    }
}
