extension ColumnMapper {
    /// Aliases that also name other things ("Code", "Id", "Item"): a match on one of them is less certain.
    static let genericAliases: Set<String> = Set(
        [
            "Code", "Id", "Ref", "Reference", "Item", "Product", "Article", "Artikel", "Pack", "Make", "Group", "Tax", "Available", "Stock", "Cost",
            "Title", "Details", "Unit", "ME", "VK", "EK",
        ]
        .map(FieldAliases.normalize))

    /// The mapping the extract job would make from `headers` without a `column_mapping`, graded per field:
    /// 1 for an exact alias, 0.8 for a generic one ("Code", "Item"), 0.7 for a description column read as the
    /// name, 0.6 for a header that only contains an alias ("Unit Price EUR excl. VAT"); × 0.8 when another
    /// column matches the same field as well.
    public static func suggest(headers: [String]) -> [String: SuggestedColumn] {
        guard let mapping = try? map(headers: headers) else { return [:] }
        let normalized = headers.map(FieldAliases.normalize)
        func exactField(_ key: String) -> String? {
            if let field = FieldAliases.lookup[key] { return field.rawValue }
            if FieldAliases.normalizedNames.contains(key) { return CanonicalField.name.rawValue }
            if FieldAliases.normalizedDescriptions.contains(key) { return CanonicalField.description.rawValue }
            return nil
        }
        var out: [String: SuggestedColumn] = [:]
        for (field, index) in mapping.fieldToIndex where index < headers.count {
            let key = normalized[index]
            var confidence: Double
            if exactField(key) == field {
                confidence = genericAliases.contains(key) ? 0.8 : 1
            } else if field == CanonicalField.name.rawValue && FieldAliases.normalizedDescriptions.contains(key) {
                confidence = 0.7
            } else {
                confidence = 0.6
            }
            let rivals = normalized.indices.filter { $0 != index && !normalized[$0].isEmpty && exactField(normalized[$0]) == field }
            if !rivals.isEmpty { confidence *= 0.8 }
            out[field] = SuggestedColumn(header: headers[index], column: index, confidence: (confidence * 100).rounded() / 100)
        }
        return out
    }
}
