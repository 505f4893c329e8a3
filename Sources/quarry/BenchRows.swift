import ArgumentParser
import Extraction
import ExtractionJobs
import Foundation

/// `quarry bench rows`: the worker's own share of `bench extract` — the same generated CSV read, mapped,
/// validated and encoded as binary COPY in this process, with no database. The last line is one JSON object.
struct RowsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rows", abstract: "Worker-side row throughput (parse, map, validate, encode) without PostgreSQL.")
    @Option var rows = 1_000_000
    @Option(help: "Passes over the same file; the fastest is reported.") var passes = 3
    @Option(help: "Where to write the generated CSV.") var dir = NSTemporaryDirectory()

    func run() async throws {
        let path = dir + "/quarry-bench-rows-\(rows).csv"
        let size = try ExtractBench.generate(rows: rows, path: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        print("generated \(rows) rows, \(size / 1_048_576) MB")
        var best: (seconds: Double, cpu: Double, copyBytes: Int)?
        for pass in 1...max(1, passes) {
            let (figures, cpu) = try PipelineBenchmark.timedPass(path: path, format: .csv)
            guard figures.rows == rows else { throw ValidationError("stored \(figures.rows) rows, expected \(rows)") }
            print(
                "pass \(pass): \(String(format: "%.3f", figures.seconds)) s, \(Int(Double(rows) / figures.seconds)) rows/s, "
                    + "CPU \(String(format: "%.3f", cpu)) s, COPY data \(figures.copyBytes / 1_048_576) MB")
            if best == nil || figures.seconds < best?.seconds ?? .infinity { best = (figures.seconds, cpu, figures.copyBytes) }
        }
        guard let best else { return }
        func rounded(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
        let summary: [String: Any] = [
            "rows": rows, "seconds": rounded(best.seconds), "rows_per_s": Int(Double(rows) / best.seconds),
            "mb_per_s": Int(Double(size) / 1_048_576 / best.seconds), "cpu_seconds": rounded(best.cpu),
            "copy_mb": best.copyBytes / 1_048_576,
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]), as: UTF8.self))
    }
}

extension PipelineBenchmark {
    /// One pass of the worker's row path over `path` (EUR prices), with the CPU seconds this process spent on it.
    static func timedPass(path: String, format: FileFormat) throws -> (figures: Figures, cpuSeconds: Double) {
        let cpu0 = ProcessCPU.seconds(pid: getpid()) ?? 0
        let figures = try run(path: path, format: format, config: ExtractionConfig(currency: "EUR"))
        return (figures, (ProcessCPU.seconds(pid: getpid()) ?? 0) - cpu0)
    }
}
