import Foundation
import Models
import Testing

@testable import Extraction

/// The workbook side of the real-file corpus (`Fixtures/corpus/xls`, `…/xlsx`, see their MANIFEST.json):
/// every kind of issue 18 read cell by cell. The expected cells were checked against python-calamine 0.9.1
/// (numbers compared numerically, dates as ISO 8601, durations as elapsed `H:MM:SS`); where calamine shows an
/// error cell as "" Quarry keeps the error's text.
@Suite struct WorkbookCorpusTests {
    static func corpus(_ kind: String, _ name: String) throws -> String { try TabularFixture.path("corpus/\(kind)/\(name)") }

    static func cells(_ format: FileFormat, _ kind: String, _ name: String, sheet: SheetSelector? = nil) throws -> [Int: [String]] {
        let rows = try TabularFixture.rows(format, try corpus(kind, name), options: TabularOptions(sheet: sheet))
        return Dictionary(rows.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
    }

    // MARK: XLS (BIFF)

    @Test func xlwtBIFF8WithContinuedSharedStringsDatesDurationsAndWideRows() throws {
        let rows = try Self.cells(.xls, "xls", "xlwt-biff8.xls")
        #expect(rows[1] == ["name", "qty", "price", "born", "seen", "ok", "elapsed"])
        #expect(rows[2] == ["Zoë", "3", "12.5", "1990-05-17", "2024-03-15T13:45:30", "true", "255:10:10"])
        #expect(rows[3] == ["Ünal €", "-7", "0.3", "1900-03-01", "2000-01-01T00:00:00", "false", "12:00:00"])
        #expect(rows[4] == ["東京", "123456789", "1e-07", "2038-01-19", "1999-12-31T23:59:59", "true", "30:00:00"])
        // 300 shared strings and a 9005-character one: the SST spans CONTINUE records, some strings cut in two.
        for i in 0..<300 { #expect(rows[11 + i] == [String(format: "string number %04d ÿ", i)]) }
        #expect(rows[311] == ["", "long " + String(repeating: "ab€", count: 3000)])
        // Cells right of the header's last cell are delivered.
        #expect(rows[321] == ["0", "100", "200", "300", "400", "500", "600", "700", "", "", "", "", "far right"])
        #expect(try Self.cells(.xls, "xls", "xlwt-biff8.xls", sheet: .name("second")) == [1: ["k", "v"], 2: ["x", "42"]])
    }

    /// The same workbook saved by LibreOffice's BIFF8 writer (its own SST/CONTINUE split) reads the same.
    @Test func libreOfficeRoundTripOfTheXlwtWorkbookReadsTheSame() throws {
        let xlwt = try Self.cells(.xls, "xls", "xlwt-biff8.xls")
        let lo = try Self.cells(.xls, "xls", "lo-biff8-roundtrip.xls")
        #expect(lo.count == xlwt.count)
        for (row, cells) in xlwt.sorted(by: { $0.key < $1.key }) { #expect(lo[row] == cells, "row \(row)") }
        #expect(try Self.cells(.xls, "xls", "lo-biff8-roundtrip.xls", sheet: .name("Second")) == [1: ["k", "v"], 2: ["x", "42"]])
    }

    @Test func libreOfficeBIFF8KeepsFormulaValuesBooleansAndErrors() throws {
        let rows = try Self.cells(.xls, "xls", "lo-biff8-formulas.xls")
        #expect(rows[1] == ["label", "value", "note"])
        #expect(rows[2] == ["sum", "3", "Café"])
        #expect(rows[3] == ["text", "ab", "naïve €"])
        #expect(rows[4] == ["bool", "true", "x"])
        #expect(rows[5] == ["false", "false", "y"])
        #expect(rows[6] == ["div0", "#DIV/0!", "z"])
        #expect(rows[7] == ["na", "#N/A"])
        #expect(rows[8] == ["empty", "", "after"])
        #expect(rows[9] == ["plain bool", "true", "false"])
        #expect(rows[10] == ["date", "2024-02-29", "0.3"])
        #expect(rows[11] == ["duration", "36:00:00"])
        #expect(rows[12] == ["wide", "", "", "", "", "beyond header"])
        #expect(try Self.cells(.xls, "xls", "lo-biff8-formulas.xls", sheet: .index(1)) == [1: ["ä", "ö"], 2: ["1", "2"]])
    }

    /// A formula's 12 000-character string result spans a STRING record and CONTINUE records (each with a
    /// re-sent flags byte). python-calamine 0.9.1 stops at 4110 characters; LibreOffice shows all of them.
    @Test func xlsFormulaStringResultAcrossContinueRecords() throws {
        let rows = try Self.cells(.xls, "xls", "lo-long-formula-string.xls")
        #expect(rows[1] == ["k", "v"])
        #expect(rows[2]?.first == "rept")
        #expect(rows[2]?.last == String(repeating: "ab€", count: 4000))
        #expect(rows[3] == ["after", "1"])
    }

    @Test func excel95BIFF5BookStreamWithCodePage() throws {
        let rows = try Self.cells(.xls, "xls", "biff5-excel95.xls")
        #expect(rows[1] == ["name", "qty", "when", "ok"])
        #expect(rows[2] == ["Café €", "3", "2024-03-15", "true"])
        #expect(rows[3] == ["naïve", "0.3", "1.5", "#DIV/0!"])
        #expect(rows[4] == ["formulas", "42.5", "Straße", "false", "#N/A"])
        #expect(rows[5] == ["10", "20", "30", "40", "50", "60"])
        #expect(rows[6] == ["2000-01-01"])
        #expect(try Self.cells(.xls, "xls", "biff5-excel95.xls", sheet: .name("Zweite")) == [1: ["ä"], 2: ["7"]])
    }

    /// Cells written column by column still come out as rows, in row order, each cell in its place.
    @Test func xlsCellsOutOfRowOrder() throws {
        let rows = try TabularFixture.rows(.xls, try Self.corpus("xls", "biff5-column-order.xls"))
        #expect(rows.map(\.0) == [1, 2, 3, 4, 6])
        #expect(
            rows.map(\.1) == [
                ["id", "name", "qty", "extra"], ["1", "Anna", "5"], ["2", "Bert", "7"], ["3", "Cleo", "9"], ["", "", "", "", "late"],
            ])
    }

    @Test func excel95CyrillicCodePage1251() throws {
        #expect(try Self.cells(.xls, "xls", "biff5-cp1251.xls", sheet: .name("Лист1")) == [1: ["Привет", "цена"], 2: ["Ёж", "5"]])
        #expect(try XLSReader(path: try Self.corpus("xls", "biff5-cp1251.xls")).inspect(limits: .default).sheets == ["Лист1"])
    }

    @Test func xlsDate1904() throws {
        #expect(try Self.cells(.xls, "xls", "xlwt-date1904.xls") == [1: ["when"], 2: ["2024-03-15"], 3: ["1904-01-02T06:00:00"]])
    }

    @Test func xlsWithFilePassIsEncrypted() throws {
        let path = try Self.corpus("xls", "filepass-velvetsweatshop.xls")
        #expect(TabularFixture.code { _ = try TabularFixture.rows(.xls, path) } == .encryptedFile)
    }

    @Test func xlsInspectListsSheetsInWorkbookOrder() throws {
        let path = try Self.corpus("xls", "lo-biff8-formulas.xls")
        let info = try XLSReader(path: path).inspect(limits: .default)
        #expect(info.sheets == ["Formulas", "Zweite"] && info.sheet == "Formulas")
        #expect(try XLSReader(path: path, options: TabularOptions(sheet: .name("zweite"))).inspect(limits: .default).sheet == "Zweite")
    }

    // MARK: XLSX

    @Test func xlsxWithBackslashEntryNames() throws {
        let path = try Self.corpus("xlsx", "backslash-entry-names.xlsx")
        #expect(try FormatDetector.detect(path: path, fileName: "backslash-entry-names.xlsx") == .xlsx)
        #expect(try Self.cells(.xlsx, "xlsx", "backslash-entry-names.xlsx") == [1: ["id", "name"], 2: ["1", "Ann"], 3: ["2", "Bob"]])
    }

    @Test func xlsxWorkbookPartFoundThroughRelationships() throws {
        let path = try Self.corpus("xlsx", "workbook-part-elsewhere.xlsx")
        #expect(try FormatDetector.detect(path: path, fileName: "workbook-part-elsewhere.xlsx") == .xlsx)
        #expect(try Self.cells(.xlsx, "xlsx", "workbook-part-elsewhere.xlsx") == [1: ["id", "name"], 2: ["1", "Ann"], 3: ["2", "Bob"]])
        let info = try XLSXReader(path: path).inspect(limits: .default)
        #expect(info.sheets == ["Sheet1"] && info.sheet == "Sheet1")
    }

    @Test func xlsxDurationsAreElapsedTime() throws {
        let rows = try Self.cells(.xlsx, "xlsx", "durations.xlsx")
        #expect(rows[2] == ["[h]:mm:ss", "255:10:10"])
        #expect(rows[3] == ["[h]:mm:ss", "250:10:10"])
        #expect(rows[4] == ["[mm]:ss", "1:01:00"])
        #expect(rows[5] == ["[ss]", "0:02:00"])
        #expect(rows[6] == ["[h]:mm:ss.00", "24:00:01.5"])
        #expect(rows[7] == ["h:mm:ss", "18:00:00"])
        #expect(rows[8] == ["yyyy-mm-dd hh:mm:ss", "2024-03-15T12:00:00"])
    }

    @Test func xlsxCellsBeyondHeaderAndStaleDimension() throws {
        #expect(
            try Self.cells(.xlsx, "xlsx", "wider-than-header.xlsx") == [
                1: ["a", "b"], 2: ["1", "2", "3", "four"], 3: ["", "", "", "", "", "", "", "far"],
            ])
    }

    @Test func xlsxWrittenByLibreOffice() throws {
        let rows = try Self.cells(.xlsx, "xlsx", "lo-formulas.xlsx")
        #expect(rows[2] == ["sum", "3", "Café"])
        #expect(rows[4] == ["bool", "true", "x"])
        #expect(rows[6] == ["div0", "#DIV/0!", "z"])
        #expect(rows[10] == ["date", "2024-02-29", "0.3"])
        #expect(rows[11] == ["duration", "36:00:00"])
        #expect(rows[12] == ["wide", "", "", "", "", "beyond header"])
    }

    @Test func passwordProtectedXLSXIsEncrypted() throws {
        let path = try Self.corpus("xlsx", "encrypted-agile.xlsx")
        #expect(TabularFixture.code { _ = try FormatDetector.detect(path: path, fileName: "encrypted-agile.xlsx") } == .encryptedFile)
        #expect(TabularFixture.code { _ = try TabularFixture.rows(.xlsx, path) } == .encryptedFile)
        // Named .xls, it is refused the same way (not read as a broken BIFF workbook).
        #expect(TabularFixture.code { _ = try FormatDetector.detect(path: path, fileName: "encrypted.xls") } == .encryptedFile)
        #expect(TabularFixture.code { _ = try TabularFixture.rows(.xls, path) } == .encryptedFile)
    }

    /// Read speed of a big `.xls` (`QUARRY_XLS_BENCH=/tmp/bench-50k.xls`, made by
    /// `corpus/make_workbooks.py --bench`); prints rows/s for docs/BENCHMARKS.md. Skipped without the variable.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["QUARRY_XLS_BENCH"] != nil))
    func xlsReadSpeed() throws {
        let path = try #require(ProcessInfo.processInfo.environment["QUARRY_XLS_BENCH"])
        for run in 1...3 {
            let clock = ContinuousClock()
            let start = clock.now
            var rows = 0, cells = 0
            try TabularReaders.make(format: .xls, path: path)
                .read(limits: .default, isCancelled: { false }, progress: { _ in }) { _, f in
                    rows += 1
                    cells += f.count
                }
            let elapsed = clock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(
                "xls bench run \(run): \(rows) rows, \(cells) cells in \(String(format: "%.2f", seconds)) s = \(Int(Double(rows) / seconds)) rows/s")
            #expect(rows == 50_001)
        }
    }
}
