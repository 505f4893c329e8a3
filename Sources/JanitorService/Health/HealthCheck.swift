public import Foundation
import Models

/// Overall health, worst criterion wins.
public enum HealthStatus: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case healthy
    case degraded
    case unhealthy

    var rank: Int {
        switch self {
        case .healthy: 0
        case .degraded: 1
        case .unhealthy: 2
        }
    }

    public static func < (lhs: HealthStatus, rhs: HealthStatus) -> Bool { lhs.rank < rhs.rank }
}

/// What one health check measured (stored as `details` in `quarry.health_checks`).
public struct HealthMeasurements: Sendable, Hashable, Codable {
    /// Jobs in `queued` (runnable or scheduled).
    public var queueSize: Int
    /// Queued jobs whose `run_at` has passed.
    public var runnable: Int
    /// Jobs in `processing`.
    public var processing: Int
    /// Dead-letter entries not yet reprocessed.
    public var dlqSize: Int
    /// Percent of finished attempts in the last hour that completed; nil when none finished.
    public var successRate: Double?
    /// Mean duration of jobs completed in the last hour; nil when none.
    public var averageDurationMs: Double?
    /// Processing jobs whose heartbeat is older than the stalled threshold.
    public var stalledJobs: Int
    /// Age of the oldest runnable queued job (0 when none).
    public var oldestQueuedMs: Int64
    /// Workers seen within the stalled threshold and not stopped.
    public var liveWorkers: Int
    /// Job slots of live workers not taken by a processing job.
    public var freeSlots: Int

    public init(
        queueSize: Int = 0, runnable: Int = 0, processing: Int = 0, dlqSize: Int = 0, successRate: Double? = nil,
        averageDurationMs: Double? = nil, stalledJobs: Int = 0, oldestQueuedMs: Int64 = 0, liveWorkers: Int = 0,
        freeSlots: Int = 0
    ) {
        self.queueSize = queueSize
        self.runnable = runnable
        self.processing = processing
        self.dlqSize = dlqSize
        self.successRate = successRate
        self.averageDurationMs = averageDurationMs
        self.stalledJobs = stalledJobs
        self.oldestQueuedMs = oldestQueuedMs
        self.liveWorkers = liveWorkers
        self.freeSlots = freeSlots
    }

    enum CodingKeys: String, CodingKey {
        case queueSize = "queue_size"
        case runnable
        case processing
        case dlqSize = "dlq_size"
        case successRate = "success_rate"
        case averageDurationMs = "avg_duration_ms"
        case stalledJobs = "stalled_jobs"
        case oldestQueuedMs = "oldest_queued_ms"
        case liveWorkers = "live_workers"
        case freeSlots = "free_slots"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(queueSize, forKey: .queueSize)
        try c.encode(runnable, forKey: .runnable)
        try c.encode(processing, forKey: .processing)
        try c.encode(dlqSize, forKey: .dlqSize)
        try c.encode(successRate, forKey: .successRate)  // explicit null when no data
        try c.encode(averageDurationMs, forKey: .averageDurationMs)
        try c.encode(stalledJobs, forKey: .stalledJobs)
        try c.encode(oldestQueuedMs, forKey: .oldestQueuedMs)
        try c.encode(liveWorkers, forKey: .liveWorkers)
        try c.encode(freeSlots, forKey: .freeSlots)
    }
}

/// Limits the evaluator compares measurements against (seed 000 / seed 002 criteria).
public struct HealthThresholds: Sendable, Hashable {
    /// Queued jobs above this → degraded (`HEALTH_QUEUE_SIZE_THRESHOLD`, default 50).
    public var queueSize: Int = 50
    /// DLQ entries above this → degraded (`HEALTH_DLQ_THRESHOLD`, default 10).
    public var dlqSize: Int = 10
    /// Success rate (percent) below this → degraded (`HEALTH_SUCCESS_RATE_THRESHOLD`, default 90).
    public var successRateDegraded: Double = 90
    /// Success rate (percent) below this → unhealthy (`HEALTH_SUCCESS_RATE_UNHEALTHY_THRESHOLD`, default 70).
    public var successRateUnhealthy: Double = 70
    /// Mean completed duration above this → degraded (`HEALTH_AVG_DURATION_THRESHOLD_MS`, default 60000).
    public var averageDuration: Duration = .milliseconds(60_000)
    /// Oldest runnable queued job older than this → degraded (`HEALTH_OLDEST_QUEUED_THRESHOLD_MS`, default 600000).
    public var oldestQueued: Duration = .milliseconds(600_000)
    /// Stalled jobs above this → degraded (`HEALTH_STALLED_DEGRADED_THRESHOLD`, default 0).
    public var stalledDegraded: Int = 0
    /// Stalled jobs above this → unhealthy (`HEALTH_STALLED_UNHEALTHY_THRESHOLD`, default 5).
    public var stalledUnhealthy: Int = 5

    public init() {}
}

/// The outcome of one health check (one row of `quarry.health_checks`).
public struct HealthReport: Sendable, Hashable {
    public var status: HealthStatus
    /// Queue size and oldest queued job within limits.
    public var queueOK: Bool
    /// Success rate and mean duration within limits.
    public var performanceOK: Bool
    public var dlqOK: Bool
    /// No stalled jobs, and a live worker whenever runnable jobs wait.
    public var workersOK: Bool
    /// Human-readable problems, worst first in criterion order.
    public var issues: [String]
    public var measurements: HealthMeasurements
}

/// Turns measurements into a ``HealthReport``; pure, so every boundary is unit-testable.
public enum HealthEvaluator {
    /// Evaluates every criterion; the status is the worst one found.
    ///
    /// - Parameters:
    ///   - m: What the check measured.
    ///   - t: The limits.
    public static func evaluate(_ m: HealthMeasurements, _ t: HealthThresholds) -> HealthReport {
        var status = HealthStatus.healthy
        var issues: [String] = []
        var queueOK = true, performanceOK = true, dlqOK = true, workersOK = true
        func flag(_ level: HealthStatus, _ issue: String) {
            status = max(status, level)
            issues.append(issue)
        }

        if m.queueSize > t.queueSize {
            queueOK = false
            flag(.degraded, "Queue size \(m.queueSize) exceeds threshold \(t.queueSize)")
        }
        let oldestLimit = t.oldestQueued.milliseconds
        if m.oldestQueuedMs > oldestLimit {
            queueOK = false
            flag(.degraded, "Oldest queued job has waited \(m.oldestQueuedMs / 1000) s (threshold \(oldestLimit / 1000) s)")
        }
        if m.dlqSize > t.dlqSize {
            dlqOK = false
            flag(.degraded, "Dead-letter queue size \(m.dlqSize) exceeds threshold \(t.dlqSize)")
        }
        if let rate = m.successRate {
            if rate < t.successRateUnhealthy {
                performanceOK = false
                flag(.unhealthy, "Success rate \(format(rate))% is below \(format(t.successRateUnhealthy))%")
            } else if rate < t.successRateDegraded {
                performanceOK = false
                flag(.degraded, "Success rate \(format(rate))% is below \(format(t.successRateDegraded))%")
            }
        }
        let durationLimit =
            Double(t.averageDuration.components.seconds) * 1000
            + Double(t.averageDuration.components.attoseconds) / 1e15
        if let avg = m.averageDurationMs, avg > durationLimit {
            performanceOK = false
            flag(.degraded, "Average job duration \(Int(avg)) ms exceeds \(Int(durationLimit)) ms")
        }
        if m.stalledJobs > t.stalledUnhealthy {
            workersOK = false
            flag(.unhealthy, "\(m.stalledJobs) stalled jobs (more than \(t.stalledUnhealthy))")
        } else if m.stalledJobs > t.stalledDegraded {
            workersOK = false
            flag(.degraded, "\(m.stalledJobs) stalled job\(m.stalledJobs == 1 ? "" : "s")")
        }
        if m.liveWorkers == 0 && m.runnable > 0 {
            workersOK = false
            flag(.unhealthy, "No live workers while \(m.runnable) runnable job\(m.runnable == 1 ? "" : "s") wait")
        }
        return HealthReport(
            status: status, queueOK: queueOK, performanceOK: performanceOK, dlqOK: dlqOK, workersOK: workersOK,
            issues: issues, measurements: m)
    }

    static func format(_ value: Double) -> String {
        String(format: "%.1f", value)
    }
}
