public import Postgres

extension TestDatabase {
    /// Index entries the `quarry` index `index` gives out (`pg_stat_user_indexes.idx_tup_read`) while `work` runs on
    /// a connection of its own. The connection is closed before the figure is read: a backend flushes its
    /// statistics when it exits. Counts every session's reads, so run it from a serialized suite. `databaseURL`: another
    /// database than the test database (an ``IsolatedDatabase``).
    public static func indexEntriesRead(
        _ index: String, url databaseURL: String? = nil, during work: (PostgresConnection) throws -> Void
    ) async throws -> Int {
        let databaseURL = databaseURL ?? url
        let reader = pool(size: 1, name: "index-reads", url: databaseURL)
        defer { reader.close() }
        func read() async throws -> Int {
            try await reader.query("SELECT pg_stat_clear_snapshot()")
            return try await reader.query(
                "SELECT idx_tup_read AS n FROM pg_stat_user_indexes WHERE schemaname = 'quarry' AND indexrelname = $1", [index]
            ).first?.int("n") ?? 0
        }
        let before = try await read()
        let c = try PostgresConnection(conninfo: databaseURL, applicationName: "index-reads-work")
        try work(c)
        c.close()
        var after = before
        for _ in 0..<100 where after == before {
            try await Task.sleep(for: .milliseconds(50))
            after = try await read()
        }
        return after - before
    }
}
