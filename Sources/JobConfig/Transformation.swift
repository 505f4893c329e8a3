public import Foundation

/// A value transformation from config `transformations`, applied to mapped fields in order.
/// JSON objects are discriminated by `"type"`; unknown members are rejected.
public enum Transformation: Sendable, Hashable, Codable {
    /// `{"type":"trim","field":?}` — trims whitespace (all fields when `field` is absent).
    case trim(field: String?)
    /// `{"type":"upper"|"lower"|"title","field":?}` — changes case (all fields when `field` is absent).
    case changeCase(TextCase, field: String?)
    /// `{"type":"replace","field","find","with"}` — literal replacement of every occurrence.
    case replace(field: String, find: String, with: String)
    /// `{"type":"regex_extract","field","pattern","group":?}` — keeps capture `group` (default 1, 0 = whole match).
    case regexExtract(field: String, pattern: String, group: Int)
    /// `{"type":"parse_number","field","decimal_comma":?}` — normalizes to a plain decimal ("1234.56").
    case parseNumber(field: String, decimalComma: Bool?)
    /// `{"type":"parse_date","field","format"}` — normalizes to ISO `yyyy-MM-dd` (also Excel serials).
    case parseDate(field: String, format: String)
    /// `{"type":"multiply","field","by"}` — multiplies a number (e.g. cents → units).
    case multiply(field: String, by: Decimal)
    /// `{"type":"default","field","value"}` — fills a blank field.
    case defaultValue(field: String, value: String)

    /// Target letter case.
    public enum TextCase: String, Sendable, Hashable, Codable { case upper, lower, title }

    /// The field the transformation targets: a canonical field name, or the header of an unmapped column;
    /// nil means all mapped fields.
    public var field: String? {
        switch self {
        case .trim(let field), .changeCase(_, let field): field
        case .replace(let field, _, _), .regexExtract(let field, _, _), .parseNumber(let field, _),
            .parseDate(let field, _), .multiply(let field, _), .defaultValue(let field, _):
            field
        }
    }

    /// The `type` discriminator.
    public var typeName: String {
        switch self {
        case .trim: "trim"
        case .changeCase(let textCase, _): textCase.rawValue
        case .replace: "replace"
        case .regexExtract: "regex_extract"
        case .parseNumber: "parse_number"
        case .parseDate: "parse_date"
        case .multiply: "multiply"
        case .defaultValue: "default"
        }
    }
}
