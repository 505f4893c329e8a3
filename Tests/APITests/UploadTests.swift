import Crypto
import Foundation
import Postgres
import QuarryTestSupport
import Testing

func sha256Hex(_ d: Data) -> String { SHA256.hash(data: d).map { String(format: "%02x", $0) }.joined() }

@Suite(.serialized, .timeLimit(.minutes(2)))
struct UploadTests {
    static let csv = Data("sku,name,price\nA1,Widget,9.99\nB2,Gadget,19.50\n".utf8)

    @Test func rawUploadStoresBytesAndDigest() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        // Bigger than one stored chunk would be with a 1 MiB limit: use 700 KB so several body buffers arrive.
        var big = Data("sku,name,price\n".utf8)
        while big.count < 700_000 { big.append(Data("SKU\(big.count),Name,1.00\n".utf8)) }
        let r = try await HTTP.request(
            "POST", base + "/api/uploads?filename=big.csv", token: org.token, headers: ["Content-Type": "text/csv"], body: big)
        #expect(r.status == 201, "\(r)")
        #expect(r.data["sha256"] as? String == sha256Hex(big))
        #expect((r.data["size_bytes"] as? Int) == big.count)
        #expect(r.data["format"] as? String == "csv")
        let id = try #require((r.data["upload_id"] as? String).flatMap(UUID.init(uuidString:)))
        // The stored chunks reassemble to the same bytes.
        let stored = try await APIHarness.shared.pool.query(
            "SELECT encode(sha256(string_agg(data, ''::bytea ORDER BY seq)), 'hex') AS h FROM quarry.upload_chunks WHERE upload_id = $1", [id]
        ).first?.string("h")
        #expect(stored == sha256Hex(big))
    }

    @Test func multipartUpload() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let boundary = "----quarry\(UUID().uuidString.prefix(6))"
        var body = Data()
        body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n".utf8))
        body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.csv\"\r\nContent-Type: text/csv\r\n\r\n".utf8))
        body.append(Self.csv)
        body.append(Data("\r\n--\(boundary)--\r\n".utf8))
        let r = try await HTTP.request(
            "POST", base + "/api/uploads", token: org.token, headers: ["Content-Type": "multipart/form-data; boundary=\(boundary)"], body: body)
        #expect(r.status == 201, "\(r)")
        #expect(r.data["sha256"] as? String == sha256Hex(Self.csv))
        #expect((r.data["size_bytes"] as? Int) == Self.csv.count)
    }

    @Test func base64JSONUpload() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let r = try await HTTP.request(
            "POST", base + "/api/uploads", token: org.token, headers: ["Content-Type": "application/json"],
            body: HTTP.json(["fileName": "p.csv", "fileData": Self.csv.base64EncodedString(), "contentType": "text/csv"]))
        #expect(r.status == 201, "\(r)")
        #expect(r.data["sha256"] as? String == sha256Hex(Self.csv))
        let unknown = try await HTTP.request(
            "POST", base + "/api/uploads", token: org.token, headers: ["Content-Type": "application/json"],
            body: HTTP.json(["fileName": "p.csv", "fileData": "", "bogus": 1]))
        #expect(unknown.status == 400)
    }

    @Test func oversizeIs413AndLeavesNothing() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let big = Data(repeating: UInt8(ascii: "a"), count: 1_200_000)
        // Chunked transfer, so the server cannot reject on Content-Length and must stop while streaming.
        let r = try await HTTP.request(
            "POST", base + "/api/uploads?filename=big.csv", token: org.token, headers: ["Transfer-Encoding": "chunked"], body: big)
        #expect(r.status == 413, "\(r)")
        #expect(r.errorCode == "PAYLOAD_TOO_LARGE")
        let left = try await APIHarness.shared.pool.query("SELECT count(*) AS n FROM quarry.uploads WHERE org_id = $1", [org.id]).first?.int("n")
        #expect(left == 0)
    }

    @Test func pngNamedCSVAndExeAre415() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 0x49, 0x48, 0x44, 0x52] + [UInt8](repeating: 7, count: 100))
        let r1 = try await HTTP.request("POST", base + "/api/uploads?filename=fake.csv", token: org.token, body: png)
        #expect(r1.status == 415, "\(r1)")
        #expect(r1.errorCode == "UNSUPPORTED_MEDIA_TYPE")
        let r2 = try await HTTP.request("POST", base + "/api/uploads?filename=tool.exe", token: org.token, body: Data("MZ...".utf8))
        #expect(r2.status == 415)
        let r3 = try await HTTP.request("POST", base + "/api/uploads?filename=doc.pdf", token: org.token, body: Self.csv)
        #expect(r3.status == 415)
        let left = try await APIHarness.shared.pool.query("SELECT count(*) AS n FROM quarry.uploads WHERE org_id = $1", [org.id]).first?.int("n")
        #expect(left == 0)
    }
}
