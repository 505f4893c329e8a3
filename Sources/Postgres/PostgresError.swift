/// An error from the PostgreSQL layer, carrying the server's SQLSTATE when there is one.
///
/// `description` never includes query parameters; `debugDescription` adds the SQL text.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong, in broad classes.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String { case connection, query, protocolViolation, copy, poolClosed, poolTimeout }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public static let connection = Code(.connection)
        public static let query = Code(.query)
        public static let protocolViolation = Code(.protocolViolation)
        public static let copy = Code(.copy)
        public static let poolClosed = Code(.poolClosed)
        public static let poolTimeout = Code(.poolTimeout)
        public var description: String { base.rawValue }
    }

    public var code: Code
    /// Five-character SQLSTATE from the server, when the server sent one.
    public var sqlState: String?
    /// The server's (or libpq's) primary message.
    public var message: String
    /// The SQL that failed (for `debugDescription` only).
    public var sql: String?

    public init(code: Code, sqlState: String? = nil, message: String, sql: String? = nil) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
        self.sql = sql
    }

    /// Whether trying again (possibly on a fresh connection) may succeed.
    ///
    /// Connection failures, serialization failures, deadlocks, admin shutdowns and
    /// resource exhaustion are transient; syntax and constraint errors are not.
    public var isTransient: Bool {
        if code == .connection || code == .poolTimeout { return true }
        guard let state = sqlState else { return code == .protocolViolation }
        if state.hasPrefix("08") { return true }  // connection exception
        if state.hasPrefix("53") { return true }  // insufficient resources
        if state.hasPrefix("57P") { return true }  // admin/crash shutdown, cannot connect now
        return ["40001", "40P01", "55P03", "57014"].contains(state)
    }

    /// Whether the connection that produced this error must be thrown away.
    public var isConnectionLost: Bool {
        if code == .connection { return true }
        guard let state = sqlState else { return false }
        return state.hasPrefix("08") || state.hasPrefix("57P")
    }

    public var description: String {
        if let sqlState { return "PostgreSQL \(code) error \(sqlState): \(message)" }
        return "PostgreSQL \(code) error: \(message)"
    }

    public var debugDescription: String {
        description + (sql.map { " [sql: \($0)]" } ?? "")
    }
}
