import Extraction
import Foundation
import Models
import Testing

@testable import ExtractionJobs

/// What the extract job's pipeline reports about the table it read (no database: the COPY stream is discarded):
/// the detected header row and its confidence, extra cells, and that rows right of or above the header are handled
/// as documented.
@Suite struct TabularPipelineHeaderTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../ExtractionTests/Fixtures/corpus/header").standardized

    func stream(_ file: String, format: FileFormat, config: ExtractionConfig = ExtractionConfig()) throws -> TabularPipeline.Outcome {
        let path = Self.corpus.appendingPathComponent(file).path
        let pipeline = TabularPipeline(
            jobID: UUID(), orgID: UUID(), config: config, format: format, path: path, fileBytes: 1, limits: ExtractionLimits(),
            isCancelled: { false }, progress: ProgressBox(), onlyRows: nil)
        return try pipeline.stream { _ in }.0
    }

    @Test func titleRowsAboveAWorkbookTableAreFoundAndReported() throws {
        let outcome = try stream("erp_export_title_rows.xlsx", format: .xlsx)
        #expect(outcome.headerRow == 4)
        #expect(outcome.headerRowConfidence >= 0.8 && outcome.headerRowConfidence <= 1, "\(outcome.headerRowConfidence)")
        #expect(outcome.rowsTotal == 6)
        #expect(outcome.mapping?.fieldToIndex["sku"] == 0)
        #expect(outcome.extraCells == 0)
    }

    @Test func notesAndPaddingAboveASupplierList() throws {
        let outcome = try stream("supplier_list_padding.xlsx", format: .xlsx)
        #expect(outcome.headerRow == 7)
        #expect(outcome.rowsTotal == 5)
        #expect(outcome.rowsValid == 5)
    }

    @Test func extraCellsOfAWorkbookWhoseHeaderIsShorterThanItsData() throws {
        let outcome = try stream("header_shorter_than_data.xlsx", format: .xlsx)
        #expect(outcome.headerRow == 1)
        // T-1: red, bestseller; T-2: blue; T-4: new.
        #expect(outcome.extraCells == 4)
        #expect(outcome.issueCounts[RowIssue.Code.extraCells] == 3)
        #expect(outcome.rowsValid == 4, "extra cells are warnings")
    }

    @Test func extraCellsOfCSVRowsLongerThanTheHeader() throws {
        let outcome = try stream("rows_longer_than_header.csv", format: .csv)
        // P-1: 1, P-2: only empty cells, P-3: 2.
        #expect(outcome.extraCells == 3)
        #expect(outcome.issueCounts[RowIssue.Code.extraCells] == 2)
    }

    @Test func anExplicitHeaderRowOverridesDetectionWithConfidenceOne() throws {
        let outcome = try stream("report_notes_semicolon.csv", format: .csv, config: ExtractionConfig(headerRow: 5, delimiter: ";"))
        #expect(outcome.headerRow == 5)
        #expect(outcome.headerRowConfidence == 1)
        #expect(outcome.rowsTotal == 4)
        let detected = try stream("report_notes_semicolon.csv", format: .csv)
        #expect(detected.headerRow == 5)
        #expect(detected.headerRowConfidence < 1)
    }
}
