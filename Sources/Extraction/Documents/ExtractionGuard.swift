import Models

/// Wall-clock deadline and cancellation checks shared by the in-process extractors.
struct ExtractionGuard {
    let deadline: ContinuousClock.Instant
    let timeout: Duration
    let isCancelled: @Sendable () -> Bool
    private var calls = 0

    init(timeout: Duration, isCancelled: @escaping @Sendable () -> Bool) {
        self.timeout = timeout
        self.deadline = ContinuousClock.now.advanced(by: timeout)
        self.isCancelled = isCancelled
    }

    /// Throws `.cancelled` or `.timeLimitExceeded`; cheap enough to call per paragraph (checks every 64th call).
    mutating func check() throws(JobError) {
        calls &+= 1
        if calls & 63 == 0 { try checkNow() }
    }

    /// Checks immediately.
    func checkNow() throws(JobError) {
        if isCancelled() { throw JobError.cancelledExtraction }
        if ContinuousClock.now >= deadline {
            throw JobError(
                .timeLimitExceeded, "document extraction exceeded its time limit of \(timeout)",
                details: ["limit": "\(timeout)"])
        }
    }
}
