import APIServer
import Foundation
import Testing

/// `docs/openapi.yaml` is written by hand; these tests hold it to `APIServer.routeRules`, the table the router
/// enforces, so a route cannot ship undocumented and a documented refusal cannot drift from the rule.
@Suite("openapi.yaml agrees with the authorization matrix")
struct OpenAPIRoutesTests {
    /// Admin operations documented in docs/API.md only (kept out of the schemathesis run: a fuzzed
    /// `POST /api/worker/process` would run the contract database's jobs for up to 55 s a call).
    static let undocumentedByDesign: Set<String> = ["POST /api/worker/process"]

    /// (method path) → response codes declared in `docs/openapi.yaml`, read by indentation (paths at 2 spaces,
    /// methods at 4, `responses:` at 6, codes at 8).
    static func declaredResponses() throws -> [String: Set<String>] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/openapi.yaml")
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(of: "paths:") else { throw CocoaError(.fileReadCorruptFile) }
        var result: [String: Set<String>] = [:]
        var path: String?
        var key: String?
        var inResponses = false
        for line in lines[(start + 1)...] {
            let indent = line.prefix { $0 == " " }.count
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty || text.hasPrefix("#") { continue }
            if indent == 0 { break }
            if indent == 2, text.hasSuffix(":") { path = String(text.dropLast()); key = nil; inResponses = false; continue }
            if indent == 4, let path, text.hasSuffix(":") {
                guard Self.methods.contains(String(text.dropLast())) else { key = nil; inResponses = false; continue }
                key = "\(text.dropLast().uppercased()) \(path)"
                if let key { result[key] = result[key] ?? [] }
                inResponses = false
                continue
            }
            if indent == 6 { inResponses = text == "responses:"; continue }
            if indent == 8, inResponses, let key, text.hasPrefix("\"") {
                result[key, default: []].insert(String(text.dropFirst().prefix { $0 != "\"" }))
            }
        }
        return result
    }

    /// Operation keys of a path item (others, such as `parameters:`, are not operations).
    static let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    /// `/api/jobs/:id` → `/api/jobs/{id}`.
    static func openAPIPath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
    }

    @Test func everyRouteIsDocumentedWithTheRefusalsItsRuleCanAnswer() throws {
        let declared = try Self.declaredResponses()
        var problems: [String] = []
        for rule in APIServer.routeRules {
            let key = "\(rule.method) \(Self.openAPIPath(rule.path))"
            if Self.undocumentedByDesign.contains("\(rule.method) \(rule.path)") { continue }
            guard let codes = declared[key] else {
                problems.append("\(key): not in openapi.yaml")
                continue
            }
            var expected: Set<String> = []
            switch rule.role {
            case .open: break
            case .metrics: expected = ["401"]  // when METRICS_TOKEN is set
            case .member: expected = ["401", "429"]
            case .admin: expected = ["401", "403", "429"]
            }
            if rule.tenancy != .none { expected.insert("404") }
            let missing = expected.subtracting(codes)
            if !missing.isEmpty { problems.append("\(key): missing \(missing.sorted().joined(separator: ", "))") }
        }
        let served = Set(APIServer.routeRules.map { "\($0.method) \(Self.openAPIPath($0.path))" })
        for key in declared.keys where !served.contains(key) { problems.append("\(key): documented but not routed") }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// The check above must be able to fail: a rule the document does not know is reported.
    @Test func theReaderSeesEveryDocumentedOperation() throws {
        let declared = try Self.declaredResponses()
        #expect(declared["GET /api/jobs/{id}"]?.isSuperset(of: ["200", "401", "404", "429"]) == true)
        #expect(declared["GET /api/jobs/health"]?.contains("403") == true)
        #expect(declared.count >= APIServer.routeRules.count - Self.undocumentedByDesign.count)
    }
}
