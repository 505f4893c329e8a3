import Foundation
import Postgres
import QuarryTestSupport
import Testing

/// The diff is what the commit does (issue 16): on random catalogs and files, the diff the api pages out equals
/// a model computed here from the catalog and the file, and the catalog after the commit is exactly the catalog
/// before it with the diff applied — nothing changes it before the commit.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct CatalogDiffTests {
    typealias Product = SupplierFlow.Product

    struct FileRow {
        var sku: String
        var name: String
        var cents: Int?  // nil: an invalid row (price "n/a")
        var currency: String
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func diffEqualsCommitOnRandomCatalogs(seed: UInt64) async throws {
        var rng = SeededRandom(state: seed &* 7919)
        let flow = try await SupplierFlow.make()
        let supplier = "prop-\(seed)"

        // The catalog.
        var catalog: [String: Product] = [:]
        for i in 0..<Int.random(in: 20...50, using: &rng) {
            catalog["S\(i)"] = Product(
                name: "Item \(i)", cents: Int.random(in: 100...10_000, using: &rng),
                currency: Int.random(in: 0..<10, using: &rng) == 0 ? "USD" : "EUR")
        }
        try await flow.insert(catalog, supplier: supplier)

        // The file: catalog products kept, renamed, repriced a little or a lot, recurrencied or left out; new
        // SKUs; repeated SKUs (the last valid row wins); invalid rows, one of them naming a catalog product.
        var rows: [FileRow] = []
        for (sku, p) in catalog.sorted(by: { $0.key < $1.key }) {
            let old = p.cents ?? 100
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<12: continue  // removed
            case 12..<35: rows.append(FileRow(sku: sku, name: p.name ?? "", cents: old, currency: p.currency ?? "EUR"))
            case 35..<47: rows.append(FileRow(sku: sku, name: (p.name ?? "") + " v2", cents: old, currency: p.currency ?? "EUR"))
            case 47..<67:
                let f = Double.random(in: 0.85...1.2, using: &rng)
                rows.append(FileRow(sku: sku, name: p.name ?? "", cents: max(1, Int((Double(old) * f).rounded())), currency: p.currency ?? "EUR"))
            case 67..<85:
                let f = Bool.random(using: &rng) ? Double.random(in: 1.6...10, using: &rng) : Double.random(in: 0.2...0.5, using: &rng)
                rows.append(FileRow(sku: sku, name: p.name ?? "", cents: max(1, Int((Double(old) * f).rounded())), currency: p.currency ?? "EUR"))
            case 85..<92: rows.append(FileRow(sku: sku, name: p.name ?? "", cents: old, currency: p.currency == "USD" ? "EUR" : "USD"))
            default: rows.append(FileRow(sku: sku, name: p.name ?? "", cents: nil, currency: "EUR"))
            }
        }
        for i in 0..<Int.random(in: 3...12, using: &rng) {
            rows.append(FileRow(sku: "N\(i)", name: "New \(i)", cents: Int.random(in: 100...5000, using: &rng), currency: "EUR"))
        }
        for _ in 0..<3 {
            guard var dup = rows.randomElement(using: &rng) else { break }
            dup.cents = Int.random(in: 100...5000, using: &rng)
            rows.append(dup)
        }
        rows.shuffle(using: &rng)
        let csv =
            "sku,name,price,currency\n"
            + rows.map { r in
                "\(r.sku),\(r.name),\(r.cents.map { String(format: "%d.%02d", $0 / 100, $0 % 100) } ?? "n/a"),\(r.currency)"
            }.joined(separator: "\n") + "\n"

        // Half the seeds run with a price guard: a share bound of 100 % holds rows without holding the job,
        // a bound of 5 % holds the job.
        let guardOn = seed % 2 == 0
        var config: [String: Any] = ["supplier_id": supplier]
        if guardOn { config["price_guard"] = ["max_increase_pct": 30, "max_decrease_pct": 30, "max_held_share_pct": seed % 4 == 0 ? 5 : 100] }
        let job = try await flow.extract(csv, config: config, name: "prop-\(seed).csv")

        // The model: the last valid row of each SKU against the catalog.
        var effective: [String: FileRow] = [:]
        for r in rows where r.cents != nil { effective[r.sku] = r }
        var want: [String: String] = [:]
        for (sku, r) in effective {
            guard let p = catalog[sku] else {
                want[sku] = "new"
                continue
            }
            if p == Product(name: r.name, cents: r.cents, currency: r.currency) {
                want[sku] = "unchanged"
                continue
            }
            let old = Double(p.cents ?? 0)
            let pct = old > 0 ? (Double(r.cents ?? 0) - old) / old * 100 : 0
            let held = guardOn && (p.currency != r.currency || pct > 30 || pct < -30)
            want[sku] = held ? "held" : "updated"
        }
        let named = Set(rows.map(\.sku))
        let removed = Set(catalog.keys).subtracting(named)

        // The diff as the api pages it.
        let (header, diffRows) = try await flow.diff(job)
        var got: [String: String] = [:]
        for r in diffRows {
            let sku = r["sku"] as? String ?? ""
            #expect(got[sku] == nil, "SKU \(sku) listed twice")
            got[sku] = r["change"] as? String
        }
        #expect(got == want, "seed \(seed): diff disagrees with the model")
        let removedRows = try await flow.diff(job, change: "removed").rows
        #expect(Set(removedRows.compactMap { $0["sku"] as? String }) == removed)
        let summary = header["summary"] as? [String: Any] ?? [:]
        for change in ["new", "updated", "unchanged", "held"] {
            #expect(summary[change] as? Int == want.values.filter { $0 == change }.count, "summary \(change)")
            let filtered = try await flow.diff(job, change: change, pageSize: 5).rows
            #expect(filtered.count == want.values.filter { $0 == change }.count, "?change=\(change)")
        }
        #expect(summary["removed"] as? Int == removed.count)

        // Review: approve about half the held rows, reject the rest.
        let held = want.filter { $0.value == "held" }.keys.sorted()
        var approved: Set<String> = []
        let needsReview = (header["review"] as? [String: Any])?["state"] as? String == "needs_review"
        if needsReview {
            let refused = try await HTTP.request("POST", flow.base + "/api/extraction/jobs/\(job)/commit", token: flow.org.token)
            #expect(refused.status == 409 && refused.errorCode == "REVIEW_REQUIRED", "\(refused)")
        }
        if !held.isEmpty {
            approved = Set(held.filter { _ in Bool.random(using: &rng) })
            let body: [String: Any] = ["approve": Array(approved), "reject": held.filter { !approved.contains($0) }]
            let review = try await HTTP.request(
                "POST", flow.base + "/api/extraction/jobs/\(job)/review", token: flow.org.token, body: HTTP.json(body))
            #expect(review.status == 200, "\(review)")
            #expect((review.data["review"] as? [String: Any])?["state"] as? String == "reviewed")
        }

        // Nothing but the commit changes the catalog.
        #expect(try await flow.catalog(supplier) == catalog)
        let removeMissing = seed % 3 == 0
        let commit = try await HTTP.request(
            "POST", flow.base + "/api/extraction/jobs/\(job)/commit", token: flow.org.token, body: HTTP.json(["remove_missing": removeMissing]))
        #expect(commit.status == 200, "\(commit)")

        var expected = catalog
        for (sku, change) in want where change == "new" || change == "updated" || (change == "held" && approved.contains(sku)) {
            let r = effective[sku]!
            expected[sku] = Product(name: r.name, cents: r.cents, currency: r.currency)
        }
        if removeMissing { for sku in removed { expected[sku] = nil } }
        let after = try await flow.catalog(supplier)
        #expect(after == expected, "seed \(seed): the commit did not do what the diff said")
        #expect(commit.data["inserted"] as? Int == want.values.filter { $0 == "new" }.count)
        #expect(commit.data["updated"] as? Int == want.values.filter { $0 == "updated" }.count + approved.count)
        #expect(commit.data["removed"] as? Int == (removeMissing ? removed.count : 0))
        print(
            "seed \(seed): \(catalog.count) products, \(rows.count) rows; diff \(want.values.reduce(into: [:]) { $0[$1, default: 0] += 1 }), removed \(removed.count), approved \(approved.count)"
        )
    }
}
