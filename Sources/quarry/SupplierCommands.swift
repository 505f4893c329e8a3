import ArgumentParser
import Foundation

/// Prints a job's catalog diff (`GET …/diff`): the summary, the review, then one line per row.
struct DiffPrinter {
    let remote: RemoteOptions
    let job: String
    let change: String?
    let limit: Int

    func run() async throws {
        var cursor: String?
        var printed = 0
        var first = true
        repeat {
            var path = "/api/extraction/jobs/\(job)/diff?limit=\(min(1000, max(1, limit - printed)))"
            if let change { path += "&change=\(change)" }
            if let cursor { path += "&cursor=\(cursor)" }
            let page = try await remote.call("GET", path)
            if first {
                printSummary(page)
                print(["change", "sku", "old_price", "new_price", "pct", "currency", "decision", "name"].joined(separator: "\t"))
                first = false
            }
            for row in page["rows"] as? [[String: Any]] ?? [] {
                let currency =
                    (row["currency_changed"] as? Bool == true)
                    ? "\(text(row["old_currency"]))→\(text(row["currency"]))" : text(row["currency"] ?? row["old_currency"])
                print(
                    [
                        text(row["change"]), text(row["sku"]), text(row["old_price"]), text(row["new_price"]), text(row["price_change_pct"]),
                        currency,
                        text(row["decision"]), text(row["name"]),
                    ].joined(separator: "\t"))
                printed += 1
            }
            cursor = page["next_cursor"] as? String
        } while cursor != nil && printed < limit
        if cursor != nil { print("… more rows (raise --limit)") }
    }

    func printSummary(_ page: [String: Any]) {
        let s = page["summary"] as? [String: Any] ?? [:]
        let counts = ["new", "updated", "unchanged", "held", "removed"].map { "\($0) \(text(s[$0]))" }.joined(separator: ", ")
        print("supplier \(text(page["supplier_id"])): \(counts)")
        if let pct = s["price_change_pct"] as? [String: Any] {
            print("price change %: median \(text(pct["median"])), p95 \(text(pct["p95_abs"])), max \(text(pct["max_abs"]))")
        }
        let review = page["review"] as? [String: Any] ?? [:]
        if let state = review["state"] as? String { print("review: \(state)") }
        if page["committed"] as? Bool == true { print("committed") }
    }

    func text(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: return "-"
        case let s as String: return s
        case let n as NSNumber: return n.stringValue
        default: return "\(value!)"
        }
    }
}

/// `quarry review ID --approve-all | --approve SKU… [--reject SKU…] | --reject-all`: decides a job's held rows.
struct Review: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Approve or reject the rows the price guard held (over HTTP).")
    @OptionGroup var remote: RemoteOptions
    @Argument var id: String
    @Flag(name: .customLong("approve-all"), help: "Approve every held row (except those passed to --reject).") var approveAll = false
    @Flag(name: .customLong("reject-all"), help: "Reject every held row (except those passed to --approve).") var rejectAll = false
    @Option(parsing: .upToNextOption, help: "SKUs to approve.") var approve: [String] = []
    @Option(parsing: .upToNextOption, help: "SKUs to reject.") var reject: [String] = []

    func validate() throws {
        if approveAll && rejectAll { throw ValidationError("--approve-all and --reject-all exclude each other") }
        if !approveAll && !rejectAll && approve.isEmpty && reject.isEmpty {
            throw ValidationError("say what to decide: --approve-all, --reject-all, --approve SKU… or --reject SKU…")
        }
        if approveAll && !approve.isEmpty { throw ValidationError("--approve-all already approves every held row") }
        if rejectAll && !reject.isEmpty { throw ValidationError("--reject-all already rejects every held row") }
    }

    func run() async throws {
        var body: [String: Any] = [:]
        if approveAll { body["approve"] = "all" } else if !approve.isEmpty { body["approve"] = approve }
        if rejectAll { body["reject"] = "all" } else if !reject.isEmpty { body["reject"] = reject }
        let data = try JSONSerialization.data(withJSONObject: body)
        printJSON(try await remote.call("POST", "/api/extraction/jobs/\(id)/review", body: Array(data), contentType: "application/json"))
    }
}

/// `quarry commit ID [--remove-missing] [--save-profile]`: applies the job's diff to the catalog.
struct Commit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Commit a job's result into the catalog (over HTTP).")
    @OptionGroup var remote: RemoteOptions
    @Argument var id: String
    @Flag(name: .customLong("remove-missing"), help: "Also delete the supplier's products the file does not name.") var removeMissing = false
    @Flag(name: .customLong("save-profile"), help: "Store the job's explicit mapping as the supplier's profile.") var saveProfile = false

    func run() async throws {
        let body = "{\"remove_missing\":\(removeMissing),\"save_profile\":\(saveProfile)}"
        printJSON(try await remote.call("POST", "/api/extraction/jobs/\(id)/commit", body: Array(body.utf8), contentType: "application/json"))
    }
}
