/// The states a job moves through. Stored as text in `jobs.status`.
public enum JobStatus: String, Sendable, Codable, CaseIterable {
    case queued
    case processing
    case completed
    case failed
    case cancelled
    case deadLettered = "dead_lettered"

    /// Whether the job can no longer change (other than by a DLQ reprocess, which makes a new job).
    public var isFinal: Bool {
        switch self {
        case .queued, .processing: false
        case .completed, .failed, .cancelled, .deadLettered: true
        }
    }
}
