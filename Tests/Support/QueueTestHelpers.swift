public import Foundation
public import Postgres
public import Queue

extension JobStore {
    /// Claims batches of `batch` jobs until a claim comes back empty or `upTo` jobs are claimed; returns every job
    /// claimed, in claim order.
    public func claimUntilEmpty(
        workerID: String, kinds: [String], batch: Int, upTo limit: Int = .max, fair: Bool = true
    ) async throws -> [ClaimedJob] {
        var claimed: [ClaimedJob] = []
        while claimed.count < limit {
            let got = try await claim(workerID: workerID, kinds: kinds, limit: min(batch, limit - claimed.count), fair: fair)
            if got.isEmpty { break }
            claimed += got
        }
        return claimed
    }
}

/// A session holding an old snapshot: a repeatable-read transaction that has read something, so from now on
/// PostgreSQL can neither vacuum nor mark dead the row versions (and index entries) that later transactions leave
/// behind - a long report or an idle-in-transaction client in production. ``release()`` rolls it back.
public final class OldSnapshotHolder {
    let connection: PostgresConnection

    public init(url: String = TestDatabase.url) throws {
        connection = try PostgresConnection(conninfo: url, applicationName: "old-snapshot-holder")
        try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        try connection.query("SELECT count(*) FROM quarry.workers")
    }

    /// Ends the transaction and closes the session.
    public func release() {
        _ = try? connection.execute("ROLLBACK")
        connection.close()
    }
}
