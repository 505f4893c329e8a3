import Alerts
import ArgumentParser
import Foundation
import Models
import Postgres
import Queue

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks that print figures.",
        subcommands: [
            QueueBench.self, FairnessBench.self, CrashBench.self, ExtractBench.self, RowsBench.self, XLSXBench.self, CommitBench.self,
        ])
}

/// `quarry bench queue`: enqueue N no-op jobs, drain them with W worker processes, then measure pickup latency
/// into the idle fleet; optionally the same drain again while another session holds an old snapshot
/// (`--old-snapshot`), and pgqueuer's drain of the same N jobs on the same database (`--pgqueuer-python`).
/// Refuses a non-durable cluster unless `--allow-non-durable`. The last line is one JSON object.
struct QueueBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "queue", abstract: "Queue throughput and pickup latency.")
    @OptionGroup var db: DatabaseOptions
    @Option var jobs = 50_000
    @Option var workers = 2
    @Option(help: "Jobs claimed per call.") var batch = 500
    @Option(help: "Job slots per worker (default 2 × batch).") var concurrency: Int?
    @Option(help: "Pickup samples.") var samples = 200
    @Option(help: "Other orgs, each with one queued job of a kind the fleet does not take (a parked or scheduled job).")
    var parkedOrgs = 0
    @Flag(help: "Drain a second time while another session holds a snapshot open; prints ratio_to_clean.")
    var oldSnapshot = false
    @Option(
        help:
            "With --old-snapshot: clean and held drains alternate this many times; the ratios are the medians of the rounds' ratios (the machine drifts between runs)."
    )
    var rounds = 1
    @Flag(help: "Run on a cluster with fsync or synchronous_commit off (figures are then not durable ones).")
    var allowNonDurable = false
    @Option(help: "Python of a virtualenv with pgqueuer and asyncpg: run pgqueuer's drain of the same N jobs too.")
    var pgqueuerPython: String?
    @Option(help: "The peer script (shared/bench/pgqueuer_bench.py).")
    var pgqueuerScript = "../shared/bench/pgqueuer_bench.py"
    @Option(help: "First worker /metrics port (claim timings are read from each worker).") var metricsPort = 19_610

    /// What one drain measured.
    struct Drain {
        var seconds: Double
        var claimP50Ms: Double
        var claimP99Ms: Double
        var jobsPerSecond: Int
        /// CPU the workers and the database spent per job (µs, user + system), nil when the database is not local.
        var workerCPUMicrosPerJob: Double
        var databaseCPUMicrosPerJob: Double?
    }

    func run() async throws {
        let pool = try db.pool(size: 2)
        let store = JobStore(pool: pool)
        let settings = try await pool.query(
            "SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sc"
        ).first
        let durable = settings?.string("fsync") == "on" && settings?.string("sc") != "off"
        guard durable || allowNonDurable else {
            throw ValidationError(
                "this cluster has fsync=\(settings?.string("fsync") ?? "?"), synchronous_commit=\(settings?.string("sc") ?? "?"): "
                    + "run on a durable cluster (scripts/bench-queue starts one) or pass --allow-non-durable")
        }
        print("cluster: fsync=\(settings?.string("fsync") ?? "?"), synchronous_commit=\(settings?.string("sc") ?? "?")")

        // Clean and held drains alternate, so drift between runs lands on both sides alike.
        var cleanDrains: [Drain] = []
        var heldDrains: [Drain] = []
        for _ in 0..<(oldSnapshot ? max(1, rounds) : 1) {
            cleanDrains.append(try await drain(pool: pool, store: store, holdSnapshot: false))
            if oldSnapshot { heldDrains.append(try await drain(pool: pool, store: store, holdSnapshot: true)) }
        }
        let clean = cleanDrains[0]
        let pickups = try await pickup(pool: pool, store: store)
        try await pool.query("DELETE FROM quarry.jobs WHERE kind = 'bench-parked'")
        func pct(_ p: Double) -> Double { pickups.isEmpty ? 0 : pickups[min(pickups.count - 1, Int(Double(pickups.count) * p))] }
        print("pickup:  p50 \(String(format: "%.2f", pct(0.5))) ms, p99 \(String(format: "%.2f", pct(0.99))) ms over \(pickups.count) samples")

        var summary: [String: Any] = [
            "jobs": jobs, "workers": workers, "batch": batch, "durable": durable,
            "drain_jobs_per_s": clean.jobsPerSecond,
            "claim_p50_ms": round2(clean.claimP50Ms), "claim_p99_ms": round2(clean.claimP99Ms),
            "pickup_p50_ms": round2(pct(0.5)), "pickup_p99_ms": round2(pct(0.99)),
            "worker_cpu_us_per_job": round2(clean.workerCPUMicrosPerJob), "parked_orgs": parkedOrgs,
        ]
        if let db = clean.databaseCPUMicrosPerJob { summary["db_cpu_us_per_job"] = round2(db) }
        if let held = heldDrains.first {
            // Per round: held against the clean drain just before it; the medians over the rounds.
            let rates = zip(cleanDrains, heldDrains).map { $0.seconds / $1.seconds }
            let p99s = zip(cleanDrains, heldDrains).map { $0.claimP99Ms > 0 ? $1.claimP99Ms / $0.claimP99Ms : 0 }
            summary["old_snapshot_drain_jobs_per_s"] = held.jobsPerSecond
            summary["old_snapshot_claim_p50_ms"] = round2(held.claimP50Ms)
            summary["old_snapshot_claim_p99_ms"] = round2(held.claimP99Ms)
            summary["ratio_to_clean"] = round2(median(rates))
            summary["claim_p99_ratio_to_clean"] = round2(median(p99s))
            if rates.count > 1 {
                summary["rounds"] = rates.count
                summary["ratio_to_clean_rounds"] = rates.map(round2)
                summary["claim_p99_ratio_to_clean_rounds"] = p99s.map(round2)
                summary["drain_jobs_per_s_rounds"] = cleanDrains.map(\.jobsPerSecond)
                summary["old_snapshot_drain_jobs_per_s_rounds"] = heldDrains.map(\.jobsPerSecond)
            }
        }
        if let python = pgqueuerPython {
            let peer = try runPgqueuer(python: python)
            summary["pgqueuer_drain_jobs_per_s"] = peer
            summary["ratio_to_pgqueuer"] = peer > 0 ? round2(Double(clean.jobsPerSecond) / Double(peer)) : 0
        }
        let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    func round2(_ x: Double) -> Double { (x * 100).rounded() / 100 }

    /// The middle value (the mean of the two middle ones for an even count); 0 for none.
    func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// Enqueues the N jobs, then drains them with a fresh fleet; claim timings come from the workers' `/metrics`.
    func drain(pool: PostgresPool, store: JobStore, holdSnapshot: Bool) async throws -> Drain {
        let kind = "noop"
        // Unfinished no-op jobs (a run interrupted, another fleet) would be drained too, and the wait below counts
        // every one of them: refuse instead of waiting forever.
        let unfinished =
            try await pool.query("SELECT count(*) AS n FROM quarry.jobs WHERE kind = 'noop' AND status IN ('queued','processing')")
            .first?.int("n") ?? 0
        guard unfinished == 0 else {
            throw ValidationError(
                "\(unfinished) 'noop' jobs are queued or processing on this database (an interrupted run, or another fleet): "
                    + "the drain would wait for them; stop that fleet or delete them (DELETE FROM quarry.jobs WHERE kind = 'noop')")
        }
        try await pool.query("DELETE FROM quarry.jobs WHERE kind = 'noop' AND status IN ('completed','cancelled','dead_lettered','failed')")
        try await pool.query("DELETE FROM quarry.job_metrics WHERE kind = 'noop'")
        try await pool.query("VACUUM ANALYZE quarry.jobs")
        // Orgs left in the claim's org set by earlier runs (other benchmarks' orgs, with nothing queued) would make
        // every claim take the multi-org path; the janitor prunes them on each tick, and there is no janitor here.
        try await pool.query("SELECT quarry.prune_queue_orgs()")
        try await pool.query("DELETE FROM quarry.jobs WHERE kind = 'bench-parked'")
        if parkedOrgs > 0 {
            // Orgs with queued work this fleet cannot take stay in the claim's org set: every claim takes the
            // multi-org (round-robin) path.
            try await pool.query(
                "INSERT INTO quarry.jobs (org_id, kind, payload) SELECT gen_random_uuid(), 'bench-parked', '{}' FROM generate_series(1, $1)",
                [parkedOrgs])
        }

        // The old snapshot: a repeatable-read transaction that has read something, open for the whole drain.
        var snapshotHolder: PostgresConnection?
        if holdSnapshot {
            let c = try PostgresConnection(conninfo: try db.resolvedURL(), applicationName: "quarry-bench-old-snapshot")
            try c.query("BEGIN ISOLATION LEVEL REPEATABLE READ")
            try c.query("SELECT count(*) FROM quarry.workers")
            snapshotHolder = c
        }
        defer {
            if let c = snapshotHolder {
                _ = try? c.query("ROLLBACK")
                c.close()
            }
        }

        let t0 = ContinuousClock.now
        var enqueued = 0
        while enqueued < jobs {
            let n = min(5_000, jobs - enqueued)
            enqueued += try await store.enqueueBulk(kind: kind, payloads: Array(repeating: "{}", count: n)).count
        }
        let enqueueSeconds = (ContinuousClock.now - t0).seconds

        let databaseCPUBefore = try await ProcessCPU.databaseSeconds(pool: pool)
        let t1 = ContinuousClock.now
        let fleet = try WorkerFleet.start(
            count: workers,
            environment: [
                "WORKER_KINDS": kind, "WORKER_CLAIM_BATCH": "\(batch)",
                "EXTRACTION_MAX_CONCURRENCY": "\(concurrency ?? batch * 2)", "LOG_LEVEL": "warning",
                "EXTRACTION_POLL_INTERVAL_MS": "200", "DB_POOL_SIZE": "3", "DATABASE_URL": try db.resolvedURL(),
            ],
            metricsPortBase: metricsPort)
        defer { fleet.stop() }
        // Watch the workers' completion counters (cheap), then confirm in the database once they add up: a count
        // over quarry.jobs every few milliseconds would itself take a good share of the database's CPU.
        while true {
            if !fleet.allRunning { throw ValidationError("a worker exited during the benchmark") }
            if (try? await fleet.completedTotal()) ?? 0 >= jobs {
                let left =
                    try await pool.query(
                        "SELECT count(*) AS n FROM quarry.jobs WHERE kind = 'noop' AND status IN ('queued','processing')"
                    ).first?.int("n") ?? 0
                if left == 0 { break }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        let seconds = (ContinuousClock.now - t1).seconds
        let claims = try await fleet.claimQuantiles()
        let workerCPU = fleet.cpuSeconds()
        let databaseCPUAfter = try await ProcessCPU.databaseSeconds(pool: pool)
        fleet.stop()
        let databaseCPU = databaseCPUAfter.map { after in after.total - after.subtracting(databaseCPUBefore) }
        let label = holdSnapshot ? "drain with an old snapshot held" : "drain"
        print("enqueue: \(Int(Double(jobs) / enqueueSeconds)) jobs/s (\(String(format: "%.2f", enqueueSeconds)) s)")
        print(
            "\(label): \(Int(Double(jobs) / seconds)) jobs/s (\(String(format: "%.2f", seconds)) s, incl. worker start); "
                + "claim p50 \(String(format: "%.2f", claims.p50 * 1000)) ms, p99 \(String(format: "%.2f", claims.p99 * 1000)) ms; "
                + "CPU per job: workers \(String(format: "%.1f", workerCPU / Double(jobs) * 1e6)) µs, database "
                + (databaseCPU.map { String(format: "%.1f µs", $0 / Double(jobs) * 1e6) } ?? "not local"))
        return Drain(
            seconds: seconds, claimP50Ms: claims.p50 * 1000, claimP99Ms: claims.p99 * 1000, jobsPerSecond: Int(Double(jobs) / seconds),
            workerCPUMicrosPerJob: workerCPU / Double(jobs) * 1e6, databaseCPUMicrosPerJob: databaseCPU.map { $0 / Double(jobs) * 1e6 })
    }

    /// One job at a time into the idle fleet: enqueue → handler start on the database clock.
    func pickup(pool: PostgresPool, store: JobStore) async throws -> [Double] {
        let kind = "noop"
        let fleet = try WorkerFleet.start(
            count: workers,
            environment: [
                "WORKER_KINDS": kind, "WORKER_CLAIM_BATCH": "\(batch)", "EXTRACTION_MAX_CONCURRENCY": "\(concurrency ?? batch * 2)",
                "LOG_LEVEL": "warning", "EXTRACTION_POLL_INTERVAL_MS": "200", "DB_POOL_SIZE": "3",
                "DATABASE_URL": try db.resolvedURL(),
            ])
        defer { fleet.stop() }
        try await Task.sleep(for: .milliseconds(500))
        var pickups: [Double] = []
        for _ in 0..<samples {
            let id = try await store.enqueue(kind: kind)
            while true {
                let r = try await pool.query(
                    "SELECT status, extract(epoch FROM started_at - created_at) * 1000 AS ms FROM quarry.jobs WHERE id = $1", [id]
                ).first
                if r?.string("status") == "completed", let ms = r?.double("ms") {
                    pickups.append(ms)
                    break
                }
                try await Task.sleep(for: .milliseconds(1))
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        return pickups.sorted()
    }

    /// pgqueuer's enqueue + drain of the same N no-op jobs on the same database (its schema installed if missing).
    func runPgqueuer(python: String) throws -> Int {
        guard FileManager.default.fileExists(atPath: pgqueuerScript) else {
            throw ValidationError("no peer script at \(pgqueuerScript) (--pgqueuer-script)")
        }
        let bin = URL(fileURLWithPath: python).deletingLastPathComponent().appendingPathComponent("pgq").path
        let url = try db.resolvedURL()
        let parts = URLComponents(string: url)
        var env = ProcessInfo.processInfo.environment
        env["PGHOST"] = parts?.host ?? "127.0.0.1"
        env["PGPORT"] = "\(parts?.port ?? 5432)"
        env["PGUSER"] = parts?.user ?? "postgres"
        env["PGDATABASE"] = String((parts?.path ?? "/quarry").dropFirst())
        if let password = parts?.password { env["PGPASSWORD"] = password }
        _ = try runProcess(bin, ["install"], environment: env)  // "already installed" is fine
        let out = try runProcess(python, [pgqueuerScript, url, "\(jobs)", "\(batch)", "\(workers)"], environment: env)
        print(out.trimmingCharacters(in: .whitespacesAndNewlines))
        guard let range = out.range(of: #"drain (\d+) jobs/s"#, options: .regularExpression) else {
            throw ValidationError("pgqueuer printed no drain figure: \(out)")
        }
        return Int(out[range].split(separator: " ")[1]) ?? 0
    }

    func runProcess(_ path: String, _ arguments: [String], environment: [String: String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        p.environment = environment
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// The path of Quarry's executable `name` (`worker`, `api`, `janitor`): `QUARRY_<NAME>_BIN` when set (to bench
/// other builds side by side), else the binary beside this one.
func siblingBinary(_ name: String) -> String {
    if let path = ProcessInfo.processInfo.environment["QUARRY_\(name.uppercased())_BIN"] { return path }
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    return here.appendingPathComponent(name).path
}

/// Worker processes started from the binary beside this one.
final class WorkerFleet: @unchecked Sendable {  // only used from the command's task
    let processes: [Process]
    let metricsPortBase: Int?

    init(processes: [Process], metricsPortBase: Int? = nil) {
        self.processes = processes
        self.metricsPortBase = metricsPortBase
    }

    static func workerBinary() -> String { siblingBinary("worker") }

    /// Starts `count` workers; with `metricsPortBase`, worker i serves `/metrics` on `metricsPortBase + i`.
    static func start(count: Int, environment: [String: String], metricsPortBase: Int? = nil) throws -> WorkerFleet {
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let ps: [Process] = try (0..<count).map { i in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: workerBinary())
            var e = env
            if let base = metricsPortBase { e["METRICS_PORT"] = "\(base + i)" }
            p.environment = e
            try p.run()
            return p
        }
        return WorkerFleet(processes: ps, metricsPortBase: metricsPortBase)
    }

    /// The lines of every worker's `/metrics` that start with `prefix`.
    func metricsLines(prefix: String) async throws -> [Substring] {
        guard let base = metricsPortBase else { return [] }
        let client = CurlHTTPClient()
        var lines: [Substring] = []
        for i in processes.indices {
            let response = try await client.send(WebhookRequest(url: "http://127.0.0.1:\(base + i)/metrics", method: "GET"))
            lines += String(decoding: response.body, as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix(prefix) }
        }
        return lines
    }

    /// Jobs the workers report completed (`quarry_worker_jobs_completed_total`, summed).
    func completedTotal() async throws -> Int {
        try await metricsLines(prefix: "quarry_worker_jobs_completed_total").reduce(0) { $0 + (Int($1.split(separator: " ").last ?? "") ?? 0) }
    }

    /// The claim-duration quantiles the workers report (`quarry_worker_claim_seconds`), in seconds: the median of
    /// their medians and the largest p99.
    func claimQuantiles() async throws -> (p50: Double, p99: Double) {
        var p50s: [Double] = []
        var p99 = 0.0
        for line in try await metricsLines(prefix: "quarry_worker_claim_seconds{") {
            let value = Double(line.split(separator: " ").last ?? "") ?? 0
            if line.contains("quantile=\"0.5\"") { p50s.append(value) }
            if line.contains("quantile=\"0.99\"") { p99 = max(p99, value) }
        }
        p50s.sort()
        return (p50s.isEmpty ? 0 : p50s[p50s.count / 2], p99)
    }

    var allRunning: Bool { processes.allSatisfy(\.isRunning) }

    /// User + system CPU seconds the running workers have used so far.
    func cpuSeconds() -> Double { processes.reduce(0) { $0 + (ProcessCPU.seconds(pid: $1.processIdentifier) ?? 0) } }

    func stop() {
        for p in processes where p.isRunning { p.terminate() }
        for p in processes { p.waitUntilExit() }
    }
}

/// CPU time of local processes from `/proc/<pid>/stat`.
enum ProcessCPU {
    /// CPU seconds per database server process, by pid.
    struct Sample {
        var byPID: [Int32: Double]
        var total: Double { byPID.values.reduce(0, +) }
        /// The CPU that the processes present in both samples had already used in `earlier` (so `total - this` is the
        /// CPU used between the two samples by processes alive at the end; backends that exited in between are lost).
        func subtracting(_ earlier: Sample?) -> Double {
            guard let earlier else { return 0 }
            return byPID.keys.reduce(0) { $0 + (earlier.byPID[$1] ?? 0) }
        }
    }

    /// User + system CPU seconds of one process, nil if it is not visible.
    static func seconds(pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name: state is field 3, utime 14, stime 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Every server process of the database (backends and background processes), when the server runs on this host.
    static func databaseSeconds(pool: PostgresPool) async throws -> Sample? {
        let pids = try await pool.query("SELECT pid FROM pg_stat_activity").compactMap { $0.int("pid").map(Int32.init) }
        var byPID: [Int32: Double] = [:]
        for pid in pids { if let s = seconds(pid: pid) { byPID[pid] = s } }
        return byPID.isEmpty ? nil : Sample(byPID: byPID)
    }
}
