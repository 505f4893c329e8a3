import ArgumentParser
import Foundation
import Models
import Postgres
import Queue

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks that print figures.",
        subcommands: [QueueBench.self, FairnessBench.self, ExtractBench.self, RowsBench.self, XLSXBench.self, CommitBench.self])
}

/// `quarry bench queue`: enqueue N no-op jobs, drain them with W worker processes, then
/// measure pickup latency into the idle fleet. The last line is one JSON object.
struct QueueBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "queue", abstract: "Queue throughput and pickup latency.")
    @OptionGroup var db: DatabaseOptions
    @Option var jobs = 50_000
    @Option var workers = 2
    @Option(help: "Jobs claimed per call.") var batch = 500
    @Option(help: "Job slots per worker (default 2 × batch).") var concurrency: Int?
    @Option(help: "Pickup samples.") var samples = 200

    func run() async throws {
        let pool = try db.pool(size: 2)
        let store = JobStore(pool: pool)
        let kind = "noop"
        try await pool.query("DELETE FROM quarry.jobs WHERE kind = 'noop' AND status IN ('completed','cancelled','dead_lettered','failed')")
        try await pool.query("DELETE FROM quarry.job_metrics WHERE kind = 'noop'")
        try await pool.query("VACUUM ANALYZE quarry.jobs")

        // Enqueue.
        let t0 = ContinuousClock.now
        var enqueued = 0
        while enqueued < jobs {
            let n = min(5_000, jobs - enqueued)
            enqueued += try await store.enqueueBulk(kind: kind, payloads: Array(repeating: "{}", count: n)).count
        }
        let enqueueSeconds = (ContinuousClock.now - t0).seconds

        // Drain with W worker processes.
        let t1 = ContinuousClock.now
        let fleet = try WorkerFleet.start(
            count: workers,
            environment: [
                "WORKER_KINDS": kind, "WORKER_CLAIM_BATCH": "\(batch)",
                "EXTRACTION_MAX_CONCURRENCY": "\(concurrency ?? batch * 2)", "LOG_LEVEL": "warning",
                "EXTRACTION_POLL_INTERVAL_MS": "200", "DB_POOL_SIZE": "3",
            ])
        defer { fleet.stop() }
        while true {
            let left =
                try await pool.query(
                    "SELECT count(*) AS n FROM quarry.jobs WHERE kind = 'noop' AND status IN ('queued','processing')"
                ).first?.int("n") ?? 0
            if left == 0 { break }
            if !fleet.allRunning { throw ValidationError("a worker exited during the benchmark") }
            try await Task.sleep(for: .milliseconds(5))
        }
        let drainSeconds = (ContinuousClock.now - t1).seconds

        // Pickup: one job into the idle fleet, enqueue → handler start (database clock).
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
        pickups.sort()
        func pct(_ p: Double) -> Double { pickups.isEmpty ? 0 : pickups[min(pickups.count - 1, Int(Double(pickups.count) * p))] }
        fleet.stop()

        print("jobs \(jobs), workers \(workers), batch \(batch)")
        print("enqueue: \(Int(Double(jobs) / enqueueSeconds)) jobs/s (\(String(format: "%.2f", enqueueSeconds)) s)")
        print("drain:   \(Int(Double(jobs) / drainSeconds)) jobs/s (\(String(format: "%.2f", drainSeconds)) s, incl. worker start)")
        print("pickup:  p50 \(String(format: "%.2f", pct(0.5))) ms, p99 \(String(format: "%.2f", pct(0.99))) ms over \(pickups.count) samples")
        let summary: [String: Any] = [
            "enqueue_jobs_per_s": Int(Double(jobs) / enqueueSeconds),
            "drain_jobs_per_s": Int(Double(jobs) / drainSeconds),
            "pickup_p50_ms": (pct(0.5) * 100).rounded() / 100,
            "pickup_p99_ms": (pct(0.99) * 100).rounded() / 100,
        ]
        let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}

/// Worker processes started from the binary beside this one.
final class WorkerFleet: @unchecked Sendable {  // only used from the command's task
    let processes: [Process]

    init(processes: [Process]) { self.processes = processes }

    static func workerBinary() -> String {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        return ProcessInfo.processInfo.environment["QUARRY_WORKER_BIN"] ?? here.appendingPathComponent("worker").path
    }

    static func start(count: Int, environment: [String: String]) throws -> WorkerFleet {
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let ps: [Process] = try (0..<count).map { _ in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: workerBinary())
            p.environment = env
            try p.run()
            return p
        }
        return WorkerFleet(processes: ps)
    }

    var allRunning: Bool { processes.allSatisfy(\.isRunning) }

    func stop() {
        for p in processes where p.isRunning { p.terminate() }
        for p in processes { p.waitUntilExit() }
    }
}
