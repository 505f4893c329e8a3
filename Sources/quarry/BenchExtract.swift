import ArgumentParser
import Foundation
import Models
import Postgres
import Queue
import Storage

/// `quarry bench extract`: an N-row, 10-column supplier CSV end to end — from the first byte of a `curl` upload
/// through a real api to the job `completed` by a real worker (``ExtractBench/runThroughAPI``) — against
/// `psql \copy` of the same file into a plain typed, logged table. With `--stored` it measures the older
/// interval instead: an upload already in the file store to `completed` (plus the `result_rows`-shaped copy).
/// The last line is one JSON object.
struct ExtractBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "extract", abstract: "Extraction throughput vs COPY.")
    @OptionGroup var db: DatabaseOptions
    @Option var rows = 1_000_000
    @Option(help: "Where to write the generated CSV.") var dir = NSTemporaryDirectory()
    @Flag(help: "Upload first, then create the job (no parsing while the upload arrives; what older api binaries support).")
    var twoStep = false
    @Flag(help: "Measure from an upload already stored (the interval before issue 13).") var stored = false

    /// Jobs already queued or running on this database (another fleet, or tests' leftovers) are not the
    /// benchmark's, but every claim of its worker still probes their orgs: with ~100k of them in ~380 orgs a claim
    /// cost ~50 ms of PostgreSQL CPU, 2.1 s per 1M-row run on these 2 cores. Said on stderr, so figures from such a
    /// database are not compared with clean ones by mistake.
    static func warnAboutOtherJobs(pool: PostgresPool) async throws {
        let rows = try await pool.query(
            "SELECT count(*) AS n, count(DISTINCT org_id) AS orgs FROM quarry.jobs WHERE status IN ('queued','processing')")
        guard let n = rows.first?.int("n"), n > 0 else { return }
        let orgs = rows.first?.int("orgs") ?? 0
        FileHandle.standardError.write(
            Data(
                ("warning: \(n) jobs of \(orgs) orgs are queued or processing on this database; the worker's claims probe their orgs "
                    + "and share the cores, so these figures are not comparable with a clean database's\n").utf8))
    }

    func run() async throws {
        let pool = try db.pool(size: 2)
        try await Self.warnAboutOtherJobs(pool: pool)
        let path = dir + "/quarry-bench-\(rows).csv"
        let size = try Self.generate(rows: rows, path: path)
        print("generated \(rows) rows, \(size / 1_048_576) MB")

        // Physical limit: psql \copy into an equivalent typed table.
        try await pool.query("DROP TABLE IF EXISTS quarry_bench_copy")
        try await pool.query(
            """
            CREATE TABLE quarry_bench_copy (sku text, name text, description text, price numeric(18,4), currency text,
              quantity numeric(18,4), unit text, category text, brand text, barcode text)
            """)
        let url = db.databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"] ?? ""
        let copySeconds = try Self.psql(url, "\\copy quarry_bench_copy FROM '\(path)' CSV HEADER")
        try await pool.query("DROP TABLE IF EXISTS quarry_bench_copy")
        print("psql \\copy: \(String(format: "%.2f", copySeconds)) s")
        if !stored { return try await throughAPI(path: path, size: size, copySeconds: copySeconds, url: url, pool: pool) }

        // Store the upload (1 MiB chunks).
        let upload = try await Self.store(path: path, size: size, pool: pool)
        let run = try await Self.runThroughWorker(upload: upload, size: size, rows: rows, pool: pool, resultTableCopyURL: url)
        let seconds = run.seconds
        try? FileManager.default.removeItem(atPath: path)

        print("extract: \(String(format: "%.2f", seconds)) s, \(Int(Double(rows) / seconds)) rows/s, worker peak RSS \(run.rss) MB")
        func rounded(_ x: Double) -> Double { (x * 100).rounded() / 100 }
        var summary: [String: Any] = [
            "rows": rows, "seconds": rounded(seconds), "rows_per_s": Int(Double(rows) / seconds),
            "copy_seconds": rounded(copySeconds), "ratio_to_copy": rounded(seconds / copySeconds),
            "worker_peak_rss_mb": run.rss, "worker_cpu_seconds": rounded(run.cpuSeconds),
        ]
        if let shaped = run.resultTableCopySeconds {
            summary["copy_result_table_seconds"] = rounded(shaped)
            summary["ratio_to_result_table_copy"] = rounded(seconds / shaped)
        }
        print(String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]), as: UTF8.self))
    }

    /// The user's interval: upload start to `completed`, through the api (see ``runThroughAPI``).
    func throughAPI(path: String, size: Int, copySeconds: Double, url: String, pool: PostgresPool) async throws {
        let run = try await Self.runThroughAPI(path: path, size: size, rows: rows, streaming: !twoStep, databaseURL: url, pool: pool)
        try? FileManager.default.removeItem(atPath: path)
        print("upload: \(String(format: "%.2f", run.uploadSeconds)) s (\(Int(Double(size) / 1_048_576 / run.uploadSeconds)) MB/s)")
        print("worker CPU: \(String(format: "%.2f", run.cpuSeconds)) s; worker phases (ms): \(run.phases)")
        print("upload start to completed: \(String(format: "%.2f", run.seconds)) s, worker peak RSS \(run.rss) MB")
        try await Self.deleteRun(job: run.job, upload: run.upload, pool: pool)
        func rounded(_ x: Double) -> Double { (x * 100).rounded() / 100 }
        let phases = (try? JSONSerialization.jsonObject(with: Data(run.phases.utf8))) ?? [String: Int]()
        let summary: [String: Any] = [
            "rows": rows, "seconds": rounded(run.seconds), "rows_per_s": Int(Double(rows) / run.seconds),
            "upload_seconds": rounded(run.uploadSeconds), "copy_seconds": rounded(copySeconds),
            "ratio_to_copy": rounded(run.seconds / copySeconds), "worker_peak_rss_mb": run.rss, "phases_ms": phases,
            "worker_cpu_seconds": rounded(run.cpuSeconds), "streaming": !twoStep,
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]), as: UTF8.self))
    }

    /// Removes what one measured run left: its row blocks, its result and its upload.
    static func deleteRun(job: UUID, upload: UUID, pool: PostgresPool) async throws {
        try await pool.query("DELETE FROM quarry.result_blocks WHERE job_id = $1", [job])
        try await pool.query("DELETE FROM quarry.extraction_results WHERE job_id = $1", [job])
        try await pool.query("DELETE FROM quarry.uploads WHERE id = $1", [upload])
    }

    static func generate(rows: Int, path: String) throws -> Int {
        FileManager.default.createFile(atPath: path, contents: nil)
        guard let out = FileHandle(forWritingAtPath: path) else { throw ValidationError("cannot write \(path)") }
        defer { try? out.close() }
        // Bytes are built directly (no String interpolation): the generator must not dominate the benchmark.
        var buf: [UInt8] = []
        buf.reserveCapacity((1 << 20) + 512)
        buf.append(contentsOf: "sku,name,description,price,currency,quantity,unit,category,brand,barcode\n".utf8)
        var size = 0
        let units: [[UInt8]] = ["pcs", "box", "kg", "m"].map { Array($0.utf8) }
        let cats: [[UInt8]] = ["Fasteners", "Tools", "Electrical", "Plumbing"].map { Array($0.utf8) }
        let sku = Array("SKU-".utf8), product = Array(",Product ".utf8), quality = Array(",\"Quality item ".utf8)
        let durable = Array(", durable\",".utf8), eur = Array(",EUR,".utf8), brand = Array(",Brand ".utf8)
        var digits = [UInt8](repeating: 0, count: 24)
        func number(_ value: Int) {
            var v = value, n = 0
            repeat { digits[n] = UInt8(truncatingIfNeeded: 48 + v % 10); v /= 10; n += 1 } while v > 0
            while n > 0 { n -= 1; buf.append(digits[n]) }
        }
        let comma = UInt8(ascii: ","), dot = UInt8(ascii: "."), newline = UInt8(ascii: "\n")
        for i in 0..<rows {
            // SKU-i,Product i,"Quality item i, durable",(i%997).(i%100),EUR,i%500,unit,category,Brand i%50,4e12+i
            buf.append(contentsOf: sku); number(i)
            buf.append(contentsOf: product); number(i)
            buf.append(contentsOf: quality); number(i)
            buf.append(contentsOf: durable); number(i % 997); buf.append(dot); number(i % 100)
            buf.append(contentsOf: eur); number(i % 500)
            buf.append(comma); buf.append(contentsOf: units[i % 4])
            buf.append(comma); buf.append(contentsOf: cats[i % 4])
            buf.append(contentsOf: brand); number(i % 50)
            buf.append(comma); number(4_000_000_000_000 + i)
            buf.append(newline)
            if buf.count > 1 << 20 {
                out.write(Data(buf))
                size += buf.count
                buf.removeAll(keepingCapacity: true)
            }
        }
        out.write(Data(buf))
        return size + buf.count
    }

    /// Stores the file as an upload through the file store (1 MiB chunks), as the API would.
    static func store(path: String, size: Int, pool: PostgresPool) async throws -> UUID {
        let files = PostgresFileStore(pool: pool)
        let id = try await files.createUpload(org: JobStore.systemOrg, fileName: (path as NSString).lastPathComponent, contentType: nil)
        guard let h = FileHandle(forReadingAtPath: path) else { throw ValidationError("cannot read \(path)") }
        defer { try? h.close() }
        var seq = 0
        while true {
            let chunk = h.readData(ofLength: PostgresFileStore.chunkSize)
            if chunk.isEmpty { break }
            try await files.append(uploadID: id, seq: seq, chunk: Array(chunk))
            seq += 1
        }
        try await files.finish(uploadID: id, sizeBytes: Int64(size), sha256: try shellSHA256(path), format: nil)
        return id
    }

    /// What one run through a worker measured.
    struct WorkerRun {
        var seconds: Double
        var rss: Int
        var cpuSeconds: Double
        /// The job summary's `phases_ms` (JSON text).
        var phases: String
        /// psql `\copy` (binary) of the stored row blocks into a copy of `quarry.result_blocks` (same columns, types,
        /// key, compression, logging).
        var resultTableCopySeconds: Double?
    }

    /// Runs psql with one command; returns the wall-clock seconds it took.
    @discardableResult
    static func psql(_ url: String, _ command: String) throws -> Double {
        let t0 = ContinuousClock.now
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        p.arguments = [url, "-v", "ON_ERROR_STOP=1", "-qc", command]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ValidationError("psql failed: \(command.prefix(80))") }
        return (ContinuousClock.now - t0).seconds
    }

    /// The same row blocks the worker stored, exported and loaded again by psql (binary COPY, as the worker sends
    /// them) into a table shaped like `quarry.result_blocks` (logged, same key, lz4): PostgreSQL's own cost for them.
    static func resultTableCopy(job: UUID, url: String, pool: PostgresPool) async throws -> Double {
        let file = NSTemporaryDirectory() + "/quarry-bench-result-\(job.uuidString.lowercased()).bin"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let columns =
            "job_id, first_row, last_row, row_count, valid_count, invalid_count, n_new, n_updated, n_unchanged, n_held, issue_codes, rows"
        try psql(
            url,
            "\\copy (SELECT \(columns) FROM quarry.result_blocks WHERE job_id = '\(job.uuidString.lowercased())') TO '\(file)' (FORMAT binary)")
        try await pool.query("DROP TABLE IF EXISTS quarry_bench_result_copy")
        try await pool.query("CREATE TABLE quarry_bench_result_copy (LIKE quarry.result_blocks INCLUDING ALL)")
        let seconds = try psql(url, "\\copy quarry_bench_result_copy (\(columns)) FROM '\(file)' (FORMAT binary)")
        try await pool.query("DROP TABLE IF EXISTS quarry_bench_result_copy")
        return seconds
    }

    /// Runs one stored upload through a real `worker` process; checks every row arrived, cleans up.
    /// With `resultTableCopyURL`, also times psql loading the same row blocks into a table shaped like `result_blocks`.
    static func runThroughWorker(
        upload: UUID, size: Int, rows: Int, pool: PostgresPool, environment extra: [String: String] = [:],
        resultTableCopyURL: String? = nil
    ) async throws -> WorkerRun {
        let store = JobStore(pool: pool)
        var environment = [
            "WORKER_KINDS": "extract", "LOG_LEVEL": "warning", "EXTRACTION_POLL_INTERVAL_MS": "50",
            "EXTRACTION_MAX_FILE_SIZE_MB": "\(max(100, size / 1_048_576 + 10))", "EXTRACTION_MAX_ROWS": "\(rows + 10)",
        ]
        environment.merge(extra) { _, new in new }
        let fleet = try WorkerFleet.start(count: 1, environment: environment)
        defer { fleet.stop() }
        try await Task.sleep(for: .milliseconds(300))
        // An interrupted earlier run can leave a result for the same bytes, which the worker would reuse from
        // its cache instead of extracting: drop results of other uploads of this file first.
        try await pool.query(
            """
            WITH stale AS (
                DELETE FROM quarry.extraction_results r USING quarry.uploads u, quarry.uploads this
                WHERE this.id = $1 AND u.sha256 = this.sha256 AND u.id <> this.id AND r.upload_id = u.id
                RETURNING r.job_id)
            DELETE FROM quarry.result_blocks rb USING stale WHERE rb.job_id = stale.job_id
            """, [upload])
        let cpuBefore = fleet.cpuSeconds()
        let t1 = ContinuousClock.now
        let job = try await store.enqueue(
            kind: "extract", payload: #"{"upload_id":"\#(upload.uuidString.lowercased())","config":{"currency":"EUR"}}"#)
        while true {
            let r = try await pool.query("SELECT status, error::text AS e FROM quarry.jobs WHERE id = $1", [job]).first
            let status = r?.string("status") ?? ""
            if ["completed", "dead_lettered", "cancelled"].contains(status) {
                if status != "completed" { throw ValidationError("extract job ended \(status): \(r?.string("e") ?? "")") }
                break
            }
            if !fleet.allRunning { throw ValidationError("worker exited during the benchmark") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let seconds = (ContinuousClock.now - t1).seconds
        let rss = fleet.processes.first.map { peakRSSMegabytes(pid: $0.processIdentifier) } ?? 0
        let cpu = fleet.cpuSeconds() - cpuBefore
        print("worker CPU: \(String(format: "%.2f", cpu)) s (user + system, during the job)")
        fleet.stop()
        let stored =
            try await pool.query("SELECT coalesce(sum(row_count), 0) AS n FROM quarry.result_blocks WHERE job_id = $1", [job]).first?.int("n") ?? 0
        let summary = try await pool.query(
            "SELECT summary->>'phases_ms' AS p, summary->>'cached' AS cached FROM quarry.extraction_results WHERE job_id = $1", [job]
        ).first
        if summary?.string("cached") == "true" { throw ValidationError("the worker reused a cached result, so nothing was measured") }
        print("worker phases (ms): \(summary?.string("p") ?? "?")")
        guard stored == rows else { throw ValidationError("stored \(stored) rows, expected \(rows)") }
        var shaped: Double?
        if let url = resultTableCopyURL {
            shaped = try await resultTableCopy(job: job, url: url, pool: pool)
            print("psql \\copy of the same row blocks into a table shaped like quarry.result_blocks: \(String(format: "%.2f", shaped ?? 0)) s")
        }
        try await deleteRun(job: job, upload: upload, pool: pool)
        return WorkerRun(seconds: seconds, rss: rss, cpuSeconds: cpu, phases: summary?.string("p") ?? "{}", resultTableCopySeconds: shaped)
    }

    static func shellSHA256(_ path: String) throws -> String {
        let p = Process()
        let pipe = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [path]
        p.standardOutput = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: out, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
    }

    /// VmHWM (peak resident set) of a running process, in MB.
    static func peakRSSMegabytes(pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
            return kb / 1024
        }
        return 0
    }
}
