import Foundation
import Models
import Testing

@testable import Extraction

@Suite struct TabularSpreadsheetTests {
    @Test func xlsxValuesDatesBooleansAndGaps() throws {
        let rows = try TabularFixture.rows(.xlsx, TabularFixture.path("products.xlsx"))
        #expect(rows.map(\.0) == [1, 2, 3, 5, 6])
        #expect(rows[0].1 == ["sku", "price", "when", "stamp", "active", "qty"])
        #expect(rows[1].1 == ["A-1", "12.5", "2024-03-15", "2024-03-15T13:45:30", "true", "3"])
        #expect(rows[2].1 == ["B-2", "0.3", "1999-12-31", "2000-01-01T00:00:00", "false", "1000000"])
        #expect(rows[3].1 == ["gap-row", "", "", "far"])
        #expect(rows[4].1.first == "Bold and plain")
    }

    @Test func xlsxSheetSelection() throws {
        let path = try TabularFixture.path("products.xlsx")
        #expect(try TabularFixture.rows(.xlsx, path, options: TabularOptions(sheet: .name("second"))).map(\.1) == [["k", "v"], ["x", "42"]])
        #expect(try TabularFixture.rows(.xlsx, path, options: TabularOptions(sheet: .index(1))).count == 2)
        #expect(TabularFixture.code { _ = try TabularFixture.rows(.xlsx, path, options: TabularOptions(sheet: .name("nope"))) } == .invalidConfig)
    }

    @Test func xlsxDate1904AndInlineStrings() throws {
        let d = try TabularFixture.rows(.xlsx, TabularFixture.path("date1904.xlsx"))
        #expect(d.map(\.1) == [["d"], ["2020-02-29"]])
        let inline = try TabularFixture.rows(.xlsx, TabularFixture.path("inline.xlsx"))
        #expect(inline.map(\.1) == [["name", "n"], ["Rich ", "7", "#DIV/0!", "cached"]])
    }

    @Test func xlsxZipBombIsStopped() throws {
        let path = try TabularFixture.path("bomb.xlsx")
        #expect(TabularFixture.code { _ = try TabularFixture.rows(.xlsx, path) } == .zipBomb)
        #expect(
            TabularFixture.code {
                _ = try TabularFixture.rows(.xlsx, path, limits: ExtractionLimits(maxUnpackedEntryBytes: 10 << 20))
            } == .zipBomb)
    }

    @Test func xlsxBillionLaughsIsForbidden() throws {
        let start = ContinuousClock.now
        #expect(TabularFixture.code { _ = try TabularFixture.rows(.xlsx, TabularFixture.path("laughs.xlsx")) } == .xmlForbidden)
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func xlsxEntryWithAWrongChecksumIsMalformed() throws {
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: try TabularFixture.path("products.xlsx"))))
        #expect(try TabularFixture.rows(.xlsx, TabularFixture.temp("ok.xlsx", bytes)).count > 1)
        // Flip the CRC-32 (offset 16) of every central directory record (signature PK\u{1}\u{2}).
        var patched = 0
        var i = 0
        while i + 20 < bytes.count {
            if bytes[i] == 0x50 && bytes[i + 1] == 0x4B && bytes[i + 2] == 0x01 && bytes[i + 3] == 0x02 {
                bytes[i + 16] ^= 0xFF
                patched += 1
            }
            i += 1
        }
        #expect(patched > 2)
        let corrupt = try TabularFixture.temp("crc.xlsx", bytes)
        #expect(TabularFixture.code { _ = try TabularFixture.rows(.xlsx, corrupt) } == .malformedFile)
    }

    /// What the row consumer throws (a database error while rows are stored) reaches the caller unchanged: it was
    /// reported as a corrupt ZIP entry (`MALFORMED_FILE`, never retried).
    @Test func aConsumerErrorIsNotReportedAsACorruptEntry() throws {
        struct StoreFailed: Error {}
        let reader = try TabularReaders.make(format: .xlsx, path: TabularFixture.path("products.xlsx"))
        #expect(throws: StoreFailed.self) {
            try reader.read(limits: ExtractionLimits(), isCancelled: { false }, progress: { _ in }) { _, _ in throw StoreFailed() }
        }
    }

    @Test func sharedStringTableMapsWhatWasWrittenAndLeavesNoFile() throws {
        let before = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory()).filter { $0.hasPrefix("quarry-sst-") }
        let writer = try SharedStringTableWriter()
        var expected: [String] = []
        for i in 0..<70_000 {  // past the 256 KB write buffer of both files
            let s = i % 7 == 0 ? "" : (i % 5 == 0 ? "Größe ✓ \(i)" : "item-\(i)")
            expected.append(s)
            try writer.append(Array(s.utf8))
        }
        let table = try writer.finish()
        #expect(table.count == expected.count)
        for i in [0, 1, 5, 7, 35, 4_096, 69_999] { #expect(table[i] == expected[i], "\(i)") }
        #expect((0..<expected.count).allSatisfy { table[$0] == expected[$0] })
        #expect(table[-1] == nil)
        #expect(table[expected.count] == nil)
        let after = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory()).filter { $0.hasPrefix("quarry-sst-") }
        #expect(after.count == before.count, "spill files are unlinked at once")
        #expect(try SharedStringTableWriter().finish().count == 0)
    }

    @Test func xlsxCellScanLimit() throws {
        let path = try TabularFixture.path("products.xlsx")
        #expect(TabularFixture.code { _ = try TabularFixture.rows(.xlsx, path, limits: ExtractionLimits(maxCellsScanned: 5)) } == .rowLimitExceeded)
    }

    @Test func excelDateAndNumberText() {
        #expect(ExcelDate.format(45366, kind: .date, date1904: false) == "2024-03-15")
        #expect(ExcelDate.format(0.5, kind: .time, date1904: false) == "12:00:00")
        #expect(ExcelDate.classify("yyyy-mm-dd h:mm") == .dateTime)
        #expect(ExcelDate.classify("#,##0.00\" m\"") == .none)
        #expect(NumberText.clean("12.500000000000002") == "12.5")
        #expect(NumberText.clean("3.0") == "3")
        #expect(NumberText.clean("12345678901234567890") == "12345678901234567890")
        // The fast path for short plain decimals agrees with the %.15g round trip on every case it takes.
        for raw in [
            "12.5", "-0.25", "0.1", "0.0001", "0.00001", "1.10", "007.5", "123456789012.345", "1234567890123.456",
            "99.99", "-12.0", "0.5e3", "1.", ".5", "3.14159265358979", "3.141592653589793",
        ] {
            let fast = NumberText.isShortPlainDecimal(raw)
            let slow = Double(raw).map(NumberText.format) ?? raw
            if fast { #expect(raw == slow, "\(raw) fast path disagrees with \(slow)") }
            #expect(NumberText.clean(raw) == (fast ? raw : slow), "\(raw)")
        }
        #expect(NumberText.isShortPlainDecimal("12.5") && !NumberText.isShortPlainDecimal("1.10") && !NumberText.isShortPlainDecimal("0.00001"))
    }

    @Test func xlsLegacyWorkbookInProcess() throws {
        let path = try TabularFixture.path("people.xls")
        let rows = try TabularFixture.rows(.xls, path)
        #expect(rows.map(\.0) == [1, 2, 3])
        #expect(rows[0].1 == ["name", "age", "born"])
        #expect(rows[1].1 == ["Ann", "31", "1990-05-17"])
        #expect(rows[2].1 == ["Bob", "12.25"])
        #expect(try TabularFixture.rows(.xls, path, options: TabularOptions(sheet: .name("Other"))).map(\.1) == [["only"]])
        let garbage = try TabularFixture.temp("bad.xls", [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1] + [UInt8](repeating: 0x41, count: 2000))
        #expect(TabularFixture.code { _ = try TabularFixture.rows(.xls, garbage) } == .malformedFile)
    }
}
