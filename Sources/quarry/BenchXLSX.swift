import ArgumentParser
import Extraction
import Foundation
import Models
import Postgres
import Queue
import ZIPFoundation

/// `quarry bench xlsx`: an N-row, 10-column supplier XLSX (shared strings for text, numbers as numbers),
/// measured three ways: (a) `XLSXReader` in-process (reader only), (b) end to end through a real worker
/// (stored upload → rows in PostgreSQL), (c) openpyxl read-only on the same file, when its venv exists.
/// The last line is one JSON object.
struct XLSXBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "xlsx", abstract: "XLSX reader and end-to-end throughput vs openpyxl.")
    @OptionGroup var db: DatabaseOptions
    @Option var rows = 200_000
    @Option(help: "Where to write the generated XLSX.") var dir = NSTemporaryDirectory()
    @Option(help: "In-process reader passes; the best is reported.") var readerPasses = 3
    @Flag(help: "Skip the end-to-end worker run (no database needed).") var skipEndToEnd = false
    @Flag(help: "Keep the generated file.") var keep = false

    /// The worker's fixed per-entry inflate cap (`ExtractionLimits.maxUnpackedEntryBytes` default).
    static let workerEntryCap: Int64 = 200 * 1024 * 1024

    func run() async throws {
        let path = dir + "/quarry-bench-\(rows).xlsx"
        let t0 = ContinuousClock.now
        let gen = try Self.generate(rows: rows, path: path)
        print(
            "generated \(rows) rows: \(gen.fileBytes / 1_048_576) MB xlsx, sheet1.xml \(gen.sheetBytes / 1_048_576) MB, "
                + "sharedStrings.xml \(gen.sharedBytes / 1_048_576) MB (\(String(format: "%.2f", (ContinuousClock.now - t0).seconds)) s)")
        defer { if !keep { try? FileManager.default.removeItem(atPath: path) } }

        // (a) XLSXReader in-process.
        var best = Double.infinity
        for pass in 1...max(1, readerPasses) {
            let (seen, seconds) = try Self.readAll(path: path, rows: rows)
            guard seen == rows + 1 else { throw ValidationError("reader delivered \(seen) rows, expected \(rows + 1) (header + data)") }
            print("reader pass \(pass): \(String(format: "%.3f", seconds)) s, \(Int(Double(rows) / seconds)) rows/s")
            best = min(best, seconds)
        }
        let readerRate = Int(Double(rows) / best)

        // (c) openpyxl read-only.
        let openpyxl = try Self.runOpenpyxl(path: path, rows: rows)
        if let o = openpyxl {
            print("openpyxl read-only: \(String(format: "%.2f", o.seconds)) s, \(Int(o.rate)) rows/s")
        }

        // (b) end to end through a worker.
        var e2e: (seconds: Double, rss: Int)?
        if skipEndToEnd {
            print("end to end: skipped (--skip-end-to-end)")
        } else if gen.sheetBytes > Self.workerEntryCap {
            print(
                "end to end: skipped, sheet1.xml inflates to \(gen.sheetBytes / 1_048_576) MB, past the worker's 200 MB per-entry cap (would fail ZIP_BOMB)"
            )
        } else {
            e2e = try await endToEnd(path: path, size: gen.fileBytes)
        }

        let summary: [String: Any] = [
            "rows": rows,
            "reader_rows_per_s": readerRate,
            "end_to_end_rows_per_s": e2e.map { Int(Double(rows) / $0.seconds) as Any } ?? NSNull(),
            "end_to_end_seconds": e2e.map { ($0.seconds * 100).rounded() / 100 as Any } ?? NSNull(),
            "openpyxl_rows_per_s": openpyxl.map { Int($0.rate) as Any } ?? NSNull(),
            "speedup_vs_openpyxl": openpyxl.map { (Double(readerRate) / $0.rate * 100).rounded() / 100 as Any } ?? NSNull(),
            "worker_peak_rss_mb": e2e.map { $0.rss as Any } ?? NSNull(),
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]), as: UTF8.self))
    }

    // MARK: (a) reader

    static func readAll(path: String, rows: Int) throws -> (rows: Int, seconds: Double) {
        let limits = ExtractionLimits(
            maxFileBytes: 1 << 40, maxRows: rows + 10, maxUnpackedEntryBytes: 1 << 40, maxUnpackedTotalBytes: 1 << 40,
            maxCellsScanned: rows * 20 + 100)
        var seen = 0
        var checksum = 0
        let t = ContinuousClock.now
        try XLSXReader(path: path).read(limits: limits, isCancelled: { false }, progress: { _ in }) { _, fields in
            seen += 1
            checksum &+= fields.count
        }
        let seconds = (ContinuousClock.now - t).seconds
        _ = checksum
        return (seen, seconds)
    }

    // MARK: (b) end to end

    func endToEnd(path: String, size: Int) async throws -> (seconds: Double, rss: Int) {
        let pool = try db.pool(size: 2)
        let upload = try await ExtractBench.store(path: path, size: size, pool: pool)
        let run = try await ExtractBench.runThroughWorker(
            upload: upload, size: size, rows: rows, pool: pool, environment: ["EXTRACTION_MAX_UNPACKED_MB": "2000"])
        let (seconds, rss) = (run.seconds, run.rss)
        print("end to end: \(String(format: "%.2f", seconds)) s, \(Int(Double(rows) / seconds)) rows/s, worker peak RSS \(rss) MB")
        return (seconds, rss)
    }

    // MARK: (c) openpyxl

    static func runOpenpyxl(path: String, rows: Int) throws -> (seconds: Double, rate: Double)? {
        let python = ProcessInfo.processInfo.environment["QUARRY_OPENPYXL_PYTHON"] ?? "/tmp/quarry-venv-openpyxl/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            print("openpyxl: skipped (no python at \(python); set QUARRY_OPENPYXL_PYTHON or create the venv)")
            return nil
        }
        guard let script = openpyxlScript() else {
            print("openpyxl: skipped (scripts/bench-openpyxl.py not found)")
            return nil
        }
        let p = Process()
        let pipe = Pipe()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script, path]
        p.standardOutput = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0,
            let last = String(decoding: out, as: UTF8.self).split(separator: "\n").last,
            let obj = try? JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any],
            let seen = obj["rows"] as? Int, let seconds = obj["seconds"] as? Double, seconds > 0
        else {
            print("openpyxl: failed (exit \(p.terminationStatus))")
            return nil
        }
        guard seen == rows + 1 else { throw ValidationError("openpyxl saw \(seen) rows, expected \(rows + 1)") }
        return (seconds, Double(rows) / seconds)
    }

    /// `scripts/bench-openpyxl.py` from `QUARRY_OPENPYXL_SCRIPT`, the current directory, or beside `.build`.
    static func openpyxlScript() -> String? {
        var candidates: [String] = []
        if let s = ProcessInfo.processInfo.environment["QUARRY_OPENPYXL_SCRIPT"] { candidates.append(s) }
        candidates.append(FileManager.default.currentDirectoryPath + "/scripts/bench-openpyxl.py")
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            candidates.append(dir.appendingPathComponent("scripts/bench-openpyxl.py").path)
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    // MARK: generator

    /// Shared-string layout: 10 headers, "EUR", 4 units, 4 categories, 50 brands, then 3 per row
    /// (sku, name, description).
    static let headers = ["sku", "name", "description", "price", "currency", "quantity", "unit", "category", "brand", "barcode"]
    static let units = ["pcs", "box", "kg", "m"]
    static let categories = ["Fasteners", "Tools", "Electrical", "Plumbing"]
    static let fixedStrings = headers + ["EUR"] + units + categories + (0..<50).map { "Brand \($0)" }
    static let eurIndex = 10, unitBase = 11, categoryBase = 15, brandBase = 19
    static let rowStringBase = fixedStrings.count  // 69

    struct Generated { var fileBytes: Int; var sheetBytes: Int64; var sharedBytes: Int64 }

    /// Writes the workbook with ZIPFoundation; the two big parts are produced on demand through the
    /// provider closure (one counting pass first, since the entry size must be declared up front).
    static func generate(rows: Int, path: String) throws -> Generated {
        try? FileManager.default.removeItem(atPath: path)
        let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .create, pathEncoding: nil)
        func addSmall(_ name: String, _ text: String) throws {
            let data = Data(text.utf8)
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate) { pos, size in
                data.subdata(in: Int(pos)..<Int(pos) + size)
            }
        }
        func addStreamed(_ name: String, _ make: () -> StreamedPart) throws -> Int64 {
            let size = make().countAll()
            let part = make()
            try archive.addEntry(
                with: name, type: .file, uncompressedSize: size, compressionMethod: .deflate,
                bufferSize: 256 * 1024
            ) { _, n in part.next(n) }
            return size
        }
        let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
        let rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
        let head = #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"# + "\n"
        try addSmall(
            "[Content_Types].xml",
            head + """
                <Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
                <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
                <Default Extension="xml" ContentType="application/xml"/>\
                <Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>\
                <Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>\
                <Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>\
                <Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>\
                </Types>
                """)
        try addSmall(
            "_rels/.rels",
            head + """
                <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
                <Relationship Id="rId1" Type="\(rel)/officeDocument" Target="xl/workbook.xml"/></Relationships>
                """)
        try addSmall(
            "xl/workbook.xml",
            head + """
                <workbook xmlns="\(main)" xmlns:r="\(rel)"><sheets><sheet name="Prices" sheetId="1" r:id="rId1"/></sheets></workbook>
                """)
        try addSmall(
            "xl/_rels/workbook.xml.rels",
            head + """
                <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
                <Relationship Id="rId1" Type="\(rel)/worksheet" Target="worksheets/sheet1.xml"/>\
                <Relationship Id="rId2" Type="\(rel)/styles" Target="styles.xml"/>\
                <Relationship Id="rId3" Type="\(rel)/sharedStrings" Target="sharedStrings.xml"/></Relationships>
                """)
        try addSmall(
            "xl/styles.xml",
            head + """
                <styleSheet xmlns="\(main)"><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>\
                <fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>\
                <borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
                <cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>\
                <cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>\
                <cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>
                """)
        let sharedBytes = try addStreamed("xl/sharedStrings.xml") { StreamedPart(rows: rows, sheet: false) }
        let sheetBytes = try addStreamed("xl/worksheets/sheet1.xml") { StreamedPart(rows: rows, sheet: true) }
        let fileBytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return Generated(fileBytes: fileBytes, sheetBytes: sheetBytes, sharedBytes: sharedBytes)
    }

    /// Produces sheet1.xml or sharedStrings.xml a few rows at a time into a reusable byte buffer, so
    /// memory stays bounded whatever N.
    final class StreamedPart {
        let rows: Int
        let sheet: Bool
        var buf: [UInt8] = []
        var start = 0
        var nextRow = -1  // -1: prologue not written yet
        var done = false
        var digits = [UInt8](repeating: 0, count: 24)

        init(rows: Int, sheet: Bool) {
            self.rows = rows
            self.sheet = sheet
            buf.reserveCapacity(512 * 1024)
        }

        /// Total bytes (a full generating pass).
        func countAll() -> Int64 {
            var total: Int64 = 0
            while !done {
                fill()
                total += Int64(buf.count - start)
                buf.removeAll(keepingCapacity: true)
                start = 0
            }
            return total
        }

        /// Exactly `n` bytes (fewer only at the end).
        func next(_ n: Int) -> Data {
            while buf.count - start < n && !done {
                if start > 0 {
                    buf.removeFirst(start)
                    start = 0
                }
                fill()
            }
            let end = min(buf.count, start + n)
            let d = Data(buf[start..<end])
            start = end
            return d
        }

        private func append(_ s: StaticString) {
            buf.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
        }

        private func append(_ s: String) { buf.append(contentsOf: s.utf8) }

        private func number(_ value: Int) {
            var v = value, n = 0
            repeat { digits[n] = UInt8(truncatingIfNeeded: 48 + v % 10); v /= 10; n += 1 } while v > 0
            while n > 0 { n -= 1; buf.append(digits[n]) }
        }

        /// Appends about 64 KB.
        private func fill() {
            let target = buf.count + 64 * 1024
            if nextRow == -1 {
                append(#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#)
                append("\n")
                if sheet {
                    append(
                        #"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><dimension ref="A1:J"#
                    )
                    number(rows + 1)
                    append(#""/><sheetData><row r="1">"#)
                    for c in 0..<10 { stringCell(col: c, row: 1, index: c) }
                    append("</row>")
                } else {
                    let count = XLSXBench.rowStringBase + 3 * rows
                    append(#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count=""#)
                    number(count)
                    append(#"" uniqueCount=""#)
                    number(count)
                    append(#"">"#)
                    for s in XLSXBench.fixedStrings { append("<si><t>"); append(s); append("</t></si>") }
                }
                nextRow = 0
            }
            while buf.count < target && nextRow < rows {
                let i = nextRow
                if sheet { sheetRow(i) } else { sharedRow(i) }
                nextRow += 1
            }
            if nextRow >= rows && !done {
                append(sheet ? "</sheetData></worksheet>" : "</sst>")
                done = true
            }
        }

        private static let letters: [UInt8] = Array("ABCDEFGHIJ".utf8)

        private func cellOpen(col: Int, row: Int) {
            append(#"<c r=""#)
            buf.append(Self.letters[col])
            number(row)
        }

        private func stringCell(col: Int, row: Int, index: Int) {
            cellOpen(col: col, row: row)
            append(#"" t="s"><v>"#)
            number(index)
            append("</v></c>")
        }

        private func sharedRow(_ i: Int) {
            // SKU-i, Product i, Quality item i, durable
            append("<si><t>SKU-"); number(i); append("</t></si>")
            append("<si><t>Product "); number(i); append("</t></si>")
            append("<si><t>Quality item "); number(i); append(", durable</t></si>")
        }

        private func sheetRow(_ i: Int) {
            let r = i + 2
            let base = XLSXBench.rowStringBase + 3 * i
            append(#"<row r=""#); number(r); append(#"">"#)
            stringCell(col: 0, row: r, index: base)
            stringCell(col: 1, row: r, index: base + 1)
            stringCell(col: 2, row: r, index: base + 2)
            // price: the CSV bench's text "(i%997).(i%100)" as a canonical number ("5.10" → 5.1, "5.0" → 5)
            cellOpen(col: 3, row: r); append(#""><v>"#)
            number(i % 997)
            var frac = i % 100
            if frac != 0 {
                while frac % 10 == 0 { frac /= 10 }
                buf.append(UInt8(ascii: "."))
                number(frac)
            }
            append("</v></c>")
            stringCell(col: 4, row: r, index: XLSXBench.eurIndex)
            cellOpen(col: 5, row: r); append(#""><v>"#); number(i % 500); append("</v></c>")
            stringCell(col: 6, row: r, index: XLSXBench.unitBase + i % 4)
            stringCell(col: 7, row: r, index: XLSXBench.categoryBase + i % 4)
            stringCell(col: 8, row: r, index: XLSXBench.brandBase + i % 50)
            cellOpen(col: 9, row: r); append(#""><v>"#); number(4_000_000_000_000 + i); append("</v></c>")
            append("</row>")
        }
    }
}
