import Foundation
import Synchronization

/// A token bucket per API token, in memory (each api replica limits on its own).
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    let capacity: Double
    let perSecond: Double
    private let buckets = Mutex<[UUID: Bucket]>([:])

    init(perMinute: Int) {
        capacity = Double(perMinute)
        perSecond = Double(perMinute) / 60
    }

    /// Takes one token; returns nil when allowed, else the seconds until one is available.
    func take(_ key: UUID) -> Int? {
        let now = ContinuousClock.now
        return buckets.withLock { b -> Int? in
            var bucket = b[key] ?? Bucket(tokens: capacity, updated: now)
            let elapsed = now - bucket.updated
            let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(capacity, bucket.tokens + secs * perSecond)
            bucket.updated = now
            if b.count > 100_000 { b.removeAll() }  // bound memory against token churn
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                b[key] = bucket
                return nil
            }
            b[key] = bucket
            return max(1, Int(((1 - bucket.tokens) / perSecond).rounded(.up)))
        }
    }
}
