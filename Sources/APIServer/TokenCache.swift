import APIAuth
import Foundation
import Synchronization

/// Verified bearer tokens, remembered for a short TTL (`API_TOKEN_CACHE_MS`, default 5000; 0 disables) so that
/// a busy client does not cost a database round trip per request. Keyed by the token's SHA-256, never the token.
///
/// Only successful authentications are cached; unknown, malformed and revoked tokens always go to the database
/// (and are audited). A revocation is therefore honoured within one TTL on every replica; `quarry token revoke`
/// takes effect at once for tokens not seen in the last TTL. `last_used_at` is touched on cache misses only.
final class TokenCache: Sendable {
    private struct Entry { var principal: APIPrincipal; var expires: ContinuousClock.Instant }
    private let ttl: Duration
    private let capacity: Int
    private let entries = Mutex<[[UInt8]: Entry]>([:])

    init(ttl: Duration, capacity: Int = 10_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    var enabled: Bool { ttl > .zero }

    func lookup(_ digest: [UInt8]) -> APIPrincipal? {
        guard enabled else { return nil }
        let now = ContinuousClock.now
        return entries.withLock { e in
            guard let hit = e[digest] else { return nil }
            if hit.expires <= now {
                e[digest] = nil
                return nil
            }
            return hit.principal
        }
    }

    func store(_ digest: [UInt8], _ principal: APIPrincipal) {
        guard enabled else { return }
        let expires = ContinuousClock.now + ttl
        entries.withLock { e in
            if e.count >= capacity {
                let now = ContinuousClock.now
                e = e.filter { $0.value.expires > now }
                if e.count >= capacity { e.removeAll(keepingCapacity: true) }
            }
            e[digest] = Entry(principal: principal, expires: expires)
        }
    }
}
