import Extraction
import Foundation
import Models
import Testing

@testable import ExtractionJobs

/// Plain rows (`RowProcessor.plainRow`, read from the parser's bytes without a `String` per cell) must store
/// exactly what the full path (`RowProcessor.process`) stores: the same binary COPY bytes, counts, issues and
/// duplicates, for every file and config. Each case streams the file twice — plain rows allowed, then not —
/// and compares; and checks the plain lane really carried rows where it should (so the comparison is not
/// between two runs of the full path).
@Suite struct TabularPipelinePlainRowTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../ExtractionTests/Fixtures").standardized

    struct Run: Equatable {
        var copy: [UInt8]
        var rowsTotal: Int
        var rowsValid: Int
        var rowsInvalid: Int
        var extraCells: Int
        var issueCounts: [String: Int]
        var headerRow: Int
        var duplicates: [Int]
    }

    func run(_ path: String, format: FileFormat, config: ExtractionConfig, plain: Bool) throws -> (Run, plainRows: Int) {
        var pipeline = TabularPipeline(
            jobID: UUID(uuid: (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)), orgID: UUID(), config: config, format: format,
            path: path, fileBytes: 1, limits: ExtractionLimits(), isCancelled: { false }, progress: ProgressBox(), onlyRows: nil)
        pipeline.allowsPlainRows = plain
        var copy: [UInt8] = []
        let (outcome, finder) = try pipeline.stream(rowType: 4242) { copy.append(contentsOf: $0) }
        var duplicates: [Int] = []
        _ = try finder.finish { duplicates.append(contentsOf: $0) }
        let run = Run(
            copy: copy, rowsTotal: outcome.rowsTotal, rowsValid: outcome.rowsValid, rowsInvalid: outcome.rowsInvalid,
            extraCells: outcome.extraCells, issueCounts: outcome.issueCounts, headerRow: outcome.headerRow, duplicates: duplicates.sorted())
        return (run, outcome.plainRows)
    }

    /// Streams `path` both ways and expects the same result; returns how many rows took the plain lane.
    @discardableResult
    func expectSame(_ path: String, format: FileFormat = .csv, config: ExtractionConfig = ExtractionConfig()) throws -> Int {
        let fullRun = Result { try run(path, format: format, config: config, plain: false) }
        let fastRun = Result { try run(path, format: format, config: config, plain: true) }
        guard case .success(let (full, none)) = fullRun, case .success(let (fast, plainRows)) = fastRun else {
            // A file the pipeline refuses is refused the same way.
            let errors = [fullRun, fastRun].map { r -> String in
                if case .failure(let e) = r { return String(describing: e) }
                return "no error"
            }
            #expect(errors[0] == errors[1], "\(path)")
            return 0
        }
        #expect(none == 0)
        #expect(fast.copy.count == full.copy.count, "\(path): COPY sizes differ")
        if let at = zip(fast.copy, full.copy).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            Issue.record("\(path): COPY bytes differ first at offset \(at) of \(full.copy.count)")
        }
        var a = fast, b = full
        a.copy = []
        b.copy = []
        #expect(a == b, "\(path)")
        return plainRows
    }

    /// A supplier file with every kind of cell the plain lane must either take exactly or leave to the full path.
    static func supplierFile(header: String = "sku,name,description,price,currency,quantity,unit,category,brand,barcode") -> [UInt8] {
        var lines: [String] = [header]
        let cases = [
            "A-1,Widget,Nice widget,12.50,EUR,3,pcs,Tools,Acme,4006381333931",
            " A-2 , Widget 2 ,,  7 ,eur, 10 ,,,,",
            "A-3,Zero,,0.00,USD,0,,,,",
            "A-4,Lead,,007.500,,000,,,,",
            "A-5,Café crème,,1.5,EUR,1,,,,",
            "A-6,\u{00A0}Spaced\u{00A0},,2,EUR,1,,,,",
            String(repeating: "S", count: 256) + ",Long sku,,1,EUR,1,,,,",
            String(repeating: "S", count: 255) + ",Longest sku,,1,EUR,1,,,,",
            "A-8,Comma,,\"1,5\",EUR,1,,,,",
            "A-9,Symbol,,€12,,1,,,,",
            "A-10,Negative,,-5,EUR,1,,,,",
            "A-11,Huge,,123456789012345,EUR,1,,,,",
            "A-12,Big,,12345678901234,EUR,1,,,,",
            "A-13,Bad currency,,1,EURO,1,,,,",
            "A-14,Alias currency,,1,usd,1,,,,",
            ",No sku,,1,EUR,1,,,,",
            "A-16,,,1,EUR,1,,,,",
            ",,,,,,,,,",
            "  , ,,,,,,,,",
            "A-19,Extra,,1,EUR,1,,,,,surplus",
            "A-20,Trailing,,1,EUR,1,,,,,,",
            "A-21,\"Multi\nline \"\"quoted\"\"\",,1,EUR,1,,,,",
            "A-1,Duplicate,,1,EUR,1,,,,",
            "A-23,\tTabbed\t,,1,EUR,1,,,,",
            "A-24,Nul\u{0}byte,,1,EUR,1,,,,",
            "A-25,Not a number,,abc,EUR,1,,,,",
            "A-26,Dot,,.5,EUR,1,,,,",
            "A-27,Fraction,,1.123456789012,EUR,0.000000000001,,,,",
            "A-28,Short",
            "A-29," + String(repeating: "é", count: 600) + ",,1,EUR,1,,,,",
            "A-30," + String(repeating: "n", count: 1001) + ",,1,EUR,1,,,,",
            "A-31,Description,," + String(repeating: "d", count: 20) + ",EUR,1,,,,",
            "🙂-32,Emoji,,1,EUR,1,,,,",
            "A-33,No price,,,EUR,1,,,,",
            "A-34,No currency,,1,,1,,,,",
            "A-35,Spaces in number,,1 000,EUR,1,,,,",
            "A-36,Grouped,,\"1,000.50\",EUR,1,,,,",
            "A-37,Plus,,+1,EUR,1,,,,",
        ]
        for round in 0..<40 {
            for c in cases { lines.append(round == 0 ? c : c.replacingOccurrences(of: "A-", with: "R\(round)-")) }
        }
        var bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        // A Windows-1252 é (invalid UTF-8) in a name, and a row after it.
        bytes += Array("W-1,Caf".utf8) + [0xE9] + Array(",,1,EUR,1,,,,\nW-2,Plain,,1,EUR,1,,,,\n".utf8)
        return bytes
    }

    func write(_ bytes: [UInt8], name: String) throws -> String {
        let path = NSTemporaryDirectory() + "quarry-plain-\(UUID().uuidString)-\(name)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func aSupplierFileStoresTheSameRowsEitherWay() throws {
        let path = try write(Self.supplierFile(), name: "supplier.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let plainRows = try expectSame(path)
        // Most rows of each round are plain; far from all.
        #expect(plainRows > 40 * 10 && plainRows < 40 * 30, "\(plainRows) plain rows")
    }

    @Test func configsThatChangeWhatIsPlain() throws {
        let path = try write(Self.supplierFile(), name: "supplier.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try expectSame(path, config: ExtractionConfig(currency: "GBP")) > 0)
        #expect(try expectSame(path, config: ExtractionConfig(requiredFields: ["sku", "name", "price", "quantity", "currency"])) > 0)
        #expect(try expectSame(path, config: ExtractionConfig(requiredFields: [])) > 0)
        // A required field a plain row cannot carry, transformations, a price guard (every row's source is kept):
        // no plain rows, the same result.
        #expect(try expectSame(path, config: ExtractionConfig(requiredFields: ["sku", "vat_rate"])) == 0)
        #expect(try expectSame(path, config: ExtractionConfig(transformations: [.trim(field: nil)])) == 0)
        #expect(try expectSame(path, config: ExtractionConfig(priceGuard: PriceGuard(maxIncreasePct: 10))) == 0)
    }

    @Test func unmappedAndExtraColumnsAndAFoundHeader() throws {
        // An unmapped column (kept in `extra` when filled), a supplier_sku column (kept in `extra`), a title above.
        var bytes = Array("Price list, December\n\n".utf8)
        bytes += Self.supplierFile(header: "sku,name,description,price,currency,quantity,unit,category,brand,barcode,notes,supplier_sku")
        let path = try write(bytes, name: "unmapped.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try expectSame(path) > 0)
    }

    @Test func everyDelimitedFixtureStoresTheSameRowsEitherWay() throws {
        let files = try FileManager.default.subpathsOfDirectory(atPath: Self.fixtures.path).filter {
            $0.hasSuffix(".csv") || $0.hasSuffix(".tsv")
        }
        #expect(files.count >= 25)
        var plainRows = 0
        for file in files {
            let format: FileFormat = file.hasSuffix(".tsv") ? .tsv : .csv
            let path = Self.fixtures.appendingPathComponent(file).path
            // Detection decides after the file's first rows (these files are shorter: no plain rows); with
            // `header_row` the rows below it may be plain.
            try expectSame(path, format: format)
            plainRows += try expectSame(path, format: format, config: ExtractionConfig(headerRow: 1))
        }
        #expect(plainRows > 20, "\(plainRows) plain rows")
    }
}
