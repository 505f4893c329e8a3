/// The canonical product fields rows are mapped onto.
public enum CanonicalField: String, Sendable, Codable, CaseIterable, Hashable {
    case sku, name, description, price, currency, quantity, unit, category, brand, barcode
    case supplierSku = "supplier_sku"
    case minOrderQty = "min_order_qty"
    case packSize = "pack_size"
    case vatRate = "vat_rate"

    /// Parses a field name from config, accepting `ean`/`gtin` as `barcode`.
    public init?(configName: String) {
        let lowered = configName.lowercased()
        switch lowered {
        case "ean", "gtin", "upc": self = .barcode
        default: self.init(rawValue: lowered)
        }
    }

    /// Maximum length (in characters) accepted for the field's text.
    package var maxLength: Int {
        switch self {
        case .description: 10_000
        case .name: 1_000
        case .category, .brand: 500
        default: 255
        }
    }

    /// Position in `allCases` (for index-based lookups).
    package var position: Int {
        switch self {
        case .sku: 0
        case .name: 1
        case .description: 2
        case .price: 3
        case .currency: 4
        case .quantity: 5
        case .unit: 6
        case .category: 7
        case .brand: 8
        case .barcode: 9
        case .supplierSku: 10
        case .minOrderQty: 11
        case .packSize: 12
        case .vatRate: 13
        }
    }
}
