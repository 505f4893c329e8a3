import Foundation
import Postgres
import QuarryTestSupport
import Testing

/// `bytea` parameters travel in binary format (issue 12: uploads were sent as hex text).
@Suite struct PostgresBinaryParameterTests {
    @Test func byteaRoundTripsEveryByteValueAsABinaryParameter() async throws {
        let pool = try await TestDatabase.migrated()
        let bytes: [UInt8] = Array(0...255) + [0, 0, 92, 120, 255]
        let parameter = Bytea(bytes)
        #expect(parameter.postgresBinary == bytes)
        // Mixed with text parameters, prepared and unprepared.
        for prepare in [false, true] {
            let rows = try await pool.query(
                "SELECT length($1::bytea) AS n, $2::int + 1 AS next, encode($1::bytea, 'hex') AS hex", [parameter, 41], prepare: prepare)
            #expect(rows.first?.int("n") == bytes.count)
            #expect(rows.first?.int("next") == 42)
            #expect(rows.first?.string("hex") == bytes.map { String(format: "%02x", $0) }.joined())
        }
        let back = try await pool.withConnection { try $0.queryBytes("SELECT $1::bytea", [Bytea(bytes)]) }
        #expect(back == bytes)
        #expect(try await pool.query("SELECT length($1::bytea) AS n", [Bytea([])]).first?.int("n") == 0)
    }
}
