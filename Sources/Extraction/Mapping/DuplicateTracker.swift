/// Flags repeated SKUs with `DUPLICATE_SKU` warnings. Memory is bounded by `capacity` distinct SKUs;
/// beyond it new SKUs are no longer remembered (and `isSaturated` becomes true).
public struct DuplicateTracker: Sendable {
    public let capacity: Int
    private var seen: Set<String> = []
    /// Rows flagged as duplicates so far.
    public private(set) var duplicateCount = 0
    /// True once `capacity` distinct SKUs were seen.
    public var isSaturated: Bool { seen.count >= capacity }

    public init(capacity: Int = 2_000_000) {
        self.capacity = capacity
    }

    /// Records the row's SKU (compared case-sensitively after trimming); adds a warning when seen before.
    /// Returns true when the row is a duplicate.
    @discardableResult
    public mutating func check(_ row: inout ProcessedRow) -> Bool {
        guard let sku = row.sku, !sku.isEmpty else { return false }
        if seen.contains(sku) {
            duplicateCount += 1
            row.issues.append(RowIssue(column: "sku", code: RowIssue.Code.duplicateSku,
                                       message: "SKU '\(sku.prefix(100))' appears more than once", severity: .warning))
            return true
        }
        if seen.count < capacity { seen.insert(sku) }
        return false
    }
}
