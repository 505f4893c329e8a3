/// Progress of a running job, in seed 000's shape (`percent_complete`, `current_step`, …)
/// widened with seed 002's byte-based progress and stage.
public struct JobProgress: Sendable, Codable, Hashable {
    public var percentComplete: Int
    public var currentStep: String
    public var stage: String?
    public var rowsProcessed: Int64?
    public var rowsTotal: Int64?
    public var bytesProcessed: Int64?
    public var bytesTotal: Int64?
    public var elapsedMs: Int64?
    public var estimatedRemainingMs: Int64?

    public init(
        percentComplete: Int, currentStep: String, stage: String? = nil, rowsProcessed: Int64? = nil,
        rowsTotal: Int64? = nil, bytesProcessed: Int64? = nil, bytesTotal: Int64? = nil, elapsedMs: Int64? = nil,
        estimatedRemainingMs: Int64? = nil
    ) {
        self.percentComplete = max(0, min(100, percentComplete))
        self.currentStep = currentStep
        self.stage = stage
        self.rowsProcessed = rowsProcessed
        self.rowsTotal = rowsTotal
        self.bytesProcessed = bytesProcessed
        self.bytesTotal = bytesTotal
        self.elapsedMs = elapsedMs
        self.estimatedRemainingMs = estimatedRemainingMs
    }

    enum CodingKeys: String, CodingKey {
        case percentComplete = "percent_complete"
        case currentStep = "current_step"
        case stage
        case rowsProcessed = "rows_processed"
        case rowsTotal = "rows_total"
        case bytesProcessed = "bytes_processed"
        case bytesTotal = "bytes_total"
        case elapsedMs = "elapsed_ms"
        case estimatedRemainingMs = "estimated_remaining_ms"
    }
}
