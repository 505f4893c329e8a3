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

    @Test func pricesAndQuantitiesBeyondTheStoredRangeAreRowErrors() throws {
        let p = try processor()
        // numeric(18,4) holds values under 10^14 after rounding to 4 decimals; a larger one would fail the COPY.
        for raw in ["123456789012345", "99999999999999.99995", "-100000000000000", "1.234.567.890.123.456,00"] {
            let row = try #require(p.process(rowNumber: 2, fields: ["A", "x", raw, "", "", ""]))
            #expect(row.price == nil, "\(raw)")
            #expect(row.issues.map(\.code) == ["OUT_OF_RANGE"], "\(raw)")
            #expect(!row.isValid)
        }
        for raw in ["99999999999999.9999", "12345678901234", "0.000000000000001"] {
            let row = try #require(p.process(rowNumber: 2, fields: ["A", "x", raw, "", "", ""]))
            #expect(row.price == Decimal(string: raw), "\(raw)")
            #expect(row.issues.isEmpty, "\(raw)")
        }
        // A quantity that is not required: the value is dropped with a warning, the row stays valid.
        let quantity = try #require(p.process(rowNumber: 3, fields: ["A", "x", "1", "", "100000000000000", ""]))
        #expect(quantity.quantity == nil)
        #expect(quantity.issues.map(\.code) == ["OUT_OF_RANGE"])
        #expect(quantity.isValid)
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

    /// Every duplicate row of `skus` (row numbers from 1), by a finder holding `runCapacity` pairs in memory.
    func duplicates(_ skus: [String], runCapacity: Int) throws -> (rows: [Int], count: Int, spilled: Bool) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dups-\(UUID().uuidString)").path
        let finder = DuplicateFinder(spillPath: path, runCapacity: runCapacity)
        for (i, sku) in skus.enumerated() { try finder.add(sku: sku, row: i + 1) }
        let spilled = FileManager.default.fileExists(atPath: path)
        var rows: [Int] = []
        let count = try finder.finish(chunkSize: 3) { chunk in
            #expect(chunk.count <= 3)
            rows += chunk
        }
        #expect(!FileManager.default.fileExists(atPath: path), "finish removes the spill file")
        return (rows.sorted(), count, spilled)
    }

    @Test func duplicatesAreTheRowsRepeatingAnEarlierSKU() throws {
        let r = try duplicates(["A", "B", "A", "A", "", "b", "B"], runCapacity: 100)
        #expect(r.rows == [3, 4, 7])  // first occurrences and empty SKUs are never reported; case matters
        #expect(r.count == 3)
        #expect(!r.spilled)
    }

    @Test func duplicateFinderSpillsSortedRunsAndMergesThemExactly() throws {
        // 5,000 rows with 1,200 distinct SKUs, in a pseudo-random order; 64 pairs per run → 79 runs on disk.
        var state: UInt64 = 42
        let skus = (0..<5_000).map { _ -> String in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return "SKU-\((state >> 33) % 1_200)"
        }
        var seen: Set<String> = []
        var expected: [Int] = []
        for (i, s) in skus.enumerated() where !seen.insert(s).inserted { expected.append(i + 1) }
        let r = try duplicates(skus, runCapacity: 64)
        #expect(r.spilled)
        #expect(r.count == expected.count)
        #expect(r.rows == expected)
        // The same answer fully in memory.
        #expect(try duplicates(skus, runCapacity: 10_000).rows == expected)
    }
}
