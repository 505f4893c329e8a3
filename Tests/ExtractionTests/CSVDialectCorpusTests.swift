import Foundation
import Models
import Testing

@testable import Extraction

/// Every file of `Fixtures/corpus/csv` read with auto-detection gives exactly the cells Python's csv module gives
/// with the file's true dialect (the values below were produced by that reference reader), with the physical row
/// numbers, and `inspect` reports the encoding and dialect that were used.
@Suite struct CSVDialectCorpusTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var file: String
        var encoding: String
        var delimiter: String
        var quote: String?
        var escape: String
        var lineTerminator: String
        var trims: Bool
        var comment: String?
        var preamble: Int
        var numbers: [Int]
        var rows: [[String]]
        var testDescription: String { file }

        init(
            _ file: String, encoding: String, delimiter: String, quote: String?, escape: String, lineTerminator: String,
            trims: Bool, comment: String?, preamble: Int, numbers: [Int], rows: [[String]]
        ) {
            self.file = file
            self.encoding = encoding
            self.delimiter = delimiter
            self.quote = quote
            self.escape = escape
            self.lineTerminator = lineTerminator
            self.trims = trims
            self.comment = comment
            self.preamble = preamble
            self.numbers = numbers
            self.rows = rows
        }
    }

    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/corpus/csv")

    @Test(arguments: cases)
    func readsExactlyWhatThePythonReferenceReads(_ c: Case) throws {
        let path = Self.folder.appendingPathComponent(c.file).path
        let read = try TabularFixture.rows(.csv, path)
        #expect(read.map(\.1) == c.rows)
        #expect(read.map(\.0) == c.numbers)
    }

    @Test(arguments: cases)
    func inspectReportsTheEncodingAndDialectUsed(_ c: Case) throws {
        let path = Self.folder.appendingPathComponent(c.file).path
        let info = try CSVReader(path: path).inspect(limits: ExtractionLimits())
        #expect(info.encoding == c.encoding)
        let dialect = try #require(info.dialect)
        #expect(dialect.delimiter == c.delimiter)
        #expect(dialect.escape == c.escape)
        #expect(dialect.quote == c.quote)
        #expect(dialect.lineTerminator == c.lineTerminator)
        #expect(dialect.trimsSpaces == c.trims)
        #expect(dialect.commentPrefix == c.comment)
        #expect(dialect.preambleLines == c.preamble)
        #expect(dialect.sniffed)
        #expect(dialect.confidence >= 0.5, "confidence \(dialect.confidence)")
    }

    // Generated from MANIFEST.json with Python's csv module (the manifest's dialect, after `skip_lines`).
    static let cases: [Case] = [
        Case(
            "colon_delimiter.csv", encoding: "utf-8", delimiter: ":", quote: "\"", escape: "double", lineTerminator: "lf", trims: false, comment: nil,
            preamble: 0,
            numbers: [1, 2, 3, 4, 5],
            rows: [
                ["sku", "name", "price", "qty", "updated"],
                ["A-100", "Garden shears", "12.90", "40", "2024-03-01"],
                ["A-101", "Rose pruner", "15.50", "25", "2024-03-02"],
                ["B-200", "Hedge trimmer", "34.90", "8", "2024-03-05"],
                ["B-201", "Watering can", "7.25", "120", "2024-03-07"],
            ]),
        Case(
            "tilde_delimiter.csv", encoding: "utf-8", delimiter: "~", quote: "\"", escape: "double", lineTerminator: "lf", trims: false, comment: nil,
            preamble: 0,
            numbers: [1, 2, 3, 4, 5, 6],
            rows: [
                ["sku", "name", "price", "qty", "updated"],
                ["A-100", "Garden shears", "12.90", "40", "2024-03-01"],
                ["A-101", "Rose pruner", "15.50", "25", "2024-03-02"],
                ["B-200", "Hedge trimmer", "34.90", "8", "2024-03-05"],
                ["B-201", "Watering can", "7.25", "120", "2024-03-07"],
                ["C-300", "Spade ~ steel", "21.00", "3", "2024-03-09"],
            ]),
        Case(
            "comma_space_delimiter.csv", encoding: "utf-8", delimiter: ", ", quote: "\"", escape: "double", lineTerminator: "lf", trims: true,
            comment: nil, preamble: 0,
            numbers: [1, 2, 3, 4],
            rows: [
                ["sku", "name", "price", "qty", "updated"],
                ["A-100", "Garden shears", "12.90", "40", "2024-03-01"],
                ["A-101", "Rose pruner", "15.50", "25", "2024-03-02"],
                ["C-300", "Spade, steel", "21.00", "3", "2024-03-09"],
            ]),
        Case(
            "space_aligned.csv", encoding: "utf-8", delimiter: " ", quote: "\"", escape: "double", lineTerminator: "lf", trims: true, comment: nil,
            preamble: 0,
            numbers: [1, 2, 3, 4, 5, 6],
            rows: [
                ["sku", "name", "price", "qty", "updated"],
                ["A-100", "Garden shears", "12.90", "40", "2024-03-01"],
                ["A-102", "Spade", "19.00", "5", "2024-03-03"],
                ["A-101", "Rose pruner", "15.50", "25", "2024-03-02"],
                ["B-200", "Hedge trimmer", "34.90", "8", "2024-03-05"],
                ["B-201", "Watering can", "7.25", "120", "2024-03-07"],
            ]),
        Case(
            "single_quote.csv", encoding: "utf-8", delimiter: ",", quote: "'", escape: "double", lineTerminator: "lf", trims: false, comment: nil,
            preamble: 0,
            numbers: [1, 2, 3, 4, 5],
            rows: [
                ["sku", "name", "price", "qty", "updated"],
                ["A-100", "Garden shears", "12.90", "40", "2024-03-01"],
                ["A-101", "Rose pruner", "15.50", "25", "2024-03-02"],
                ["C-300", "Spade, steel", "21.00", "3", "2024-03-09"],
                ["C-301", "Rake, 'wide'", "9.90", "11", "2024-03-10"],
            ]),
        Case(
            "backslash_escape.csv", encoding: "utf-8", delimiter: ",", quote: "\"", escape: "backslash", lineTerminator: "lf", trims: false,
            comment: nil, preamble: 0,
            numbers: [1, 2, 3, 4, 5],
            rows: [
                ["sku", "name", "price", "qty", "updated"],
                ["A-100", "Garden shears", "12.90", "40", "2024-03-01"],
                ["A-101", "Rose pruner", "15.50", "25", "2024-03-02"],
                ["C-300", "Spade \"Pro\", steel", "21.00", "3", "2024-03-09"],
                ["C-301", "say \"hi\"", "9.90", "11", "2024-03-10"],
            ]),
        Case(
            "backslash_unquoted.csv", encoding: "utf-8", delimiter: ",", quote: "\"", escape: "backslash", lineTerminator: "lf", trims: false,
            comment: nil, preamble: 0,
            numbers: [1, 2, 3, 4, 5],
            rows: [
                ["sku", "name", "price", "qty", "updated"],
                ["A-100", "Garden shears", "12.90", "40", "2024-03-01"],
                ["A-101", "Rose pruner", "15.50", "25", "2024-03-02"],
                ["C-300", "Spade, steel", "21.00", "3", "2024-03-09"],
                ["C-301", "Rake, wide, 16 tines", "9.90", "11", "2024-03-10"],
            ]),
        Case(
            "cr_only.csv", encoding: "utf-8", delimiter: ",", quote: "\"", escape: "double", lineTerminator: "cr", trims: false, comment: nil,
            preamble: 0,
            numbers: [1, 2, 3, 4, 5, 6],
            rows: [
                ["sku", "name", "price", "qty", "updated"],
                ["A-100", "Garden shears", "12.90", "40", "2024-03-01"],
                ["A-101", "Rose pruner", "15.50", "25", "2024-03-02"],
                ["B-200", "Hedge trimmer", "34.90", "8", "2024-03-05"],
                ["B-201", "Watering can", "7.25", "120", "2024-03-07"],
                ["C-300", "Spade\rsteel", "21.00", "3", "2024-03-09"],
            ]),
        Case(
            "mixed_terminators.csv", encoding: "utf-8", delimiter: ",", quote: "\"", escape: "double", lineTerminator: "mixed", trims: false,
            comment: nil, preamble: 0,
            numbers: [1, 2, 3, 4, 5],
            rows: [
                ["sku", "name", "price", "qty", "updated"],
                ["A-100", "Garden shears", "12.90", "40", "2024-03-01"],
                ["A-101", "Rose pruner", "15.50", "25", "2024-03-02"],
                ["B-200", "Hedge trimmer", "34.90", "8", "2024-03-05"],
                ["B-201", "Watering can", "7.25", "120", "2024-03-07"],
            ]),
        Case(
            "comment_lines.csv", encoding: "utf-8", delimiter: ",", quote: "\"", escape: "double", lineTerminator: "lf", trims: false, comment: "#",
            preamble: 0,
            numbers: [3, 4, 5, 6, 7],
            rows: [
                ["sku", "name", "price", "qty", "updated"],
                ["A-100", "Garden shears", "12.90", "40", "2024-03-01"],
                ["A-101", "Rose pruner", "15.50", "25", "2024-03-02"],
                ["B-200", "Hedge trimmer", "34.90", "8", "2024-03-05"],
                ["B-201", "Watering can", "7.25", "120", "2024-03-07"],
            ]),
        Case(
            "preamble_footnotes.csv", encoding: "utf-8", delimiter: ";", quote: "\"", escape: "double", lineTerminator: "mixed", trims: false,
            comment: nil, preamble: 3,
            numbers: [4, 5, 6, 7, 8, 10, 11],
            rows: [
                ["sku", "name", "price", "qty", "updated"],
                ["A-100", "Garden shears", "12.90", "40", "2024-03-01"],
                ["A-101", "Rose pruner", "15.50", "25", "2024-03-02"],
                ["B-200", "Hedge trimmer", "34.90", "8", "2024-03-05"],
                ["B-201", "Watering can", "7.25", "120", "2024-03-07"],
                ["* all prices without VAT"],
                ["questions to sales department"],
            ]),
        Case(
            "blank_lines.csv", encoding: "utf-8", delimiter: ",", quote: "\"", escape: "double", lineTerminator: "lf", trims: false, comment: nil,
            preamble: 0,
            numbers: [1, 3, 4, 7, 8],
            rows: [
                ["sku", "name", "price", "qty", "updated"],
                ["A-100", "Garden shears", "12.90", "40", "2024-03-01"],
                ["A-101", "Rose pruner", "15.50", "25", "2024-03-02"],
                ["B-200", "Hedge trimmer", "34.90", "8", "2024-03-05"],
                ["B-201", "Watering can", "7.25", "120", "2024-03-07"],
            ]),
        Case(
            "ragged_rows.csv", encoding: "utf-8", delimiter: ",", quote: "\"", escape: "double", lineTerminator: "lf", trims: false, comment: nil,
            preamble: 0,
            numbers: [1, 2, 3, 4, 5],
            rows: [
                ["sku", "name", "price", "qty", "updated"],
                ["A-100", "Garden shears", "12.90"],
                ["A-101", "Rose pruner", "15.50", "25", "2024-03-02", "discontinued", "see catalogue"],
                ["B-200", "Hedge trimmer", "34.90", "8", "2024-03-05"],
                ["B-201", "Watering can", "7.25", "120"],
            ]),
        Case(
            "trailing_delimiter.csv", encoding: "utf-8", delimiter: ",", quote: "\"", escape: "double", lineTerminator: "lf", trims: false,
            comment: nil, preamble: 0,
            numbers: [1, 2, 3, 4, 5],
            rows: [
                ["sku", "name", "price", "qty", "updated", ""],
                ["A-100", "Garden shears", "12.90", "40", "2024-03-01", ""],
                ["A-101", "Rose pruner", "15.50", "25", "2024-03-02", ""],
                ["B-200", "Hedge trimmer", "34.90", "8", "2024-03-05", ""],
                ["B-201", "Watering can", "7.25", "120", "2024-03-07", ""],
            ]),
        Case(
            "windows1252.csv", encoding: "windows-1252", delimiter: ";", quote: "\"", escape: "double", lineTerminator: "crlf", trims: false,
            comment: nil, preamble: 0,
            numbers: [1, 2, 3, 4, 5, 6],
            rows: [
                ["sku", "name", "city", "price"],
                ["F-1", "Sécateur forgé", "Besançon", "12,90"],
                ["D-2", "Gartenschere für Rosen", "Köln", "15,50"],
                ["E-3", "Tijeras de podar, niño", "Logroño", "9,95"],
                ["D-4", "Heckenschere groß", "Düsseldorf", "34,90"],
                ["D-5", "Rasenmäher – „Profi“ 40 €", "Zürich", "249,00"],
            ]),
        Case(
            "latin1.csv", encoding: "latin-1", delimiter: ";", quote: "\"", escape: "double", lineTerminator: "crlf", trims: false, comment: nil,
            preamble: 0,
            numbers: [1, 2, 3, 4, 5],
            rows: [
                ["sku", "name", "city", "price"],
                ["F-1", "Sécateur forgé", "Besançon", "12,90"],
                ["D-2", "Gartenschere für Rosen", "Köln", "15,50"],
                ["E-3", "Tijeras de podar, niño", "Logroño", "9,95"],
                ["D-4", "Heckenschere groß", "Düsseldorf", "34,90"],
            ]),
        Case(
            "utf16le_bom.csv", encoding: "utf-16le", delimiter: "\t", quote: "\"", escape: "double", lineTerminator: "crlf", trims: false,
            comment: nil, preamble: 0,
            numbers: [1, 2, 3, 4, 5, 6],
            rows: [
                ["sku", "name", "city", "price"],
                ["F-1", "Sécateur forgé", "Besançon", "12,90"],
                ["D-2", "Gartenschere für Rosen", "Köln", "15,50"],
                ["E-3", "Tijeras de podar, niño", "Logroño", "9,95"],
                ["D-4", "Heckenschere groß", "Düsseldorf", "34,90"],
                ["J-6", "剪定ばさみ", "東京", "2.400"],
            ]),
        Case(
            "utf16be_bom.csv", encoding: "utf-16be", delimiter: ";", quote: "\"", escape: "double", lineTerminator: "lf", trims: false, comment: nil,
            preamble: 0,
            numbers: [1, 2, 3, 4, 5, 6],
            rows: [
                ["sku", "name", "city", "price"],
                ["F-1", "Sécateur forgé", "Besançon", "12,90"],
                ["D-2", "Gartenschere für Rosen", "Köln", "15,50"],
                ["E-3", "Tijeras de podar, niño", "Logroño", "9,95"],
                ["D-4", "Heckenschere groß", "Düsseldorf", "34,90"],
                ["J-6", "剪定ばさみ", "東京", "2.400"],
            ]),
        Case(
            "utf16le_nobom.csv", encoding: "utf-16le", delimiter: ",", quote: "\"", escape: "double", lineTerminator: "crlf", trims: false,
            comment: nil, preamble: 0,
            numbers: [1, 2, 3, 4, 5, 6],
            rows: [
                ["sku", "name", "city", "price"],
                ["F-1", "Sécateur forgé", "Besançon", "12,90"],
                ["D-2", "Gartenschere für Rosen", "Köln", "15,50"],
                ["E-3", "Tijeras de podar, niño", "Logroño", "9,95"],
                ["D-4", "Heckenschere groß", "Düsseldorf", "34,90"],
                ["J-6", "剪定ばさみ", "東京", "2.400"],
            ]),
        Case(
            "utf16be_nobom.csv", encoding: "utf-16be", delimiter: "\t", quote: "\"", escape: "double", lineTerminator: "lf", trims: false,
            comment: nil, preamble: 0,
            numbers: [1, 2, 3, 4, 5, 6],
            rows: [
                ["sku", "name", "city", "price"],
                ["F-1", "Sécateur forgé", "Besançon", "12,90"],
                ["D-2", "Gartenschere für Rosen", "Köln", "15,50"],
                ["E-3", "Tijeras de podar, niño", "Logroño", "9,95"],
                ["D-4", "Heckenschere groß", "Düsseldorf", "34,90"],
                ["J-6", "剪定ばさみ", "東京", "2.400"],
            ]),
        Case(
            "utf8_bom.csv", encoding: "utf-8", delimiter: ";", quote: "\"", escape: "double", lineTerminator: "crlf", trims: false, comment: nil,
            preamble: 0,
            numbers: [1, 2, 3, 4, 5, 6],
            rows: [
                ["sku", "name", "city", "price"],
                ["F-1", "Sécateur forgé", "Besançon", "12,90"],
                ["D-2", "Gartenschere für Rosen", "Köln", "15,50"],
                ["E-3", "Tijeras de podar, niño", "Logroño", "9,95"],
                ["D-4", "Heckenschere groß", "Düsseldorf", "34,90"],
                ["J-6", "剪定ばさみ", "東京", "2.400"],
            ]),
        Case(
            "spectrum_newlines_cr.csv", encoding: "utf-8", delimiter: ",", quote: "\"", escape: "double", lineTerminator: "cr", trims: false,
            comment: nil, preamble: 0,
            numbers: [1, 2, 3, 4],
            rows: [
                ["a", "b", "c"],
                ["1", "2", "3"],
                ["Once upon \ra time", "5", "6"],
                ["7", "8", "9"],
            ]),
    ]
}
