public import Models

/// Bookkeeping shared by readers: row limit, cancellation cadence.
struct RowGate {
    let limits: ExtractionLimits
    let isCancelled: @Sendable () -> Bool
    private(set) var dataRows = 0
    private var sawHeader = false
    private var sinceCheck = 0

    init(limits: ExtractionLimits, isCancelled: @escaping @Sendable () -> Bool) {
        self.limits = limits
        self.isCancelled = isCancelled
    }

    /// Counts one delivered row (the first is the header) and enforces `maxRows`.
    mutating func admit(rowNumber: Int) throws {
        if !sawHeader {
            sawHeader = true
        } else {
            dataRows += 1
            if dataRows > limits.maxRows {
                throw JobError(
                    .rowLimitExceeded, "more than \(limits.maxRows) rows", details: ["row": String(rowNumber), "limit": String(limits.maxRows)])
            }
        }
        try tick()
    }

    /// Call on every unit of work; checks cancellation every 2048 calls.
    mutating func tick() throws {
        sinceCheck += 1
        if sinceCheck >= 2048 {
            sinceCheck = 0
            try checkCancelled()
        }
    }

    func checkCancelled() throws {
        if isCancelled() { throw JobError.cancelledExtraction }
    }
}

extension JobError {
    /// The error every extraction step throws when its job was cancelled.
    public static var cancelledExtraction: JobError { JobError(.cancelled, "extraction cancelled") }

    static func tooManyColumns(_ count: Int, limit: Int, row: Int) -> JobError {
        JobError(
            .rowTooLong, "row \(row) has more than \(limit) columns",
            details: ["row": String(row), "columns": String(count), "limit": String(limit), "reason": "columns"])
    }
}
