import ArgumentParser
import Extraction
import ExtractionJobs
import Foundation
import Models
import Postgres

/// `quarry bench xlsx`: an N-row, 10-column supplier XLSX (``generate(rows:path:)``) end to end — from the first
/// byte of a `curl` upload through a real api (`?extract=true`) to the job `completed` by a real worker
/// (``ExtractBench/runThroughAPI(path:size:rows:streaming:databaseURL:pool:contentType:environment:)``) — against
/// python-calamine reading the same file in the same run (`ratio_to_calamine` = end-to-end seconds ÷ calamine's).
/// Also, in-process, the `XLSXReader` alone (best of `--reader-passes`) and the worker's row path without a database
/// (read, map, validate, COPY encoding; best of `--pipeline-passes`), and, with `--openpyxl`, openpyxl read-only.
/// `--stored` measures the older interval instead (an upload already stored → `completed`). The last line is one
/// JSON object.
struct XLSXBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xlsx", abstract: "XLSX end to end (upload start → completed) vs python-calamine read-only.")
    @OptionGroup var db: DatabaseOptions
    @Option var rows = 200_000
    @Option(help: "Where to write the generated XLSX.") var dir = NSTemporaryDirectory()
    @Option(help: "In-process reader passes; the best is reported (0: none).") var readerPasses = 1
    @Option(help: "In-process passes of the worker's row path without a database (read, map, validate, encode).")
    var pipelinePasses = 1
    @Flag(help: "Skip the end-to-end run (no database needed).") var skipEndToEnd = false
    @Flag(help: "Upload first, then create the job (what api binaries before issue 13 can do).") var twoStep = false
    @Flag(help: "Measure from an upload already stored (the interval before issue 13).") var stored = false
    @Flag(help: "Also time openpyxl read-only (slow: ~15 s for 200k rows).") var openpyxl = false
    @Flag(help: "Keep the generated file.") var keep = false

    /// The worker's fixed per-entry inflate cap (`ExtractionLimits.maxUnpackedEntryBytes` default).
    static let workerEntryCap: Int64 = 200 * 1024 * 1024

    func run() async throws {
        let path = dir + "/quarry-bench-\(rows).xlsx"
        let t0 = ContinuousClock.now
        let gen = try Self.generate(rows: rows, path: path)
        print(
            "generated \(rows) rows: \(gen.fileBytes / 1_048_576) MB xlsx, sheet1.xml \(gen.sheetBytes / 1_048_576) MB, "
                + "sharedStrings.xml \(gen.sharedBytes / 1_048_576) MB (\(String(format: "%.2f", (ContinuousClock.now - t0).seconds)) s)")
        defer { if !keep { try? FileManager.default.removeItem(atPath: path) } }
        func rounded(_ x: Double, _ places: Double = 100) -> Double { (x * places).rounded() / places }
        var summary: [String: Any] = ["rows": rows]

        // The reader alone, in-process.
        var best = Double.infinity
        for pass in 0..<max(0, readerPasses) {
            let (seen, seconds) = try Self.readAll(path: path, rows: rows)
            guard seen == rows + 1 else { throw ValidationError("reader delivered \(seen) rows, expected \(rows + 1) (header + data)") }
            print("reader pass \(pass + 1): \(String(format: "%.3f", seconds)) s, \(Int(Double(rows) / seconds)) rows/s")
            best = min(best, seconds)
        }
        if best.isFinite { summary["reader_rows_per_s"] = Int(Double(rows) / best) }
        // The worker's share without PostgreSQL: read → map/validate → COPY encoding (bytes dropped).
        best = .infinity
        for pass in 0..<max(0, pipelinePasses) {
            let (figures, cpu) = try PipelineBenchmark.timedPass(path: path, format: .xlsx)
            guard figures.rows == rows else { throw ValidationError("the row path stored \(figures.rows) rows, expected \(rows)") }
            print(
                "row path pass \(pass + 1) (read, map, validate, encode; no database): \(String(format: "%.3f", figures.seconds)) s, "
                    + "CPU \(String(format: "%.3f", cpu)) s, \(Int(Double(rows) / figures.seconds)) rows/s")
            best = min(best, figures.seconds)
        }
        if best.isFinite { summary["row_path_rows_per_s"] = Int(Double(rows) / best) }

        // End to end through an api and a worker.
        var e2e: Double?
        if skipEndToEnd {
            print("end to end: skipped (--skip-end-to-end)")
        } else if gen.sheetBytes > Self.workerEntryCap {
            print("end to end: skipped, sheet1.xml inflates to \(gen.sheetBytes / 1_048_576) MB, past the worker's 200 MB per-entry cap")
        } else {
            let run = try await endToEnd(path: path, size: gen.fileBytes)
            e2e = run.seconds
            summary["seconds"] = rounded(run.seconds)
            summary["rows_per_s"] = Int(Double(rows) / run.seconds)
            summary["worker_peak_rss_mb"] = run.rss
            summary["worker_cpu_seconds"] = rounded(run.cpuSeconds)
            summary["phases_ms"] = (try? JSONSerialization.jsonObject(with: Data(run.phases.utf8))) ?? [String: Int]()
            summary["upload_seconds"] = run.uploadSeconds.map { rounded($0) } ?? NSNull()
            summary["mode"] = stored ? "stored" : twoStep ? "two-step" : "streaming"
        }

        // python-calamine on the same file, right after (the same machine state as far as the run allows).
        if let calamine = try PythonReferenceReader.calamine.seconds(path: path, rows: rows + 1) {
            print("python-calamine read-only: \(String(format: "%.3f", calamine)) s, \(Int(Double(rows) / calamine)) rows/s")
            summary["calamine_seconds"] = rounded(calamine, 1000)
            if let e2e {
                print("ratio_to_calamine: \(String(format: "%.2f", e2e / calamine)) (end to end ÷ calamine read-only)")
                summary["ratio_to_calamine"] = rounded(e2e / calamine)
            }
        }
        if openpyxl, let seconds = try PythonReferenceReader.openpyxl.seconds(path: path, rows: rows + 1) {
            print("openpyxl read-only: \(String(format: "%.2f", seconds)) s, \(Int(Double(rows) / seconds)) rows/s")
            summary["openpyxl_seconds"] = rounded(seconds)
        }
        for key in ["seconds", "rows_per_s", "upload_seconds", "calamine_seconds", "ratio_to_calamine", "worker_peak_rss_mb", "phases_ms"]
        where summary[key] == nil {
            summary[key] = NSNull()
        }
        print(String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]), as: UTF8.self))
    }

    /// What one end-to-end run measured.
    struct EndToEnd {
        var seconds: Double
        var uploadSeconds: Double?
        var rss: Int
        var cpuSeconds: Double
        var phases: String
    }

    /// Upload start → `completed` through a real api and worker (or, with `--stored`, stored upload → `completed`).
    func endToEnd(path: String, size: Int) async throws -> EndToEnd {
        let pool = try db.pool(size: 2)
        // The sheet inflates past the default 500 MB total cap only at ~1.5M rows; allow the bench's larger files.
        let environment = ["EXTRACTION_MAX_UNPACKED_MB": "2000"]
        let result: EndToEnd
        if stored {
            let upload = try await ExtractBench.store(path: path, size: size, pool: pool)
            let run = try await ExtractBench.runThroughWorker(upload: upload, size: size, rows: rows, pool: pool, environment: environment)
            result = EndToEnd(seconds: run.seconds, uploadSeconds: nil, rss: run.rss, cpuSeconds: run.cpuSeconds, phases: run.phases)
        } else {
            let url = db.databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"] ?? ""
            let run = try await ExtractBench.runThroughAPI(
                path: path, size: size, rows: rows, streaming: !twoStep, databaseURL: url, pool: pool,
                contentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", environment: environment)
            try await ExtractBench.deleteRun(job: run.job, upload: run.upload, pool: pool)
            print("upload: \(String(format: "%.2f", run.uploadSeconds)) s")
            result = EndToEnd(seconds: run.seconds, uploadSeconds: run.uploadSeconds, rss: run.rss, cpuSeconds: run.cpuSeconds, phases: run.phases)
        }
        print("worker CPU: \(String(format: "%.2f", result.cpuSeconds)) s; worker phases (ms): \(result.phases)")
        print(
            "end to end (\(stored ? "stored upload" : "upload start") → completed): \(String(format: "%.2f", result.seconds)) s, "
                + "\(Int(Double(rows) / result.seconds)) rows/s, worker peak RSS \(result.rss) MB")
        return result
    }

    /// Every row of `path` through `XLSXReader` (no database); the rows delivered (header included) and the seconds.
    static func readAll(path: String, rows: Int) throws -> (rows: Int, seconds: Double) {
        let limits = ExtractionLimits(
            maxFileBytes: 1 << 40, maxRows: rows + 10, maxUnpackedEntryBytes: 1 << 40, maxUnpackedTotalBytes: 1 << 40,
            maxCellsScanned: rows * 20 + 100)
        var seen = 0
        var checksum = 0
        let t = ContinuousClock.now
        try XLSXReader(path: path).read(limits: limits, isCancelled: { false }, progress: { _ in }) { _, fields in
            seen += 1
            checksum &+= fields.count
        }
        let seconds = (ContinuousClock.now - t).seconds
        _ = checksum
        return (seen, seconds)
    }
}
