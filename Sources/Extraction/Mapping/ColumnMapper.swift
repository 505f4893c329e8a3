public import Models

/// Maps a header row onto canonical fields: explicit `column_mapping` first, then aliases.
public enum ColumnMapper {
    /// Builds the mapping for `headers`.
    ///
    /// Explicit entries win; a header name not found (exact, then case/accent-insensitive) or an index out of
    /// range throws `.invalidConfig` listing the available headers. Remaining fields are auto-mapped by
    /// normalized alias; when both a name-like and a description-like column exist they map to `name` and
    /// `description`, otherwise a description-like column becomes `name`.
    public static func map(headers: [String], explicit: [String: ColumnRef]? = nil) throws(JobError) -> ColumnMapping {
        var fieldToIndex: [String: Int] = [:]
        var used = Set<Int>()
        let available = headers.enumerated().map { "\($0.offset): '\($0.element)'" }.joined(separator: ", ")

        for (rawField, ref) in (explicit ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let field = CanonicalField(configName: rawField) else {
                throw JobError(.invalidConfig, "column_mapping: unknown field '\(rawField)'", details: ["field": rawField])
            }
            let index: Int
            switch ref {
            case .index(let i):
                guard headers.indices.contains(i) else {
                    throw JobError(
                        .invalidConfig,
                        "column_mapping: column index \(i) for '\(field.rawValue)' is out of range (\(headers.count) columns: \(available))",
                        details: ["field": field.rawValue, "available": available])
                }
                index = i
            case .name(let name):
                if let exact = headers.firstIndex(of: name) {
                    index = exact
                } else if let loose = headers.firstIndex(where: {
                    FieldAliases.normalize($0) == FieldAliases.normalize(name) && !FieldAliases.normalize(name).isEmpty
                }) {
                    index = loose
                } else {
                    throw JobError(
                        .invalidConfig,
                        "column_mapping: header '\(name)' for '\(field.rawValue)' not found; available headers: \(available)",
                        details: ["field": field.rawValue, "header": name, "available": available])
                }
            }
            fieldToIndex[field.rawValue] = index
            used.insert(index)
        }

        let normalized = headers.map(FieldAliases.normalize)
        // Exact alias matches, first column wins per field.
        for (index, key) in normalized.enumerated() where !used.contains(index) && !key.isEmpty {
            guard let field = FieldAliases.lookup[key], fieldToIndex[field.rawValue] == nil else { continue }
            fieldToIndex[field.rawValue] = index
            used.insert(index)
        }
        // Name / description.
        let nameColumns = normalized.indices.filter { !used.contains($0) && FieldAliases.normalizedNames.contains(normalized[$0]) }
        let descriptionColumns = normalized.indices.filter { !used.contains($0) && FieldAliases.normalizedDescriptions.contains(normalized[$0]) }
        var nameIndex = fieldToIndex["name"]
        var descriptionIndex = fieldToIndex["description"]
        if nameIndex == nil {
            nameIndex = nameColumns.first ?? descriptionColumns.first { $0 != descriptionIndex }
        }
        if descriptionIndex == nil {
            descriptionIndex = descriptionColumns.first { $0 != nameIndex }
        }
        if let nameIndex { fieldToIndex["name"] = nameIndex; used.insert(nameIndex) }
        if let descriptionIndex { fieldToIndex["description"] = descriptionIndex; used.insert(descriptionIndex) }

        // Looser pass: a header containing an alias ("Unit Price EUR excl. VAT" ⊇ "unitprice").
        for (index, key) in normalized.enumerated() where !used.contains(index) && !key.isEmpty {
            var best: (CanonicalField, Int)?
            for (alias, field) in FieldAliases.lookup where alias.count >= 4 && key.contains(alias) && fieldToIndex[field.rawValue] == nil {
                if alias.count > (best?.1 ?? 0) { best = (field, alias.count) }
            }
            if let (field, _) = best {
                fieldToIndex[field.rawValue] = index
                used.insert(index)
            }
        }

        let unmapped = headers.enumerated().filter { !used.contains($0.offset) }
            .map { UnmappedColumn(index: $0.offset, header: $0.element) }
        return ColumnMapping(fieldToIndex: fieldToIndex, unmapped: unmapped, headers: headers)
    }
}
