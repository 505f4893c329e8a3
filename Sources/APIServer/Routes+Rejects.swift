import APIAuth
import Extraction
import Foundation
import Hummingbird
import NIOCore
import Postgres

/// The reject file (issue 16, part 4): the rows that will not reach the catalog — invalid rows, and held rows
/// rejected in review — as they were in the source, plus `row_number`, `column`, `code` and `message` (an invalid
/// row's first error, else its first issue; `REJECTED_IN_REVIEW` for a rejected row), ready to send back to the
/// supplier.
///
/// - `format=csv` from a delimited file: the file's header line, then each rejected record's original text
///   exactly (quotes, escapes and embedded line breaks included), each followed by the file's delimiter and the
///   four columns (RFC 4180-quoted). A record shorter than the header gets empty fields up to the header's width,
///   so the four columns stay under their names. Lines end with the file's line terminator (CRLF when mixed).
/// - `format=csv` from a workbook or JSON: the cells as read, comma-separated and RFC 4180-quoted.
/// - `format=xlsx`: the cells as read (inline strings, never formulas) and the four columns.
///
/// The supplier's cells are never altered (no formula-injection prefix: the file goes back to the people who
/// wrote it, and the issue asks for their text exactly); the four columns Quarry adds are neutralised (a leading
/// `=`, `+`, `-`, `@`, tab or CR gets a `'`), since `column` and `message` may quote the supplier's text.
extension APIServer {
    /// One page of reject rows.
    struct RejectRow {
        var rowNumber: Int
        var cells: [String]
        var line: String?
        var column: String
        var code: String
        var message: String

        var extras: [String] { [String(rowNumber), column, code, message] }
    }

    /// What the result says about its source.
    struct RejectSource {
        var header: [String]
        var headerLine: String?
        var delimiter: String
        var lineEnd: String
    }

    func jobRejects(_ c: Call) async throws -> Response {
        let id = try c.uuid("id")
        let format = c.query("format") ?? "csv"
        guard format == "csv" || format == "xlsx" else { throw APIError.badRequest("'format' must be csv or xlsx") }
        guard
            let r = try await pool.query(
                """
                SELECT kind, coalesce(summary->'source_header', '[]'::jsonb)::text AS header, summary->>'source_header_line' AS line,
                       summary->'dialect'->>'delimiter' AS delimiter, summary->'dialect'->>'line_terminator' AS terminator
                FROM quarry.extraction_results r
                WHERE job_id = $1 AND org_id = $2 AND expires_at > now() AND \(Self.ofCompletedJob)
                """, [id, c.who.orgID]
            ).first
        else { throw APIError.notFound("no result for this job (not finished, expired or absent)") }
        guard r.string("kind") == "tabular" else { throw APIError.conflict("only tabular results have a reject file") }
        let header = (try? JSONDecoder().decode([String].self, from: Data((r.string("header") ?? "[]").utf8))) ?? []
        let delimiter = r.string("delimiter").flatMap { $0.first }.map(String.init) ?? ","
        let lineEnd = ["lf": "\n", "crlf": "\r\n", "cr": "\r"][r.string("terminator") ?? ""] ?? "\r\n"
        let source = RejectSource(header: header, headerLine: r.string("line"), delimiter: delimiter, lineEnd: lineEnd)
        let name = "rejects-\(id.uuidString.lowercased()).\(format)"
        var headers = HTTPFields()
        headers[.contentDisposition] = "attachment; filename=\"\(name)\""
        if format == "xlsx" {
            headers[.contentType] = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            return try await rejectWorkbook(id, source: source, headers: headers)
        }
        headers[.contentType] = "text/csv; charset=utf-8"
        let pool = self.pool
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: Self.rejectHeaderLine(source)))
            try await Self.eachRejectPage(id, pool: pool) { rows in
                try await writer.write(ByteBuffer(string: rows.map { Self.rejectLine($0, source) }.joined()))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    static let rejectColumns = ["row_number", "column", "code", "message"]

    static func rejectHeaderLine(_ s: RejectSource) -> String {
        if let line = s.headerLine {
            return line + s.delimiter + rejectColumns.joined(separator: s.delimiter) + s.lineEnd
        }
        return (s.header.map { CSVCell.quote($0, delimiter: ",") } + rejectColumns).joined(separator: ",") + "\r\n"
    }

    static func rejectLine(_ row: RejectRow, _ s: RejectSource) -> String {
        let extras = row.extras.map { CSVCell.quote(CSVCell.neutralise($0), delimiter: s.headerLine == nil ? "," : s.delimiter) }
        guard s.headerLine != nil else {
            var cells = row.cells.map { CSVCell.quote($0, delimiter: ",") }
            if cells.count < s.header.count { cells += Array(repeating: "", count: s.header.count - cells.count) }
            return (cells + extras).joined(separator: ",") + "\r\n"
        }
        let text = row.line ?? row.cells.map { CSVCell.quote($0, delimiter: s.delimiter) }.joined(separator: s.delimiter)
        let padding = String(repeating: s.delimiter, count: max(0, s.header.count - row.cells.count))
        return text + padding + s.delimiter + extras.joined(separator: s.delimiter) + s.lineEnd
    }

    /// Pages through the job's rejected rows in row order, 1,000 at a time.
    static func eachRejectPage(_ id: UUID, pool: PostgresPool, _ body: ([RejectRow]) async throws -> Void) async throws {
        var after = -1
        while true {
            let rows = try await pool.query(
                """
                SELECT r.row_number, coalesce(r.source, '[]'::jsonb)::text AS source,
                       CASE WHEN r.valid THEN 'price' ELSE i.issue->>'column' END AS col,
                       CASE WHEN r.valid THEN 'REJECTED_IN_REVIEW' ELSE i.issue->>'code' END AS code,
                       CASE WHEN r.valid THEN 'price change rejected in review: ' || coalesce(r.old_price::text, '?') || ' '
                                || coalesce(r.old_currency, '') || ' -> ' || coalesce(r.price::text, '?') || ' ' || coalesce(r.currency, '')
                            ELSE i.issue->>'message' END AS message
                FROM quarry.reject_page($1, $2, 1000) r
                LEFT JOIN LATERAL (
                    SELECT e AS issue FROM jsonb_array_elements(coalesce(r.issues, '[]'::jsonb)) WITH ORDINALITY AS x(e, n)
                    ORDER BY (e->>'severity' = 'error') DESC, n LIMIT 1
                ) i ON NOT r.valid
                ORDER BY r.row_number
                """, [id, after], prepare: true)
            let page = rows.map(rejectRow)
            if page.isEmpty { return }
            try await body(page)
            after = page.last?.rowNumber ?? after
            if page.count < 1000 { return }
        }
    }

    /// A stored source: an array of cells, or `{"cells": […], "line": "…"}` for a delimited file.
    static func rejectRow(_ row: PostgresRow) -> RejectRow {
        struct Stored: Decodable {
            var cells: [String]
            var line: String?
        }
        let json = Data((row.string("source") ?? "[]").utf8)
        let stored =
            (try? JSONDecoder().decode(Stored.self, from: json)) ?? Stored(cells: (try? JSONDecoder().decode([String].self, from: json)) ?? [])
        return RejectRow(
            rowNumber: row.int("row_number") ?? 0, cells: stored.cells, line: stored.line, column: row.string("col") ?? "",
            code: row.string("code") ?? "", message: row.string("message") ?? "")
    }

    /// `format=xlsx`: the workbook is built in a temporary file, then streamed and removed.
    func rejectWorkbook(_ id: UUID, source: RejectSource, headers: HTTPFields) async throws -> Response {
        let path = NSTemporaryDirectory() + "quarry-rejects-\(UUID().uuidString).xlsx"
        do {
            let writer = try XLSXTableWriter(path: path, sheetName: "Rejects")
            try writer.append((source.header + Self.rejectColumns).map { XLSXTableWriter.Cell.text($0) })
            try await Self.eachRejectPage(id, pool: pool) { rows in
                for row in rows {
                    var cells = row.cells
                    if cells.count < source.header.count { cells += Array(repeating: "", count: source.header.count - cells.count) }
                    let extras: [XLSXTableWriter.Cell] = [.number(Double(row.rowNumber)), .text(row.column), .text(row.code), .text(row.message)]
                    try writer.append(cells.map { XLSXTableWriter.Cell.text($0) } + extras)
                }
            }
            try writer.finish()
            guard let file = FileHandle(forReadingAtPath: path) else {
                throw APIError(status: .internalServerError, code: "INTERNAL_ERROR", message: "the reject workbook could not be read")
            }
            try? FileManager.default.removeItem(atPath: path)  // the open handle keeps the bytes until it closes
            let body = ResponseBody { out in
                defer { try? file.close() }
                while let chunk = try file.read(upToCount: 256 * 1024), !chunk.isEmpty {
                    try await out.write(ByteBuffer(bytes: chunk))
                }
                try await out.finish(nil)
            }
            return Response(status: .ok, headers: headers, body: body)
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }
}

extension CSVCell {
    /// RFC 4180 quoting for `delimiter`, without any other change.
    static func quote(_ value: String, delimiter: String) -> String {
        if value.contains(where: { String($0) == delimiter || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return value
    }

    /// A leading `=`, `+`, `-`, `@`, tab or CR gets a `'`, so a spreadsheet does not run the cell as a formula.
    static func neutralise(_ value: String) -> String {
        if let first = value.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { return "'" + value }
        return value
    }
}
