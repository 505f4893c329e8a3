public import Foundation

/// The catalog diff of a tabular result (issue 16): how many rows the commit would insert, update, leave
/// unchanged or hold, how many catalog products of the supplier the file does not name, and the distribution of
/// price changes. Computed by `quarry.diff_summary` from the `change` column `quarry.classify_rows` wrote.
public struct CatalogDiffSummary: Sendable, Codable, Hashable {
    public var new: Int
    public var updated: Int
    public var unchanged: Int
    public var held: Int
    public var removed: Int
    /// Percent changes of the rows whose price changed against a positive catalog price (nil when none).
    public var priceChangePct: PriceChangeDistribution
    /// Held rows as a percentage of the rows that match catalog products (nil without a guard).
    public var heldSharePct: Double?

    /// Median (signed), 95th percentile and maximum of the absolute percent change.
    public struct PriceChangeDistribution: Sendable, Codable, Hashable {
        public var median: Double?
        public var p95Abs: Double?
        public var maxAbs: Double?
        enum CodingKeys: String, CodingKey { case median, p95Abs = "p95_abs", maxAbs = "max_abs" }
    }

    enum CodingKeys: String, CodingKey {
        case new, updated, unchanged, held, removed, priceChangePct = "price_change_pct", heldSharePct = "held_share_pct"
    }

    /// Rows that match catalog products.
    public var matched: Int { updated + unchanged + held }
}

/// The review of a job with held rows: `held` (share within the bound; held rows are skipped unless approved),
/// `needs_review` (share over the bound; the commit answers 409 `REVIEW_REQUIRED` until every held row is
/// decided) or `reviewed`.
public struct ReviewSummary: Sendable, Codable, Hashable {
    public var state: String
    public var reviewedBy: String?
    public var reviewedAt: String?
    enum CodingKeys: String, CodingKey { case state, reviewedBy = "reviewed_by", reviewedAt = "reviewed_at" }

    public init(state: String) { self.state = state }
}
