/// Exponential backoff with jitter (seed 000: 3 attempts, base 1 s, max 30 s, ×2).
///
/// The same formula runs in SQL (`quarry.retry_delay`, see `migrations/`); this type carries the
/// settings and lets tests and operators compute the expected schedule.
public struct RetryPolicy: Sendable, Hashable {
    /// Total attempts including the first run.
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    public var multiplier: Double
    /// Fraction of the delay added at random (0.1 = up to +10 %).
    public var jitter: Double

    public init(
        maxAttempts: Int = 3, baseDelay: Duration = .seconds(1), maxDelay: Duration = .seconds(30),
        multiplier: Double = 2, jitter: Double = 0.1
    ) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// The delay before the retry that follows failed attempt `attempt` (1-based), without jitter.
    public func baseDelay(afterAttempt attempt: Int) -> Duration {
        let base = Double(baseDelay.milliseconds)
        let raw = base * pow2(multiplier, max(0, attempt - 1))
        return .milliseconds(Int64(min(raw, Double(maxDelay.milliseconds))))
    }

    /// Bounds of the delay including jitter.
    public func delayRange(afterAttempt attempt: Int) -> ClosedRange<Duration> {
        let d = baseDelay(afterAttempt: attempt)
        return d...(d + .milliseconds(Int64(Double(d.milliseconds) * jitter)))
    }

    private func pow2(_ m: Double, _ n: Int) -> Double {
        var r = 1.0
        for _ in 0..<n { r *= m }
        return r
    }
}

extension Duration {
    /// Whole milliseconds in this duration.
    public var milliseconds: Int64 {
        let (s, a) = components
        return s * 1000 + a / 1_000_000_000_000_000
    }

    /// This duration in seconds, fractions included.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
