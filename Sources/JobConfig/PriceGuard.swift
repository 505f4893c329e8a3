import Models

/// `price_guard` (issue 16): bounds on a catalog price change beyond which a row is held for review, and the
/// share of held rows beyond which the whole job needs a review. Each member is optional; a missing bound is
/// not checked. Absent from the config (and from the supplier profile) means no guard.
///
/// ```json
/// {"price_guard": {"max_increase_pct": 30, "max_decrease_pct": 30, "max_held_share_pct": 20}}
/// ```
public struct PriceGuard: Sendable, Hashable, Codable {
    /// A price more than this many percent above the catalog's is held.
    public var maxIncreasePct: Double?
    /// A price more than this many percent below the catalog's is held.
    public var maxDecreasePct: Double?
    /// When held rows are more than this share (percent) of the rows matching catalog products, the job needs a
    /// review before it can be committed.
    public var maxHeldSharePct: Double?

    /// The JSON member names accepted.
    public static let allowedKeys: Set<String> = ["max_increase_pct", "max_decrease_pct", "max_held_share_pct"]

    public init(maxIncreasePct: Double? = nil, maxDecreasePct: Double? = nil, maxHeldSharePct: Double? = nil) {
        self.maxIncreasePct = maxIncreasePct
        self.maxDecreasePct = maxDecreasePct
        self.maxHeldSharePct = maxHeldSharePct
    }

    public init(from decoder: any Decoder) throws {
        let container: KeyedDecodingContainer<DynamicCodingKey>
        do {
            container = try decoder.container(keyedBy: DynamicCodingKey.self)
        } catch {
            throw JobError(.invalidConfig, "'price_guard' in config must be an object", details: ["field": "price_guard"])
        }
        for key in container.allKeys.map(\.stringValue).sorted() where !Self.allowedKeys.contains(key) {
            throw JobError(
                .invalidConfig, "unknown field '\(key)' in price_guard",
                details: ["field": "price_guard.\(key)", "allowed": Self.allowedKeys.sorted().joined(separator: ", ")])
        }
        func bound(_ key: String) throws -> Double? {
            let value: Double?
            do {
                value = try container.value(Double.self, key, context: "price_guard", expected: "a number ≥ 0")
            } catch var error as JobError {
                error.details["field"] = "price_guard.\(key)"
                throw error
            }
            if let value, !(value >= 0 && value.isFinite) {
                throw JobError(.invalidConfig, "price_guard.\(key) must be a number ≥ 0", details: ["field": "price_guard.\(key)"])
            }
            return value
        }
        maxIncreasePct = try bound("max_increase_pct")
        maxDecreasePct = try bound("max_decrease_pct")
        maxHeldSharePct = try bound("max_held_share_pct")
        if let share = maxHeldSharePct, share > 100 {
            throw JobError(
                .invalidConfig, "price_guard.max_held_share_pct is a percentage (0–100)", details: ["field": "price_guard.max_held_share_pct"])
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DynamicCodingKey.self)
        try container.encodeIfPresent(maxIncreasePct, forKey: DynamicCodingKey("max_increase_pct"))
        try container.encodeIfPresent(maxDecreasePct, forKey: DynamicCodingKey("max_decrease_pct"))
        try container.encodeIfPresent(maxHeldSharePct, forKey: DynamicCodingKey("max_held_share_pct"))
    }
}
