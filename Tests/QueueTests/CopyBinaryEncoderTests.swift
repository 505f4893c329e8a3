import Foundation
import Models
import Postgres
import QuarryTestSupport
import Testing

@testable import ExtractionJobs

/// The binary COPY encoder the extraction pipeline writes `result_rows` with, loaded by a real PostgreSQL
/// and compared with what PostgreSQL's own text input makes of the same values.
@Suite(.timeLimit(.minutes(1)))
struct CopyBinaryEncoderTests {
    static let numbers = [
        "0", "-0", "7", "-7", "12.5", "-12.5", "0.5", ".5", "5.", "0.00005", "-0.00001", "0.0001", "1000.0001", "100", "10000",
        "100000000", "12345678901234.5678", "99999.99995", "1.23456", "12.50", "000123.4500", "9999", "0.9999", "1234.5678",
        "31415926535897.9323846",
    ]

    @Test func everyColumnTypeRoundTripsThroughPostgreSQL() async throws {
        let pool = TestDatabase.pool(size: 1)
        defer { pool.close() }
        let id = UUID()
        let texts: [String?] = ["plain", "tab\tnew\nline\\back", "nul\u{0}byte", "ünïcödé ✓", "", nil]
        let expected: [[String?]] = try await pool.withConnection { c in
            try c.query("DROP TABLE IF EXISTS pg_temp.copy_binary")
            try c.query(
                "CREATE TEMP TABLE copy_binary (n int, u uuid, i int4, b bool, t text, p numeric(18,4), q numeric, j jsonb)")
            var e = CopyBinaryEncoder()
            e.start()
            var expected: [[String?]] = []
            for (n, number) in Self.numbers.enumerated() {
                let text = texts[n % texts.count]
                e.row(fields: 8)
                e.field(int4: Int32(n))
                e.field(id)
                e.field(int4: Int32(n) - 10)
                e.field(n % 2 == 0)
                e.field(text)
                try e.field(numeric: number)
                try e.field(numeric: number)
                e.field(jsonb: n % 3 == 0 ? nil : #"{"k":"\#(n)","a":[1,2]}"#)
                // What PostgreSQL's text input makes of the same values.
                let pgText = try c.query(
                    "SELECT $1::numeric(18,4)::text AS p, $1::numeric::text AS q, $2::jsonb::text AS j",
                    [number, n % 3 == 0 ? nil : #"{"k":"\#(n)","a":[1,2]}"#]
                ).first
                expected.append([
                    String(n), id.uuidString.lowercased(), String(n - 10), n % 2 == 0 ? "t" : "f",
                    text.map { $0.replacingOccurrences(of: "\u{0}", with: "") }, pgText?["p"], pgText?["q"], pgText?["j"],
                ])
            }
            e.row(fields: 8)
            for _ in 0..<8 { e.null() }
            expected.append([String?](repeating: nil, count: 8))
            e.finish()
            let copied = try c.copyIn("COPY copy_binary (n, u, i, b, t, p, q, j) FROM STDIN (FORMAT binary)") { write in
                try e.withBytes(write)
            }
            #expect(copied == Self.numbers.count + 1)
            return expected
        }
        let rows = try await pool.withConnection { c in
            try c.query("SELECT n, u, i, b, t, p::text AS p, q::text AS q, j::text AS j FROM pg_temp.copy_binary ORDER BY n NULLS LAST")
        }
        #expect(rows.count == expected.count)
        for (row, want) in zip(rows, expected) {
            let got = ["n", "u", "i", "b", "t", "p", "q", "j"].map { row[$0] }
            #expect(got == want)
        }
    }

    @Test func textThatIsNotAPlainDecimalIsRefused() {
        var e = CopyBinaryEncoder()
        for bad in ["", "-", ".", "1e5", "1,5", "12a", " 1", "1.2.3", "NaN"] {
            #expect(throws: JobError.self, "\(bad)") { try e.field(numeric: bad) }
        }
    }
}
