public import Foundation
public import Models
public import Queue

/// Does nothing; for benchmarks and tests.
public struct NoopHandler: JobHandler {
    public init() {}
    public func run(_ job: ClaimedJob, context: JobContext) async throws -> JobOutcome { JobOutcome() }
}

/// Sleeps `{"ms": N}` milliseconds in slices, reporting progress and honouring cancellation.
public struct SleepHandler: JobHandler {
    public init() {}
    public func run(_ job: ClaimedJob, context: JobContext) async throws -> JobOutcome {
        let object = (try? JSONSerialization.jsonObject(with: Data(job.payload.utf8))) as? [String: Any]
        let total = (object?["ms"] as? Int) ?? 100
        let slice = 50
        var elapsed = 0
        while elapsed < total {
            try context.checkCancellation()
            let step = min(slice, total - elapsed)
            try await Task.sleep(for: .milliseconds(step))
            elapsed += step
            await context.report(
                JobProgress(
                    percentComplete: total == 0 ? 100 : elapsed * 100 / total, currentStep: "Sleeping",
                    elapsedMs: Int64(elapsed), estimatedRemainingMs: Int64(total - elapsed)))
        }
        return JobOutcome(resultJSON: #"{"slept_ms":\#(total)}"#)
    }
}

/// Fails with `{"code": "NETWORK_ERROR", "message": "…", "retryable": true}`, or succeeds
/// once `attempt > succeed_after` when that is given; for tests of retry and DLQ.
public struct FailHandler: JobHandler {
    public init() {}
    public func run(_ job: ClaimedJob, context: JobContext) async throws -> JobOutcome {
        let object = (try? JSONSerialization.jsonObject(with: Data(job.payload.utf8))) as? [String: Any] ?? [:]
        if let after = object["succeed_after"] as? Int, job.attempt > after {
            return JobOutcome(resultJSON: #"{"succeeded_on_attempt":\#(job.attempt)}"#)
        }
        let code = JobError.Code(object["code"] as? String ?? "EXTRACTION_ERROR")
        throw JobError(code, object["message"] as? String ?? "requested failure", retryable: object["retryable"] as? Bool)
    }
}
