import Foundation
public import Logging
public import Postgres

/// Deletes expired extraction results (with their rows and sections) and expired uploads (their
/// chunks cascade), in bounded batches so no transaction is long.
public struct ResultCacheCleanup: Sendable {
    let pool: PostgresPool
    let batchSize: Int
    let logger: Logger

    public init(pool: PostgresPool, batchSize: Int = 1000, logger: Logger) {
        self.pool = pool
        self.batchSize = max(1, batchSize)
        self.logger = logger
    }

    public struct Outcome: Sendable, Hashable {
        public var results = 0
        public var uploads = 0
    }

    /// One pass. Safe to run concurrently (SKIP LOCKED; deletes are idempotent).
    public func run() async throws -> Outcome {
        var outcome = Outcome()
        while !Task.isCancelled {
            let n =
                try await pool.query(
                    "SELECT quarry.cleanup_expired_extraction_results($1) AS n", [batchSize]
                ).first?.int("n") ?? 0
            outcome.results += n
            if n < batchSize { break }
        }
        // Uploads carry up to 1 MiB per chunk row, so they go in smaller batches.
        let uploadBatch = max(1, batchSize / 10)
        while !Task.isCancelled {
            let n = try await pool.query(
                """
                DELETE FROM quarry.uploads u WHERE u.id IN (
                    SELECT id FROM quarry.uploads WHERE expires_at < now()
                    ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
                """, [uploadBatch]
            ).affectedRows
            outcome.uploads += n
            if n < uploadBatch { break }
        }
        if outcome.results + outcome.uploads > 0 {
            logger.info("cache:cleaned", metadata: ["results": "\(outcome.results)", "uploads": "\(outcome.uploads)"])
        }
        return outcome
    }
}
