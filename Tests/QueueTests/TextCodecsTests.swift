import Foundation
import Postgres
import QuarryTestSupport
import Testing

/// The hand-written uuid and timestamptz codecs must read and write exactly what PostgreSQL does: checked against a
/// real server's own output (and Foundation's) over random values and every offset shape PostgreSQL prints.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct TextCodecsTests {
    @Test func uuidTextRoundTripsThroughPostgres() async throws {
        let pool = try await TestDatabase.migrated()
        let ids = (0..<500).map { _ in UUID() } + [UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))]
        for id in ids { #expect(id.lowercasedText == id.uuidString.lowercased()) }
        // Sent as our text, printed by PostgreSQL, parsed back by our parser.
        let rows = try await pool.query(
            "SELECT u::text AS t, upper(u::text) AS up FROM unnest($1::uuid[]) WITH ORDINALITY AS a(u, n) ORDER BY n", [ids])
        let back = rows.map { $0.uuid("t") }
        #expect(back == ids.map { Optional($0) })
        #expect(rows.map { $0.uuid("up") } == ids.map { Optional($0) })
        #expect(rows.map { $0.string("t") } == ids.map { Optional($0.lowercasedText) })
        for bad in [
            "", "not-a-uuid", "0190c0de-0000-7000-8000-00000000000g", "0190c0de00007000800000000000000000ab", "0190c0de-0000-7000-8000-0000000000",
        ] {
            #expect(UUID(canonicalText: bad) == nil, "\(bad)")
        }
    }

    @Test func timestampsParseLikeFoundationInEveryOffsetShape() async throws {
        let pool = try await TestDatabase.migrated()
        // Offsets PostgreSQL prints as +hh, -hh, +hh:mm and +hh:mm:ss (LMT before 1900 in named zones).
        for zone in ["UTC", "Asia/Kolkata", "America/St_Johns", "America/Los_Angeles", "Europe/Amsterdam"] {
            let rows = try await pool.transaction { c in
                try c.execute("SET LOCAL TimeZone = '\(zone)'")
                return try c.query(
                    """
                    SELECT t::text AS text, extract(epoch FROM t)::float8::text AS epoch
                    FROM (SELECT (timestamptz '1850-06-01 00:00:00+00' + random() * interval '250 years') AS t
                          FROM generate_series(1, 200)
                          UNION ALL SELECT timestamptz '2026-12-02 05:01:02+00'
                          UNION ALL SELECT timestamptz '2024-02-29 23:59:59.999999+00') s
                    """)
            }
            for r in rows {
                let text = try #require(r.string("text"))
                let epoch = try #require(r.double("epoch"))
                // The fast path itself must take every shape PostgreSQL prints (the Foundation fallback is not the test).
                let parsed = try #require(PostgresRow.parseISOTimestampFast(text), "\(zone): \(text)")
                #expect(PostgresRow.parseTimestamp(text) == parsed)
                #expect(abs(parsed.timeIntervalSince1970 - epoch) < 1e-5, "\(zone): \(text) → \(parsed.timeIntervalSince1970) vs \(epoch)")
            }
        }
        for bad in ["", "2026-13-01 00:00:00+00", "2026-11-25 03:41:26.+00", "2026-11-25 03:41:26+0", "2026-11-25 03:41:26+00:3"] {
            #expect(PostgresRow.parseISOTimestampFast(bad) == nil, "\(bad)")
        }
    }

    @Test func arrayLiteralsEscapeQuotesAndBackslashes() async throws {
        let pool = try await TestDatabase.migrated()
        let values = ["plain", "with \"quote\"", "back\\slash", "comma,brace{}", "naïve – ünïcödé ✓", "", "NULL"]
        let rows = try await pool.query("SELECT x FROM unnest($1::text[]) WITH ORDINALITY AS a(x, n) ORDER BY n", [values])
        #expect(rows.map { $0.string("x") } == values.map { Optional($0) })
    }
}
