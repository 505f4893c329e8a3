import Foundation
import Models
import Testing

@testable import Extraction

@Suite struct TabularFormatTests {
    @Test func detectsRealFormats() throws {
        #expect(try FormatDetector.detect(path: TabularFixture.path("products.xlsx"), fileName: "products.xlsx") == .xlsx)
        #expect(try FormatDetector.detect(path: TabularFixture.path("people.xls"), fileName: "people.xls") == .xls)
        #expect(try FormatDetector.detect(path: TabularFixture.path("semicolon.csv"), fileName: "x.csv") == .csv)
        #expect(try FormatDetector.detect(path: TabularFixture.path("semicolon.csv"), fileName: "x.txt") == .txt)
        #expect(try FormatDetector.detect(path: TabularFixture.path("utf16le.csv"), fileName: "x.tsv") == .tsv)
        let nd = try TabularFixture.temp("a.ndjson", Array("{\"a\":1}\n{\"a\":2}\n".utf8))
        #expect(try FormatDetector.detect(path: nd, fileName: "a.jsonl") == .ndjson)
        #expect(try FormatDetector.detect(path: nd, fileName: "a.json") == .ndjson)
        let js = try TabularFixture.temp("a.json", Array("  [{\"a\":1}]".utf8))
        #expect(try FormatDetector.detect(path: js, fileName: "a.json") == .json)
        let pdf = try TabularFixture.temp("a.pdf", Array("%PDF-1.4\n...".utf8))
        #expect(try FormatDetector.detect(path: pdf, fileName: "a.pdf") == .pdf)
        let html = try TabularFixture.temp("a.html", Array("<!DOCTYPE html><html></html>".utf8))
        #expect(try FormatDetector.detect(path: html, fileName: "page.htm") == .html)
    }

    @Test func mismatchesAndEmpty() throws {
        let xlsx = try TabularFixture.path("products.xlsx")
        #expect(TabularFixture.code { _ = try FormatDetector.detect(path: xlsx, fileName: "data.csv") } == .formatMismatch)
        let pdf = try TabularFixture.temp("a.pdf", Array("%PDF-1.4\n".utf8))
        #expect(TabularFixture.code { _ = try FormatDetector.detect(path: pdf, fileName: "book.xlsx") } == .formatMismatch)
        var garbage = [UInt8](repeating: 0, count: 4096)
        for i in garbage.indices { garbage[i] = UInt8((i * 7919) & 0xFF) }
        let bin = try TabularFixture.temp("g.csv", garbage)
        #expect(TabularFixture.code { _ = try FormatDetector.detect(path: bin, fileName: "g.csv") } == .formatMismatch)
        let empty = try TabularFixture.temp("e.csv", [])
        #expect(TabularFixture.code { _ = try FormatDetector.detect(path: empty, fileName: "e.csv") } == .emptyFile)
        let text = try TabularFixture.temp("t.dat", Array("hello".utf8))
        #expect(TabularFixture.code { _ = try FormatDetector.detect(path: text, fileName: "t.dat") } == .unsupportedFormat)
        #expect(TabularFixture.code { _ = try FormatDetector.detect(path: text, fileName: "t.json") } == .formatMismatch)
    }

    @Test func tabularFlags() {
        #expect(FileFormat.allCases.filter(\.isTabular) == [.csv, .tsv, .xlsx, .xls, .json, .ndjson])
    }
}
