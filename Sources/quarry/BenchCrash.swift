import ArgumentParser
import Foundation
import Models
import Postgres
import Queue

/// `quarry bench crash`: how fast a crashed worker's jobs come back, and that a frozen one's do not (issue 17).
///
/// Real processes, default settings: a `janitor` (its crash sweep every `JANITOR_CRASH_INTERVAL_MS`, its stall sweep
/// every `JANITOR_STALLED_INTERVAL_MS`, threshold `EXTRACTION_STALLED_AFTER_MS` — 1 s, 15 s and 30 s unless set in
/// the environment) and `worker`s from the binaries beside this one. Part 1: a worker holding `--jobs` running
/// `sleep` jobs is killed with SIGKILL; reports the seconds until every job is queued again, then a second worker
/// runs them and the bench checks each completed exactly once. Part 2 (`--frozen`): a worker holding the same number
/// is stopped with SIGSTOP (alive, session open, silent); reports the seconds until its jobs are requeued (the stall
/// threshold), resumes it (its late completions must be fenced) and checks exactly-once again. The last line is
/// JSON.
struct CrashBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash", abstract: "Recovery of a crashed (SIGKILL) and a frozen (SIGSTOP) worker's running jobs.")
    @OptionGroup var db: DatabaseOptions
    @Option(help: "Running jobs the victim holds.") var jobs = 100
    @Option(help: "How long each sleep job runs once claimed (ms).") var sleepMs = 3_000
    @Flag(inversion: .prefixedNo, help: "Also freeze a worker (SIGSTOP); takes the stall threshold.") var frozen = true

    /// What one part measured.
    struct Recovery {
        var secondsToQueued: Double
        var completedOnce: Bool
        var completions: Int
    }

    func run() async throws {
        let pool = try db.pool(size: 2)
        let store = JobStore(pool: pool)
        let environment = try Self.environment(url: db.resolvedURL())
        let janitor = try Self.start("janitor", environment: environment.merging(["JANITOR_ID": "bench-crash"]) { _, n in n })
        defer { Self.stop(janitor) }
        let stallMs = Int(environment["EXTRACTION_STALLED_AFTER_MS"] ?? "") ?? 30_000

        let crashed = try await measure(signal: SIGKILL, store: store, pool: pool, environment: environment)
        print(
            "SIGKILL: \(jobs) running jobs queued again after \(String(format: "%.2f", crashed.secondsToQueued)) s; "
                + "each completed once: \(crashed.completedOnce) (\(crashed.completions) completions)")
        var summary: [String: Any] = [
            "jobs": jobs, "stall_threshold_ms": stallMs,
            "crash_seconds_to_queued": (crashed.secondsToQueued * 100).rounded() / 100, "crash_completed_once": crashed.completedOnce,
        ]
        if frozen {
            let stopped = try await measure(signal: SIGSTOP, store: store, pool: pool, environment: environment)
            print(
                "SIGSTOP: \(jobs) running jobs queued again after \(String(format: "%.2f", stopped.secondsToQueued)) s "
                    + "(stall threshold \(stallMs / 1000) s); each completed once after the worker resumed: \(stopped.completedOnce)")
            summary["frozen_seconds_to_queued"] = (stopped.secondsToQueued * 100).rounded() / 100
            summary["frozen_completed_once"] = stopped.completedOnce
        }
        print(String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]), as: UTF8.self))
    }

    /// The environment every process of the bench gets: the caller's, the database, quiet logs, sleep jobs only.
    static func environment(url: String) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["DATABASE_URL"] = url
        env["LOG_LEVEL"] = env["LOG_LEVEL"] ?? "error"
        env["WORKER_KINDS"] = "sleep"
        env.removeValue(forKey: "METRICS_PORT")
        return env
    }

    static func start(_ binary: String, environment: [String: String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: siblingBinary(binary))
        p.environment = environment
        try p.run()
        return p
    }

    static func stop(_ p: Process) {
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
    }

    func count(_ pool: PostgresPool, _ ids: [UUID], _ condition: String) async throws -> Int {
        try await pool.query("SELECT count(*) AS n FROM quarry.jobs WHERE id = ANY($1::uuid[]) AND \(condition)", [ids]).first?.int("n") ?? 0
    }

    /// Waits until `condition` holds for all `ids`; throws after `timeout`.
    func waitFor(_ pool: PostgresPool, _ ids: [UUID], _ condition: String, timeout: Duration, what: String) async throws {
        let t0 = ContinuousClock.now
        while try await count(pool, ids, condition) < ids.count {
            if ContinuousClock.now - t0 > timeout { throw ValidationError("\(what) did not happen within \(timeout)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// One victim worker claims `jobs` sleep jobs, gets `signal` while they run; measures the time until every one is
    /// queued again, then a rescuer runs them and each must have completed exactly once.
    func measure(signal: Int32, store: JobStore, pool: PostgresPool, environment: [String: String]) async throws -> Recovery {
        let victimID = "bench-victim-\(UUID().uuidString.prefix(8).lowercased())"
        // Sleep jobs long enough that the victim still holds them all when it is signalled.
        let ids = try await store.enqueueBulk(
            org: UUID(), kind: "sleep", payloads: Array(repeating: #"{"ms":\#(sleepMs)}"#, count: jobs), priority: 999)
        let slots = ["EXTRACTION_MAX_CONCURRENCY": "\(jobs)", "WORKER_CLAIM_BATCH": "\(jobs)"]
        let victim = try Self.start("worker", environment: environment.merging(slots) { _, n in n }.merging(["WORKER_ID": victimID]) { _, n in n })
        defer {
            kill(victim.processIdentifier, SIGCONT)
            Self.stop(victim)
        }
        try await waitFor(pool, ids, "status = 'processing' AND worker_id = '\(victimID)'", timeout: .seconds(30), what: "the victim's claim")
        kill(victim.processIdentifier, signal)
        let t0 = ContinuousClock.now
        try await waitFor(pool, ids, "status = 'queued'", timeout: .seconds(180), what: "the recovery")
        let seconds = (ContinuousClock.now - t0).seconds
        if signal == SIGSTOP { kill(victim.processIdentifier, SIGCONT) }  // its late completions must be fenced

        let rescuer = try Self.start("worker", environment: environment.merging(slots) { _, n in n })
        defer { Self.stop(rescuer) }
        try await waitFor(pool, ids, "status = 'completed'", timeout: .seconds(120), what: "the rescue")
        try await Task.sleep(for: .milliseconds(Int64(max(sleepMs, 1_000))))  // room for a fenced late completion
        let completions =
            try await pool.query(
                "SELECT count(*) AS n FROM quarry.job_metrics WHERE job_id = ANY($1::uuid[]) AND status = 'completed'", [ids]
            ).first?.int("n") ?? 0
        return Recovery(secondsToQueued: seconds, completedOnce: completions == jobs, completions: completions)
    }
}
