public import Foundation
public import Postgres

/// Applies `migrations/NNNN_name.sql` in order, once each, under an advisory lock.
///
/// Any number of processes may run it at once: the lock serialises them and the
/// `quarry.schema_migrations` table makes every file apply exactly once.
public struct MigrationRunner: Sendable {
    /// One migration file.
    public struct Migration: Sendable, Hashable {
        public var version: Int
        public var name: String
        public var sql: String
    }

    /// Arbitrary constant key for `pg_advisory_lock` ("quarry" in ASCII).
    static let lockKey: Int64 = 0x7175_6172_7279

    public let migrations: [Migration]

    public init(directory: String) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".sql") }.sorted()
        migrations = try files.map { file in
            guard let version = Int(file.prefix { $0.isNumber }) else {
                throw PostgresError(code: .query, message: "migration file \(file) does not start with a number")
            }
            let sql = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            return Migration(version: version, name: String(file.dropLast(4)), sql: sql)
        }
    }

    /// Finds the migrations folder: `QUARRY_MIGRATIONS_DIR`, else `migrations/` in the working
    /// directory or beside/above the running executable.
    public static func locateDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let dir = environment["QUARRY_MIGRATIONS_DIR"] { return dir }
        var candidates = [FileManager.default.currentDirectoryPath]
        var exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(exe.path)
            exe = exe.deletingLastPathComponent()
        }
        for c in candidates where FileManager.default.fileExists(atPath: c + "/migrations/0001_queue.sql") {
            return c + "/migrations"
        }
        return nil
    }

    /// Applies pending migrations; returns the versions applied by this call.
    @discardableResult
    public func apply(on connection: PostgresConnection) throws -> [Int] {
        try connection.execute("SET client_min_messages = warning")
        try connection.query("SELECT pg_advisory_lock($1)", [Self.lockKey])
        defer { _ = try? connection.query("SELECT pg_advisory_unlock($1)", [Self.lockKey]) }
        try connection.execute(
            """
            CREATE SCHEMA IF NOT EXISTS quarry;
            CREATE TABLE IF NOT EXISTS quarry.schema_migrations (
                version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
            """)
        let done = Set(try connection.query("SELECT version FROM quarry.schema_migrations").compactMap { $0.int("version") })
        var applied: [Int] = []
        for m in migrations where !done.contains(m.version) {
            try connection.transaction { c in
                try c.execute(m.sql)
                try c.query("INSERT INTO quarry.schema_migrations (version, name) VALUES ($1, $2)", [m.version, m.name])
            }
            applied.append(m.version)
        }
        return applied
    }

    /// Versions not yet applied (for readiness checks).
    public func pending(on connection: PostgresConnection) throws -> [Int] {
        let exists = try connection.query("SELECT to_regclass('quarry.schema_migrations') IS NOT NULL AS e").first?.bool("e") ?? false
        guard exists else { return migrations.map(\.version) }
        let done = Set(try connection.query("SELECT version FROM quarry.schema_migrations").compactMap { $0.int("version") })
        return migrations.map(\.version).filter { !done.contains($0) }
    }
}
