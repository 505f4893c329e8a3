import Foundation
import JobConfig
import Models
import Testing

/// `docs/openapi.yaml` describes a job's `config` by hand; these tests hold it to `ExtractionConfig`, the type
/// the api and the worker decode with, so the two cannot drift apart again (issue 12, point 10).
@Suite("JobConfig: openapi.yaml agrees with ExtractionConfig")
struct OpenAPIConfigSchemaTests {
    /// `docs/openapi.yaml`, found from this file (`Tests/JobConfigTests/…`), not bundled.
    static let openAPIPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/openapi.yaml").path

    func configSchema() throws -> YAMLSchemaBlock {
        let text = try String(contentsOfFile: Self.openAPIPath, encoding: .utf8)
        return try YAMLSchemaBlock(named: "ExtractionConfig", in: text)
    }

    @Test func propertyNamesAreTheDecodersAllowedKeys() throws {
        let schema = try configSchema()
        #expect(schema.propertyNames.count == Set(schema.propertyNames).count, "duplicate property in openapi.yaml")
        #expect(Set(schema.propertyNames) == ExtractionConfig.allowedKeys)
    }

    @Test func unknownMembersAreRefusedByTheSchema() throws {
        #expect(try configSchema().members["additionalProperties"] == "false")
    }

    /// Every integer member's `minimum` is the decoder's: the minimum decodes, one below is `INVALID_CONFIG`
    /// naming the member.
    @Test func integerMinimumsAreTheDecoders() throws {
        let schema = try configSchema()
        var checked: [String] = []
        for name in schema.propertyNames {
            let facts = schema.property(name)
            guard facts["type"] == "integer", let minimum = facts["minimum"].flatMap({ Int($0) }) else { continue }
            checked.append(name)
            #expect(throws: Never.self, "\(name): \(minimum)") { try ExtractionConfig.decode(json: Data(#"{"\#(name)":\#(minimum)}"#.utf8)) }
            let error = expectJobError { try ExtractionConfig.decode(json: Data(#"{"\#(name)":\#(minimum - 1)}"#.utf8)) }
            #expect(error?.code == .invalidConfig, "\(name): \(minimum - 1)")
            #expect(error?.details["field"] == name)
        }
        #expect(Set(checked) == ["header_row", "skip_rows"])
    }

    /// Every value a string enum lists decodes.
    @Test func enumValuesDecode() throws {
        let schema = try configSchema()
        let values = try #require(schema.property("validation_mode")["enum"])
        #expect(values == "[strict, lenient]")
        for value in ["strict", "lenient"] {
            let config = try ExtractionConfig.decode(json: Data(#"{"validation_mode":"\#(value)"}"#.utf8))
            #expect(config.validationMode.rawValue == value)
        }
    }
}

/// Runs `body` and returns the `JobError` it throws (nil, and a recorded issue, when it does not throw).
func expectJobError(_ body: () throws -> some Any, sourceLocation: SourceLocation = #_sourceLocation) -> JobError? {
    do {
        _ = try body()
        Issue.record("expected a JobError, got success", sourceLocation: sourceLocation)
    } catch let error as JobError {
        return error
    } catch {
        Issue.record("expected a JobError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// One entry of `components.schemas` in an OpenAPI YAML file, read line by line (no YAML library is available).
/// It understands just the layout docs/openapi.yaml uses: a schema at 4 spaces, its members at 6, its
/// properties at 8 and each property's members at 10 (`key: value` on one line each, or a flow map
/// `name: {type: integer, minimum: 1}` on the property's own line).
struct YAMLSchemaBlock {
    struct NotFound: Error, CustomStringConvertible {
        var description: String
    }

    /// The lines under `    <name>:`, up to the next line indented 4 or less.
    let lines: [Substring]

    init(named name: String, in yaml: String) throws {
        let all = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        guard let schemas = all.firstIndex(of: "  schemas:"),
            let start = all[schemas...].firstIndex(of: "    \(name):")
        else { throw NotFound(description: "components.schemas.\(name) not found") }
        let rest = all[(start + 1)...]
        let end = rest.firstIndex { Self.isContent($0) && Self.indent($0) <= 4 } ?? all.endIndex
        lines = Array(all[(start + 1)..<end])
    }

    /// The schema's own `key: value` members (indent 6); a value continued on later lines is "".
    var members: [String: String] { Self.keyValues(lines, indent: 6) }

    /// The names under `properties:`, in file order.
    var propertyNames: [String] {
        propertyLines.filter { Self.isContent($0) && Self.indent($0) == 8 }.compactMap { Self.keyValue($0)?.key }
    }

    /// One property's `key: value` facts, from its block (indent 10) or its flow map.
    func property(_ name: String) -> [String: String] {
        let body = propertyLines
        guard let start = body.firstIndex(where: { Self.indent($0) == 8 && Self.keyValue($0)?.key == name }) else { return [:] }
        let inline = Self.keyValue(body[start])?.value ?? ""
        if inline.hasPrefix("{"), inline.hasSuffix("}") {
            var facts: [String: String] = [:]
            for part in inline.dropFirst().dropLast().split(separator: ",") {
                if let kv = Self.keyValue(part) { facts[kv.key] = kv.value }
            }
            return facts
        }
        let rest = body[(start + 1)...]
        let end = rest.firstIndex { Self.isContent($0) && Self.indent($0) <= 8 } ?? body.endIndex
        return Self.keyValues(Array(body[(start + 1)..<end]), indent: 10)
    }

    private var propertyLines: [Substring] {
        guard let start = lines.firstIndex(where: { Self.indent($0) == 6 && Self.keyValue($0)?.key == "properties" }) else { return [] }
        let rest = lines[(start + 1)...]
        let end = rest.firstIndex { Self.isContent($0) && Self.indent($0) <= 6 } ?? lines.endIndex
        return Array(lines[(start + 1)..<end])
    }

    private static func keyValues(_ lines: [Substring], indent: Int) -> [String: String] {
        var out: [String: String] = [:]
        for line in lines where isContent(line) && Self.indent(line) == indent {
            if let kv = keyValue(line) { out[kv.key] = kv.value }
        }
        return out
    }

    /// `key: value` (value trimmed, "" when absent); nil for list items and lines without a colon.
    private static func keyValue(_ line: Substring) -> (key: String, value: String)? {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard !trimmed.hasPrefix("-"), let colon = trimmed.firstIndex(of: ":") else { return nil }
        let value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        return (String(trimmed[..<colon]), value)
    }

    private static func indent(_ line: Substring) -> Int { line.prefix { $0 == " " }.count }

    /// Not blank and not a comment.
    private static func isContent(_ line: Substring) -> Bool {
        let trimmed = line.drop { $0 == " " }
        return !trimmed.isEmpty && !trimmed.hasPrefix("#")
    }
}
