import CLibPQ
public import Foundation
import Synchronization

/// One libpq connection.
///
/// libpq calls block, so a connection is only ever used from one thread at a time: the pool runs
/// every call on the connection's own serial dispatch queue, off Swift's cooperative pool.
/// That ownership discipline is why this class is `@unchecked Sendable`.
public final class PostgresConnection: @unchecked Sendable {
    private var handle: OpaquePointer?
    private var prepared: [String: String] = [:]
    /// libpq's cancel handle: the one piece of a connection that other threads may use (see `cancelRunningStatement`).
    private let canceller = Mutex<CancelHandle?>(nil)
    /// Process-unique id, for logs.
    public let id: Int

    private static let counter = AtomicCounter()

    /// Opens a connection from a URI (`postgres://…`) or a conninfo string (`host=… dbname=…`).
    public init(conninfo: String, applicationName: String = "quarry") throws {
        id = Self.counter.next()
        var info = conninfo
        if !info.contains("application_name") {
            if info.hasPrefix("postgres://") || info.hasPrefix("postgresql://") {
                info += (info.contains("?") ? "&" : "?") + "application_name=\(applicationName)"
            } else {
                info += " application_name=\(applicationName)"
            }
        }
        guard let conn = PQconnectdb(info) else {
            throw PostgresError(code: .connection, message: "out of memory allocating connection")
        }
        if PQstatus(conn) != CONNECTION_OK {
            let message = Self.trimmed(PQerrorMessage(conn))
            PQfinish(conn)
            throw PostgresError(code: .connection, message: message)
        }
        handle = conn
        canceller.withLock { $0 = PQgetCancel(conn).map(CancelHandle.init) }
    }

    deinit { close() }

    /// Closes the connection; later calls fail with a connection error.
    public func close() {
        canceller.withLock { c in
            if let c { PQfreeCancel(c.pointer) }
            c = nil
        }
        if let handle { PQfinish(handle) }
        handle = nil
    }

    /// Asks the server to cancel whatever statement this connection is running (the statement then fails
    /// with SQLSTATE 57014). Safe to call from any thread, while another thread waits in a query; a no-op
    /// when nothing runs or the connection is closed.
    public func cancelRunningStatement() {
        canceller.withLock { c in
            guard let c else { return }
            var buffer = [CChar](repeating: 0, count: 256)
            _ = PQcancel(c.pointer, &buffer, Int32(buffer.count))
        }
    }

    /// Whether the connection is usable.
    public var isHealthy: Bool {
        guard let handle else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// The server process id of this session (for `pg_terminate_backend` in tests and logs).
    public var backendPID: Int32 { handle.map { PQbackendPID($0) } ?? 0 }

    /// The socket descriptor, for waiting on notifications.
    var socket: Int32 { handle.map { PQsocket($0) } ?? -1 }

    // MARK: Queries

    /// Runs one parameterized statement and returns its rows.
    ///
    /// - Parameters:
    ///   - sql: The statement with `$1…$n` placeholders.
    ///   - parameters: Values in text format; `nil` is SQL NULL.
    ///   - prepare: Prepare the statement once per connection and reuse it (hot paths).
    @discardableResult
    public func query(_ sql: String, _ parameters: [(any PostgresEncodable)?] = [], prepare: Bool = false) throws -> PostgresRows {
        guard let handle else { throw PostgresError(code: .connection, message: "connection is closed", sql: sql) }
        let result: OpaquePointer? = try withParameters(parameters) { count, values, lengths, formats in
            if prepare {
                let name = try preparedName(for: sql, handle: handle, parameterCount: Int(count))
                return PQexecPrepared(handle, name, count, values, lengths, formats, 0)
            }
            return PQexecParams(handle, sql, count, nil, values, lengths, formats, 0)
        }
        return try consume(result, sql: sql)
    }

    /// Runs a query and returns the first column of the first row as raw bytes (binary result
    /// format), or nil when there is no row or it is NULL. For streaming `bytea` without hex decoding.
    public func queryBytes(_ sql: String, _ parameters: [(any PostgresEncodable)?] = []) throws -> [UInt8]? {
        guard let handle else { throw PostgresError(code: .connection, message: "connection is closed", sql: sql) }
        let result: OpaquePointer? = withParameters(parameters) { count, values, lengths, formats in
            PQexecParams(handle, sql, count, nil, values, lengths, formats, 1)
        }
        guard let result else { throw PostgresError(code: .connection, message: Self.trimmed(PQerrorMessage(handle)), sql: sql) }
        if PQresultStatus(result) != PGRES_TUPLES_OK {
            _ = try consume(result, sql: sql)
            return nil
        }
        defer { PQclear(result) }
        guard PQntuples(result) > 0, PQgetisnull(result, 0, 0) == 0 else { return nil }
        let n = Int(PQgetlength(result, 0, 0))
        guard let p = PQgetvalue(result, 0, 0) else { return nil }
        return p.withMemoryRebound(to: UInt8.self, capacity: n) { Array(UnsafeBufferPointer(start: $0, count: n)) }
    }

    /// Runs one or more statements without parameters (migrations, `LISTEN`, `BEGIN`…).
    public func execute(_ sql: String) throws {
        guard let handle else { throw PostgresError(code: .connection, message: "connection is closed", sql: sql) }
        var result = PQexec(handle, sql)
        while let r = result {
            _ = try consume(r, sql: sql)
            result = PQgetResult(handle)
        }
    }

    /// Runs `body` inside a transaction: committed when it returns, rolled back when it throws.
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body(self)
            try execute("COMMIT")
            return value
        } catch {
            if isHealthy { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Streams data into `COPY … FROM STDIN` (text, CSV or binary format, as the statement says).
    ///
    /// - Parameters:
    ///   - sql: A `COPY table (cols) FROM STDIN …` statement.
    ///   - body: Called with a writer; each call sends one chunk of bytes (copied before it returns).
    /// - Returns: Rows copied.
    @discardableResult
    public func copyIn(_ sql: String, _ body: (_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> Int {
        guard let handle else { throw PostgresError(code: .connection, message: "connection is closed", sql: sql) }
        guard let start = PQexec(handle, sql) else {
            throw PostgresError(code: .copy, message: Self.trimmed(PQerrorMessage(handle)), sql: sql)
        }
        let status = PQresultStatus(start)
        if status != PGRES_COPY_IN {
            _ = try consume(start, sql: sql)
            throw PostgresError(code: .copy, message: "statement did not start COPY FROM STDIN", sql: sql)
        }
        PQclear(start)
        var failure: (any Error)?
        do {
            try body { bytes in
                guard let base = bytes.baseAddress, bytes.count > 0 else { return }
                let rc = PQputCopyData(handle, base.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
                if rc != 1 { throw PostgresError(code: .copy, message: Self.trimmed(PQerrorMessage(handle)), sql: sql) }
            }
        } catch {
            failure = error
        }
        PQputCopyEnd(handle, failure == nil ? nil : "aborted by client")
        var copied = 0
        var serverError: (any Error)?
        while let r = PQgetResult(handle) {
            do { copied = try consume(r, sql: sql).affectedRows } catch { serverError = error }
        }
        if let failure { throw failure }
        if let serverError { throw serverError }
        return copied
    }

    // MARK: Notifications

    /// Waits up to `timeout` for notifications on the channels this connection `LISTEN`s to.
    ///
    /// Blocks in `poll(2)` on the socket; no busy polling. Returns an empty array on timeout.
    public func waitForNotifications(timeout: Duration) throws -> [PostgresNotification] {
        guard let handle else { throw PostgresError(code: .connection, message: "connection is closed") }
        var out = drainNotifications(handle)
        if !out.isEmpty { return out }
        var pfd = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
        let ms = Int32(clamping: timeout.milliseconds)
        let rc = poll(&pfd, 1, ms)
        if rc < 0 && errno != EINTR { throw PostgresError(code: .connection, message: "poll failed: \(errno)") }
        if rc > 0 {
            if PQconsumeInput(handle) == 0 {
                throw PostgresError(code: .connection, message: Self.trimmed(PQerrorMessage(handle)))
            }
            out = drainNotifications(handle)
        }
        if PQstatus(handle) != CONNECTION_OK {
            throw PostgresError(code: .connection, message: "connection lost while listening")
        }
        return out
    }

    private func drainNotifications(_ handle: OpaquePointer) -> [PostgresNotification] {
        var out: [PostgresNotification] = []
        while let n = PQnotifies(handle) {
            let channel = String(cString: n.pointee.relname)
            let payload = String(cString: n.pointee.extra)
            out.append(PostgresNotification(channel: channel, payload: payload, pid: n.pointee.be_pid))
            PQfreemem(n)
        }
        return out
    }

    // MARK: Internals

    private func preparedName(for sql: String, handle: OpaquePointer, parameterCount: Int) throws -> String {
        if let name = prepared[sql] { return name }
        let name = "q\(prepared.count + 1)"
        let r = PQprepare(handle, name, sql, Int32(parameterCount), nil)
        _ = try consume(r, sql: sql)
        prepared[sql] = name
        return name
    }

    private func consume(_ result: OpaquePointer?, sql: String) throws -> PostgresRows {
        guard let result else {
            let message = handle.map { Self.trimmed(PQerrorMessage($0)) } ?? "no connection"
            throw PostgresError(code: .connection, message: message, sql: sql)
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PostgresRows(columns: [], values: [], affectedRows: Int(String(cString: PQcmdTuples(result))) ?? 0)
        case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
            let nrows = Int(PQntuples(result))
            let ncols = Int(PQnfields(result))
            var columns: [String] = []
            columns.reserveCapacity(ncols)
            for c in 0..<ncols { columns.append(String(cString: PQfname(result, Int32(c)))) }
            var values: [[String?]] = []
            values.reserveCapacity(nrows)
            for r in 0..<nrows {
                var row: [String?] = []
                row.reserveCapacity(ncols)
                for c in 0..<ncols {
                    if PQgetisnull(result, Int32(r), Int32(c)) == 1 {
                        row.append(nil)
                    } else {
                        row.append(String(cString: PQgetvalue(result, Int32(r), Int32(c))))
                    }
                }
                values.append(row)
            }
            return PostgresRows(columns: columns, values: values, affectedRows: nrows)
        default:
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let primary = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
            let message = primary ?? Self.trimmed(PQresultErrorMessage(result))
            let lost = handle.map { PQstatus($0) != CONNECTION_OK } ?? true
            throw PostgresError(code: lost ? .connection : .query, sqlState: state, message: message, sql: sql)
        }
    }

    static func trimmed(_ cString: UnsafePointer<CChar>?) -> String {
        guard let cString else { return "unknown error" }
        return String(cString: cString).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A `NOTIFY` received on a listening connection.
public struct PostgresNotification: Sendable, Hashable {
    public var channel: String
    public var payload: String
    public var pid: Int32
}

/// Calls `body` with libpq's parameter arrays: values (NULL for nil), and — when any parameter is binary —
/// lengths and formats (nil otherwise: every value is a NUL-terminated text). Valid for the call only.
private func withParameters<R>(
    _ parameters: [(any PostgresEncodable)?],
    _ body: (Int32, [UnsafePointer<CChar>?], [Int32]?, [Int32]?) throws -> R
) rethrows -> R {
    let binaries = parameters.map { $0?.postgresBinary }
    guard binaries.contains(where: { $0 != nil }) else {
        return try withCStrings(parameters.map { $0?.postgresText }) { try body(Int32(parameters.count), $0, nil, nil) }
    }
    var lengths = [Int32](repeating: 0, count: parameters.count)
    var formats = [Int32](repeating: 0, count: parameters.count)
    var pointers: [UnsafeMutablePointer<CChar>?] = []
    pointers.reserveCapacity(parameters.count)
    defer { for p in pointers { free(p) } }
    for (i, parameter) in parameters.enumerated() {
        if let bytes = binaries[i] {
            let p = malloc(max(bytes.count, 1))?.assumingMemoryBound(to: CChar.self)
            bytes.withUnsafeBytes { raw in
                if let base = raw.baseAddress, let p { memcpy(p, base, bytes.count) }
            }
            pointers.append(p)
            lengths[i] = Int32(bytes.count)
            formats[i] = 1
        } else {
            pointers.append(parameter.flatMap { strdup($0.postgresText) })
        }
    }
    return try body(Int32(parameters.count), pointers.map { UnsafePointer($0) }, lengths, formats)
}

/// Calls `body` with a C array of C strings (NULL entries for nil), valid for the call only.
private func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) throws -> R) rethrows -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { $0.flatMap { strdup($0) } }
    defer { for p in pointers { free(p) } }
    return try pointers.withUnsafeMutableBufferPointer { buf in
        try body(buf.map { UnsafePointer($0) })
    }
}

/// A tiny lock-protected counter for ids.
final class AtomicCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int {
        lock.lock(); defer { lock.unlock() }
        value += 1
        return value
    }
}

/// `PGcancel *`, owned by one connection and only touched under its lock.
private struct CancelHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}
