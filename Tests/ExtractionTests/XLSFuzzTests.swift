import Foundation
import Models
import Testing

@testable import Extraction

/// The in-process BIFF reader on hostile input: every truncation point class, random byte flips over the
/// corpus workbooks, and hand-made compound-file corruptions (a FAT cycle, out-of-range sectors, a huge
/// stream size). Each input must read or fail with a `JobError` (`MALFORMED_FILE` for the structural
/// ones) — never crash, never hang.
@Suite(.timeLimit(.minutes(3)))
struct XLSFuzzTests {
    static let seeds = [
        "xlwt-biff8.xls", "lo-biff8-formulas.xls", "biff5-excel95.xls", "xlwt-date1904.xls", "lo-long-formula-string.xls",
        "biff5-column-order.xls",
    ]

    static func seed(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: try WorkbookCorpusTests.corpus("xls", name))))
    }

    static func read(_ bytes: [UInt8]) throws -> JobError.Code? {
        try readRows(bytes).code
    }

    static func readRows(_ bytes: [UInt8]) throws -> (code: JobError.Code?, rows: [[String]]) {
        let path = try TabularFixture.temp("fuzz.xls", bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let limits = ExtractionLimits(maxRows: 10_000, maxColumns: 300, maxCellsScanned: 200_000)
        var rows: [[String]] = []
        let code = TabularFixture.code { rows = try TabularFixture.rows(.xls, path, limits: limits).map(\.1) }
        return (code, rows)
    }

    @Test func truncationsFailCleanly() throws {
        for name in Self.seeds {
            let bytes = try Self.seed(name)
            // Every 512-byte sector boundary and a few points inside the header and the first sectors.
            var cuts = Array(stride(from: 0, to: bytes.count, by: 512)) + [1, 8, 75, 76, 300, 511, 513, 700, 1100, 1600]
            cuts += (0..<20).map { bytes.count * $0 / 20 + 3 }
            let whole = try Self.readRows(bytes)
            for cut in Set(cuts) where cut < bytes.count {
                let (code, rows) = try Self.readRows(Array(bytes.prefix(cut)))
                #expect(code != JobError.Code("OTHER"), "\(name) cut at \(cut): \(String(describing: code))")
                // A cut that only removes unused trailing sectors may read; it must then read everything.
                if code == nil { #expect(rows == whole.rows, "\(name) cut at \(cut) read without error but lost rows") }
            }
        }
    }

    @Test func randomByteFlipsNeverCrash() throws {
        var rng = FuzzTests.Rng(state: 0xD1B5_4A32_D192_ED03)
        var codes: [String: Int] = [:]
        for i in 0..<FuzzTests.iterations {
            var bytes = try Self.seed(Self.seeds[i % Self.seeds.count])
            for _ in 0..<(1 + rng.below(6)) {
                // Half the flips land in the structures (header, FAT, directory), half anywhere.
                let at = rng.below(2) == 0 ? rng.below(min(bytes.count, 2048)) : rng.below(bytes.count)
                bytes[at] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            }
            let code = try Self.read(bytes)
            #expect(code != JobError.Code("OTHER"), "mutation \(i) threw a non-JobError")
            codes[code?.rawValue ?? "ok", default: 0] += 1
        }
        print("xls fuzz outcomes: \(codes.sorted { $0.key < $1.key })")
    }

    /// Byte offset of FAT entry `sector` in a 512-byte-sector file whose first FAT sector is in DIFAT slot 0.
    static func fatOffset(_ bytes: [UInt8], _ sector: UInt32) -> Int {
        let fatSector = Int(le32(bytes, 76))
        return (fatSector + 1) * 512 + Int(sector) * 4
    }

    static func put32(_ bytes: inout [UInt8], _ at: Int, _ v: UInt32) {
        for k in 0..<4 { bytes[at + k] = UInt8(truncatingIfNeeded: v >> (8 * k)) }
    }

    @Test func compoundFileCorruptionsAreMalformed() throws {
        let bytes = try Self.seed("xlwt-biff8.xls")
        let path = try WorkbookCorpusTests.corpus("xls", "xlwt-biff8.xls")
        let workbook = try #require(try CompoundFile(path: path).rootStream(named: ["Workbook"]))
        let chain = try CompoundFile(path: path).chain(from: workbook.start, bytes: workbook.size)
        #expect(chain.count > 3)

        var cycle = bytes  // the third sector of the Workbook chain points back to the first
        Self.put32(&cycle, Self.fatOffset(bytes, chain[2]), chain[0])
        #expect(try Self.read(cycle) == .malformedFile)

        var selfLoop = bytes
        Self.put32(&selfLoop, Self.fatOffset(bytes, chain[0]), chain[0])
        #expect(try Self.read(selfLoop) == .malformedFile)

        var outOfRange = bytes
        Self.put32(&outOfRange, Self.fatOffset(bytes, chain[1]), 0x00FF_FFF0)
        #expect(try Self.read(outOfRange) == .malformedFile)

        var badDirectory = bytes  // first directory sector far beyond the end of the file
        Self.put32(&badDirectory, 48, 0x0100_0000)
        #expect(try Self.read(badDirectory) == .malformedFile)

        var fatCount = bytes  // the header claims more FAT sectors than the file has
        Self.put32(&fatCount, 44, 0x7FFF_FFFF)
        #expect(try Self.read(fatCount) == .malformedFile)

        var difatLoop = bytes  // a DIFAT chain that points at itself
        Self.put32(&difatLoop, 68, 0)
        Self.put32(&difatLoop, 72, 1)
        let code = try Self.read(difatLoop)
        #expect(code == .malformedFile || code == nil)

        var garbage = [UInt8](repeating: 0x41, count: 2000)
        garbage.replaceSubrange(0..<8, with: CompoundFile.magic)
        #expect(try Self.read(garbage) == .malformedFile)
    }

    @Test func biffRecordCorruptionsAreMalformed() throws {
        // A record length running past the end of the stream, and a LABELSST index beyond the shared strings.
        let path = try WorkbookCorpusTests.corpus("xls", "xlwt-biff8.xls")
        let cfb = try CompoundFile(path: path)
        let entry = try #require(cfb.rootStream(named: ["Workbook"]))
        #expect(entry.size >= cfb.miniCutoff)
        let chain = try cfb.chain(from: entry.start, bytes: entry.size)
        var stream = try cfb.openStream(entry)
        var all: [UInt8] = []
        #expect(try stream.read(Int(entry.size), into: &all))
        func fileOffset(_ streamOffset: Int) -> Int { (Int(chain[streamOffset / 512]) + 1) * 512 + streamOffset % 512 }
        var pos = 0
        var labelSST: Int?
        while pos + 4 <= all.count {
            let type = Int(all[pos]) | Int(all[pos + 1]) << 8, length = Int(all[pos + 2]) | Int(all[pos + 3]) << 8
            if type == 0x00FD && labelSST == nil { labelSST = pos }
            pos += 4 + length
        }
        let bytes = try Self.seed("xlwt-biff8.xls")
        var longRecord = bytes  // the first record (BOF) claims 0xFFFF bytes
        longRecord[fileOffset(2)] = 0xFF
        longRecord[fileOffset(3)] = 0xFF
        #expect(try Self.read(longRecord) == .malformedFile)
        let at = try #require(labelSST)
        var badIndex = bytes
        for k in 0..<4 { badIndex[fileOffset(at + 4 + 6 + k)] = k == 3 ? 0x00 : 0xFF }
        #expect(try Self.read(badIndex) == .malformedFile)
    }
}
