import Foundation
import Models

extension ExtractionConfig {
    public init(from decoder: any Decoder) throws {
        let container: KeyedDecodingContainer<DynamicCodingKey>
        do {
            container = try decoder.container(keyedBy: DynamicCodingKey.self)
        } catch {
            throw JobError(.invalidConfig, "config must be a JSON object")
        }
        try container.rejectUnknownKeys(allowed: Self.allowedKeys, context: "config")
        let ctx = "config"
        self.init()
        supplierId = try container.value(String.self, "supplier_id", context: ctx, expected: "a string")

        if let mapping = try container.value(
            [String: ColumnRef].self, "column_mapping", context: ctx,
            expected: "an object of field → header name or column index")
        {
            var normalized: [String: ColumnRef] = [:]
            for (field, ref) in mapping {
                guard let canonical = CanonicalField(configName: field) else {
                    throw JobError(
                        .invalidConfig,
                        "column_mapping: unknown field '\(field)'; expected one of \(CanonicalField.allCases.map(\.rawValue).joined(separator: ", "))",
                        details: ["field": field])
                }
                if case .index(let index) = ref, index < 0 {
                    throw JobError(
                        .invalidConfig, "column_mapping: column index for '\(field)' must be ≥ 0",
                        details: ["field": field])
                }
                // Aliases (`ean`, `gtin` for `barcode`) must not race a dictionary's order: two names for one
                // field is a contradiction, refused whichever the decoder met first.
                if normalized[canonical.rawValue] != nil {
                    let names = mapping.keys.filter { CanonicalField(configName: $0) == canonical }.sorted()
                    throw JobError(
                        .invalidConfig,
                        "column_mapping: \(names.joined(separator: " and ")) all name the field '\(canonical.rawValue)'; give one",
                        details: ["field": names.last ?? field])
                }
                normalized[canonical.rawValue] = ref
            }
            columnMapping = normalized
        }

        if container.contains(DynamicCodingKey("transformations")) {
            let key = DynamicCodingKey("transformations")
            if (try? container.decodeNil(forKey: key)) != true {
                guard var list = try? container.nestedUnkeyedContainer(forKey: key) else {
                    throw JobError(.invalidConfig, "'transformations' in config must be an array")
                }
                var items: [Transformation] = []
                while !list.isAtEnd {
                    let position = items.count
                    do {
                        items.append(try list.decode(Transformation.self))
                    } catch let error as JobError {
                        var error = error
                        error.message = "transformations[\(position)]: \(error.message)"
                        error.details["index"] = "\(position)"
                        throw error
                    } catch {
                        throw JobError(
                            .invalidConfig, "transformations[\(position)] must be an object with a 'type'",
                            details: ["index": "\(position)"])
                    }
                }
                transformations = items
            }
        }

        if let mode = try container.value(String.self, "validation_mode", context: ctx, expected: "'strict' or 'lenient'") {
            guard let parsed = ValidationMode(rawValue: mode.lowercased()) else {
                throw JobError(
                    .invalidConfig, "validation_mode must be 'strict' or 'lenient', got '\(mode)'",
                    details: ["field": "validation_mode"])
            }
            validationMode = parsed
        }
        headerRow = try container.value(Int.self, "header_row", context: ctx, expected: "an integer ≥ 1")
        if let headerRow, headerRow < 1 {
            throw JobError(.invalidConfig, "header_row is 1-based and must be ≥ 1, got \(headerRow)", details: ["field": "header_row"])
        }
        skipRows = try container.value(Int.self, "skip_rows", context: ctx, expected: "an integer ≥ 0")
        if let skipRows, skipRows < 0 {
            throw JobError(.invalidConfig, "skip_rows must be ≥ 0, got \(skipRows)", details: ["field": "skip_rows"])
        }
        if let index = try? container.decode(Int.self, forKey: DynamicCodingKey("sheet")) {
            sheet = String(index)
        } else {
            sheet = try container.value(String.self, "sheet", context: ctx, expected: "a sheet name or index")
        }
        if let raw = try container.value(String.self, "delimiter", context: ctx, expected: "a one-character string") {
            let value = ["tab": "\t", "\\t": "\t"][raw.lowercased()] ?? raw
            guard value.count == 1, value != "\"", value != "\n", value != "\r" else {
                throw JobError(
                    .invalidConfig, "delimiter must be a single character (or \"tab\"), got '\(raw)'",
                    details: ["field": "delimiter"])
            }
            delimiter = value
        }
        if let raw = try container.value(String.self, "encoding", context: ctx, expected: "an encoding name") {
            let name = raw.lowercased().replacingOccurrences(of: "_", with: "-")
            guard let value = Self.encodingNames.contains(name) ? name : Self.encodingAliases[name] else {
                throw JobError(
                    .invalidConfig,
                    "encoding must be one of \(Self.encodingNames.joined(separator: ", ")), got '\(raw)'",
                    details: ["field": "encoding"])
            }
            encoding = value == "auto" ? nil : value
        }
        if let raw = try container.value(String.self, "currency", context: ctx, expected: "a 3-letter ISO code") {
            guard let code = CurrencyCode.normalize(raw) else {
                throw JobError(
                    .invalidConfig, "currency must be a 3-letter ISO 4217 code, got '\(raw)'",
                    details: ["field": "currency"])
            }
            currency = code
        }
        if let fields = try container.value([String].self, "required_fields", context: ctx, expected: "an array of field names") {
            requiredFields = try fields.map { name in
                guard let field = CanonicalField(configName: name) else {
                    throw JobError(.invalidConfig, "required_fields: unknown field '\(name)'", details: ["field": name])
                }
                return field.rawValue
            }
        }
        if container.contains(DynamicCodingKey("price_guard")), (try? container.decodeNil(forKey: DynamicCodingKey("price_guard"))) != true {
            priceGuard = try container.decode(PriceGuard.self, forKey: DynamicCodingKey("price_guard"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DynamicCodingKey.self)
        try container.encodeIfPresent(supplierId, forKey: DynamicCodingKey("supplier_id"))
        try container.encodeIfPresent(columnMapping, forKey: DynamicCodingKey("column_mapping"))
        try container.encode(transformations, forKey: DynamicCodingKey("transformations"))
        try container.encode(validationMode, forKey: DynamicCodingKey("validation_mode"))
        try container.encodeIfPresent(headerRow, forKey: DynamicCodingKey("header_row"))
        try container.encodeIfPresent(skipRows, forKey: DynamicCodingKey("skip_rows"))
        try container.encodeIfPresent(sheet, forKey: DynamicCodingKey("sheet"))
        try container.encodeIfPresent(delimiter, forKey: DynamicCodingKey("delimiter"))
        try container.encodeIfPresent(encoding, forKey: DynamicCodingKey("encoding"))
        try container.encodeIfPresent(currency, forKey: DynamicCodingKey("currency"))
        try container.encodeIfPresent(requiredFields, forKey: DynamicCodingKey("required_fields"))
        try container.encodeIfPresent(priceGuard, forKey: DynamicCodingKey("price_guard"))
    }
}
