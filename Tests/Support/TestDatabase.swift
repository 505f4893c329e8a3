public import Foundation
import Logging
public import Postgres
import Queue
import Synchronization

/// The test database: `QUARRY_TEST_DATABASE_URL` (set by scripts/test) or `DATABASE_URL`.
/// Missing in CI is a failure, not a skip.
public enum TestDatabase {
    public static var url: String {
        let env = ProcessInfo.processInfo.environment
        if let u = env["QUARRY_TEST_DATABASE_URL"] ?? env["DATABASE_URL"] { return u }
        fatalError("QUARRY_TEST_DATABASE_URL is not set: run the tests through scripts/test")
    }

    /// A pool on the test database, or on `databaseURL` (an ``IsolatedDatabase``).
    public static func pool(
        size: Int = 4, name: String = "quarry-test", acquireTimeout: Duration = .seconds(20), url databaseURL: String? = nil
    ) -> PostgresPool {
        PostgresPool(
            configuration: .init(conninfo: databaseURL ?? url, maxConnections: size, acquireTimeout: acquireTimeout, applicationName: name),
            logger: Logger(label: "test"))
    }

    /// A kind no other test uses, so tests can share the jobs table.
    public static func uniqueKind(_ prefix: String = "t") -> String { "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())" }

    /// Ensures the schema is migrated (scripts/test migrates first; this keeps single runs working).
    public static func migrated() async throws -> PostgresPool {
        let pool = pool()
        if let dir = MigrationRunner.locateDirectory() {
            let runner = try MigrationRunner(directory: dir)
            _ = try await pool.withConnection { try runner.apply(on: $0) }
        }
        return pool
    }
}

/// Runs the built executables (`worker`, `janitor`, `api`, `quarry`) as real processes.
public final class ChildProcess: @unchecked Sendable {  // each instance is driven by one test
    public let process = Process()
    public let output = Pipe()
    private let lock = NSLock()
    private var captured = Data()

    public static var binDir: String {
        if let d = ProcessInfo.processInfo.environment["QUARRY_BIN_DIR"] { return d }
        // .build/debug next to the test bundle.
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [here, here.deletingLastPathComponent(), URL(fileURLWithPath: FileManager.default.currentDirectoryPath + "/.build/debug")] {
            if FileManager.default.isExecutableFile(atPath: candidate.appendingPathComponent("worker").path) { return candidate.path }
        }
        return FileManager.default.currentDirectoryPath + "/.build/debug"
    }

    /// Child processes still running when the test process exits are killed, so no `api` or
    /// `worker` outlives the run (shared harness processes are never deinitialised).
    private static let live = Mutex<Set<Int32>>([])
    private static let exitHook: Void = {
        atexit {
            for pid in ChildProcess.live.withLock({ $0 }) { kill(pid, SIGKILL) }
        }
    }()

    public init(_ name: String, arguments: [String] = [], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: Self.binDir + "/" + name)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["DATABASE_URL"] = TestDatabase.url
        env["LOG_LEVEL"] = env["LOG_LEVEL"] ?? "info"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = output
        process.standardError = output
        output.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self, !d.isEmpty else { return }
            self.lock.lock(); self.captured.append(d); self.lock.unlock()
        }
        try process.run()
        _ = Self.exitHook
        let pid = process.processIdentifier
        Self.live.withLock { _ = $0.insert(pid) }
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var log: String { lock.lock(); defer { lock.unlock() }; return String(decoding: captured, as: UTF8.self) }

    public func signal(_ s: Int32) { kill(process.processIdentifier, s) }

    /// Waits for exit up to `timeout`; returns the exit status or nil if still running.
    public func waitForExit(timeout: Duration) async -> Int32? {
        let end = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < end { try? await Task.sleep(for: .milliseconds(20)) }
        return process.isRunning ? nil : process.terminationStatus
    }

    deinit {
        let pid = process.processIdentifier
        Self.live.withLock { _ = $0.remove(pid) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        output.fileHandleForReading.readabilityHandler = nil
    }
}

/// Polls `condition` until true or `timeout`.
public func eventually(timeout: Duration = .seconds(20), every: Duration = .milliseconds(50), _ condition: () async throws -> Bool) async throws
    -> Bool
{
    let end = ContinuousClock.now + timeout
    while ContinuousClock.now < end {
        if try await condition() { return true }
        try await Task.sleep(for: every)
    }
    return try await condition()
}
