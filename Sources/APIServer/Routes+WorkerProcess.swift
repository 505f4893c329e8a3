import APIAuth
import Foundation
import Hummingbird

/// Runs one batch of jobs in-request (cron trigger). Injected by the `api` executable so this module
/// does not depend on the handlers.
public typealias BatchProcessor = @Sendable (_ maxJobs: Int, _ budget: Duration) async throws -> [String: Int]

extension APIServer {
    /// Admin only (the route table's rule).
    func processBatch(_ c: Call) async throws -> Response {
        guard let processor = batchProcessor else { throw APIError.notFound("in-request processing is not enabled") }
        let budget = try c.intQuery("budget_ms", default: 10_000, range: 100...55_000)
        let maxJobs = try c.intQuery("max_jobs", default: 10, range: 1...100)
        let report = try await processor(maxJobs, .milliseconds(budget))
        await audit(c, action: "worker.process", target: nil, details: report.mapValues { "\($0)" })
        return Envelope.ok(report)
    }
}
