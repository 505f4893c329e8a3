import Foundation
import Models
import Testing

@testable import Extraction

@Suite struct TabularCSVTests {
    @Test func rfc4180QuotesNewlinesAndEscapes() throws {
        let rows = try CSVParser.parse("a,\"b,c\",d\r\n\"x\ny\",\"he said \"\"hi\"\"\",\n\nlast,,\"\"")
        #expect(rows == [["a", "b,c", "d"], ["x\ny", "he said \"hi\"", ""], ["last", "", ""]])
    }

    @Test func parserHandlesChunkSplitsAnywhere() throws {
        let text = Array("id,name\r\n1,\"Zo\"\"ë\r\nx\"\r2,b\n".utf8)
        for split in 1..<text.count {
            var p = CSVParser()
            var rows: [[String]] = []
            try p.feed(Array(text[..<split])) { _, f in rows.append(f) }
            try p.feed(Array(text[split...])) { _, f in rows.append(f) }
            try p.finish { _, f in rows.append(f) }
            #expect(rows == [["id", "name"], ["1", "Zo\"ë\r\nx"], ["2", "b"]], "split at \(split)")
        }
    }

    @Test func quotedNewlinesFixtureWithBOMAndRowNumbers() throws {
        let rows = try TabularFixture.rows(.csv, TabularFixture.path("quoted_newlines.csv"))
        #expect(rows.map(\.0) == [1, 2, 3, 5])
        #expect(rows[0].1 == ["id", "text", "n"])
        #expect(rows[1].1 == ["1", "line one\r\nline two", "5"])
        #expect(rows[2].1 == ["2", "say \"hi\"", "6"])
        #expect(rows[3].1 == ["3", "plain", "7"])
    }

    @Test func utf16LittleAndBigEndian() throws {
        let le = try TabularFixture.rows(.csv, TabularFixture.path("utf16le.csv"))
        #expect(le.map(\.1) == [["id", "name", "city"], ["1", "Zoë", "Köln"], ["2", "Renée", "Besançon"]])
        let be = try TabularFixture.rows(.csv, TabularFixture.path("utf16be.csv"))
        #expect(be.map(\.1) == le.map(\.1))  // tab sniffed
    }

    @Test func windows1252Fallback() throws {
        let rows = try TabularFixture.rows(.csv, TabularFixture.path("cp1252.csv"))
        #expect(rows[1].1 == ["1", "Zoë", "Köln"])
        #expect(rows[3].1 == ["3", "Price €5", "“quoted”"])
    }

    @Test func semicolonSniffed() throws {
        let rows = try TabularFixture.rows(.csv, TabularFixture.path("semicolon.csv"))
        #expect(rows.map(\.1) == [["name", "price", "note"], ["Widget", "12,50", "ok"], ["Gadget", "3,10", "a;b"]])
        #expect(CSVDialectSniffer.sniff(Array("a|b|c\n1|2|3\n".utf8), isWholeFile: true).dialect.delimiter == UInt8(ascii: "|"))
    }

    @Test func invalidUTF8FieldIsDecodedAsWindows1252() throws {
        let path = try TabularFixture.temp("bad.csv", Array("a,b\n".utf8) + [0xC3, 0x28, 0x2C, 0x41, 0x0A])
        let rows = try TabularFixture.rows(.csv, path)
        #expect(rows[1].1 == ["Ã(", "A"])
    }

    @Test func fiftyMegabyteLineFailsFastWithRowTooLong() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("quarry-longline-\(UUID().uuidString).csv")
        FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        let block = Data(repeating: UInt8(ascii: "x"), count: 1 << 20)
        for _ in 0..<50 { handle.write(block) }
        try handle.close()
        defer { try? FileManager.default.removeItem(at: url) }
        var lastProgress: Int64 = 0
        var thrown: JobError?
        do {
            try CSVReader(path: url.path).read(limits: ExtractionLimits(), isCancelled: { false }, progress: { lastProgress = $0 }) { _, _ in }
        } catch let e as JobError { thrown = e }
        #expect(thrown?.code == .rowTooLong)
        #expect(thrown?.details["row"] == "1")
        #expect(lastProgress < 4 << 20)  // stopped after ~1 MB, not at the end
    }

    @Test func cancellationIsPrompt() throws {
        var text = "a,b\n"
        for i in 0..<20_000 { text += "\(i),x\n" }
        let path = try TabularFixture.temp("many.csv", Array(text.utf8))
        var seen = 0
        let code = TabularFixture.code {
            try CSVReader(path: path).read(limits: ExtractionLimits(), isCancelled: { true }, progress: { _ in }) { _, _ in seen += 1 }
        }
        #expect(code == .cancelled)
        #expect(seen < 5000)
    }

    @Test func rowLimitAndColumnLimit() throws {
        let path = try TabularFixture.temp("rows.csv", Array("h\n1\n2\n3\n".utf8))
        #expect(TabularFixture.code { _ = try TabularFixture.rows(.csv, path, limits: ExtractionLimits(maxRows: 2)) } == .rowLimitExceeded)
        #expect(try TabularFixture.rows(.csv, path, limits: ExtractionLimits(maxRows: 3)).count == 4)
        let wide = try TabularFixture.temp("wide.csv", Array((String(repeating: "a,", count: 20) + "a\n").utf8))
        #expect(TabularFixture.code { _ = try TabularFixture.rows(.csv, wide, limits: ExtractionLimits(maxColumns: 10)) } == .rowTooLong)
    }

    @Test func unterminatedQuoteIsMalformed() throws {
        #expect(TabularFixture.code { _ = try CSVParser.parse("a,\"open\n1,2\n") } == .malformedFile)
    }

    @Test func benchmarkParsesEveryRow() {
        let result = CSVBenchmark.run(rows: 20_000)
        #expect(result.rows == 20_000)
        #expect(result.mbPerSecond > 0)
    }
}
