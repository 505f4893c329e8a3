import Extraction
import Foundation

/// The catalog a result is classified against and committed into: the org, the supplier (the job's, or the
/// matched profile's) and the price guard in effect (the job's, else the supplier profile's).
struct CatalogScope: Sendable {
    var org: UUID
    var supplier: String
    var priceGuard: PriceGuard?
    /// The catalog version (`quarry.catalog_versions`) read before classifying; stored with the result so a
    /// commit can refuse a diff the catalog has moved away from.
    var catalogVersion: Int?

    /// The review state a classification calls for: nil when nothing is held, `needs_review` when the held share
    /// is over `max_held_share_pct`, else `held`.
    func reviewState(for diff: CatalogDiffSummary) -> String? {
        guard let priceGuard, diff.held > 0 else { return nil }
        if let bound = priceGuard.maxHeldSharePct, (diff.heldSharePct ?? 0) > bound { return "needs_review" }
        return "held"
    }
}

/// What ``ResultStore/classify(catalog:hasDuplicates:isCancelled:)`` found.
struct Classification: Sendable {
    /// Seed counts (price only): valid rows whose catalog price differs / is equal.
    var updated: Int
    var unchanged: Int
    var diff: CatalogDiffSummary
}
