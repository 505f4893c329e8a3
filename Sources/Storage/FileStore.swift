public import Foundation

/// What a finished upload looks like.
public struct UploadInfo: Sendable, Hashable {
    public var id: UUID
    public var orgID: UUID
    public var fileName: String
    public var contentType: String?
    public var sizeBytes: Int64
    public var sha256: String
    public var format: String?

    public init(id: UUID, orgID: UUID, fileName: String, contentType: String?, sizeBytes: Int64, sha256: String, format: String?) {
        self.id = id
        self.orgID = orgID
        self.fileName = fileName
        self.contentType = contentType
        self.sizeBytes = sizeBytes
        self.sha256 = sha256
        self.format = format
    }
}

/// Where an upload stands, complete or not: what a reader following an upload in progress polls.
public struct UploadState: Sendable, Hashable {
    public var id: UUID
    public var orgID: UUID
    public var fileName: String
    /// Set once the last byte is stored: then `sizeBytes` and `sha256` are final.
    public var complete: Bool
    /// Why the upload was given up (set by the api when the body failed); its chunks are gone.
    public var failure: String?
    public var sizeBytes: Int64
    public var sha256: String
    public var format: String?
    public var contentType: String?
    /// The size the client announced (Content-Length), for progress while the bytes arrive.
    public var expectedBytes: Int64?

    public init(
        id: UUID, orgID: UUID, fileName: String, complete: Bool, failure: String?, sizeBytes: Int64, sha256: String,
        format: String?, contentType: String?, expectedBytes: Int64?
    ) {
        self.id = id
        self.orgID = orgID
        self.fileName = fileName
        self.complete = complete
        self.failure = failure
        self.sizeBytes = sizeBytes
        self.sha256 = sha256
        self.format = format
        self.contentType = contentType
        self.expectedBytes = expectedBytes
    }

    /// The metadata as ``UploadInfo`` (final only when `complete`).
    public var info: UploadInfo {
        UploadInfo(id: id, orgID: orgID, fileName: fileName, contentType: contentType, sizeBytes: sizeBytes, sha256: sha256, format: format)
    }
}

/// Errors the file store reports.
public struct FileStoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String { case notFound, tooLarge, incomplete, finished, cancelled }
        private let base: Base
        private init(_ b: Base) { base = b }
        public static let notFound = Code(.notFound)
        public static let tooLarge = Code(.tooLarge)
        public static let incomplete = Code(.incomplete)
        public static let finished = Code(.finished)
        /// The reader asked to stop (``FileStore/copy(uploadID:to:maxBytes:isCancelled:progress:)``).
        public static let cancelled = Code(.cancelled)
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code): \(message)" }
}

/// Stores uploaded files as a sequence of fixed-size chunks.
///
/// Writes and reads are streams: memory use stays at one chunk whatever the file size.
///
/// ```swift
/// let writer = try await store.beginUpload(org: org, fileName: "prices.csv", contentType: "text/csv")
/// for try await part in body { try await writer.write(part) }
/// let info = try await writer.finish(format: "csv")
/// ```
public protocol FileStore: Sendable {
    /// Creates an empty, incomplete upload and returns its id.
    /// - Parameter expectedBytes: the size the client announced, if any (progress of a job reading it early).
    func createUpload(org: UUID, fileName: String, contentType: String?, expectedBytes: Int64?) async throws -> UUID
    /// Appends one chunk of bytes (at most ``chunkSize`` is recommended) at the next sequence number.
    func append(uploadID: UUID, seq: Int, chunk: [UInt8]) async throws
    /// Marks an upload complete with its size, digest and format.
    func finish(uploadID: UUID, sizeBytes: Int64, sha256: String, format: String?) async throws
    /// Deletes an upload and its chunks.
    func delete(uploadID: UUID) async throws
    /// Gives up an incomplete upload that a job may be reading: its chunks are deleted and the reason kept, so
    /// the job fails with it instead of waiting.
    func fail(uploadID: UUID, reason: String) async throws
    /// The upload's state, complete or not (nil when absent or owned by another org).
    func state(uploadID: UUID, org: UUID?) async throws -> UploadState?
    /// One stored chunk's bytes (nil when it is not stored, yet or at all).
    func chunk(uploadID: UUID, seq: Int) async throws -> [UInt8]?
    /// Reads the upload's metadata (nil when absent or owned by another org).
    func info(uploadID: UUID, org: UUID?) async throws -> UploadInfo?
    /// Streams the upload's bytes, one stored chunk at a time.
    func readChunks(uploadID: UUID) -> AsyncThrowingStream<[UInt8], any Error>
}

extension FileStore {
    /// The size of the rows chunks are stored in.
    public static var chunkSize: Int { 1 << 20 }

    /// Creates an empty, incomplete upload of unannounced size.
    public func createUpload(org: UUID, fileName: String, contentType: String?) async throws -> UUID {
        try await createUpload(org: org, fileName: fileName, contentType: contentType, expectedBytes: nil)
    }

    /// Starts a streaming upload.
    /// - Parameters:
    ///   - maxBytes: The writer throws ``FileStoreError/Code/tooLarge`` past this size (and the caller should `abort()`).
    ///   - expectedBytes: The announced size (Content-Length), if any.
    public func beginUpload(
        org: UUID, fileName: String, contentType: String?, maxBytes: Int64 = .max, expectedBytes: Int64? = nil
    ) async throws -> UploadWriter {
        let id = try await createUpload(org: org, fileName: fileName, contentType: contentType, expectedBytes: expectedBytes)
        return UploadWriter(store: self, uploadID: id, maxBytes: maxBytes)
    }

    /// Streams an upload into the file at `path` (created or truncated), one stored chunk at a time, and returns
    /// the bytes written. Used by the worker to spool an upload for parsing.
    ///
    /// - Parameters:
    ///   - maxBytes: Throws ``FileStoreError/Code/tooLarge`` once more bytes than this arrive.
    ///   - isCancelled: Checked between chunks; throws ``FileStoreError/Code/cancelled`` when true.
    ///   - expected: The upload's recorded size and sha256: the bytes copied must match them, else
    ///     ``FileStoreError/Code/incomplete`` (a missing or altered chunk never reaches a parser).
    ///   - progress: Called with the bytes written so far after each chunk.
    @discardableResult
    public func copy(
        uploadID: UUID, to path: String, maxBytes: Int64 = .max, expected: (sizeBytes: Int64, sha256: String)? = nil,
        isCancelled: @Sendable () -> Bool = { false }, progress: (Int64) -> Void = { _ in }
    ) async throws -> Int64 {
        guard FileManager.default.createFile(atPath: path, contents: nil), let out = FileHandle(forWritingAtPath: path) else {
            throw FileStoreError(.notFound, "cannot create \(path)")
        }
        defer { try? out.close() }
        var written: Int64 = 0
        var digest = UploadDigest()
        for try await chunk in readChunks(uploadID: uploadID) {
            if isCancelled() { throw FileStoreError(.cancelled, "stopped while reading upload \(uploadID)") }
            written += Int64(chunk.count)
            if written > maxBytes { throw FileStoreError(.tooLarge, "upload \(uploadID) exceeds \(maxBytes) bytes") }
            if expected != nil { digest.update(chunk) }
            try out.write(contentsOf: chunk)
            progress(written)
        }
        if let expected {
            guard digest.matches(sizeBytes: expected.sizeBytes, sha256: expected.sha256) else {
                throw FileStoreError(.incomplete, "upload \(uploadID) has \(written) bytes with another sha256 than recorded")
            }
        }
        return written
    }

    /// Streams an upload into a new file in `directory` and returns its path.
    public func copyToTemporaryFile(uploadID: UUID, directory: String = NSTemporaryDirectory()) async throws -> String {
        let path = (directory as NSString).appendingPathComponent("quarry-upload-\(uploadID.uuidString.lowercased())-\(UUID().uuidString.prefix(8))")
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw FileStoreError(.notFound, "cannot create \(path)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        do {
            for try await chunk in readChunks(uploadID: uploadID) { try handle.write(contentsOf: chunk) }
            try handle.close()
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        return path
    }
}
