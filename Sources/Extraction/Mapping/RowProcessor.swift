import Foundation
public import Models

/// Turns raw row cells into a `ProcessedRow`: maps columns, applies transformations in order, parses
/// numbers (decimal-comma aware) and currencies, and validates required fields, price ≥ 0 and lengths.
public struct RowProcessor: Sendable {
    public let config: ExtractionConfig
    public let mapping: ColumnMapping
    private let patterns: CompiledPatterns
    /// `decimal_comma` from the last `parse_number` on each field, reused when parsing price/quantity.
    private let decimalCommaByField: [String: Bool]

    /// Prepares a processor; throws `.invalidConfig` for an invalid regular expression.
    public init(config: ExtractionConfig, mapping: ColumnMapping) throws(JobError) {
        self.config = config
        self.mapping = mapping
        var compiled: [String: NSRegularExpression] = [:]
        var commas: [String: Bool] = [:]
        for transformation in config.transformations {
            switch transformation {
            case .regexExtract(_, let pattern, _):
                guard compiled[pattern] == nil else { continue }
                do {
                    compiled[pattern] = try NSRegularExpression(pattern: pattern)
                } catch {
                    throw JobError(.invalidConfig, "invalid regular expression '\(pattern)'", details: ["pattern": pattern])
                }
            case .parseNumber(let field, let decimalComma?):
                commas[field] = decimalComma
            default:
                break
            }
        }
        self.patterns = CompiledPatterns(compiled)
        self.decimalCommaByField = commas
    }

    /// Processes one row; returns nil for a blank row (every cell empty or whitespace).
    public func process(rowNumber: Int, fields: [String]) -> ProcessedRow? {
        guard fields.contains(where: { !$0.trimmingWhitespace().isEmpty }) else { return nil }
        var row = ProcessedRow(rowNumber: rowNumber)
        var values: [String: String] = [:]
        for (field, index) in mapping.fieldToIndex where fields.indices.contains(index) {
            values[field] = fields[index]
        }
        for column in mapping.unmapped where fields.indices.contains(column.index) {
            let value = fields[column.index]
            guard !value.trimmingWhitespace().isEmpty else { continue }
            let key = column.header.trimmingWhitespace().isEmpty ? "column_\(column.index + 1)" : column.header
            row.extra[key] = value
        }

        var inferredCurrency: String?
        var normalizedNumbers = Set<String>()
        for transformation in config.transformations {
            apply(transformation, values: &values, extra: &row.extra, issues: &row.issues,
                  inferredCurrency: &inferredCurrency, normalizedNumbers: &normalizedNumbers)
        }
        finish(&row, values: values, inferredCurrency: inferredCurrency)
        return row
    }

    // MARK: Transformations

    private func apply(_ transformation: Transformation, values: inout [String: String], extra: inout [String: String],
                       issues: inout [RowIssue], inferredCurrency: inout String?, normalizedNumbers: inout Set<String>) {
        func update(_ field: String, _ change: (String) -> String?) {
            if CanonicalField(rawValue: field) != nil || extra[field] == nil {
                values[field] = change(values[field] ?? "")
            } else {
                extra[field] = change(extra[field] ?? "")
            }
        }
        func updateAll(_ change: (String) -> String) {
            for key in values.keys { values[key] = values[key].map(change) }
        }
        func isSeriousField(_ field: String) -> Bool {
            field == "price" || config.effectiveRequiredFields.contains(field)
        }
        switch transformation {
        case .trim(let field):
            let trim: (String) -> String = { $0.trimmingWhitespace() }
            if let field { update(field, trim) } else { updateAll(trim) }
        case .changeCase(let textCase, let field):
            let change: (String) -> String = {
                switch textCase {
                case .upper: $0.uppercased()
                case .lower: $0.lowercased()
                case .title: $0.capitalized
                }
            }
            if let field { update(field, change) } else { updateAll(change) }
        case .replace(let field, let find, let with):
            update(field) { $0.replacingOccurrences(of: find, with: with) }
        case .regexExtract(let field, let pattern, let group):
            guard let regex = patterns.regexes[pattern] else { return }
            update(field) { value in
                guard !value.isEmpty else { return value }
                let range = NSRange(value.startIndex..., in: value)
                guard let match = regex.firstMatch(in: value, range: range),
                      let captured = Range(match.range(at: group), in: value) else {
                    issues.append(RowIssue(column: field, code: RowIssue.Code.transformFailed,
                                           message: "pattern '\(pattern)' did not match '\(value.prefix(100))'",
                                           severity: .warning))
                    return nil
                }
                return String(value[captured])
            }
        case .parseNumber(let field, let decimalComma):
            update(field) { value in
                guard !value.trimmingWhitespace().isEmpty else { return value }
                guard let parsed = NumberParser.parseDetailed(value, decimalComma: decimalComma) else {
                    issues.append(RowIssue(column: field, code: RowIssue.Code.invalidNumber,
                                           message: "'\(value.prefix(100))' is not a number",
                                           severity: isSeriousField(field) ? .error : .warning))
                    return nil
                }
                if field == "price", inferredCurrency == nil { inferredCurrency = parsed.currency }
                normalizedNumbers.insert(field)
                return NumberParser.format(parsed.value)
            }
        case .parseDate(let field, let format):
            update(field) { value in
                guard !value.trimmingWhitespace().isEmpty else { return value }
                guard let date = DateParser.parse(value, format: format) else {
                    issues.append(RowIssue(column: field, code: RowIssue.Code.invalidDate,
                                           message: "'\(value.prefix(100))' is not a date in format '\(format)'",
                                           severity: isSeriousField(field) ? .error : .warning))
                    return nil
                }
                return date
            }
        case .multiply(let field, let factor):
            update(field) { value in
                guard !value.trimmingWhitespace().isEmpty else { return value }
                // Before parse_number ran, honour its decimal_comma; afterwards the value is plain "1234.5".
                let comma = normalizedNumbers.contains(field) ? nil : decimalCommaByField[field]
                guard let parsed = NumberParser.parseDetailed(value, decimalComma: comma) else {
                    issues.append(RowIssue(column: field, code: RowIssue.Code.invalidNumber,
                                           message: "'\(value.prefix(100))' is not a number (multiply)",
                                           severity: isSeriousField(field) ? .error : .warning))
                    return nil
                }
                if field == "price", inferredCurrency == nil { inferredCurrency = parsed.currency }
                normalizedNumbers.insert(field)
                return NumberParser.format(parsed.value * factor)
            }
        case .defaultValue(let field, let value):
            update(field) { $0.trimmingWhitespace().isEmpty ? value : $0 }
        }
    }

    // MARK: Parsing and validation

    private func finish(_ row: inout ProcessedRow, values: [String: String], inferredCurrency: String?) {
        var inferredCurrency = inferredCurrency
        func text(_ field: CanonicalField) -> String? {
            guard let value = values[field.rawValue]?.trimmingWhitespace(), !value.isEmpty else { return nil }
            if value.count > field.maxLength {
                let isIdentifier = field == .sku || field == .barcode || field == .supplierSku
                row.issues.append(RowIssue(column: field.rawValue, code: RowIssue.Code.tooLong,
                                           message: "\(value.count) characters, over the limit of \(field.maxLength)",
                                           severity: isIdentifier ? .error : .warning))
                return String(value.prefix(field.maxLength))
            }
            return value
        }
        func number(_ field: CanonicalField, severity: RowIssue.Severity) -> Decimal? {
            guard let raw = text(field) else { return nil }
            // Values normalized by parse_number/multiply are plain; otherwise decimal commas are auto-detected.
            guard let parsed = NumberParser.parseDetailed(raw) else {
                if !row.issues.contains(where: { $0.column == field.rawValue && $0.code == RowIssue.Code.invalidNumber }) {
                    row.issues.append(RowIssue(column: field.rawValue, code: RowIssue.Code.invalidNumber,
                                               message: "'\(raw.prefix(100))' is not a number", severity: severity))
                }
                return nil
            }
            if field == .price, inferredCurrency == nil { inferredCurrency = parsed.currency }
            return parsed.value
        }

        row.sku = text(.sku)
        row.name = text(.name)
        row.description = text(.description)
        row.unit = text(.unit)
        row.category = text(.category)
        row.brand = text(.brand)
        row.barcode = text(.barcode)
        row.supplierSku = text(.supplierSku)
        row.packSize = text(.packSize)
        row.price = number(.price, severity: .error)
        row.quantity = number(.quantity, severity: config.effectiveRequiredFields.contains("quantity") ? .error : .warning)
        row.minOrderQty = number(.minOrderQty, severity: .warning)
        row.vatRate = number(.vatRate, severity: .warning)

        if let price = row.price, price < 0 {
            row.issues.append(RowIssue(column: "price", code: RowIssue.Code.negativePrice,
                                       message: "price \(NumberParser.format(price)) is negative", severity: .error))
        }

        if let rawCurrency = text(.currency) {
            if let code = CurrencyCode.normalize(rawCurrency) {
                row.currency = code
            } else {
                row.issues.append(RowIssue(column: "currency", code: RowIssue.Code.invalidCurrency,
                                           message: "'\(rawCurrency.prefix(20))' is not a 3-letter ISO currency code",
                                           severity: .error))
            }
        } else {
            row.currency = inferredCurrency ?? config.currency
        }

        let present: [String: Bool] = [
            "sku": row.sku != nil, "name": row.name != nil, "description": row.description != nil,
            "price": row.price != nil, "currency": row.currency != nil, "quantity": row.quantity != nil,
            "unit": row.unit != nil, "category": row.category != nil, "brand": row.brand != nil,
            "barcode": row.barcode != nil, "supplier_sku": row.supplierSku != nil,
            "min_order_qty": row.minOrderQty != nil, "pack_size": row.packSize != nil, "vat_rate": row.vatRate != nil,
        ]
        for field in config.effectiveRequiredFields where present[field] != true {
            // A value that failed to parse already carries its own error.
            guard !row.issues.contains(where: { $0.column == field && $0.severity == .error }) else { continue }
            row.issues.append(RowIssue(column: field, code: RowIssue.Code.required,
                                       message: "required field '\(field)' is empty", severity: .error))
        }
    }

    // MARK: Strict mode

    /// In strict mode, the job failure for the row's first error (nil when the row is valid or in lenient mode):
    /// `JobError(.validationError, "row 12, column price: …", details: row/column/code/reason)`.
    public func validationFailure(for row: ProcessedRow, mode: ValidationMode) -> JobError? {
        guard mode == .strict, let issue = row.firstError else { return nil }
        return JobError(.validationError, "row \(row.rowNumber), column \(issue.column): \(issue.message)",
                        details: ["row": "\(row.rowNumber)", "column": issue.column, "code": issue.code,
                                  "reason": issue.message])
    }

    /// `validationFailure(for:mode:)` with the config's `validation_mode`.
    public func validationFailure(for row: ProcessedRow) -> JobError? {
        validationFailure(for: row, mode: config.validationMode)
    }
}

/// Compiled regular expressions (NSRegularExpression is immutable and thread-safe once built).
private final class CompiledPatterns: @unchecked Sendable {
    let regexes: [String: NSRegularExpression]
    init(_ regexes: [String: NSRegularExpression]) { self.regexes = regexes }
}
