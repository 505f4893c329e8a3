import Foundation
import Models
import Testing

@testable import Extraction

/// The original text of each record (the reject file, issue 16 part 4) and the .xlsx the reject file is written as.
@Suite struct RejectLineTests {
    static let text = "id;note\r\n1;\"a \"\"q\"\"; b\"\r\n\n# c\n2;\"two\nlines\"\r3 ; x ;\n\"4\";\"\"\"end\"\"\""
    static let expected: [(Int, String)] = [
        (1, "id;note"), (2, "1;\"a \"\"q\"\"; b\""), (5, "2;\"two\nlines\""), (6, "3 ; x ;"), (7, "\"4\";\"\"\"end\"\"\""),
    ]

    /// Every record's text comes back byte for byte (quotes, embedded line breaks, padding), wherever the chunks
    /// split it; blank and comment lines are not records.
    @Test func linesSurviveEveryChunkSplit() throws {
        let bytes = Array(Self.text.utf8)
        var dialect = CSVDialect(delimiter: UInt8(ascii: ";"))
        dialect.commentPrefix = UInt8(ascii: "#")
        for split in 0...bytes.count {
            var parser = CSVParser(dialect: dialect)
            var got: [(Int, String)] = []
            let collect: CSVParser.LineHandler = { n, _, line in got.append((n, String(decoding: line, as: UTF8.self))) }
            try bytes[..<split].withUnsafeBufferPointer { try parser.feedLines($0, onRecord: collect) }
            try bytes[split...].withUnsafeBufferPointer { try parser.feedLines($0, onRecord: collect) }
            try parser.finishLines(onRecord: collect)
            #expect(got.map(\.0) == Self.expected.map(\.0), "split at \(split)")
            #expect(got.map(\.1) == Self.expected.map(\.1), "split at \(split)")
        }
    }

    /// The reader hands the same text out, decoded like the cells (here a Windows-1252 file).
    @Test func readerOffersTheLineDecoded() throws {
        let path = try TabularFixture.temp("latin.csv", Array("sku,name\n1,\"Caf\u{E9}, \"\"noir\"\"\"\n".unicodeScalars.map { UInt8($0.value) }))
        var lines: [String] = []
        try CSVReader(path: path).readLines(limits: ExtractionLimits(), isCancelled: { false }, progress: { _ in }) { _, _, line in
            lines.append(line())
        }
        #expect(lines == ["sku,name", "1,\"Café, \"\"noir\"\"\""])
    }

    /// A workbook written by ``XLSXTableWriter`` reads back cell for cell through the XLSX reader.
    @Test func tableWriterRoundTrips() throws {
        let path = NSTemporaryDirectory() + "writer-\(UUID().uuidString).xlsx"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let rows: [[String]] = [
            ["sku", "note", "row_number"], ["=1+1", "a <b> & \"c\"\nline 2\r\n", "3"], ["  padded  ", "tab\there", "12"],
            (0..<30).map { "c\($0)" },
        ]
        let writer = try XLSXTableWriter(path: path, sheetName: "Rejects")
        for row in rows { try writer.append(row.map { Int($0) != nil ? .number(Double($0) ?? 0) : .text($0) }) }
        try writer.finish()
        #expect(!FileManager.default.fileExists(atPath: path + ".sheet.xml"))
        let read = try TabularFixture.rows(.xlsx, path)
        #expect(read.map(\.1) == rows)
    }
}
