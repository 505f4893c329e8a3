import Foundation
import Synchronization

/// Open event streams per token (`API_SSE_MAX_STREAMS_PER_TOKEN`, per replica). A slot is held by a ``Lease``
/// and given back when the lease is released, which happens when the stream's response body is done with —
/// however it ends (job final, client gone, write error, shutdown).
final class StreamSlots: Sendable {
    let perToken: Int
    private let open = Mutex<[UUID: Int]>([:])

    init(perToken: Int) { self.perToken = perToken }

    final class Lease: Sendable {
        private let slots: StreamSlots
        private let token: UUID
        fileprivate init(_ slots: StreamSlots, _ token: UUID) {
            self.slots = slots
            self.token = token
        }
        deinit { slots.release(token) }
    }

    /// A slot for `token`, or nil when it already holds `perToken` streams.
    func acquire(_ token: UUID) -> Lease? {
        let ok = open.withLock { o -> Bool in
            guard o[token, default: 0] < perToken else { return false }
            o[token, default: 0] += 1
            return true
        }
        return ok ? Lease(self, token) : nil
    }

    func count(_ token: UUID) -> Int { open.withLock { $0[token] ?? 0 } }

    private func release(_ token: UUID) {
        open.withLock { o in
            let n = (o[token] ?? 1) - 1
            o[token] = n > 0 ? n : nil
        }
    }
}
