public import Foundation
public import Models

/// A job's extraction `config` (seed 000): the one contract the api (at job creation and retry), the worker
/// and the CLI decode with. JSON members are snake_case; unknown members and bad values are rejected with
/// `.invalidConfig`, whose `details["field"]` names the offending member when there is one.
///
/// ```swift
/// let config = try ExtractionConfig.decode(json: Data(#"{"column_mapping":{"sku":0,"price":"Preis"}}"#.utf8))
/// config.columnMapping?["sku"]  // .index(0)
/// ```
///
/// `docs/openapi.yaml` describes the same members; `Tests/JobConfigTests` checks it against `allowedKeys`.
public struct ExtractionConfig: Sendable, Codable, Hashable {
    /// `supplier_id`.
    public var supplierId: String?
    /// `column_mapping`: canonical field → header name or 0-based column index. Keys are canonical
    /// (`ean`/`gtin` accepted for `barcode`).
    public var columnMapping: [String: ColumnRef]?
    /// `transformations`, applied in order (default none).
    public var transformations: [Transformation]
    /// `validation_mode` (default lenient).
    public var validationMode: ValidationMode
    /// `header_row`, 1-based; nil means detect with `HeaderDetector`.
    public var headerRow: Int?
    /// `skip_rows`: rows to skip before the header (or data when `header_row` is given relative to them).
    public var skipRows: Int?
    /// `sheet`: a sheet name, or an index written as a string.
    public var sheet: String?
    /// `delimiter` for delimited text (one character; "tab" / "\\t" accepted).
    public var delimiter: String?
    /// `encoding` for delimited text, one of ``encodingNames`` (normalised); nil detects it.
    public var encoding: String?
    /// `currency`: ISO code used when a row has none.
    public var currency: String?
    /// `required_fields` (canonical); nil means `defaultRequiredFields`.
    public var requiredFields: [String]?
    /// `price_guard`: bounds on catalog price changes (issue 16); nil means the supplier profile's, else none.
    public var priceGuard: PriceGuard?

    /// Required fields for price lists when `required_fields` is absent.
    public static let defaultRequiredFields = ["sku", "price"]

    /// The JSON member names accepted.
    public static let allowedKeys: Set<String> = [
        "supplier_id", "column_mapping", "transformations", "validation_mode", "header_row", "skip_rows", "sheet",
        "delimiter", "encoding", "currency", "required_fields", "price_guard",
    ]

    /// Values of `encoding`, as the readers report them; `auto` detects.
    public static let encodingNames = ["auto", "utf-8", "utf-16le", "utf-16be", "windows-1252", "latin-1"]
    /// Other spellings accepted for ``encodingNames``.
    static let encodingAliases = [
        "utf8": "utf-8", "utf16le": "utf-16le", "utf16be": "utf-16be", "cp1252": "windows-1252",
        "latin1": "latin-1", "iso-8859-1": "latin-1",
    ]

    public init(
        supplierId: String? = nil, columnMapping: [String: ColumnRef]? = nil,
        transformations: [Transformation] = [], validationMode: ValidationMode = .lenient,
        headerRow: Int? = nil, skipRows: Int? = nil, sheet: String? = nil, delimiter: String? = nil,
        currency: String? = nil, requiredFields: [String]? = nil, priceGuard: PriceGuard? = nil
    ) {
        self.supplierId = supplierId
        self.columnMapping = columnMapping
        self.transformations = transformations
        self.validationMode = validationMode
        self.headerRow = headerRow
        self.skipRows = skipRows
        self.sheet = sheet
        self.delimiter = delimiter
        self.currency = currency
        self.requiredFields = requiredFields
        self.priceGuard = priceGuard
    }

    /// The required fields in effect.
    public var effectiveRequiredFields: [String] { requiredFields ?? Self.defaultRequiredFields }

    /// Decodes a config from JSON; `null`, an empty body or `{}` give the defaults.
    /// Every failure is `.invalidConfig` with a message naming the offending member.
    public static func decode(json: Data) throws(JobError) -> ExtractionConfig {
        let trimmed = String(decoding: json, as: UTF8.self).trimmingWhitespace()
        if trimmed.isEmpty || trimmed == "null" { return ExtractionConfig() }
        do {
            return try JSONDecoder().decode(ExtractionConfig.self, from: json)
        } catch let error as JobError {
            throw error
        } catch let DecodingError.dataCorrupted(context) where context.codingPath.isEmpty {
            throw JobError(.invalidConfig, "config is not valid JSON: \(context.debugDescription)")
        } catch let DecodingError.typeMismatch(_, context) where context.codingPath.isEmpty {
            throw JobError(.invalidConfig, "config must be a JSON object")
        } catch {
            throw JobError(.invalidConfig, "config could not be decoded: \(error)")
        }
    }
}
