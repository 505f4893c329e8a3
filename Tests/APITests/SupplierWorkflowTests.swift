import Foundation
import Postgres
import QuarryTestSupport
import Testing

/// The price guard, its review and the commit gate; supplier profiles; the CLI (issue 16), over real HTTP.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SupplierWorkflowTests {
    /// A shifted-column file: every price ×10. The job is held; the commit waits for the review.
    @Test func priceGuardHoldsTheJobUntilReviewed() async throws {
        let flow = try await SupplierFlow.make()
        var catalog: [String: SupplierFlow.Product] = [:]
        for i in 1...10 { catalog["G\(i)"] = .init(name: "Part \(i)", cents: 1000 + i, currency: "EUR") }
        try await flow.insert(catalog, supplier: "guarded")
        var csv = "sku,name,price,currency\n"
        for i in 1...10 {
            let cents = (1000 + i) * 10
            csv += "G\(i),Part \(i),\(cents / 100).\(String(format: "%02d", cents % 100)),EUR\n"
        }
        csv += "G11,Part 11,5.00,EUR\n"
        let guardConfig: [String: Any] = ["max_increase_pct": 30, "max_decrease_pct": 30, "max_held_share_pct": 20]
        let job = try await flow.extract(csv, config: ["supplier_id": "guarded", "price_guard": guardConfig])
        let url = flow.base + "/api/extraction/jobs/\(job)"

        let (header, rows) = try await flow.diff(job, change: "held")
        #expect(rows.count == 10)
        #expect((header["review"] as? [String: Any])?["state"] as? String == "needs_review")
        let summary = header["summary"] as? [String: Any] ?? [:]
        #expect(summary["held"] as? Int == 10 && summary["new"] as? Int == 1, "\(summary)")
        #expect(((summary["price_change_pct"] as? [String: Any])?["max_abs"] as? Double ?? 0) == 900)
        let first = try #require(rows.first)
        #expect(first["old_price"] as? Double == 10.01 && first["new_price"] as? Double == 100.1, "\(first)")
        #expect(first["price_change_pct"] as? Double == 900, "\(first)")
        // The job's own view says so too, and its queue status stays completed.
        let jobView = try await HTTP.request("GET", url, token: flow.org.token)
        #expect(jobView.data["status"] as? String == "completed")

        // Held and undecided: the commit is refused, the catalog untouched.
        let refused = try await HTTP.request("POST", url + "/commit", token: flow.org.token)
        #expect(refused.status == 409 && refused.errorCode == "REVIEW_REQUIRED", "\(refused)")
        #expect(try await flow.catalog("guarded") == catalog)

        // Bad reviews.
        let unknown = try await HTTP.request("POST", url + "/review", token: flow.org.token, body: HTTP.json(["approve": ["G1", "NOPE-9"]]))
        #expect(unknown.status == 400 && unknown.text.contains("NOPE-9"), "\(unknown)")
        let notHeldSku = try await HTTP.request("POST", url + "/review", token: flow.org.token, body: HTTP.json(["approve": ["G11"]]))
        #expect(notHeldSku.status == 400 && notHeldSku.text.contains("G11"), "\(notHeldSku)")
        let other = try await APIHarness.shared.org()
        #expect(try await HTTP.request("POST", url + "/review", token: other.token, body: HTTP.json(["approve": "all"])).status == 404)
        #expect(try await HTTP.request("GET", url + "/diff", token: other.token).status == 404)
        let empty = try await HTTP.request("POST", url + "/review", token: flow.org.token, body: HTTP.json([String: Any]()))
        #expect(empty.status == 400)

        // Partial review: still held.
        let partial = try await HTTP.request("POST", url + "/review", token: flow.org.token, body: HTTP.json(["approve": ["G1", "G2"]]))
        #expect(partial.status == 200, "\(partial)")
        #expect((partial.data["review"] as? [String: Any])?["state"] as? String == "needs_review")
        #expect(partial.data["undecided"] as? Int == 8)
        #expect(try await HTTP.request("POST", url + "/commit", token: flow.org.token).status == 409)
        // Reject everything else: reviewed, by whom, audited.
        let rest = try await HTTP.request(
            "POST", url + "/review", token: flow.org.token, body: HTTP.json(["reject": "all", "approve": ["G1", "G2"]]))
        #expect(rest.status == 200, "\(rest)")
        let review = rest.data["review"] as? [String: Any] ?? [:]
        #expect(review["state"] as? String == "reviewed")
        #expect(review["reviewed_by"] as? String == flow.org.tokenID.uuidString.lowercased())
        #expect(review["reviewed_at"] is String)
        #expect(rest.data["approved"] as? Int == 2 && rest.data["rejected"] as? Int == 8)
        let audited = try await flow.pool.query(
            "SELECT count(*) AS n FROM quarry.audit_log WHERE action = 'result.review' AND target_id = $1 AND token_id = $2",
            [job, flow.org.tokenID]
        ).first?.int("n")
        #expect(audited == 2)
        #expect(try await flow.catalog("guarded") == catalog)

        // The commit applies the new row and the approved held rows only; once.
        let commit = try await HTTP.request("POST", url + "/commit", token: flow.org.token)
        #expect(commit.status == 200, "\(commit)")
        #expect(commit.data["inserted"] as? Int == 1 && commit.data["updated"] as? Int == 2, "\(commit)")
        #expect(commit.data["held_skipped"] as? Int == 8)
        var expected = catalog
        expected["G1"]?.cents = 10010
        expected["G2"]?.cents = 10020
        expected["G11"] = .init(name: "Part 11", cents: 500, currency: "EUR")
        #expect(try await flow.catalog("guarded") == expected)
        let again = try await HTTP.request("POST", url + "/commit", token: flow.org.token)
        #expect(again.data["already_committed"] as? Bool == true)
        #expect(try await flow.catalog("guarded") == expected)
        // A committed job is not reviewed any more.
        #expect(try await HTTP.request("POST", url + "/review", token: flow.org.token, body: HTTP.json(["approve": "all"])).status == 409)

        // A job the guard did not hold: review is 409, the commit goes through.
        let calm = try await flow.extract(
            "sku,name,price,currency\nG3,Part 3,10.50,EUR\n", config: ["supplier_id": "guarded", "price_guard": guardConfig])
        let notHeld = try await HTTP.request(
            "POST", flow.base + "/api/extraction/jobs/\(calm)/review", token: flow.org.token, body: HTTP.json(["approve": "all"]))
        #expect(notHeld.status == 409, "\(notHeld)")
        #expect(try await HTTP.request("POST", flow.base + "/api/extraction/jobs/\(calm)/commit", token: flow.org.token).status == 200)
    }

    /// Two diffs of one supplier computed against the same catalog: once the first is committed, the second
    /// describes a catalog that no longer exists, so its commit is refused (the preview never disagrees).
    @Test func aDiffOlderThanTheCatalogIsNotCommitted() async throws {
        let flow = try await SupplierFlow.make()
        try await flow.insert(["K-1": .init(name: "Key", cents: 100, currency: "EUR")], supplier: "stale")
        let first = try await flow.extract("sku,name,price,currency\nK-1,Key,1.10,EUR\n", config: ["supplier_id": "stale"], name: "s1.csv")
        let second = try await flow.extract(
            "sku,name,price,currency\nK-1,Key,1.20,EUR\nK-2,Lock,3.00,EUR\n", config: ["supplier_id": "stale"], name: "s2.csv")
        #expect(try await HTTP.request("POST", flow.base + "/api/extraction/jobs/\(first)/commit", token: flow.org.token).status == 200)
        let refused = try await HTTP.request("POST", flow.base + "/api/extraction/jobs/\(second)/commit", token: flow.org.token)
        #expect(refused.status == 409 && refused.errorCode == "DIFF_STALE", "\(refused)")
        #expect(try await flow.catalog("stale") == ["K-1": .init(name: "Key", cents: 110, currency: "EUR")])
        // A diff computed after that commit goes through.
        let third = try await flow.extract("sku,name,price,currency\nK-1,Key,1.25,EUR\n", config: ["supplier_id": "stale"], name: "s3.csv")
        #expect(try await HTTP.request("POST", flow.base + "/api/extraction/jobs/\(third)/commit", token: flow.org.token).status == 200)
        #expect(try await flow.catalog("stale")["K-1"]?.cents == 125)
    }

    @Test func priceGuardIsValidatedByTheConfigModel() async throws {
        let flow = try await SupplierFlow.make()
        let up = try await HTTP.request("POST", flow.base + "/api/uploads?filename=a.csv", token: flow.org.token, body: Data("sku,price\nA,1\n".utf8))
        let uploadID = try #require(up.data["upload_id"] as? String)
        for (bad, field) in [
            (["max_increase_pct": -1] as [String: Any], "price_guard.max_increase_pct"), (["max_raise": 5], "price_guard.max_raise"),
            (["max_held_share_pct": 150], "price_guard.max_held_share_pct"),
        ] {
            let r = try await HTTP.request(
                "POST", flow.base + "/api/extraction/jobs", token: flow.org.token, headers: ["Content-Type": "application/json"],
                body: HTTP.json(["upload_id": uploadID, "config": ["price_guard": bad]]))
            #expect(r.status == 400 && r.errorCode == "INVALID_CONFIG", "\(r)")
            #expect(((r.json["error"] as? [String: Any])?["details"] as? [String: Any])?["field"] as? String == field, "\(r)")
        }
    }

    @Test func profilesMapJobsBySupplierAndByHeader() async throws {
        let flow = try await SupplierFlow.make()
        let profileURL = flow.base + "/api/suppliers/acme/profile"
        // A supplier the org does not know is 404, whoever asks.
        #expect(try await HTTP.request("GET", profileURL, token: flow.org.token).status == 404)
        #expect(try await HTTP.request("PUT", profileURL, token: flow.org.token, body: HTTP.json(["header_row": 1])).status == 404)
        try await flow.insert(["A-1": .init(name: "Anvil", cents: 5000, currency: "EUR")], supplier: "acme")

        // Validated by the worker's config decoder: 400 naming the field.
        for (body, field) in [
            (["colum_mapping": ["sku": "Nr"]] as [String: Any], "colum_mapping"), (["column_mapping": ["skew": "Nr"]], "skew"),
            (["supplier_id": "other"], "supplier_id"), (["price_guard": ["max_increase_pct": "lots"]], "price_guard.max_increase_pct"),
        ] {
            let r = try await HTTP.request("PUT", profileURL, token: flow.org.token, body: HTTP.json(body))
            #expect(r.status == 400 && r.errorCode == "INVALID_CONFIG", "\(r)")
            #expect(((r.json["error"] as? [String: Any])?["details"] as? [String: Any])?["field"] as? String == field, "\(r)")
        }
        let profile: [String: Any] = [
            "column_mapping": ["sku": "Art", "name": "Bez", "price": "Betrag"], "delimiter": ";",
            "price_guard": ["max_increase_pct": 50], "header": ["Art", "Bez", "Betrag"],
        ]
        let put = try await HTTP.request("PUT", profileURL, token: flow.org.token, body: HTTP.json(profile))
        #expect(put.status == 200, "\(put)")
        let got = try await HTTP.request("GET", profileURL, token: flow.org.token)
        #expect(got.status == 200)
        #expect(((got.data["config"] as? [String: Any])?["column_mapping"] as? [String: Any])?["price"] as? String == "Betrag")
        // Another org: 404 to read, 404 to write, and nothing of org A's changes.
        let other = try await APIHarness.shared.org()
        #expect(try await HTTP.request("GET", profileURL, token: other.token).status == 404)
        #expect(try await HTTP.request("PUT", profileURL, token: other.token, body: HTTP.json(["header_row": 1])).status == 404)

        // "Betrag" is no alias of price: without the profile the file has no price column.
        let file = "Art;Bez;Betrag\nA-1;Anvil;60,00\nA-2;Bucket;7,50\n"
        // 1. supplier_id and no mapping: the supplier's profile.
        let bySupplier = try await flow.extract(file, config: ["supplier_id": "acme"], name: "acme1.csv")
        var s = try await summary(flow, bySupplier)
        #expect(s["mapping_source"] as? String == "profile" && s["profile_supplier_id"] as? String == "acme", "\(s)")
        #expect(s["rows_valid"] as? Int == 2)
        #expect((s["diff"] as? [String: Any])?["updated"] as? Int == 1)
        // 2. no supplier_id: recognised by its header, classified against acme's catalog, with acme's guard.
        let byHeader = try await flow.extract(file.replacingOccurrences(of: "Bucket", with: "Pail"), config: [:], name: "acme2.csv")
        s = try await summary(flow, byHeader)
        #expect(s["mapping_source"] as? String == "profile" && s["profile_supplier_id"] as? String == "acme", "\(s)")
        #expect(s["supplier_id"] as? String == "acme")
        #expect((s["diff"] as? [String: Any])?["updated"] as? Int == 1 && (s["diff"] as? [String: Any])?["new"] as? Int == 1, "\(s)")
        let diff = try await flow.diff(byHeader)
        #expect(diff.header["supplier_id"] as? String == "acme")
        #expect(((diff.header["review"] as? [String: Any])?["price_guard"] as? [String: Any])?["max_increase_pct"] as? Double == 50)
        // 3. an explicit mapping wins.
        let explicit = try await flow.extract(
            file, config: ["supplier_id": "acme", "delimiter": ";", "column_mapping": ["sku": "Art", "price": "Betrag"]], name: "acme3.csv")
        s = try await summary(flow, explicit)
        #expect(s["mapping_source"] as? String == "config")
        // 4. a file nobody knows.
        let unknown = try await flow.extract("sku,price\nZ-1,1.00\n", config: [:], name: "plain.csv")
        #expect(try await summary(flow, unknown)["mapping_source"] as? String == "auto")

        // save_profile: the committed job's explicit mapping becomes the supplier's profile.
        let beta = try await flow.extract(
            "Code|Preis\nB-1|2,00\n", config: ["supplier_id": "beta", "delimiter": "|", "column_mapping": ["sku": "Code", "price": "Preis"]],
            name: "beta.csv")
        let noMapping = try await HTTP.request(
            "POST", flow.base + "/api/extraction/jobs/\(bySupplier)/commit", token: flow.org.token, body: HTTP.json(["save_profile": true]))
        #expect(noMapping.status == 400, "\(noMapping)")
        let saved = try await HTTP.request(
            "POST", flow.base + "/api/extraction/jobs/\(beta)/commit", token: flow.org.token, body: HTTP.json(["save_profile": true]))
        #expect(saved.status == 200 && saved.data["profile_saved"] as? Bool == true, "\(saved)")
        let betaProfile = try await HTTP.request("GET", flow.base + "/api/suppliers/beta/profile", token: flow.org.token)
        #expect(betaProfile.status == 200)
        #expect(((betaProfile.data["config"] as? [String: Any])?["column_mapping"] as? [String: Any])?["sku"] as? String == "Code")
        #expect(betaProfile.data["header_fingerprint"] as? String == "code\u{1F}preis")
        let next = try await flow.extract("Code|Preis\nB-1|2,50\n", config: [:], name: "beta2.csv")
        s = try await summary(flow, next)
        #expect(s["profile_supplier_id"] as? String == "beta" && (s["diff"] as? [String: Any])?["updated"] as? Int == 1, "\(s)")
    }

    /// `quarry job ID --diff`, `quarry review ID --approve-all | --approve SKU…`, `quarry commit ID`.
    @Test func cliDiffReviewCommit() async throws {
        let flow = try await SupplierFlow.make()
        try await flow.insert(
            ["C-1": .init(name: "Cog", cents: 100, currency: "EUR"), "C-2": .init(name: "Gear", cents: 200, currency: "EUR")], supplier: "cli")
        let job = try await flow.extract(
            "sku,name,price,currency\nC-1,Cog,9.00,EUR\nC-2,Gear,9.00,EUR\nC-3,Shaft,1.00,EUR\n",
            config: ["supplier_id": "cli", "price_guard": ["max_increase_pct": 10, "max_held_share_pct": 10]])
        let env = ["QUARRY_URL": flow.base, "QUARRY_TOKEN": flow.org.token]
        let show = try ChildProcess("quarry", arguments: ["job", job, "--diff"], environment: env)
        #expect(await show.waitForExit(timeout: .seconds(30)) == 0, "\(show.log)")
        #expect(show.log.contains("held 2") && show.log.contains("review: needs_review"), "\(show.log)")
        #expect(show.log.contains("held\tC-1\t1.0\t9.0\t800.0\tEUR"), "\(show.log)")
        let commitEarly = try ChildProcess("quarry", arguments: ["commit", job], environment: env)
        #expect(await commitEarly.waitForExit(timeout: .seconds(30)) != 0)
        #expect(commitEarly.log.contains("REVIEW_REQUIRED"), "\(commitEarly.log)")
        let bad = try ChildProcess("quarry", arguments: ["review", job, "--approve", "C-9"], environment: env)
        #expect(await bad.waitForExit(timeout: .seconds(30)) != 0)
        #expect(bad.log.contains("C-9"), "\(bad.log)")
        let one = try ChildProcess("quarry", arguments: ["review", job, "--approve", "C-1"], environment: env)
        #expect(await one.waitForExit(timeout: .seconds(30)) == 0, "\(one.log)")
        let all = try ChildProcess("quarry", arguments: ["review", job, "--approve-all"], environment: env)
        #expect(await all.waitForExit(timeout: .seconds(30)) == 0, "\(all.log)")
        #expect(all.log.contains("\"state\" : \"reviewed\""), "\(all.log)")
        let commit = try ChildProcess("quarry", arguments: ["commit", job], environment: env)
        #expect(await commit.waitForExit(timeout: .seconds(30)) == 0, "\(commit.log)")
        #expect(commit.log.contains("\"updated\" : 2") && commit.log.contains("\"inserted\" : 1"), "\(commit.log)")
        #expect(try await flow.catalog("cli")["C-2"]?.cents == 900)
    }

    func summary(_ flow: SupplierFlow, _ job: String) async throws -> [String: Any] {
        let r = try await HTTP.request("GET", flow.base + "/api/extraction/jobs/\(job)/result?limit=1", token: flow.org.token)
        return r.data["summary"] as? [String: Any] ?? [:]
    }
}
