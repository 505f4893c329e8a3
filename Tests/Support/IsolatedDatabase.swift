import Foundation
public import Postgres

/// A database of its own, for tests that other suites' rows would disturb: janitor processes (the advisory lock,
/// the health numbers and the alert state are per database) and plans that depend on the table statistics.
/// Created empty, migrated with the real `quarry migrate`, dropped by ``drop()``.
public final class IsolatedDatabase: Sendable {
    public let name: String
    public let url: String
    public let pool: PostgresPool

    public init() async throws {
        name = "isolated_test_\(UUID().uuidString.prefix(8).lowercased())"
        let admin = try PostgresConnection(conninfo: TestDatabase.url, applicationName: "janitor-test-admin")
        try admin.execute("CREATE DATABASE \(name)")
        admin.close()
        url = Self.replacingDatabase(in: TestDatabase.url, with: name)
        let migrate = try ChildProcess("quarry", arguments: ["migrate", "--database-url", url])
        let status = await migrate.waitForExit(timeout: .seconds(60))
        guard status == 0 else { throw IsolatedDatabaseError("quarry migrate failed (\(String(describing: status))): \(migrate.log)") }
        pool = TestDatabase.pool(name: "isolated-test", url: url)
    }

    /// Closes the pool and drops the database (terminating sessions left by killed processes).
    public func drop() {
        pool.close()
        guard let admin = try? PostgresConnection(conninfo: TestDatabase.url, applicationName: "janitor-test-admin") else { return }
        _ = try? admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        admin.close()
    }

    /// `postgresql://u@h:p/db?x` → same URL with another database name.
    static func replacingDatabase(in url: String, with database: String) -> String {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            var base = url
            var query = ""
            if let q = url.firstIndex(of: "?") {
                base = String(url[..<q])
                query = String(url[q...])
            }
            let schemeEnd = base.range(of: "://")!.upperBound
            if let slash = base[schemeEnd...].firstIndex(of: "/") {
                base = String(base[..<slash])
            }
            return base + "/" + database + query
        }
        return url + " dbname=\(database)"
    }
}

struct IsolatedDatabaseError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
