import ArgumentParser
import Foundation
import Models
import Postgres
import Queue

/// `quarry bench fairness`: org A enqueues a backlog of no-op jobs, then org B enqueues bursts of a few jobs
/// while A drains. Prints B's pickup latency (enqueue → claim, database clock) and the total drain rate, with
/// the fair claim and with the global order (`WORKER_FAIR_CLAIM=0`) in the same run. The last line is JSON.
struct FairnessBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fairness", abstract: "Per-org fairness of the claim.")
    @OptionGroup var db: DatabaseOptions
    @Option(help: "Org A's backlog.") var jobs = 50_000
    @Option(help: "Org B's jobs per burst.") var burst = 10
    @Option(help: "Bursts from org B while A drains.") var bursts = 5
    @Option var workers = 2
    @Option(help: "Jobs claimed per call.") var batch = 500

    struct Figures {
        var pickups: [Double]
        var drainSeconds: Double
        var total: Int
        func pct(_ p: Double) -> Double { pickups.isEmpty ? 0 : pickups[min(pickups.count - 1, Int(Double(pickups.count) * p))] }
    }

    func run() async throws {
        let pool = try db.pool(size: 2)
        let store = JobStore(pool: pool)
        var results: [String: Figures] = [:]
        for mode in ["unfair", "fair"] {
            results[mode] = try await measure(fair: mode == "fair", pool: pool, store: store)
            let f = results[mode]!
            print(
                "\(mode): B pickup p50 \(String(format: "%.1f", f.pct(0.5))) ms, p99 \(String(format: "%.1f", f.pct(0.99))) ms "
                    + "(\(f.pickups.count) jobs); drain \(Int(Double(f.total) / f.drainSeconds)) jobs/s")
        }
        let fair = results["fair"]!
        let unfair = results["unfair"]!
        let summary: [String: Any] = [
            "b_pickup_p50_ms": (fair.pct(0.5) * 10).rounded() / 10, "b_pickup_p99_ms": (fair.pct(0.99) * 10).rounded() / 10,
            "unfair_b_pickup_p50_ms": (unfair.pct(0.5) * 10).rounded() / 10,
            "unfair_b_pickup_p99_ms": (unfair.pct(0.99) * 10).rounded() / 10,
            "drain_jobs_per_s": Int(Double(fair.total) / fair.drainSeconds),
            "unfair_drain_jobs_per_s": Int(Double(unfair.total) / unfair.drainSeconds),
            "drain_ratio": ((unfair.drainSeconds / fair.drainSeconds) * 1000).rounded() / 1000,
        ]
        let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    func measure(fair: Bool, pool: PostgresPool, store: JobStore) async throws -> Figures {
        let a = UUID()
        let b = UUID()
        try await pool.query("DELETE FROM quarry.jobs WHERE kind = 'noop'")
        try await pool.query("DELETE FROM quarry.job_metrics WHERE kind = 'noop'")
        try await pool.query("VACUUM ANALYZE quarry.jobs")
        var enqueued = 0
        while enqueued < jobs {
            let n = min(5_000, jobs - enqueued)
            enqueued += try await store.enqueueBulk(org: a, kind: "noop", payloads: Array(repeating: "{}", count: n)).count
        }
        let t0 = ContinuousClock.now
        let fleet = try WorkerFleet.start(
            count: workers,
            environment: [
                "WORKER_KINDS": "noop", "WORKER_CLAIM_BATCH": "\(batch)", "EXTRACTION_MAX_CONCURRENCY": "\(batch * 2)",
                "LOG_LEVEL": "warning", "EXTRACTION_POLL_INTERVAL_MS": "200", "DB_POOL_SIZE": "3", "WORKER_FAIR_CLAIM": fair ? "1" : "0",
            ])
        defer { fleet.stop() }
        func left() async throws -> Int {
            try await pool.query("SELECT count(*) AS n FROM quarry.jobs WHERE kind = 'noop' AND status IN ('queued','processing')")
                .first?.int("n") ?? 0
        }
        // B's bursts arrive while A's backlog is being drained.
        while try await left() > jobs * 9 / 10 { try await Task.sleep(for: .milliseconds(5)) }
        var bJobs: [UUID] = []
        for _ in 0..<bursts {
            bJobs += try await store.enqueueBulk(org: b, kind: "noop", payloads: Array(repeating: "{}", count: burst))
            try await Task.sleep(for: .milliseconds(150))
        }
        while try await left() > 0 {
            if !fleet.allRunning { throw ValidationError("a worker exited during the benchmark") }
            try await Task.sleep(for: .milliseconds(5))
        }
        let drain = (ContinuousClock.now - t0).seconds
        fleet.stop()
        let pickups = try await pool.query(
            "SELECT extract(epoch FROM started_at - created_at) * 1000 AS ms FROM quarry.jobs WHERE id = ANY($1::uuid[]) ORDER BY 1",
            [bJobs]
        ).compactMap { $0.double("ms") }
        return Figures(pickups: pickups, drainSeconds: drain, total: jobs + bJobs.count)
    }
}
