public import Extraction
import Foundation
public import Models

/// The worker's own share of a tabular extraction, without PostgreSQL: read → map/validate → binary COPY
/// encoding of every row, the COPY bytes counted and dropped (for `quarry bench rows`).
///
/// With the database on the same cores, end-to-end figures move with PostgreSQL's load; this one moves
/// only with the worker's code, so it is the figure to compare before and after a change to the row path.
public enum PipelineBenchmark {
    /// What one pass measured.
    public struct Figures: Sendable {
        /// Rows stored (valid or not).
        public var rows: Int
        /// Wall-clock seconds of the pass.
        public var seconds: Double
        /// Bytes of binary COPY data produced.
        public var copyBytes: Int
        /// Repeated SKUs found.
        public var duplicates: Int
    }

    /// Runs the tabular pipeline over the file at `path` with `config` (default: no mapping, lenient).
    public static func run(path: String, format: FileFormat, config: ExtractionConfig = ExtractionConfig()) throws -> Figures {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0
        let limits = ExtractionLimits(maxFileBytes: max(size, 1) * 2, maxRows: Int.max / 2)
        let pipeline = TabularPipeline(
            jobID: UUID(), orgID: UUID(), config: config, format: format, path: path, fileBytes: size, limits: limits,
            isCancelled: { false }, progress: ProgressBox(), onlyRows: nil)
        let start = ContinuousClock.now
        var copyBytes = 0
        let (outcome, duplicates) = try pipeline.stream { copyBytes += $0.count }
        let found = try duplicates.finish { _ in }
        let elapsed = ContinuousClock.now - start
        return Figures(
            rows: outcome.rowsTotal, seconds: elapsed.seconds, copyBytes: copyBytes, duplicates: found)
    }
}
