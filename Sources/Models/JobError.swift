/// A job failure as stored in `jobs.error`: a stable code, a human message and whether a retry may help.
///
/// Codes follow the seed's vocabulary (`FILE_NOT_FOUND`, `VALIDATION_ERROR`, …). Handlers throw a
/// `JobError`; any other error thrown by a handler is reported as `EXTRACTION_ERROR` (retryable).
public struct JobError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An extensible error code.
    public struct Code: Sendable, Hashable, RawRepresentable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        // Non-retryable (seed 000)
        public static let fileNotFound = Code("FILE_NOT_FOUND")
        public static let invalidConfig = Code("INVALID_CONFIG")
        public static let validationError = Code("VALIDATION_ERROR")
        public static let cancelled = Code("CANCELLED")
        // Retryable (seed 000)
        public static let networkError = Code("NETWORK_ERROR")
        public static let databaseError = Code("DATABASE_ERROR")
        public static let timeoutError = Code("TIMEOUT_ERROR")
        public static let extractionError = Code("EXTRACTION_ERROR")
        // Fleet
        public static let stalled = Code("STALLED")
        public static let unknownKind = Code("UNKNOWN_KIND")
        /// The worker no longer holds the job's lease (the janitor requeued it, or it was cancelled): whatever
        /// the attempt wrote was rolled back, and nothing is reported for it.
        public static let leaseLost = Code("LEASE_LOST")
        // Bad input (non-retryable)
        public static let unsupportedFormat = Code("UNSUPPORTED_FORMAT")
        public static let formatMismatch = Code("FORMAT_MISMATCH")
        public static let emptyFile = Code("EMPTY_FILE")
        public static let fileTooLarge = Code("FILE_TOO_LARGE")
        public static let zipBomb = Code("ZIP_BOMB")
        public static let xmlForbidden = Code("XML_DTD_FORBIDDEN")
        public static let malformedFile = Code("MALFORMED_FILE")
        public static let encryptedFile = Code("ENCRYPTED_FILE")
        public static let rowTooLong = Code("ROW_TOO_LONG")
        public static let invalidJSON = Code("INVALID_JSON")
        public static let rowLimitExceeded = Code("ROW_LIMIT_EXCEEDED")
        public static let timeLimitExceeded = Code("TIME_LIMIT_EXCEEDED")
        /// The upload a job was reading while it arrived was given up by the api (client gone, too large,
        /// wrong content), or ended with a size or sha256 other than the bytes read.
        public static let uploadFailed = Code("UPLOAD_FAILED")
        /// The upload a job was reading while it arrived stopped growing for `EXTRACTION_UPLOAD_STALL_TIMEOUT_MS`
        /// (its api process died mid-body).
        public static let uploadAbandoned = Code("UPLOAD_ABANDONED")

        /// Codes whose failure is never retried, whatever the thrower said.
        public static let nonRetryable: Set<Code> = [
            .fileNotFound, .invalidConfig, .validationError, .cancelled, .unknownKind, .unsupportedFormat,
            .formatMismatch, .emptyFile, .fileTooLarge, .zipBomb, .xmlForbidden, .malformedFile, .encryptedFile,
            .rowTooLong, .invalidJSON, .rowLimitExceeded, .timeLimitExceeded, .uploadFailed, .uploadAbandoned,
        ]
    }

    public var code: Code
    public var message: String
    public var retryable: Bool
    /// Extra structured context (row, column, reason…), stored as JSON object members.
    public var details: [String: String]

    /// Creates an error; `retryable` defaults to whether the code is a retryable one.
    public init(_ code: Code, _ message: String, retryable: Bool? = nil, details: [String: String] = [:]) {
        self.code = code
        self.message = message
        self.retryable = retryable ?? !Code.nonRetryable.contains(code)
        self.details = details
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
