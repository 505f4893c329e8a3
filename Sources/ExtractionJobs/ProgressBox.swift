import Foundation
import Models
import Synchronization

/// The latest progress, written by the synchronous pipeline and read by an async reporter.
final class ProgressBox: Sendable {
    private let state = Mutex<(JobProgress?, Bool)>((nil, false))
    private let started = ContinuousClock.now

    /// Records progress; `force` marks a stage change that should be written promptly.
    func set(
        percent: Int, step: String, stage: String, rows: Int64? = nil, rowsTotal: Int64? = nil,
        bytes: Int64? = nil, bytesTotal: Int64? = nil, force: Bool = false
    ) {
        let elapsed = ContinuousClock.now - started
        let elapsedMs = elapsed.milliseconds
        let remaining: Int64? = percent > 0 && percent < 100 ? elapsedMs * Int64(100 - percent) / Int64(percent) : nil
        let p = JobProgress(
            percentComplete: percent, currentStep: step, stage: stage, rowsProcessed: rows, rowsTotal: rowsTotal,
            bytesProcessed: bytes, bytesTotal: bytesTotal, elapsedMs: elapsedMs, estimatedRemainingMs: remaining)
        state.withLock { s in
            s.0 = p
            s.1 = s.1 || force
        }
    }

    /// Takes the latest progress if it changed since the last take.
    func take() -> (JobProgress, Bool)? {
        state.withLock { s in
            guard let p = s.0 else { return nil }
            let force = s.1
            s.0 = nil
            s.1 = false
            return (p, force)
        }
    }
}
