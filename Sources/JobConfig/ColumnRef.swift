/// Where a canonical field comes from in `column_mapping`: a header name (JSON string) or a
/// 0-based column index (JSON integer).
public enum ColumnRef: Sendable, Hashable, Codable {
    case name(String)
    case index(Int)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let index = try? container.decode(Int.self) {
            self = .index(index)
        } else if let name = try? container.decode(String.self) {
            self = .name(name)
        } else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "a column reference must be a header name (string) or a 0-based index (integer)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .name(let name): try container.encode(name)
        case .index(let index): try container.encode(index)
        }
    }
}

/// How invalid rows are treated: `strict` fails the job on the first invalid row, `lenient` records issues.
public enum ValidationMode: String, Sendable, Hashable, Codable {
    case strict, lenient
}
