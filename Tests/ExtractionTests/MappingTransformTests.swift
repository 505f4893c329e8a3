import Extraction
import Foundation
import Models
import Testing

@Suite("Mapping: numbers, dates, transformations")
struct MappingTransformTests {
    @Test(arguments: [
        ("1.234,56", "1234.56"), ("1,234.56", "1234.56"), ("€ 12,50", "12.5"), ("$1,299.00", "1299"),
        ("12.50 EUR", "12.5"), ("-3.5", "-3.5"), ("3.5-", "-3.5"), ("(4.00)", "-4"), ("(€ 1.234,50)", "-1234.5"),
        ("1'234.50", "1234.5"), ("1 234,5", "1234.5"), ("0,125", "0.125"), ("1,234", "1234"), ("1.234.567", "1234567"),
        ("12", "12"), ("  7  ", "7"), ("€-2,5", "-2.5"), ("CHF 10.-", "10"), ("(1.5)", "-1.5"),
    ])
    func parsesNumbers(raw: String, expected: String) {
        #expect(NumberParser.parse(raw).map(NumberParser.format) == expected, "\(raw)")
    }

    @Test(arguments: ["", "abc", "12abcdef", "1.2.3,4,5", "1,23,4", "--", "(12", "€"])
    func rejectsNonNumbers(raw: String) {
        #expect(NumberParser.parse(raw) == nil, "\(raw)")
    }

    @Test func explicitDecimalComma() {
        #expect(NumberParser.parse("1,234", decimalComma: true) == Decimal(string: "1.234"))
        #expect(NumberParser.parse("1.234", decimalComma: true) == 1234)
        #expect(NumberParser.parse("1.234", decimalComma: false) == Decimal(string: "1.234"))
        #expect(NumberParser.parse("1,2,3", decimalComma: true) == nil)
    }

    @Test func currencyIsDetectedAroundNumbers() {
        #expect(NumberParser.parseDetailed("€ 12,50")?.currency == "EUR")
        #expect(NumberParser.parseDetailed("$1,299.00")?.currency == "USD")
        #expect(NumberParser.parseDetailed("£3")?.currency == "GBP")
        #expect(NumberParser.parseDetailed("12.50 EUR")?.currency == "EUR")
        #expect(NumberParser.parseDetailed("12.50")?.currency == nil)
        #expect(CurrencyCode.normalize(" usd ") == "USD")
        #expect(CurrencyCode.normalize("dollars") == nil)
    }

    @Test(arguments: [
        ("31.12.2024", "dd.MM.yyyy", "2024-12-31"), ("1.2.2024", "d.M.yyyy", "2024-02-01"),
        ("12/31/2024", "MM/dd/yyyy", "2024-12-31"), ("2024-02-29", "yyyy-MM-dd", "2024-02-29"),
        ("45292", "dd.MM.yyyy", "2024-01-01"), ("45292.75", "excel", "2024-01-01"), ("1", "excel", "1900-01-01"),
        ("61", "excel", "1900-03-01"), ("20240105", "yyyyMMdd", "2024-01-05"), ("05.01.24", "dd.MM.yy", "2024-01-05"),
        ("2024-03-04", "auto", "2024-03-04"), ("04.03.2024", "auto", "2024-03-04"),
    ])
    func parsesDates(raw: String, format: String, expected: String) {
        #expect(DateParser.parse(raw, format: format) == expected)
    }

    @Test(arguments: [
        ("2023-02-29", "yyyy-MM-dd"), ("31.04.2024", "dd.MM.yyyy"), ("13/01/2024", "MM/dd/yyyy"),
        ("tomorrow", "auto"), ("2024-1-1x", "yyyy-MM-dd"),
    ])
    func rejectsBadDates(raw: String, format: String) {
        #expect(DateParser.parse(raw, format: format) == nil)
    }

    func processor(
        _ transformations: [Transformation], headers: [String] = ["SKU", "Name", "Price", "Currency", "Valid From"],
        required: [String]? = nil, currency: String? = nil
    ) throws -> RowProcessor {
        let config = ExtractionConfig(transformations: transformations, currency: currency, requiredFields: required)
        return try RowProcessor(config: config, mapping: try ColumnMapper.map(headers: headers))
    }

    @Test func trimAndCaseApplyToAllOrOneField() throws {
        let all = try processor([.trim(field: nil), .changeCase(.upper, field: nil)])
        let row = try #require(all.process(rowNumber: 2, fields: ["  ab-1 ", " blue widget ", "3", "eur", ""]))
        #expect(row.sku == "AB-1")
        #expect(row.name == "BLUE WIDGET")
        #expect(row.currency == "EUR")
        let title = try processor([.changeCase(.title, field: "name"), .changeCase(.lower, field: "sku")])
        let titled = try #require(title.process(rowNumber: 2, fields: ["AB-1", "blue WIDGET", "3", "", ""]))
        #expect(titled.name == "Blue Widget")
        #expect(titled.sku == "ab-1")
    }

    @Test func replaceAndRegexExtract() throws {
        let p = try processor([
            .replace(field: "sku", find: "/", with: "-"),
            .regexExtract(field: "name", pattern: #"^\[(\w+)\]\s*(.*)$"#, group: 2),
        ])
        let row = try #require(p.process(rowNumber: 3, fields: ["A/1/2", "[NEW] Hammer", "5", "", ""]))
        #expect(row.sku == "A-1-2")
        #expect(row.name == "Hammer")
        let miss = try #require(p.process(rowNumber: 4, fields: ["B", "Saw", "5", "", ""]))
        #expect(miss.name == nil)
        #expect(miss.issues.contains { $0.code == "TRANSFORM_FAILED" && $0.severity == .warning })
        #expect(miss.isValid)
    }

    @Test func parseNumberWithDecimalCommaAndCurrencyInference() throws {
        let p = try processor([.parseNumber(field: "price", decimalComma: true)])
        let row = try #require(p.process(rowNumber: 2, fields: ["A", "x", "€ 1.234,5", "", ""]))
        #expect(row.price == Decimal(string: "1234.5"))
        #expect(row.currency == "EUR")
        // Without a transformation, "1,234" is read as thousands; with decimal_comma it is 1.234.
        let comma = try #require(p.process(rowNumber: 3, fields: ["B", "x", "1,234", "", ""]))
        #expect(comma.price == Decimal(string: "1.234"))
        let plain = try processor([])
        #expect(plain.process(rowNumber: 3, fields: ["B", "x", "1,234", "", ""])?.price == 1234)
    }

    @Test func parseNumberFailureIsAnError() throws {
        let p = try processor([.parseNumber(field: "price", decimalComma: nil)])
        let row = try #require(p.process(rowNumber: 7, fields: ["A", "x", "call us", "", ""]))
        #expect(row.price == nil)
        #expect(row.issues.map(\.code) == ["INVALID_NUMBER"])
        #expect(!row.isValid)
    }

    @Test func parseDateOnUnmappedColumn() throws {
        let p = try processor([.parseDate(field: "Valid From", format: "dd.MM.yyyy")])
        let row = try #require(p.process(rowNumber: 2, fields: ["A", "x", "1", "", "24.12.2024"]))
        #expect(row.extra["Valid From"] == "2024-12-24")
        let bad = try #require(p.process(rowNumber: 3, fields: ["A", "x", "1", "", "32.12.2024"]))
        #expect(bad.issues.contains { $0.code == "INVALID_DATE" && $0.column == "Valid From" && $0.severity == .warning })
        #expect(bad.isValid)
    }

    @Test func multiplyHonoursDecimalCommaBeforeAndAfterParseNumber() throws {
        // multiply after parse_number sees the normalized "1234.5"; before it, decimal_comma applies.
        let after = try processor([.parseNumber(field: "price", decimalComma: true), .multiply(field: "price", by: 2)])
        #expect(after.process(rowNumber: 2, fields: ["A", "x", "1.234,5", "", ""])?.price == 2469)
        let before = try processor([.multiply(field: "price", by: 2), .parseNumber(field: "price", decimalComma: true)])
        #expect(before.process(rowNumber: 2, fields: ["A", "x", "1.234,5", "", ""])?.price == 2469)
    }

    @Test func multiplyAndDefault() throws {
        let p = try processor([
            .multiply(field: "price", by: Decimal(string: "0.01")!),
            .defaultValue(field: "currency", value: "GBP"), .defaultValue(field: "name", value: "unnamed"),
        ])
        let row = try #require(p.process(rowNumber: 2, fields: ["A", "", "1299", "", ""]))
        #expect(row.price == Decimal(string: "12.99"))
        #expect(row.currency == "GBP")
        #expect(row.name == "unnamed")
        let kept = try #require(p.process(rowNumber: 3, fields: ["B", "Saw", "100", "usd", ""]))
        #expect(kept.currency == "USD")
        #expect(kept.name == "Saw")
        #expect(kept.price == 1)
    }
}
