import Models

/// A coding key for any JSON member name, used to reject unknown keys.
struct DynamicCodingKey: CodingKey, Hashable {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
    init(_ name: String) { self.stringValue = name }
}

extension KeyedDecodingContainer where Key == DynamicCodingKey {
    /// Throws `.invalidConfig` naming the first key not in `allowed` (`context` prefixes the message).
    func rejectUnknownKeys(allowed: Set<String>, context: String) throws {
        for key in allFieldsSorted where !allowed.contains(key) {
            throw JobError(
                .invalidConfig, "unknown field '\(key)' in \(context)",
                details: ["field": key, "allowed": allowed.sorted().joined(separator: ", ")])
        }
    }

    private var allFieldsSorted: [String] { allKeys.map(\.stringValue).sorted() }

    /// Decodes an optional value, converting type mismatches into `.invalidConfig` naming the key.
    func value<T: Decodable>(_ type: T.Type, _ key: String, context: String, expected: String) throws -> T? {
        let codingKey = DynamicCodingKey(key)
        guard contains(codingKey) else { return nil }
        if (try? decodeNil(forKey: codingKey)) == true { return nil }
        do {
            return try decode(T.self, forKey: codingKey)
        } catch let error as JobError {
            throw error
        } catch {
            throw JobError(.invalidConfig, "'\(key)' in \(context) must be \(expected)", details: ["field": key])
        }
    }
}
