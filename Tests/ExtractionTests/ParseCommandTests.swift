import Foundation
import Testing

/// `quarry parse` run as a real process on real files: the table on stdout (CSV or JSON), what was detected on
/// stderr, refusals as the JobError code with a non-zero exit.
@Suite(.timeLimit(.minutes(2)))
struct ParseCommandTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        /// The last JSON line on stderr.
        var report: [String: Any] {
            for line in stderr.split(separator: "\n").reversed() {
                if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] { return object }
            }
            return [:]
        }
        var rows: [[String]] { (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [[String]] ?? [] }
    }

    /// The built `quarry`: `QUARRY_BIN_DIR`, else next to the test bundle (.build/debug).
    static func quarry() throws -> String {
        var candidates: [String] = []
        if let dir = ProcessInfo.processInfo.environment["QUARRY_BIN_DIR"] { candidates.append(dir) }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.path)
            dir = dir.deletingLastPathComponent()
        }
        candidates.append(FileManager.default.currentDirectoryPath + "/.build/debug")
        guard let found = candidates.map({ $0 + "/quarry" }).first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw ParseTestFailure("the quarry executable was not found in \(candidates); build it (swift build) or set QUARRY_BIN_DIR")
        }
        return found
    }

    /// Runs `quarry parse ARGS`; output goes through files (a pipe could fill up and block the child).
    static func parse(_ arguments: [String]) throws -> Run {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("quarry-parse-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out")
        let err = dir.appendingPathComponent("err")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try quarry())
        p.arguments = ["parse"] + arguments
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        p.waitUntilExit()
        return Run(
            status: p.terminationStatus, stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
    }

    static func corpus(_ name: String) throws -> String { try TabularFixture.path("corpus/header/\(name)") }

    @Test func csvOutputIsTheTableFromTheDetectedHeaderWithEveryCell() throws {
        let run = try Self.parse([try Self.corpus("rows_longer_than_header.csv")])
        #expect(run.status == 0, "\(run.stderr)")
        // RFC 4180: CRLF line ends; cells right of the header are printed; trailing empty cells as read.
        #expect(
            run.stdout
                == "sku,name,price\r\nP-1,Pencil HB,0.50,box of 12\r\nP-2,Eraser,0.80,,\r\nP-3,Ruler 30 cm,1.20,metal,2024\r\nP-4,Sharpener,0.95\r\n",
            "\(run.stdout)")
        let report = run.report
        #expect(report["format"] as? String == "csv")
        #expect(report["header_row"] as? Int == 1)
        #expect((report["header_row_confidence"] as? Double ?? 0) > 0.5, "\(report)")
    }

    @Test func jsonOutputOfAWorkbookWithTitleRows() throws {
        let run = try Self.parse([try Self.corpus("erp_export_title_rows.xlsx"), "--format", "json"])
        #expect(run.status == 0, "\(run.stderr)")
        let rows = run.rows
        #expect(rows.first == ["Item No", "Description", "Unit Price", "Stock", "Valid From"], "\(run.stdout.prefix(300))")
        #expect(rows.count == 7)
        #expect(rows.dropFirst().first?.prefix(2) == ["A-100", "Hex bolt M8x40, zinc"])
        // One row per line.
        #expect(run.stdout.split(separator: "\n").count == 7)
        #expect(run.report["header_row"] as? Int == 4)
        #expect(run.report["format"] as? String == "xlsx")
    }

    @Test func headerRowAndSheetOptionsOverrideDetection() throws {
        let run = try Self.parse([try Self.corpus("erp_export_title_rows.xlsx"), "--header-row", "1", "--sheet", "Price list"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.hasPrefix("ACME Industrial Supplies — Price list 2024\r\n"), "\(run.stdout.prefix(200))")
        #expect(run.report["header_row"] as? Int == 1)
        #expect(run.report["header_row_confidence"] as? Double == 1)
        let missing = try Self.parse([try Self.corpus("erp_export_title_rows.xlsx"), "--sheet", "Nope"])
        #expect(missing.status != 0)
        #expect((missing.report["error"] as? [String: Any])?["code"] as? String == "INVALID_CONFIG", "\(missing.stderr)")
    }

    @Test func quotedFieldsAreWrittenAsRFC4180() throws {
        let path = try TabularFixture.temp("q.csv", Array("a,b\n\"x, y\",\"say \"\"hi\"\"\"\n\"two\nlines\",z\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = try Self.parse([path])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",z\r\n")
    }

    @Test func aBadFileIsItsCodeOnStderrAndANonZeroExit() throws {
        // A ZIP that is not a workbook, named .xlsx.
        let zip = try TabularFixture.temp("bad.xlsx", [0x50, 0x4B, 0x03, 0x04] + Array(repeating: 0, count: 60))
        defer { try? FileManager.default.removeItem(atPath: zip) }
        let run = try Self.parse([zip])
        #expect(run.status != 0)
        let error = try #require(run.report["error"] as? [String: Any], "\(run.stderr)")
        #expect((error["code"] as? String).map { ["MALFORMED_FILE", "FORMAT_MISMATCH"].contains($0) } == true, "\(error)")
        #expect((error["message"] as? String)?.isEmpty == false)
        #expect(run.stdout.isEmpty)
        let pdf = try Self.parse([try TabularFixture.path("docs/three_pages.pdf")])
        #expect(pdf.status != 0)
        #expect((pdf.report["error"] as? [String: Any])?["code"] as? String == "UNSUPPORTED_FORMAT", "\(pdf.stderr)")
        let absent = try Self.parse(["/nonexistent/file.csv"])
        #expect(absent.status != 0)
        #expect((absent.report["error"] as? [String: Any])?["code"] as? String != nil, "\(absent.stderr)")
    }
}

struct ParseTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
