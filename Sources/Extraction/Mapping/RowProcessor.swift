import Foundation
public import Models

/// Turns raw row cells into a `ProcessedRow`: maps columns, applies transformations in order, parses
/// numbers (decimal-comma aware) and currencies, and validates required fields, price ≥ 0 and lengths.
///
/// A class, not a struct: the pipeline holds one per job and calls it per row; copying a struct this size
/// per row cost a retain and release of every member (~8 % of worker samples).
public final class RowProcessor: Sendable {
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
        var indexByField = [Int](repeating: -1, count: CanonicalField.allCases.count)
        for (position, field) in CanonicalField.allCases.enumerated() {
            if let index = mapping.fieldToIndex[field.rawValue] { indexByField[position] = index }
        }
        self.indexByField = indexByField
        // A column mapped by index counts as inside the header even when its header cell is blank.
        let headerWidth = max(
            (mapping.headers.lastIndex { !$0.trimmingWhitespace().isEmpty } ?? -1) + 1, (mapping.fieldToIndex.values.max() ?? -1) + 1)
        self.headerWidth = headerWidth
        self.unmappedKeys = mapping.unmapped.filter { $0.index < headerWidth }.map { column in
            (column.index, column.header.trimmingWhitespace().isEmpty ? Self.positionKey(column.index) : column.header)
        }
        let required = config.effectiveRequiredFields
        self.requiredFields = required
        self.quantityIsRequired = required.contains("quantity")
        // Unmapped columns a plain row may fill (`extra`), sorted like `extra` is written; none when two share a key.
        let keys = unmappedKeys.map(\.key)
        self.plainExtraColumns =
            Set(keys).count == keys.count
            ? unmappedKeys.map { PlainRow.ExtraColumn(index: $0.index, key: $0.key) }.sorted { $0.key < $1.key } : []
        var hasExtraKey = [Bool](repeating: false, count: headerWidth)
        for column in plainExtraColumns { hasExtraKey[column.index] = true }
        self.hasPlainExtraKey = hasExtraKey
        var mappedColumns = [Bool](repeating: false, count: headerWidth)
        for index in mapping.fieldToIndex.values where index >= 0 && index < headerWidth { mappedColumns[index] = true }
        self.mappedColumns = mappedColumns
        let requiredPlain = required.compactMap { name in CanonicalField(rawValue: name).flatMap { Self.plainRowFields.contains($0) ? $0 : nil } }
        self.requiredPlainFields = requiredPlain
        // A required field a plain row cannot carry (supplier_sku, …, or an unknown name) makes every row an issue.
        self.hasPlainLane = config.transformations.isEmpty && requiredPlain.count == required.count
    }

    /// The smallest magnitude `numeric(18,4)` cannot hold once rounded to 4 decimals.
    static let largestStoredNumber = Decimal(string: "99999999999999.99995") ?? Decimal(100_000_000_000_000)

    /// Column index per `CanonicalField.allCases` position (-1 = not mapped), resolved once per header.
    private let indexByField: [Int]
    /// Unmapped columns with their `extra` keys.
    private let unmappedKeys: [(index: Int, key: String)]
    /// Columns up to the header's last non-blank cell; cells further right are extra cells.
    private let headerWidth: Int

    private let requiredFields: [String]
    private let quantityIsRequired: Bool
    /// Columns (up to the header's width) that a mapped field reads.
    private let mappedColumns: [Bool]
    /// Unmapped columns inside the header that a plain row may fill, sorted by `extra` key.
    private let plainExtraColumns: [PlainRow.ExtraColumn]
    /// Per column (up to the header's width): whether it is one of ``plainExtraColumns``.
    private let hasPlainExtraKey: [Bool]
    /// The required fields, when all of them are fields a plain row carries.
    private let requiredPlainFields: [CanonicalField]
    /// The fields a ``PlainRow`` carries (the others are kept in `extra`).
    private static let plainRowFields: Set<CanonicalField> = [
        .sku, .name, .description, .price, .currency, .quantity, .unit, .category, .brand, .barcode,
    ]
    /// Whether ``plainRow(_:)`` can recognise rows at all (no transformations, required fields a plain row has).
    private let hasPlainLane: Bool

    /// The `extra` key of a column without a header: `column_N`, N its 1-based position in the source.
    public static func positionKey(_ index: Int) -> String { "column_\(index + 1)" }

    /// Processes one row; returns nil for a blank row (every cell empty or whitespace).
    public func process(rowNumber: Int, fields: [String]) -> ProcessedRow? {
        guard fields.contains(where: { !$0.isBlankFast }) else { return nil }
        var row = ProcessedRow(rowNumber: rowNumber)
        for (index, key) in unmappedKeys where index >= 0 && index < fields.count {
            let value = fields[index]
            guard !value.isBlankFast else { continue }
            row.extra[key] = value
        }
        if fields.count > headerWidth { keepExtraCells(fields, in: &row) }

        if config.transformations.isEmpty {
            // No transformations: read cells straight from `fields` by the pre-resolved column index.
            let indexByField = self.indexByField
            finish(&row, inferredCurrency: nil) { position in
                let index = indexByField[position]
                return index >= 0 && index < fields.count ? fields[index] : nil
            }
            return row
        }

        var values: [String: String] = [:]
        for (field, index) in mapping.fieldToIndex where fields.indices.contains(index) {
            values[field] = fields[index]
        }
        var inferredCurrency: String?
        var normalizedNumbers = Set<String>()
        for transformation in config.transformations {
            apply(
                transformation, values: &values, extra: &row.extra, issues: &row.issues,
                inferredCurrency: &inferredCurrency, normalizedNumbers: &normalizedNumbers)
        }
        finish(&row, inferredCurrency: inferredCurrency) { position in values[CanonicalField.allCases[position].rawValue] }
        return row
    }

    /// Cells right of the header's last cell (a header shorter than the data, a CSV row longer than the header)
    /// are kept in `extra` under `column_N`, counted, and flagged with one `EXTRA_CELLS` warning per row.
    /// Empty cells (trailing delimiters) are not extra.
    private func keepExtraCells(_ fields: [String], in row: inout ProcessedRow) {
        var keys: [String] = []
        for index in headerWidth..<fields.count where !fields[index].isBlankFast {
            let key = Self.positionKey(index)
            row.extra[key] = fields[index]
            keys.append(key)
        }
        guard let first = keys.first else { return }
        row.extraCells = keys.count
        let listed = keys.prefix(5).joined(separator: ", ") + (keys.count > 5 ? ", …" : "")
        row.issues.append(
            RowIssue(
                column: first, code: RowIssue.Code.extraCells,
                message: "\(keys.count) cell\(keys.count == 1 ? "" : "s") right of the header's last column (\(listed)), kept in extra",
                severity: .warning))
    }

    // MARK: Plain rows

    /// The row as a ``PlainRow`` when it is one — read from the parser's bytes, no `String` per cell — else nil,
    /// and ``process(rowNumber:fields:)`` (with the record's decoded fields) decides. For a plain row both give
    /// the same stored row: every condition that would make `process` add an issue, an `extra` entry or a
    /// transformed value sends the row to `process` instead. Blank rows go to `process` too.
    public func plainRow(_ record: RawRecord) -> PlainRow? {
        guard hasPlainLane else { return nil }
        let count = record.fieldCount
        // Content only in mapped columns and unmapped ones with an `extra` key (not right of the header: those are
        // extra cells, with their warning), and some content that is certainly not blank.
        var hasContent = false
        var hasExtra = false
        for index in 0..<count {
            let field = record.field(index)
            guard let first = field.first(where: { !($0 < 0x80 && String.isASCIIWhitespace($0)) }) else { continue }
            if index < mappedColumns.count && mappedColumns[index] {
                if first < 0x80 { hasContent = true }
                continue
            }
            guard index < hasPlainExtraKey.count, hasPlainExtraKey[index] else { return nil }
            if first >= 0x80 && record.decoding.decode(field).isBlankFast { continue }
            hasContent = true
            hasExtra = true
        }
        guard hasContent else { return nil }

        var bail = false
        let indexByField = self.indexByField
        func text(_ field: CanonicalField) -> PlainRow.Text? {
            let index = indexByField[field.position]
            guard index >= 0, index < count else { return nil }
            let raw = record.field(index)
            var start = 0, end = raw.count
            while start < end, raw[start] < 0x80, String.isASCIIWhitespace(raw[start]) { start += 1 }
            while end > start, raw[end - 1] < 0x80, String.isASCIIWhitespace(raw[end - 1]) { end -= 1 }
            if start == end { return nil }
            let trimmed = UnsafeBufferPointer(rebasing: raw[start..<end])
            guard FieldDecoding.isASCII(trimmed) else {
                // As `process` reads it: the whole cell decoded, then trimmed.
                let value = record.decoding.decode(raw).trimmingWhitespaceFast()
                if value.isEmpty { return nil }
                if value.hasMoreCharacters(than: field.maxLength) { bail = true }
                return .string(value)
            }
            if trimmed.count > field.maxLength { bail = true }
            return .bytes(trimmed)
        }
        func number(_ field: CanonicalField) -> PlainRow.Text? {
            guard let value = text(field) else { return nil }
            // At most 14 bytes: `numeric(18,4)` holds it (longer plain numbers are checked by `process`).
            guard case .bytes(let b) = value, b.count <= 14, let plain = NumberParser.PlainDecimal(b) else {
                bail = true
                return nil
            }
            return plain.mantissa == 0 ? .string("0") : .bytes(UnsafeBufferPointer(rebasing: b[plain.canonical]))
        }

        var row = PlainRow(record: record)
        if hasExtra { row.extraColumns = plainExtraColumns }
        row.sku = text(.sku)
        row.name = text(.name)
        row.description = text(.description)
        row.unit = text(.unit)
        row.category = text(.category)
        row.brand = text(.brand)
        row.barcode = text(.barcode)
        // These are kept in `extra`: not a plain row.
        if text(.supplierSku) != nil || text(.packSize) != nil || text(.minOrderQty) != nil || text(.vatRate) != nil { return nil }
        row.price = number(.price)
        row.quantity = number(.quantity)
        if let raw = text(.currency) {
            guard let code = CurrencyCode.normalize(raw.string) else { return nil }
            row.currency = code
        } else {
            row.currency = config.currency
        }
        if bail { return nil }
        for field in requiredPlainFields {
            let present =
                switch field {
                case .sku: row.sku != nil
                case .name: row.name != nil
                case .description: row.description != nil
                case .price: row.price != nil
                case .currency: row.currency != nil
                case .quantity: row.quantity != nil
                case .unit: row.unit != nil
                case .category: row.category != nil
                case .brand: row.brand != nil
                case .barcode: row.barcode != nil
                case .supplierSku, .minOrderQty, .packSize, .vatRate: false
                }
            if !present { return nil }
        }
        return row
    }

    // MARK: Transformations

    private func apply(
        _ transformation: Transformation, values: inout [String: String], extra: inout [String: String],
        issues: inout [RowIssue], inferredCurrency: inout String?, normalizedNumbers: inout Set<String>
    ) {
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
                    let captured = Range(match.range(at: group), in: value)
                else {
                    issues.append(
                        RowIssue(
                            column: field, code: RowIssue.Code.transformFailed,
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
                    issues.append(
                        RowIssue(
                            column: field, code: RowIssue.Code.invalidNumber,
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
                    issues.append(
                        RowIssue(
                            column: field, code: RowIssue.Code.invalidDate,
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
                    issues.append(
                        RowIssue(
                            column: field, code: RowIssue.Code.invalidNumber,
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

    /// `value(position)` gives the raw cell for `CanonicalField.allCases[position]`.
    private func finish(_ row: inout ProcessedRow, inferredCurrency: String?, value: (Int) -> String?) {
        var inferredCurrency = inferredCurrency
        func text(_ field: CanonicalField) -> String? {
            guard let value = value(field.position)?.trimmingWhitespaceFast(), !value.isEmpty else { return nil }
            if value.hasMoreCharacters(than: field.maxLength) {
                let isIdentifier = field == .sku || field == .barcode || field == .supplierSku
                row.issues.append(
                    RowIssue(
                        column: field.rawValue, code: RowIssue.Code.tooLong,
                        message: "\(value.count) characters, over the limit of \(field.maxLength)",
                        severity: isIdentifier ? .error : .warning))
                return String(value.prefix(field.maxLength))
            }
            return value
        }
        /// Price and quantity are stored as `numeric(18,4)`: a larger value would fail the whole COPY, so it is
        /// this row's error instead (and not stored).
        func fitsColumn(_ field: CanonicalField, _ raw: String, _ value: Decimal, _ severity: RowIssue.Severity) -> Bool {
            guard field == .price || field == .quantity, raw.utf8.count > 14, value.magnitude >= Self.largestStoredNumber else { return true }
            row.issues.append(
                RowIssue(
                    column: field.rawValue, code: RowIssue.Code.outOfRange,
                    message: "'\(raw.prefix(100))' is out of range (at most 14 digits before the decimal point)", severity: severity))
            return false
        }
        func number(_ field: CanonicalField, severity: RowIssue.Severity, canonicalText: inout DerivedText) -> Decimal? {
            guard let raw = text(field) else { return nil }
            if let plain = NumberParser.parsePlainASCII(raw) {
                guard fitsColumn(field, raw, plain.value, severity) else { return nil }
                canonicalText = DerivedText(plain.text)
                return plain.value
            }
            // Values normalized by parse_number/multiply are plain; otherwise decimal commas are auto-detected.
            guard let parsed = NumberParser.parseDetailed(raw) else {
                if !row.issues.contains(where: { $0.column == field.rawValue && $0.code == RowIssue.Code.invalidNumber }) {
                    row.issues.append(
                        RowIssue(
                            column: field.rawValue, code: RowIssue.Code.invalidNumber,
                            message: "'\(raw.prefix(100))' is not a number", severity: severity))
                }
                return nil
            }
            guard fitsColumn(field, raw, parsed.value, severity) else { return nil }
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
        var priceText = DerivedText(), quantityText = DerivedText(), unused = DerivedText()
        row.price = number(.price, severity: .error, canonicalText: &priceText)
        row.quantity = number(.quantity, severity: quantityIsRequired ? .error : .warning, canonicalText: &quantityText)
        row.minOrderQty = number(.minOrderQty, severity: .warning, canonicalText: &unused)
        row.vatRate = number(.vatRate, severity: .warning, canonicalText: &unused)
        // After the assignments above: setting price/quantity clears their cached text.
        row.priceText = priceText
        row.quantityText = quantityText

        if let price = row.price, price < 0 {
            row.issues.append(
                RowIssue(
                    column: "price", code: RowIssue.Code.negativePrice,
                    message: "price \(NumberParser.format(price)) is negative", severity: .error))
        }

        if let rawCurrency = text(.currency) {
            if let code = CurrencyCode.normalize(rawCurrency) {
                row.currency = code
            } else {
                row.issues.append(
                    RowIssue(
                        column: "currency", code: RowIssue.Code.invalidCurrency,
                        message: "'\(rawCurrency.prefix(20))' is not a 3-letter ISO currency code",
                        severity: .error))
            }
        } else {
            row.currency = inferredCurrency ?? config.currency
        }

        func isPresent(_ field: String) -> Bool {
            switch field {
            case "sku": row.sku != nil
            case "name": row.name != nil
            case "description": row.description != nil
            case "price": row.price != nil
            case "currency": row.currency != nil
            case "quantity": row.quantity != nil
            case "unit": row.unit != nil
            case "category": row.category != nil
            case "brand": row.brand != nil
            case "barcode": row.barcode != nil
            case "supplier_sku": row.supplierSku != nil
            case "min_order_qty": row.minOrderQty != nil
            case "pack_size": row.packSize != nil
            case "vat_rate": row.vatRate != nil
            default: false
            }
        }
        for field in requiredFields where !isPresent(field) {
            // A value that failed to parse already carries its own error.
            guard !row.issues.contains(where: { $0.column == field && $0.severity == .error }) else { continue }
            row.issues.append(
                RowIssue(
                    column: field, code: RowIssue.Code.required,
                    message: "required field '\(field)' is empty", severity: .error))
        }
    }

    // MARK: Strict mode

    /// In strict mode, the job failure for the row's first error (nil when the row is valid or in lenient mode):
    /// `JobError(.validationError, "row 12, column price: …", details: row/column/code/reason)`.
    public func validationFailure(for row: ProcessedRow, mode: ValidationMode) -> JobError? {
        guard mode == .strict, let issue = row.firstError else { return nil }
        return JobError(
            .validationError, "row \(row.rowNumber), column \(issue.column): \(issue.message)",
            details: [
                "row": "\(row.rowNumber)", "column": issue.column, "code": issue.code,
                "reason": issue.message,
            ])
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
