import Extraction
import Foundation
import Models
import Testing

/// Cells right of the header's last cell are kept in `extra` as `column_N`, flagged `EXTRA_CELLS` (a warning) and
/// counted; before, they were dropped without a trace.
@Suite struct ExtraCellsTests {
    func processor(_ headers: [String], transformations: [Transformation] = []) throws -> RowProcessor {
        try RowProcessor(config: ExtractionConfig(transformations: transformations), mapping: try ColumnMapper.map(headers: headers))
    }

    @Test func aCSVRowLongerThanTheHeaderKeepsItsCells() throws {
        let p = try processor(["sku", "name", "price"])
        let row = try #require(p.process(rowNumber: 3, fields: ["P-3", "Ruler 30 cm", "1.20", "metal", "2024"]))
        #expect(row.extra == ["column_4": "metal", "column_5": "2024"])
        #expect(row.extraCells == 2)
        let issue = try #require(row.issues.first { $0.code == RowIssue.Code.extraCells })
        #expect(issue.severity == .warning)
        #expect(issue.column == "column_4")
        #expect(issue.message.contains("column_4, column_5"), "\(issue.message)")
        #expect(row.isValid, "extra cells are a warning: the row stays valid")
    }

    @Test func trailingEmptyCellsAreNotExtra() throws {
        let p = try processor(["sku", "name", "price"])
        let row = try #require(p.process(rowNumber: 2, fields: ["P-2", "Eraser", "0.80", "", " "]))
        #expect(row.extra.isEmpty)
        #expect(row.extraCells == 0)
        #expect(row.issues.isEmpty)
    }

    /// A workbook's header row padded with empty cells (or a CSV header ending in a delimiter): the header ends at its
    /// last non-empty cell, so cells under the blank header cells are extra too.
    @Test func aHeaderShorterThanTheDataWithBlankTrailingHeaderCells() throws {
        let p = try processor(["SKU", "Name", "Price", "", ""])
        let row = try #require(p.process(rowNumber: 2, fields: ["T-1", "T-shirt", "9.99", "red", "bestseller"]))
        #expect(row.extra == ["column_4": "red", "column_5": "bestseller"])
        #expect(row.extraCells == 2)
        #expect(row.issues.map(\.code) == [RowIssue.Code.extraCells])
    }

    /// A blank header cell between named ones is an unnamed column of the table, not an extra cell (unchanged).
    @Test func aBlankHeaderInsideTheHeaderIsNotExtra() throws {
        let p = try processor(["sku", "", "price"])
        let row = try #require(p.process(rowNumber: 2, fields: ["A", "x", "1"]))
        #expect(row.extra == ["column_2": "x"])
        #expect(row.extraCells == 0)
        #expect(row.issues.isEmpty)
    }

    @Test func extraCellsAreKeptWhenTransformationsRun() throws {
        let p = try processor(["sku", "price"], transformations: [.trim(field: nil)])
        let row = try #require(p.process(rowNumber: 2, fields: [" A ", "1", "", "note"]))
        #expect(row.sku == "A")
        #expect(row.extra == ["column_4": "note"])
        #expect(row.extraCells == 1)
    }

    /// A column the config maps by index stays inside the table even when its header cell is blank.
    @Test func aColumnMappedByIndexIsNotExtra() throws {
        let mapping = try ColumnMapper.map(headers: ["sku", "price", ""], explicit: ["name": .index(2)])
        let p = try RowProcessor(config: ExtractionConfig(), mapping: mapping)
        let row = try #require(p.process(rowNumber: 2, fields: ["A", "1", "Bolt", "more"]))
        #expect(row.name == "Bolt")
        #expect(row.extra == ["column_4": "more"])
        #expect(row.extraCells == 1)
    }
}
