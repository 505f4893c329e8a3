public import Foundation
public import Models

/// A supplier profile (issue 16): the config a supplier's files are read with — mapping, transformations, header
/// row, sheet, delimiter, currency, required fields, price guard — and the header cells that recognise a file of
/// that supplier when a job names no supplier. Stored per org and supplier by `PUT /api/suppliers/:id/profile`
/// and by a commit with `save_profile`.
///
/// The body is an `ExtractionConfig` object without `supplier_id` (it is the path's), plus an optional `header`:
///
/// ```json
/// {"column_mapping": {"sku": "Art.-Nr.", "price": "Preis"}, "price_guard": {"max_increase_pct": 30},
///  "header": ["Art.-Nr.", "Bezeichnung", "Preis"]}
/// ```
///
/// It is validated by the same decoder the worker runs, so a profile the api accepts is one the worker can use.
public struct SupplierProfile: Sendable, Hashable {
    /// The config members of the profile.
    public var config: ExtractionConfig
    /// The normalised header cells (``HeaderFingerprint``), when the profile has a header.
    public var headerFingerprint: String?

    public init(config: ExtractionConfig, headerFingerprint: String?) {
        self.config = config
        self.headerFingerprint = headerFingerprint
    }

    /// Decodes a profile body; every failure is `.invalidConfig` with `details["field"]` naming the member.
    public static func decode(json: Data) throws(JobError) -> SupplierProfile {
        guard var object = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] else {
            throw JobError(.invalidConfig, "a supplier profile must be a JSON object")
        }
        if object["supplier_id"] != nil {
            throw JobError(
                .invalidConfig, "a profile's supplier is the one in the path; 'supplier_id' is not a profile field",
                details: ["field": "supplier_id"])
        }
        var fingerprint: String?
        if let header = object.removeValue(forKey: "header"), !(header is NSNull) {
            guard let cells = header as? [String] else {
                throw JobError(.invalidConfig, "'header' must be an array of header cells", details: ["field": "header"])
            }
            fingerprint = HeaderFingerprint.of(cells)
        }
        let rest = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        var config: ExtractionConfig
        do {
            config = try ExtractionConfig.decode(json: rest)
        } catch {
            var error = error
            error.message = error.message.replacingOccurrences(of: "in config", with: "in profile")
            throw error
        }
        config.supplierId = nil
        return SupplierProfile(config: config, headerFingerprint: fingerprint)
    }

    /// A job's config completed by this profile: every member the job leaves out is taken from the profile.
    public func fill(_ job: ExtractionConfig) -> ExtractionConfig {
        var out = job
        if out.columnMapping == nil { out.columnMapping = config.columnMapping }
        if out.transformations.isEmpty { out.transformations = config.transformations }
        out.headerRow = out.headerRow ?? config.headerRow
        out.skipRows = out.skipRows ?? config.skipRows
        out.sheet = out.sheet ?? config.sheet
        out.delimiter = out.delimiter ?? config.delimiter
        out.currency = out.currency ?? config.currency
        out.requiredFields = out.requiredFields ?? config.requiredFields
        out.priceGuard = out.priceGuard ?? config.priceGuard
        return out
    }
}

/// The header fingerprint: the header cells trimmed, lower-cased, inner whitespace collapsed, trailing empty
/// cells dropped, joined by U+001F. Two files with the same columns in the same order have the same fingerprint.
public enum HeaderFingerprint {
    /// The fingerprint of `cells`; nil when every cell is empty.
    public static func of(_ cells: [String]) -> String? {
        var normalised = cells.map { cell in
            cell.lowercased().split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        }
        while normalised.last?.isEmpty == true { normalised.removeLast() }
        return normalised.isEmpty ? nil : normalised.joined(separator: "\u{1F}")
    }
}
