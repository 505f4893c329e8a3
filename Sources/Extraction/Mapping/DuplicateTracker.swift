/// Flags repeated SKUs with `DUPLICATE_SKU` warnings. Memory is bounded by `capacity` distinct SKUs;
/// beyond it new SKUs are no longer remembered (and `isSaturated` becomes true).
///
/// SKUs are remembered as 64-bit hashes of their UTF-8 bytes (8 bytes each instead of a `String`), which keeps
/// a million SKUs in ~16 MB. Two distinct SKUs with the same 64-bit hash would be reported as duplicates
/// (a warning only, the row is still valid); for n distinct SKUs the chance of any such collision is about
/// n² / 2⁶⁵ — ~3 × 10⁻⁸ for a million rows.
public struct DuplicateTracker: Sendable {
    public let capacity: Int
    private var seen: Set<UInt64> = []
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
        let key = Self.hash(sku)
        let isDuplicate: Bool
        if seen.count < capacity {
            isDuplicate = !seen.insert(key).inserted
        } else {
            isDuplicate = seen.contains(key)
        }
        if isDuplicate {
            duplicateCount += 1
            row.issues.append(
                RowIssue(
                    column: "sku", code: RowIssue.Code.duplicateSku,
                    message: "SKU '\(sku.prefix(100))' appears more than once", severity: .warning))
        }
        return isDuplicate
    }

    /// ASCII SKUs: FNV-1a over the bytes, finished with the MurmurHash3 64-bit mixer. Other SKUs use Swift's
    /// `String` hash, which — like `String ==`, the previous comparison — treats canonically equivalent
    /// spellings ("é" vs "e\u{301}") as the same SKU. Only compared within one process.
    static func hash(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var s = s
        let isASCII = s.withUTF8 { bytes -> Bool in
            for b in bytes {
                if b >= 0x80 { return false }
                h ^= UInt64(b)
                h = h &* 0x0000_0100_0000_01B3
            }
            return true
        }
        if !isASCII { h = UInt64(bitPattern: Int64(s.hashValue)) }
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h = h &* 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }
}
