import Foundation
import Postgres
import QuarryTestSupport
import Testing

/// Drives the supplier workflow over real HTTP: upload a CSV, create an extract job, run it through the
/// in-request worker (`POST /api/worker/process`), read the diff page by page.
struct SupplierFlow {
    let base: String
    let org: TestOrg
    let admin: TestOrg

    static func make() async throws -> SupplierFlow {
        let base = try await APIHarness.shared.base()
        return SupplierFlow(base: base, org: try await APIHarness.shared.org(), admin: try await APIHarness.shared.org(admin: true))
    }

    var pool: PostgresPool { APIHarness.shared.pool }

    /// Uploads `csv`, creates the job with `config` and runs it to completion; returns the job id.
    func extract(_ csv: String, config: [String: Any], name: String = "list.csv") async throws -> String {
        let up = try await HTTP.request("POST", base + "/api/uploads?filename=\(name)", token: org.token, body: Data(csv.utf8))
        let uploadID = try #require(up.data["upload_id"] as? String, "\(up)")
        let job = try await HTTP.request(
            "POST", base + "/api/extraction/jobs", token: org.token, headers: ["Content-Type": "application/json"],
            body: HTTP.json(["upload_id": uploadID, "config": config]))
        let jobID = try #require(job.data["job_id"] as? String, "\(job)")
        var status = ""
        for _ in 0..<40 {
            _ = try await HTTP.request("POST", base + "/api/worker/process?max_jobs=100&budget_ms=5000", token: admin.token)
            status = try await HTTP.request("GET", base + "/api/extraction/jobs/\(jobID)", token: org.token).data["status"] as? String ?? ""
            if status == "completed" || status == "dead_lettered" { break }
        }
        try #require(status == "completed", "job \(jobID) ended \(status)")
        return jobID
    }

    /// Every page of the diff (pages of `pageSize`, to exercise the cursor); the header of the first page.
    func diff(_ job: String, change: String? = nil, pageSize: Int = 7) async throws -> (header: [String: Any], rows: [[String: Any]]) {
        var rows: [[String: Any]] = []
        var cursor: String?
        var header: [String: Any] = [:]
        repeat {
            var url = base + "/api/extraction/jobs/\(job)/diff?limit=\(pageSize)"
            if let change { url += "&change=\(change)" }
            if let cursor { url += "&cursor=\(cursor)" }
            let page = try await HTTP.request("GET", url, token: org.token)
            try #require(page.status == 200, "\(page)")
            if header.isEmpty { header = page.data }
            let got = page.data["rows"] as? [[String: Any]] ?? []
            #expect(got.count <= pageSize)
            rows += got
            cursor = page.data["next_cursor"] as? String
        } while cursor != nil
        return (header, rows)
    }

    /// The org's catalog of `supplier`: sku → (name, price in cents, currency).
    func catalog(_ supplier: String) async throws -> [String: Product] {
        var out: [String: Product] = [:]
        for r in try await pool.query(
            "SELECT sku, name, price::text AS price, currency FROM quarry.products WHERE org_id = $1 AND supplier_id = $2", [org.id, supplier])
        {
            out[r.string("sku") ?? ""] = Product(
                name: r.string("name"), cents: r.string("price").flatMap(Double.init).map { Int(($0 * 100).rounded()) },
                currency: r.string("currency"))
        }
        return out
    }

    func insert(_ products: [String: Product], supplier: String) async throws {
        for (sku, p) in products {
            try await pool.query(
                "INSERT INTO quarry.products (org_id, supplier_id, sku, name, price, currency) VALUES ($1, $2, $3, $4, $5::numeric / 100, $6)",
                [org.id, supplier, sku, p.name, p.cents, p.currency])
        }
    }

    struct Product: Equatable, CustomStringConvertible {
        var name: String?
        var cents: Int?
        var currency: String?
        var description: String { "\(name ?? "-")/\(cents.map(String.init) ?? "-")/\(currency ?? "-")" }
    }
}

/// A small deterministic generator (SplitMix64), so a failing seed can be replayed.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
