import Extraction
import Foundation
import Models
import Testing

@testable import ExtractionJobs

/// The pipeline reads on the calling thread and encodes/writes blocks on a writer thread (`RowHandoff`): the COPY
/// stream must keep every row in order, a failure on either side must end both, and a failed read must not
/// finish the COPY data (no end marker: the COPY is rolled back, never half loaded).
@Suite struct TabularPipelineHandoffTests {
    static func csv(rows: Int, badPriceAt bad: Int? = nil) throws -> String {
        let path = NSTemporaryDirectory() + "/quarry-handoff-\(UUID().uuidString).csv"
        var text = "sku,name,price\n"
        for i in 0..<rows { text += "S-\(i),Item \(i),\(i == bad ? "abc" : "\(i).25")\n" }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func pipeline(_ path: String, config: ExtractionConfig = ExtractionConfig()) -> TabularPipeline {
        TabularPipeline(
            jobID: UUID(), orgID: UUID(), config: config, format: .csv, path: path, fileBytes: 1, limits: ExtractionLimits(),
            isCancelled: { false }, progress: ProgressBox(), onlyRows: nil)
    }

    /// (first_row, last_row, row_count) of every block tuple in a binary COPY stream of `result_blocks`, and
    /// whether the stream ends with the end marker.
    static func blocks(_ bytes: [UInt8]) -> (blocks: [(Int, Int, Int)], finished: Bool) {
        func int(_ at: Int, _ size: Int) -> Int {
            var v = 0
            for k in 0..<size { v = v << 8 | Int(bytes[at + k]) }
            return size == 2 ? Int(Int16(truncatingIfNeeded: v)) : Int(Int32(truncatingIfNeeded: v))
        }
        var at = 19  // PGCOPY header
        var out: [(Int, Int, Int)] = []
        while at + 2 <= bytes.count {
            let fields = int(at, 2)
            at += 2
            if fields == -1 { return (out, true) }
            var values: [Int] = []
            for f in 0..<fields {
                let length = int(at, 4)
                at += 4
                if (1...3).contains(f) { values.append(int(at, 4)) }
                at += max(length, 0)
            }
            out.append((values[0], values[1], values[2]))
        }
        return (out, false)
    }

    @Test(.timeLimit(.minutes(1))) func everyRowArrivesInOrderAcrossBlocks() throws {
        let path = try Self.csv(rows: 2_600)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var bytes: [UInt8] = []
        let (outcome, duplicates) = try Self.pipeline(path).stream { bytes.append(contentsOf: $0) }
        #expect(outcome.rowsTotal == 2_600)
        #expect(try duplicates.finish { _ in } == 0)
        let (blocks, finished) = Self.blocks(bytes)
        #expect(finished)
        // The header is row 1: blocks of 1,000 rows, contiguous and ascending.
        #expect(blocks.map(\.0) == [2, 1002, 2002])
        #expect(blocks.map(\.1) == [1001, 2001, 2601])
        #expect(blocks.map(\.2) == [1000, 1000, 600])
    }

    @Test(.timeLimit(.minutes(1))) func aFailedReadLeavesTheCopyUnfinished() throws {
        // Strict mode: row 1,801 (after several batches went to the writer) fails the job.
        let path = try Self.csv(rows: 2_600, badPriceAt: 1_799)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var bytes: [UInt8] = []
        #expect(throws: JobError.self) {
            _ = try Self.pipeline(path, config: ExtractionConfig(validationMode: .strict)).stream { bytes.append(contentsOf: $0) }
        }
        let (blocks, finished) = Self.blocks(bytes)
        #expect(!finished, "the end marker was written after the read failed")
        #expect(blocks.allSatisfy { $0.1 < 1_801 })
    }

    @Test(.timeLimit(.minutes(1))) func aFailedWriteStopsTheRead() throws {
        let path = try Self.csv(rows: 20_000)
        defer { try? FileManager.default.removeItem(atPath: path) }
        struct WriteFailed: Error {}
        var writes = 0
        #expect(throws: WriteFailed.self) {
            _ = try Self.pipeline(path).stream { _ in
                writes += 1
                throw WriteFailed()
            }
        }
        #expect(writes == 1)
    }
}
