import Extraction
import Foundation
import Models
import Testing

@testable import ExtractionJobs

/// Progress from the tabular pipeline (seed 000: at most every 100 rows, at least every second).
@Suite struct TabularPipelineProgressTests {
    @Test func progressIsRecordedInStepsOfAHundredRows() throws {
        let path = NSTemporaryDirectory() + "/quarry-progress-\(UUID().uuidString).csv"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var csv = "sku,price\n"
        for i in 0..<250 { csv += "S-\(i),\(i).5\n" }
        try Data(csv.utf8).write(to: URL(fileURLWithPath: path))
        let box = ProgressBox()
        let pipeline = TabularPipeline(
            jobID: UUID(), orgID: UUID(), config: ExtractionConfig(), format: .csv, path: path, fileBytes: Int64(csv.utf8.count),
            limits: ExtractionLimits(), isCancelled: { false }, progress: box, onlyRows: nil)
        var bytes = 0
        let (outcome, _) = try pipeline.stream { bytes += $0.count }
        #expect(outcome.rowsTotal == 250)
        #expect(bytes > 0)
        // Row 100 is recorded at once (it used to take 2,000 rows); row 200 only if 100 ms passed in between.
        let (progress, _) = try #require(box.take())
        #expect(progress.rowsProcessed == 100 || progress.rowsProcessed == 200)
        #expect(progress.stage == "parsing")
        #expect(box.take() == nil)
    }
}
