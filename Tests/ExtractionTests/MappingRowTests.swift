import Extraction
import Foundation
import Models
import Testing

@Suite("Mapping: rows, validation, duplicates")
struct MappingRowTests {
    let headers = ["Artikelnummer", "Bezeichnung", "Preis", "Währung", "Menge", "Farbe"]

    func processor(mode: ValidationMode = .lenient, currency: String? = nil, required: [String]? = nil) throws -> RowProcessor {
        let config = ExtractionConfig(validationMode: mode, currency: currency, requiredFields: required)
        return try RowProcessor(config: config, mapping: try ColumnMapper.map(headers: headers))
    }

    @Test func validRowIsFullyParsed() throws {
        let p = try processor(currency: "EUR")
        let row = try #require(p.process(rowNumber: 2, fields: ["A-1", "Schraube M4", "1.234,56", "", "10", "rot"]))
        #expect(row.rowNumber == 2)
        #expect(row.sku == "A-1")
        #expect(row.name == "Schraube M4")
        #expect(row.price == Decimal(string: "1234.56"))
        #expect(row.currency == "EUR")
        #expect(row.quantity == 10)
        #expect(row.extra == ["Farbe": "rot"])
        #expect(row.issues.isEmpty)
        #expect(row.isValid)
    }

    @Test func blankRowsAreSkipped() throws {
        let p = try processor()
        #expect(p.process(rowNumber: 5, fields: ["", "  ", "\t", "", "", ""]) == nil)
        #expect(p.process(rowNumber: 5, fields: []) == nil)
    }

    @Test func requiredNegativeAndCurrencyIssues() throws {
        let p = try processor()
        let missing = try #require(p.process(rowNumber: 3, fields: ["", "Mutter", "", "EUR", "", ""]))
        #expect(Set(missing.issues.map(\.column)) == ["sku", "price"])
        #expect(missing.issues.allSatisfy { $0.code == "REQUIRED" && $0.severity == .error })
        let negative = try #require(p.process(rowNumber: 4, fields: ["A", "x", "(5,00)", "€", "", ""]))
        #expect(negative.price == -5)
        #expect(negative.currency == "EUR")
        #expect(negative.issues.map(\.code) == ["NEGATIVE_PRICE"])
        let badCurrency = try #require(p.process(rowNumber: 5, fields: ["A", "x", "5", "Euros!", "", ""]))
        #expect(badCurrency.issues.map(\.code) == ["INVALID_CURRENCY"])
        let badQuantity = try #require(p.process(rowNumber: 6, fields: ["A", "x", "5", "", "lots", ""]))
        #expect(badQuantity.issues.map(\.code) == ["INVALID_NUMBER"])
        #expect(badQuantity.issues.first?.severity == .warning)
        #expect(badQuantity.isValid)
    }

    @Test func tooLongValues() throws {
        let p = try processor()
        let longName = String(repeating: "n", count: 1_200)
        let row = try #require(p.process(rowNumber: 2, fields: ["A", longName, "1", "", "", ""]))
        #expect(row.name?.count == 1_000)
        #expect(row.issues.map(\.code) == ["TOO_LONG"])
        #expect(row.isValid)
        let longSku = try #require(p.process(rowNumber: 3, fields: [String(repeating: "s", count: 300), "x", "1", "", "", ""]))
        #expect(!longSku.isValid)
    }

    @Test func strictModeFailsOnFirstInvalidRow() throws {
        let p = try processor(mode: .strict)
        let good = try #require(p.process(rowNumber: 11, fields: ["A", "x", "1", "", "", ""]))
        #expect(p.validationFailure(for: good) == nil)
        let bad = try #require(p.process(rowNumber: 12, fields: ["A", "x", "abc", "", "", ""]))
        let failure = try #require(p.validationFailure(for: bad))
        #expect(failure.code == .validationError)
        #expect(failure.message == "row 12, column price: 'abc' is not a number")
        #expect(failure.details["row"] == "12")
        #expect(failure.details["column"] == "price")
        #expect(failure.details["reason"] == "'abc' is not a number")
        #expect(failure.retryable == false)
    }

    @Test func lenientModeNeverFails() throws {
        let p = try processor(mode: .lenient)
        let bad = try #require(p.process(rowNumber: 12, fields: ["A", "x", "abc", "", "", ""]))
        #expect(!bad.isValid)
        #expect(p.validationFailure(for: bad) == nil)
        #expect(p.validationFailure(for: bad, mode: .strict)?.code == .validationError)
    }

    @Test func duplicatesAreWarnedAndCounted() throws {
        let p = try processor()
        var tracker = DuplicateTracker()
        var rows = [["A", "x", "1"], ["B", "y", "2"], ["A", "z", "3"], ["A", "w", "4"], ["", "v", "5"]]
            .enumerated().compactMap { p.process(rowNumber: $0.offset + 2, fields: $0.element + ["", "", ""]) }
        let flags = rows.indices.map { tracker.check(&rows[$0]) }
        #expect(flags == [false, false, true, true, false])
        #expect(tracker.duplicateCount == 2)
        #expect(rows[2].issues.contains { $0.code == "DUPLICATE_SKU" && $0.severity == .warning })
        #expect(rows[2].isValid)
    }

    @Test func duplicateTrackerMemoryIsBounded() {
        var tracker = DuplicateTracker(capacity: 2)
        var rows = ["a", "b", "c", "c", "a"].map { sku -> ProcessedRow in
            var row = ProcessedRow(rowNumber: 1)
            row.sku = sku
            return row
        }
        let flags = rows.indices.map { tracker.check(&rows[$0]) }
        #expect(flags == [false, false, false, false, true])
        #expect(tracker.isSaturated)
    }
}
