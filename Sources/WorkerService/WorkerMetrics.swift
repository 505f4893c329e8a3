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
    /// Durations of the claim calls (`quarry.claim`), successful or not.
    public let claimDurations = DurationWindow()
    public init() {}

    /// The last `capacity` durations of an operation, for quantiles at scrape time (a Prometheus summary).
    public final class DurationWindow: Sendable {
        private struct Window {
            var samples: [Double] = []
            var next = 0
            var count = 0
            var sum = 0.0
        }
        private let window = Mutex(Window())
        private let capacity: Int

        public init(capacity: Int = 8192) { self.capacity = capacity }

        /// Records one duration.
        public func record(_ d: Duration) {
            let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            window.withLock { w in
                if w.samples.count < capacity { w.samples.append(seconds) } else { w.samples[w.next] = seconds }
                w.next = (w.next + 1) % capacity
                w.count += 1
                w.sum += seconds
            }
        }

        /// The q-quantile (0...1) of the samples in the window, in seconds; 0 when there are none.
        public func quantile(_ q: Double) -> Double {
            let sorted = window.withLock { $0.samples }.sorted()
            guard !sorted.isEmpty else { return 0 }
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
        }

        /// Calls recorded since start, and their total seconds.
        public var totals: (count: Int, sum: Double) { window.withLock { ($0.count, $0.sum) } }
    }

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
            # HELP quarry_worker_claim_seconds Duration of claim calls (quantiles over the last 8192 calls).
            # TYPE quarry_worker_claim_seconds summary
            quarry_worker_claim_seconds{worker_id="\(workerID)",quantile="0.5"} \(claimDurations.quantile(0.5))
            quarry_worker_claim_seconds{worker_id="\(workerID)",quantile="0.99"} \(claimDurations.quantile(0.99))
            quarry_worker_claim_seconds_count\(label) \(claimDurations.totals.count)
            quarry_worker_claim_seconds_sum\(label) \(claimDurations.totals.sum)

            """
    }
}
