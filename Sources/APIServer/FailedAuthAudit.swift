import Foundation
import Logging
import Postgres
import ServiceLifecycle
import Synchronization

/// Failed authentications, counted in memory and written as one `audit_log` row per client address and minute.
///
/// Problem: one audit row per refused request let anyone without a token write to the database at the rate
/// they could send requests (4,000 anonymous requests made 4,000 rows). Mechanism: refusals are counted per
/// address in memory and flushed every `interval` by one upsert into the row for (`auth.failed`, address,
/// current database minute); replicas add to the same row. Cost: up to one interval of counts is lost if the
/// process is killed (a graceful shutdown flushes); at most `maxAddresses` addresses per interval are kept
/// apart, the rest are counted under the address `overflow`.
///
/// A row: `action = 'auth.failed'`, `remote_addr`, `window_start` (the minute), `count` (refusals),
/// `details` (`{"missing": n, "malformed": n, "unknown": n, "revoked": n, "rate_limited": n}`, zero keys
/// omitted), `token_id` / `org_id` (the last revoked token seen in that minute, if any).
final class FailedAuthAudit: Service, Sendable {
    private struct Counts {
        var total = 0
        var reasons: [String: Int] = [:]
        var revokedToken: UUID?
    }

    private let pool: PostgresPool
    private let interval: Duration
    private let maxAddresses: Int
    private let logger: Logger
    private let pending = Mutex<[String: Counts]>([:])

    init(pool: PostgresPool, interval: Duration = .seconds(2), maxAddresses: Int = 10_000, logger: Logger) {
        self.pool = pool
        self.interval = interval
        self.maxAddresses = maxAddresses
        self.logger = logger
    }

    /// Counts one refusal; never touches the database.
    func record(address: String?, reason: String, revokedToken: UUID? = nil) {
        pending.withLock { p in
            var key = address ?? ""
            if p[key] == nil && p.count >= maxAddresses { key = "overflow" }
            p[key, default: Counts()].total += 1
            p[key, default: Counts()].reasons[reason, default: 0] += 1
            if let revokedToken { p[key, default: Counts()].revokedToken = revokedToken }
        }
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                await self.flush()
            }
        }
        await flush()
    }

    private struct Row: Encodable {
        var addr: String
        var n: Int
        var reasons: [String: Int]
        var token_id: String?
    }

    /// Writes what has been counted since the last flush (one statement).
    func flush() async {
        let taken = pending.withLock { p -> [String: Counts] in
            let t = p
            p.removeAll(keepingCapacity: true)
            return t
        }
        guard !taken.isEmpty else { return }
        let rows = taken.map {
            Row(addr: $0.key, n: $0.value.total, reasons: $0.value.reasons, token_id: $0.value.revokedToken?.uuidString.lowercased())
        }
        do {
            let json = String(decoding: try JSONEncoder().encode(rows), as: UTF8.self)
            try await pool.query(Self.upsert, [JSONText(json)])
        } catch {
            logger.warning("failed-authentication audit write failed", metadata: ["addresses": "\(rows.count)", "error": "\(error)"])
        }
    }

    static let upsert = """
        INSERT INTO quarry.audit_log AS a (action, remote_addr, window_start, count, details, token_id, org_id)
        SELECT 'auth.failed', nullif(r.addr, ''), date_trunc('minute', now()), r.n, r.reasons, r.token_id,
               (SELECT t.org_id FROM quarry.api_tokens t WHERE t.id = r.token_id)
        FROM jsonb_to_recordset($1::jsonb) AS r(addr text, n integer, reasons jsonb, token_id uuid)
        ON CONFLICT (action, (coalesce(remote_addr, '')), window_start) WHERE window_start IS NOT NULL
        DO UPDATE SET count = a.count + excluded.count,
            token_id = coalesce(excluded.token_id, a.token_id), org_id = coalesce(excluded.org_id, a.org_id),
            details = (SELECT jsonb_object_agg(k, coalesce((a.details->>k)::bigint, 0) + coalesce((excluded.details->>k)::bigint, 0))
                       FROM (SELECT jsonb_object_keys(a.details) UNION SELECT jsonb_object_keys(excluded.details)) AS keys(k))
        """
}
