public import Foundation

/// One data row after mapping, transformations, parsing and validation.
public struct ProcessedRow: Sendable, Hashable {
    /// 1-based row number in the source file (as the caller counts it).
    public var rowNumber: Int
    public var sku: String?
    public var name: String?
    public var description: String?
    public var price: Decimal? { didSet { priceText = DerivedText() } }
    /// ISO 4217 code.
    public var currency: String?
    public var quantity: Decimal? { didSet { quantityText = DerivedText() } }
    public var unit: String?
    public var category: String?
    public var brand: String?
    public var barcode: String?
    public var supplierSku: String?
    public var minOrderQty: Decimal?
    public var packSize: String?
    public var vatRate: Decimal?
    /// Unmapped columns by header (non-empty values only).
    public var extra: [String: String]
    public var issues: [RowIssue]
    /// Non-empty cells right of the header's last cell (kept in `extra` as `column_N`).
    public var extraCells = 0
    /// `price` as canonical text (`"\(price)"`) when the parser produced it cheaply; cleared when `price`
    /// changes. A cache for writers, ignored by `==` and hashing.
    public var priceText = DerivedText()
    /// `quantity` as canonical text, like `priceText`.
    public var quantityText = DerivedText()

    /// True when no issue is an error.
    public var isValid: Bool { issues.allSatisfy { $0.severity != .error } }

    /// The first error, if any.
    public var firstError: RowIssue? { issues.first { $0.severity == .error } }

    public init(rowNumber: Int) {
        self.rowNumber = rowNumber
        self.extra = [:]
        self.issues = []
    }
}

/// Text derived from another property (a cache): it never takes part in equality or hashing.
public struct DerivedText: Sendable, Hashable {
    public var value: String?
    public init(_ value: String? = nil) { self.value = value }
    public static func == (lhs: DerivedText, rhs: DerivedText) -> Bool { true }
    public func hash(into hasher: inout Hasher) {}
}
