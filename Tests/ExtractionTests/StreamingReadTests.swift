import Foundation
import Models
import Testing

@testable import Extraction

/// Bytes delivered in uneven pieces, as an upload in progress delivers them to the streaming readers.
final class PiecewiseStream: ByteStream {
    let bytes: [UInt8]
    let pieces: [Int]
    var offset = 0
    var turn = 0

    init(_ bytes: [UInt8], pieces: [Int]) {
        self.bytes = bytes
        self.pieces = pieces
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, pieces[turn % pieces.count], bytes.count - offset)
        turn += 1
        bytes[offset..<offset + n].withUnsafeBytes { buffer.copyMemory(from: $0) }
        offset += n
        return n
    }
}

struct PiecewiseSource: ByteStreamSource {
    let bytes: [UInt8]
    var pieces = [1, 7, 4096, 65_536, 300_001]
    var expectedBytes: Int64? { Int64(bytes.count) }
    func open() throws -> any ByteStream { PiecewiseStream(bytes, pieces: pieces) }
}

/// The streaming readers read a ``ByteStream`` exactly as they read the same bytes from a file.
@Suite struct StreamingReadTests {
    static func rows(_ reader: any TabularReader) throws -> [(Int, [String])] {
        var out: [(Int, [String])] = []
        try reader.read(limits: ExtractionLimits(), isCancelled: { false }, progress: { _ in }) { n, f in out.append((n, f)) }
        return out
    }

    static func same(_ a: [(Int, [String])], _ b: [(Int, [String])]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    @Test(arguments: ["quoted_newlines.csv", "semicolon.csv", "utf16le.csv", "cp1252.csv"])
    func csvFromAStreamEqualsCSVFromTheFile(_ name: String) throws {
        let path = try TabularFixture.path(name)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let fromFile = try TabularFixture.rows(.csv, path)
        let source = PiecewiseSource(bytes: bytes)
        let reader = try TabularReaders.make(format: .csv, source: source, path: "/nonexistent/\(name)")
        #expect(Self.same(try Self.rows(reader), fromFile))
        #expect(try reader.inspect(limits: ExtractionLimits()) == TabularReaders.make(format: .csv, path: path).inspect(limits: ExtractionLimits()))
    }

    @Test func aLargeCSVAndNDJSONAcrossManyChunks() throws {
        var csv = "sku,name,price\n"
        var ndjson = ""
        for i in 0..<40_000 {
            csv += "S-\(i),\"Name, \(i)\",\(i).5\n"
            ndjson += #"{"sku":"S-\#(i)","price":"\#(i).5"}"# + "\n"
        }
        for (format, text) in [(FileFormat.csv, csv), (.ndjson, ndjson)] {
            let path = try TabularFixture.temp("big.\(format.rawValue)", Array(text.utf8))
            defer { try? FileManager.default.removeItem(atPath: path) }
            let fromFile = try TabularFixture.rows(format, path)
            let streamed = try Self.rows(TabularReaders.make(format: format, source: PiecewiseSource(bytes: Array(text.utf8)), path: path))
            #expect(fromFile.count > 40_000)
            #expect(Self.same(streamed, fromFile))
        }
    }

    @Test func formatsThatNeedTheWholeFileAreRefused() {
        let source = PiecewiseSource(bytes: Array("a,b\n".utf8))
        for format in [FileFormat.xlsx, .xls, .txt, .pdf] {
            #expect(TabularFixture.code { _ = try TabularReaders.make(format: format, source: source, path: "x") } == .unsupportedFormat)
        }
        #expect(FileFormat.csv.isStreamable && FileFormat.ndjson.isStreamable && !FileFormat.xlsx.isStreamable)
    }

    @Test func detectionFromTheHeadAlone() throws {
        #expect(try FormatDetector.detect(head: Array("a,b\n1,2\n".utf8), fileName: "x.csv") == .csv)
        #expect(try FormatDetector.detect(head: Array(#"{"a":1}"#.utf8) + [10], fileName: "x.ndjson") == .ndjson)
        let zip: [UInt8] = [0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 0, count: 60)
        #expect(TabularFixture.code { _ = try FormatDetector.detect(head: zip, fileName: "x.csv") } == .formatMismatch)
        #expect(TabularFixture.code { _ = try FormatDetector.detect(head: [], fileName: "x.csv") } == .emptyFile)
    }
}
