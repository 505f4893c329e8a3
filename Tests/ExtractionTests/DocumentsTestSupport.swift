import Foundation
import Models
import Testing

/// Absolute path of a fixture in `Fixtures/docs`.
func docsFixture(_ name: String) throws -> String {
    let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
    let url = try #require(
        Bundle.module.url(
            forResource: parts[0], withExtension: parts.count > 1 ? parts[1] : nil,
            subdirectory: "Fixtures/docs"))
    return url.path
}

/// Runs `body` and returns the `JobError` it throws (fails the test if it throws nothing or something else).
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
