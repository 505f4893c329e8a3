import Synchronization

/// Counters a worker keeps for `/metrics` and logs.
public final class WorkerMetrics: Sendable {
    public final class Counter: Sendable {
        private let value = Atomic<Int>(0)
        public func add(_ n: Int) { value.add(n, ordering: .relaxed) }
        public var current: Int { value.load(ordering: .relaxed) }
    }
    public let claimed = Counter()
    public let completed = Counter()
    public let retried = Counter()
    public let deadLettered = Counter()
    public let cancelled = Counter()
    public init() {}

    /// Prometheus text exposition of the counters.
    public func prometheusText(workerID: String) -> String {
        let label = "{worker_id=\"\(workerID)\"}"
        return """
            # TYPE quarry_worker_jobs_claimed_total counter
            quarry_worker_jobs_claimed_total\(label) \(claimed.current)
            # TYPE quarry_worker_jobs_completed_total counter
            quarry_worker_jobs_completed_total\(label) \(completed.current)
            # TYPE quarry_worker_jobs_retried_total counter
            quarry_worker_jobs_retried_total\(label) \(retried.current)
            # TYPE quarry_worker_jobs_dead_lettered_total counter
            quarry_worker_jobs_dead_lettered_total\(label) \(deadLettered.current)
            # TYPE quarry_worker_jobs_cancelled_total counter
            quarry_worker_jobs_cancelled_total\(label) \(cancelled.current)

            """
    }
}
