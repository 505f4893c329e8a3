import ArgumentParser
import Extraction
import Foundation
import Models

/// `quarry parse FILE`: the table exactly as Quarry's readers see it, in-process, no database — the tool for an
/// import that looks wrong, and the fastest way to test readers (`scripts/corpus-check` drives it).
///
/// stdout: the header, then every data row, every cell (also those right of the header), as RFC 4180 CSV
/// (CRLF line ends, fields quoted when they hold `"`, `,`, CR or LF) or as JSON (an array of arrays, one row per
/// line). stderr: one JSON line with `format`, `encoding`, `dialect`, `sheets`, `sheet`, `header_row`,
/// `header_row_confidence`; for a file Quarry refuses, `{"error":{"code","message","details"}}` and exit 1.
struct Parse: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a tabular file exactly as Quarry reads it (CSV or JSON on stdout, what was detected on stderr).")

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case csv, json }

    @Argument(help: "The file (csv, tsv, xlsx, xls, json, ndjson); its extension must agree with its content.") var file: String
    @Option(help: "Worksheet name, or 0-based index.") var sheet: String?
    @Option(name: .customLong("header-row"), help: "1-based row of the header (default: detected).") var headerRow: Int?
    @Option(name: .customLong("skip-rows"), help: "Rows to skip before the header.") var skipRows: Int?
    @Option(help: "Field delimiter of delimited text (one character or \"tab\"; default: sniffed).") var delimiter: String?
    @Option(help: "Text encoding of delimited text: utf-8, utf-16le, utf-16be, windows-1252 (default: sniffed).") var encoding: String?
    @Option(help: "Output: csv or json.") var format: OutputFormat = .csv

    func validate() throws {
        if let headerRow, headerRow < 1 { throw ValidationError("--header-row is 1-based and must be ≥ 1") }
        if let encoding, TextEncodingHint(name: encoding) == nil { throw ValidationError("unknown --encoding '\(encoding)'") }
    }

    func run() throws {
        var output = BufferedOutput(fd: STDOUT_FILENO)
        do {
            let config = try jobConfig()
            let limits = ExtractionLimits()
            let scan = try TableScan(
                path: file, fileName: (file as NSString).lastPathComponent, config: config,
                encoding: encoding.flatMap(TextEncodingHint.init(name:)), limits: limits)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            var lines = 0
            func write(_ cells: [String]) throws {
                switch format {
                case .csv: output.write(CSVLine.encode(cells) + "\r\n")
                case .json: output.write((lines == 0 ? "[" : ",\n") + String(decoding: try encoder.encode(cells), as: UTF8.self))
                }
                lines += 1
            }
            let result = try scan.run(limits: limits) { event in
                switch event {
                case .header(_, let cells, _) where lines == 0: try write(cells)
                case .header: break  // a JSON file's widened key set: rows carry the new columns at the end
                case .row(_, let cells): try write(cells)
                }
                return true
            }
            guard let header = result.header else { throw JobError(.emptyFile, "the file has no rows", details: ["file": file]) }
            if format == .json { output.write(lines == 0 ? "[]\n" : "]\n") }
            output.flush()
            var description = BufferedOutput(fd: STDERR_FILENO)
            description.write(String(decoding: try JSONEncoder.sorted.encode(TablePreview(scan: scan, header: header)), as: UTF8.self) + "\n")
            description.flush()
        } catch let error as JobError {
            output.flush()
            Self.fail(ParseFailure(code: error.code.rawValue, message: error.message, details: error.details))
        } catch let error as ValidationError {
            throw error
        } catch {
            output.flush()
            Self.fail(ParseFailure(code: JobError.Code.extractionError.rawValue, message: "\(error)", details: [:]))
        }
    }

    /// The job config the options stand for, through the job's own decoder (same rules, same messages).
    func jobConfig() throws -> ExtractionConfig {
        var object: [String: Any] = [:]
        if let headerRow { object["header_row"] = headerRow }
        if let skipRows { object["skip_rows"] = skipRows }
        if let sheet { object["sheet"] = sheet }
        if let delimiter { object["delimiter"] = delimiter }
        return try ExtractionConfig.decode(json: try JSONSerialization.data(withJSONObject: object))
    }

    static func fail(_ failure: ParseFailure) -> Never {
        var err = BufferedOutput(fd: STDERR_FILENO)
        let line = (try? JSONEncoder.sorted.encode(["error": failure])).map { String(decoding: $0, as: UTF8.self) } ?? failure.code
        err.write(line + "\n")
        err.flush()
        Foundation.exit(1)
    }
}

/// The stderr report of a refused file.
struct ParseFailure: Codable {
    var code: String
    var message: String
    var details: [String: String]
}

/// RFC 4180 fields.
enum CSVLine {
    /// The cells as one CSV record (no line end): a field holding `"`, `,`, CR or LF is quoted, quotes doubled.
    static func encode(_ cells: [String]) -> String {
        cells.map { cell in
            guard cell.utf8.contains(where: { $0 == 0x22 || $0 == 0x2C || $0 == 0x0A || $0 == 0x0D }) else { return cell }
            return "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }.joined(separator: ",")
    }
}

/// Writes to a file descriptor in 64 KB pieces.
struct BufferedOutput {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(fd: Int32) {
        self.fd = fd
        buffer.reserveCapacity(1 << 16)
    }

    mutating func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    mutating func flush() {
        var offset = 0
        while offset < buffer.count {
            let n = buffer[offset...].withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

extension JSONEncoder {
    /// Sorted keys, slashes unescaped: stable one-line JSON.
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
