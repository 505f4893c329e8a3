import APIAuth
import Foundation
import Synchronization

/// Verified bearer tokens, remembered for a short TTL (`API_TOKEN_CACHE_MS`, default 5000; 0 disables) so that
/// a busy client does not cost a database round trip per request. Keyed by the token's SHA-256, never the token.
///
/// Only successful authentications are cached; unknown, malformed and revoked tokens always go to the database
/// (and are audited). A revocation is therefore honoured within one TTL on every replica; `quarry token revoke`
/// takes effect at once for tokens not seen in the last TTL. `last_used_at` is touched on cache misses only.
///
/// Separately, a digest verified in the last `knownFor` (10 minutes) is *known*: its next database check skips
/// the per-address bucket for unauthenticated traffic, so a client sharing an address with a flood keeps
/// working. Knowing a digest needs the token itself, so this cannot be forged; a failed check forgets it.
final class TokenCache: Sendable {
    private struct Entry {
        var principal: APIPrincipal
        var expires: ContinuousClock.Instant
        var knownUntil: ContinuousClock.Instant
    }
    private let ttl: Duration
    private let knownFor: Duration
    private let capacity: Int
    private let entries = Mutex<[[UInt8]: Entry]>([:])

    init(ttl: Duration, knownFor: Duration = .seconds(600), capacity: Int = 10_000) {
        self.ttl = ttl
        self.knownFor = knownFor
        self.capacity = capacity
    }

    var enabled: Bool { ttl > .zero }

    func lookup(_ digest: [UInt8]) -> APIPrincipal? {
        guard enabled else { return nil }
        let now = ContinuousClock.now
        return entries.withLock { e in
            guard let hit = e[digest], hit.expires > now else { return nil }
            return hit.principal
        }
    }

    /// Whether this digest was verified within `knownFor` (and has not failed since).
    func isKnown(_ digest: [UInt8]) -> Bool {
        let now = ContinuousClock.now
        return entries.withLock { $0[digest].map { $0.knownUntil > now } ?? false }
    }

    func forget(_ digest: [UInt8]) {
        _ = entries.withLock { $0.removeValue(forKey: digest) }
    }

    func store(_ digest: [UInt8], _ principal: APIPrincipal) {
        let now = ContinuousClock.now
        let entry = Entry(principal: principal, expires: enabled ? now + ttl : now, knownUntil: now + knownFor)
        entries.withLock { e in
            if e[digest] == nil, e.count >= capacity {
                e = e.filter { $0.value.knownUntil > now }
                if e.count >= capacity { e.removeAll(keepingCapacity: true) }
            }
            e[digest] = entry
        }
    }
}
