import ArgumentParser
import Foundation
import Logging
import Postgres
import QuarryLog
import Queue

/// `quarry`: the operator CLI.
@main
struct Quarry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quarry",
        abstract: "Operate a Quarry fleet: migrations, jobs, the dead-letter queue, benchmarks; parse files as Quarry reads them.",
        subcommands: [
            Migrate.self, Enqueue.self, Status.self, DLQ.self, Bench.self, Token.self, Submit.self, Jobs.self, JobCommand.self,
            Cancel.self, Parse.self,
            Review.self, Commit.self,
        ])
}

/// Options every database command takes.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (default: $DATABASE_URL).")
    var databaseURL: String?

    /// The URL from `--database-url` or `DATABASE_URL`.
    func resolvedURL() throws -> String {
        guard let url = databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty else {
            throw ValidationError("DATABASE_URL is not set (or pass --database-url)")
        }
        return url
    }

    func pool(size: Int = 2) throws -> PostgresPool {
        let url = try resolvedURL()
        QuarryLogging.bootstrap(service: "quarry")
        return PostgresPool(
            configuration: .init(conninfo: url, maxConnections: size, applicationName: "quarry-cli"),
            logger: Logger(label: "quarry.cli"))
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending migrations (safe to run concurrently).")
    @OptionGroup var db: DatabaseOptions
    @Option(help: "Migrations folder (default: $QUARRY_MIGRATIONS_DIR or ./migrations).") var dir: String?

    func run() async throws {
        guard let dir = dir ?? MigrationRunner.locateDirectory() else {
            throw ValidationError("migrations folder not found; set QUARRY_MIGRATIONS_DIR")
        }
        let runner = try MigrationRunner(directory: dir)
        let pool = try db.pool(size: 1)
        let applied = try await pool.withConnection { try runner.apply(on: $0) }
        print(applied.isEmpty ? "migrations: up to date" : "migrations: applied \(applied.map(String.init).joined(separator: ", "))")
    }
}

struct Enqueue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Enqueue jobs of one kind.")
    @OptionGroup var db: DatabaseOptions
    @Option(help: "Job kind (noop, sleep, fail, extract).") var kind: String
    @Option(help: "How many.") var count = 1
    @Option(help: "Priority (higher runs first).") var priority = 0
    @Option(help: "Payload JSON.") var payload = "{}"
    @Option(name: .customLong("max-attempts"), help: "Attempts before the DLQ.") var maxAttempts: Int?

    func run() async throws {
        guard (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) is [String: Any] else {
            throw ValidationError("--payload must be a JSON object")
        }
        let store = JobStore(pool: try db.pool())
        var total = 0
        while total < count {
            let n = min(10_000, count - total)
            let ids = try await store.enqueueBulk(
                kind: kind, payloads: Array(repeating: payload, count: n), priority: priority, maxAttempts: maxAttempts)
            total += ids.count
            if count == 1, let id = ids.first { print(id.uuidString.lowercased()) }
        }
        if count > 1 { print("enqueued \(total) \(kind) jobs") }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Jobs by status, queue depth and live workers.")
    @OptionGroup var db: DatabaseOptions
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        let stats = try await QueueStats.read(pool: try db.pool())
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            print(String(decoding: try encoder.encode(stats), as: UTF8.self))
            return
        }
        print("jobs:")
        for (k, v) in stats.jobs.sorted(by: { $0.key < $1.key }) { print("  \(k.padding(toLength: 14, withPad: " ", startingAt: 0)) \(v)") }
        print("runnable now:   \(stats.runnable)")
        print("DLQ pending:    \(stats.deadLetterPending)")
        print("live workers:   \(stats.workers.count)")
        for w in stats.workers {
            print("  \(w.id)  \(w.active)/\(w.concurrency) busy  seen \(String(format: "%.1f", w.lastSeenSecondsAgo))s ago")
        }
    }
}

struct DLQ: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "Inspect and reprocess the dead-letter queue.", subcommands: [List.self, Reprocess.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Entries not yet reprocessed, newest first.")
        @OptionGroup var db: DatabaseOptions
        @Option var limit = 50
        @Flag(help: "Include reprocessed entries.") var all = false

        func run() async throws {
            let rows = try await db.pool().query(
                """
                SELECT dlq_id, job_id, kind, retry_count, error_code, error_message, created_at, reprocessed_job_id
                FROM quarry.dead_letter_jobs WHERE ($1 OR reprocessed_at IS NULL) ORDER BY created_at DESC LIMIT $2
                """, [all, limit])
            for r in rows {
                print(
                    [r["dlq_id"], r["job_id"], r["kind"], r["retry_count"], r["error_code"], r["error_message"], r["reprocessed_job_id"]]
                        .map { $0 ?? "-" }.joined(separator: "\t"))
            }
            if rows.isEmpty { print("DLQ is empty") }
        }
    }

    struct Reprocess: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-enqueue a DLQ entry as a new job.")
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "DLQ entry id.") var id: String
        @Option(help: "Why.") var notes: String?
        @Option(help: "Who (default $USER).") var by: String?

        func run() async throws {
            guard let dlqID = UUID(uuidString: id) else { throw ValidationError("not a UUID: \(id)") }
            let store = JobStore(pool: try db.pool())
            let who = by ?? ProcessInfo.processInfo.environment["USER"] ?? "operator"
            let job = try await store.reprocessDLQ(dlqID: dlqID, by: who, notes: notes)
            print(job.uuidString.lowercased())
        }
    }
}
