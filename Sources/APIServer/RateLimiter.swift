import Foundation
import Synchronization

/// A token bucket per key, in memory (each api replica limits on its own): per API token after authentication,
/// per client address in front of it.
final class RateLimiter<Key: Hashable & Sendable>: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    let capacity: Double
    let perSecond: Double
    private let buckets = Mutex<[Key: Bucket]>([:])

    init(perMinute: Int) {
        capacity = Double(perMinute)
        perSecond = Double(perMinute) / 60
    }

    /// Takes one token; returns nil when allowed, else the seconds until one is available.
    func take(_ key: Key) -> Int? {
        let now = ContinuousClock.now
        return buckets.withLock { b -> Int? in
            var bucket = b[key] ?? Bucket(tokens: capacity, updated: now)
            let elapsed = now - bucket.updated
            let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(capacity, bucket.tokens + secs * perSecond)
            bucket.updated = now
            if b.count > 100_000 { b.removeAll() }  // bound memory against key churn
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                b[key] = bucket
                return nil
            }
            b[key] = bucket
            return max(1, Int(((1 - bucket.tokens) / perSecond).rounded(.up)))
        }
    }

    /// Gives back a token taken by ``take(_:)`` (the request turned out not to count).
    func refund(_ key: Key) {
        buckets.withLock { b in
            if var bucket = b[key] {
                bucket.tokens = min(capacity, bucket.tokens + 1)
                b[key] = bucket
            }
        }
    }
}
