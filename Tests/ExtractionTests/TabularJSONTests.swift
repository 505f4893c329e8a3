import Foundation
import Models
import Testing

@testable import Extraction

@Suite struct TabularJSONTests {
    @Test func arrayOfObjectsWithHeaderRowZero() throws {
        let path = try TabularFixture.temp(
            "a.json", Array(#"[{"id":1,"name":"A\u00e9\n","tags":["x",{"y":null}]},{"name":"B","extra":true,"id":2.50,"n":null}]"#.utf8))
        let rows = try TabularFixture.rows(.json, path)
        #expect(rows.map(\.0) == [0, 1, 2])
        #expect(rows[0].1 == ["id", "name", "tags", "extra", "n"])
        #expect(rows[1].1 == ["1", "Aé\n", #"["x",{"y":null}]"#, "", ""])
        #expect(rows[2].1 == ["2.50", "B", "", "true", ""])
    }

    @Test func objectHoldingOneArray() throws {
        let path = try TabularFixture.temp("p.json", Array(#"{"count": 2, "products": [{"sku":"a"},{"sku":"b"}], "meta": {"v": 1}}"#.utf8))
        #expect(try TabularFixture.rows(.json, path).map(\.1) == [["sku"], ["a"], ["b"]])
        let two = try TabularFixture.temp("p2.json", Array(#"{"a":[{"x":1}],"b":[{"x":2}]}"#.utf8))
        #expect(TabularFixture.code { _ = try TabularFixture.rows(.json, two) } == .invalidJSON)
    }

    @Test func ndjsonLinesAndLateKeys() throws {
        var text = ""
        for i in 1...1001 { text += "{\"i\":\(i)}\n" }
        text += "\n{\"i\":1002,\"late\":\"z\"}\n"
        let path = try TabularFixture.temp("a.ndjson", Array(text.utf8))
        let rows = try TabularFixture.rows(.ndjson, path)
        #expect(rows[0].0 == 0 && rows[0].1 == ["i"])
        #expect(rows[1].0 == 1 && rows[1].1 == ["1"])
        let tail = rows.suffix(2)
        #expect(tail.first?.0 == 0 && tail.first?.1 == ["i", "late"])  // extended header re-announced
        #expect(tail.last?.0 == 1003 && tail.last?.1 == ["1002", "z"])
    }

    @Test func syntaxErrorsCarryOffset() throws {
        let path = try TabularFixture.temp("bad.json", Array(#"[{"a":1},{"a":tru}]"#.utf8))
        do {
            _ = try TabularFixture.rows(.json, path)
            Issue.record("expected an error")
        } catch let e as JobError {
            #expect(e.code == .invalidJSON)
            #expect(e.details["offset"] != nil)
        }
        let notObject = try TabularFixture.temp("n.json", Array("[1,2]".utf8))
        #expect(TabularFixture.code { _ = try TabularFixture.rows(.json, notObject) } == .invalidJSON)
    }

    @Test func deepNestingIsRejected() throws {
        let text = "[{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}]"
        let path = try TabularFixture.temp("deep.json", Array(text.utf8))
        #expect(TabularFixture.code { _ = try TabularFixture.rows(.json, path) } == .invalidJSON)
    }

    @Test func hugeRecordIsRowTooLong() throws {
        let text = "[{\"a\":\"" + String(repeating: "x", count: 2 << 20) + "\"}]"
        let path = try TabularFixture.temp("big.json", Array(text.utf8))
        #expect(TabularFixture.code { _ = try TabularFixture.rows(.json, path) } == .rowTooLong)
    }
}
