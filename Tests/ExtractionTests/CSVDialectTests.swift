import Foundation
import Models
import Testing

@testable import Extraction

/// Dialects and encodings beyond the corpus files: padding, comments between rows, explicit overrides,
/// Latin-1 vs Windows-1252, and the parser's new states split across chunks.
@Suite struct CSVDialectTests {
    static func read(_ text: [UInt8], options: TabularOptions = TabularOptions()) throws -> [(Int, [String])] {
        try TabularFixture.rows(.csv, try TabularFixture.temp("dialect.csv", text), options: options)
    }

    static func inspect(_ text: [UInt8], options: TabularOptions = TabularOptions()) throws -> TabularSourceInfo {
        try CSVReader(path: try TabularFixture.temp("dialect.csv", text), options: options).inspect(limits: ExtractionLimits())
    }

    @Test func spacesAroundPipeDelimitedFieldsAreTrimmedButNotInsideQuotes() throws {
        let text = Array("sku | name          | price \nA-1 | Garden shears | 12.50 \nA-2 | \" padded \"    | 7.10 \n".utf8)
        let rows = try Self.read(text)
        #expect(rows.map(\.1) == [["sku", "name", "price"], ["A-1", "Garden shears", "12.50"], ["A-2", " padded ", "7.10"]])
        let dialect = try #require(try Self.inspect(text).dialect)
        #expect(dialect.delimiter == "|")
        #expect(dialect.trimsSpaces)
    }

    @Test func commentLinesBetweenRowsAreSkippedAndCounted() throws {
        let text = Array("id,name,qty\n1,a,3\n# checked by Jo, 2024\n2,b,4\n#\n3,c,5\n".utf8)
        let rows = try Self.read(text)
        #expect(rows.map(\.1) == [["id", "name", "qty"], ["1", "a", "3"], ["2", "b", "4"], ["3", "c", "5"]])
        #expect(rows.map(\.0) == [1, 2, 4, 6])
        #expect(try Self.inspect(text).dialect?.commentPrefix == "#")
    }

    @Test func aHashThatStartsFullWidthRowsIsData() throws {
        let text = Array("tag,name\n#1,a\n#2,b\n".utf8)
        #expect(try Self.read(text).map(\.1) == [["tag", "name"], ["#1", "a"], ["#2", "b"]])
        #expect(try Self.inspect(text).dialect?.commentPrefix == nil)
    }

    @Test func aHeaderMuchShorterThanTheRowsIsNotPreamble() throws {
        let text = Array("sku,price\nA-1,2.50,x,y,z\nA-2,3.10,x,y,z\nA-3,4.00,x,y,z\n".utf8)
        #expect(try Self.read(text).map(\.0) == [1, 2, 3, 4])
        #expect(try Self.inspect(text).dialect?.preambleLines == 0)
    }

    @Test func timesDoNotMakeColonTheDelimiter() throws {
        let text = Array("id,time,name\n1,12:30:00,foo\n2,13:45:10,bar\n3,08:05:59,baz\n".utf8)
        #expect(try Self.inspect(text).dialect?.delimiter == ",")
        #expect(try Self.read(text)[1].1 == ["1", "12:30:00", "foo"])
    }

    @Test func theJobsDelimiterOverridesTheSniffer() throws {
        let text = Array("a;b,c\n1;2,3\n4;5,6\n".utf8)
        let options = TabularOptions(delimiter: UInt8(ascii: ","))
        #expect(try Self.read(text, options: options).map(\.1) == [["a;b", "c"], ["1;2", "3"], ["4;5", "6"]])
        let dialect = try #require(try Self.inspect(text, options: options).dialect)
        #expect(dialect.delimiter == "," && !dialect.sniffed && dialect.confidence == 1)
        #expect(try Self.inspect(text).dialect?.delimiter == ";")
    }

    @Test func latin1AndWindows1252AreToldApartByBytes0x80To0x9F() throws {
        let latin1: [UInt8] = Array("name;city\nZo".utf8) + [0xEB] + Array(";K".utf8) + [0xF6] + Array("ln\n".utf8)
        #expect(try Self.inspect(latin1).encoding == "latin-1")
        #expect(try Self.read(latin1)[1].1 == ["Zoë", "Köln"])
        let cp1252: [UInt8] = latin1 + Array("Preis ".utf8) + [0x80] + Array(";".utf8) + [0x93, 0x71, 0x94] + [0x0A]
        #expect(try Self.inspect(cp1252).encoding == "windows-1252")
        #expect(try Self.read(cp1252)[2].1 == ["Preis €", "“q”"])
        // Asked for Latin-1, 0x80 is the C1 control U+0080.
        let strict = try Self.read(cp1252, options: TabularOptions(encoding: .latin1))
        #expect(strict[2].1[0].unicodeScalars.last == Unicode.Scalar(0x80))
    }

    @Test func aWindows1252FieldThatHappensToBeValidUTF8IsStillWindows1252() throws {
        // "Ã©" in Windows-1252 is C3 A9, also valid UTF-8 for "é": the file-wide decision keeps it "Ã©".
        let bytes: [UInt8] = Array("a;b\n".utf8) + [0xC3, 0xA9] + Array(";".utf8) + [0x80] + Array("\n".utf8)
        #expect(try Self.read(bytes)[1].1 == ["Ã©", "€"])
    }

    @Test func utf16WithoutBOMIsFoundByItsNULs() throws {
        let text = "id\tname\n1\tZoë\n2\t東京\n"
        let le = Array(text.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        let be = Array(text.utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] })
        #expect(try Self.read(le).map(\.1) == [["id", "name"], ["1", "Zoë"], ["2", "東京"]])
        #expect(try Self.read(be).map(\.1) == [["id", "name"], ["1", "Zoë"], ["2", "東京"]])
        #expect(try Self.inspect(le).encoding == "utf-16le")
        #expect(try Self.inspect(be).encoding == "utf-16be")
    }

    @Test func backslashEscapesOutsideQuotesToo() throws {
        let dialect = CSVDialect(delimiter: UInt8(ascii: ","), escape: .backslash)
        #expect(try CSVParser.parse("a\\,b,\"c \\\"d\\\" \\\\\",e\n", dialect: dialect) == [["a,b", "c \"d\" \\", "e"]])
    }

    static let splitCases: [(CSVDialect, String)] = [
        (CSVDialect(delimiter: UInt8(ascii: ","), escape: .backslash), "id,name\r\n1,\"x\\\"y, z\"\\,w\r\n\r2,b\n"),
        (
            CSVDialect(delimiter: UInt8(ascii: "|"), trimSpaces: true, commentPrefix: UInt8(ascii: "#")),
            "id | name\r\n# note | x\r\n1 | \" a \"  | b \r\n\r2|c\n"
        ),
        (CSVDialect(delimiter: UInt8(ascii: " "), quote: UInt8(ascii: "'"), trimSpaces: true), "id  name\r\n1   'x ''y'  z\r\n\r2 b\n"),
    ]

    @Test(arguments: 0..<3)
    func newDialectStatesSurviveChunkSplitsAnywhere(_ index: Int) throws {
        let (dialect, string) = Self.splitCases[index]
        let text = Array(string.utf8)
        let whole = try parse(text, dialect, split: nil)
        #expect(whole.count == 3)
        #expect(whole[0] == ["id", "name"] && whole[2] == ["2", index == 1 ? "c" : "b"])
        for split in 1..<text.count {
            #expect(try parse(text, dialect, split: split) == whole, "split at \(split)")
        }
    }

    /// Mutated corpus files (FuzzTests' mutator, with backslashes, quotes, `#` and spaces among the inserted bytes):
    /// the probe always decides, and the reader in the probed dialect either reads every row or fails with a
    /// `JobError`, with the same rows whatever the chunking.
    @Test func mutatedFilesAreProbedAndReadOrRefused() throws {
        let folder = CSVDialectCorpusTests.folder
        let seeds = try Self.corpusFiles.map { Array(try Data(contentsOf: folder.appendingPathComponent($0))) }
        var rng = FuzzTests.Rng(state: 0x5DEE_CE66_D1CE_5EED)
        var read = 0
        for i in 0..<FuzzTests.iterations {
            var input = FuzzTests.mutate(seeds[i % seeds.count], &rng)
            for b in Array("\\'\"# |".utf8) where rng.below(4) == 0 { input.insert(b, at: rng.below(input.count + 1)) }
            let encoding = TextEncodingDetector.detect(input, isWholeFile: true, hint: .auto)
            let sniffed = CSVDialectSniffer.sniff(Array(input.dropFirst(encoding.bomLength)), isWholeFile: true)
            #expect((0...1).contains(sniffed.confidence))
            do {
                let whole = try parse(input, sniffed.dialect, split: nil)
                #expect(try parse(input, sniffed.dialect, split: input.count / 2) == whole)
                read += 1
            } catch is JobError {}
        }
        #expect(read > FuzzTests.iterations / 2)
    }

    static let corpusFiles = [
        "backslash_escape.csv", "comment_lines.csv", "preamble_footnotes.csv", "single_quote.csv", "space_aligned.csv",
        "comma_space_delimiter.csv", "windows1252.csv", "utf16le_nobom.csv",
    ]

    private func parse(_ text: [UInt8], _ dialect: CSVDialect, split: Int?) throws -> [[String]] {
        var parser = CSVParser(dialect: dialect)
        var rows: [[String]] = []
        let cut = split ?? text.count
        try parser.feed(Array(text[..<cut])) { _, f in rows.append(f) }
        try parser.feed(Array(text[cut...])) { _, f in rows.append(f) }
        try parser.finish { _, f in rows.append(f) }
        return rows
    }
}
