public import Foundation

/// The rows a query returned, decoded from PostgreSQL's text format.
///
/// Values are kept as optional strings (nil = SQL NULL) and converted on access, which keeps
/// the libpq result's lifetime out of Swift code.
public struct PostgresRows: Sendable, Sequence {
    public let columns: [String]
    public let values: [[String?]]
    /// The command tag's row count (`UPDATE 3` → 3), when the command reports one.
    public let affectedRows: Int

    public init(columns: [String], values: [[String?]], affectedRows: Int) {
        self.columns = columns
        self.values = values
        self.affectedRows = affectedRows
    }

    public var count: Int { values.count }
    public var isEmpty: Bool { values.isEmpty }
    public var first: PostgresRow? { values.first.map { PostgresRow(columns: columns, values: $0) } }

    public func makeIterator() -> some IteratorProtocol<PostgresRow> {
        let columns = self.columns
        return values.lazy.map { PostgresRow(columns: columns, values: $0) }.makeIterator()
    }
}

/// One row; fields are read by column name or position.
public struct PostgresRow: Sendable {
    public let columns: [String]
    public let values: [String?]

    func index(_ name: String) -> Int? { columns.firstIndex(of: name) }

    /// The raw text of a column, nil when NULL or missing.
    public subscript(_ name: String) -> String? {
        guard let i = index(name) else { return nil }
        return values[i]
    }

    public func string(_ name: String) -> String? { self[name] }
    public func int(_ name: String) -> Int? { self[name].flatMap { Int($0) } }
    public func int64(_ name: String) -> Int64? { self[name].flatMap { Int64($0) } }
    public func double(_ name: String) -> Double? { self[name].flatMap { Double($0) } }
    public func bool(_ name: String) -> Bool? { self[name].map { $0 == "t" || $0 == "true" } }
    public func uuid(_ name: String) -> UUID? { self[name].flatMap { UUID(canonicalText: $0) ?? UUID(uuidString: $0) } }
    /// A `timestamptz` column (PostgreSQL text form, e.g. `2026-11-25 03:41:26.123+00`).
    public func date(_ name: String) -> Date? { self[name].flatMap(PostgresRow.parseTimestamp) }
    /// A text[] / uuid[] column.
    public func stringArray(_ name: String) -> [String]? { self[name].map(PostgresRow.parseArray) }

    /// Parses PostgreSQL's default `timestamptz` output (ISO DateStyle).
    public static func parseTimestamp(_ text: String) -> Date? {
        // "2026-11-25 03:41:26.123456+00" or "+05:30"
        if let fast = parseISOTimestampFast(text) { return fast }
        var t = text.replacingOccurrences(of: " ", with: "T")
        if let plus = t.lastIndex(where: { $0 == "+" || $0 == "-" }), plus > t.index(t.startIndex, offsetBy: 10) {
            let tz = t[t.index(after: plus)...]
            if tz.count == 2 { t += ":00" }
        }
        if let d = try? Date(t, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return d }
        return try? Date(t, strategy: Date.ISO8601FormatStyle())
    }

    /// Parses a one-dimensional array literal of simple or quoted elements.
    public static func parseArray(_ text: String) -> [String] {
        guard text.count >= 2 else { return [] }
        var out: [String] = []
        var cur = ""
        var inQuotes = false
        var escaped = false
        var any = false
        for ch in text.dropFirst().dropLast() {
            if escaped { cur.append(ch); escaped = false; continue }
            if ch == "\\" { escaped = true; continue }
            if ch == "\"" { inQuotes.toggle(); any = true; continue }
            if ch == "," && !inQuotes { out.append(cur); cur = ""; any = false; continue }
            cur.append(ch); any = true
        }
        if any || !cur.isEmpty || !out.isEmpty { out.append(cur) }
        return out
    }
}
