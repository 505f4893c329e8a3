import Foundation
import Models

extension Transformation {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: DynamicCodingKey.self)
        guard let type = try container.value(String.self, "type", context: "transformation", expected: "a string") else {
            throw JobError(.invalidConfig, "transformation is missing 'type'")
        }
        let context = "transformation '\(type)'"
        func string(_ key: String) throws -> String? {
            try container.value(String.self, key, context: context, expected: "a string")
        }
        func required(_ key: String) throws -> String {
            guard let value = try string(key) else {
                throw JobError(.invalidConfig, "\(context) requires '\(key)'", details: ["field": key])
            }
            return value
        }
        func field(required isRequired: Bool) throws -> String? {
            guard let name = isRequired ? try required("field") : try string("field") else { return nil }
            guard !name.trimmingWhitespace().isEmpty else {
                throw JobError(.invalidConfig, "\(context): 'field' must not be empty")
            }
            // Canonical names are normalized (ean → barcode); anything else names an unmapped column by header.
            return CanonicalField(configName: name)?.rawValue ?? name
        }
        switch type {
        case "trim":
            try container.rejectUnknownKeys(allowed: ["type", "field"], context: context)
            self = .trim(field: try field(required: false))
        case "upper", "lower", "title":
            try container.rejectUnknownKeys(allowed: ["type", "field"], context: context)
            self = .changeCase(TextCase(rawValue: type) ?? .lower, field: try field(required: false))
        case "replace":
            try container.rejectUnknownKeys(allowed: ["type", "field", "find", "with"], context: context)
            let find = try required("find")
            guard !find.isEmpty else { throw JobError(.invalidConfig, "\(context): 'find' must not be empty") }
            self = .replace(field: try field(required: true) ?? "", find: find, with: try string("with") ?? "")
        case "regex_extract":
            try container.rejectUnknownKeys(allowed: ["type", "field", "pattern", "group"], context: context)
            let pattern = try required("pattern")
            let group = try container.value(Int.self, "group", context: context, expected: "an integer") ?? 1
            let regex: NSRegularExpression
            do {
                regex = try NSRegularExpression(pattern: pattern)
            } catch {
                throw JobError(
                    .invalidConfig, "\(context): invalid regular expression '\(pattern)'",
                    details: ["pattern": pattern])
            }
            guard group >= 0, group <= regex.numberOfCaptureGroups else {
                throw JobError(
                    .invalidConfig,
                    "\(context): group \(group) does not exist (pattern has \(regex.numberOfCaptureGroups))")
            }
            self = .regexExtract(field: try field(required: true) ?? "", pattern: pattern, group: group)
        case "parse_number":
            try container.rejectUnknownKeys(allowed: ["type", "field", "decimal_comma"], context: context)
            let comma = try container.value(Bool.self, "decimal_comma", context: context, expected: "true or false")
            self = .parseNumber(field: try field(required: true) ?? "", decimalComma: comma)
        case "parse_date":
            try container.rejectUnknownKeys(allowed: ["type", "field", "format"], context: context)
            let format = try string("format") ?? "auto"
            guard DateParser.isValidFormat(format) else {
                throw JobError(
                    .invalidConfig,
                    "\(context): unsupported format '\(format)' (use tokens yyyy, yy, MM, M, dd, d, or 'excel'/'auto')")
            }
            self = .parseDate(field: try field(required: true) ?? "", format: format)
        case "multiply":
            try container.rejectUnknownKeys(allowed: ["type", "field", "by"], context: context)
            let by: Decimal
            if let number = try? container.decode(Decimal.self, forKey: DynamicCodingKey("by")) {
                by = number
            } else if let text = try? container.decode(String.self, forKey: DynamicCodingKey("by")),
                let number = NumberParser.parse(text)
            {
                by = number
            } else {
                throw JobError(.invalidConfig, "\(context) requires a numeric 'by'", details: ["field": "by"])
            }
            self = .multiply(field: try field(required: true) ?? "", by: by)
        case "default":
            try container.rejectUnknownKeys(allowed: ["type", "field", "value"], context: context)
            let key = DynamicCodingKey("value")
            let value: String
            if let text = try? container.decode(String.self, forKey: key) {
                value = text
            } else if let number = try? container.decode(Decimal.self, forKey: key) {
                value = "\(number)"
            } else {
                throw JobError(.invalidConfig, "\(context) requires a string or number 'value'", details: ["field": "value"])
            }
            self = .defaultValue(field: try field(required: true) ?? "", value: value)
        default:
            throw JobError(
                .invalidConfig,
                "unknown transformation type '\(type)'; expected trim, upper, lower, title, replace, regex_extract, parse_number, parse_date, multiply or default",
                details: ["type": type])
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DynamicCodingKey.self)
        try container.encode(typeName, forKey: DynamicCodingKey("type"))
        try container.encodeIfPresent(field, forKey: DynamicCodingKey("field"))
        switch self {
        case .trim, .changeCase:
            break
        case .replace(_, let find, let with):
            try container.encode(find, forKey: DynamicCodingKey("find"))
            try container.encode(with, forKey: DynamicCodingKey("with"))
        case .regexExtract(_, let pattern, let group):
            try container.encode(pattern, forKey: DynamicCodingKey("pattern"))
            try container.encode(group, forKey: DynamicCodingKey("group"))
        case .parseNumber(_, let decimalComma):
            try container.encodeIfPresent(decimalComma, forKey: DynamicCodingKey("decimal_comma"))
        case .parseDate(_, let format):
            try container.encode(format, forKey: DynamicCodingKey("format"))
        case .multiply(_, let by):
            try container.encode(by, forKey: DynamicCodingKey("by"))
        case .defaultValue(_, let value):
            try container.encode(value, forKey: DynamicCodingKey("value"))
        }
    }
}
