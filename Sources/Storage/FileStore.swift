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
    func createUpload(org: UUID, fileName: String, contentType: String?) async throws -> UUID
    /// Appends one chunk of bytes (at most ``chunkSize`` is recommended) at the next sequence number.
    func append(uploadID: UUID, seq: Int, chunk: [UInt8]) async throws
    /// Marks an upload complete with its size, digest and format.
    func finish(uploadID: UUID, sizeBytes: Int64, sha256: String, format: String?) async throws
    /// Deletes an upload and its chunks.
    func delete(uploadID: UUID) async throws
    /// Reads the upload's metadata (nil when absent or owned by another org).
    func info(uploadID: UUID, org: UUID?) async throws -> UploadInfo?
    /// Streams the upload's bytes, one stored chunk at a time.
    func readChunks(uploadID: UUID) -> AsyncThrowingStream<[UInt8], any Error>
}

extension FileStore {
    /// The size of the rows chunks are stored in.
    public static var chunkSize: Int { 1 << 20 }

    /// Starts a streaming upload.
    /// - Parameters:
    ///   - maxBytes: The writer throws ``FileStoreError/Code/tooLarge`` past this size (and the caller should `abort()`).
    public func beginUpload(org: UUID, fileName: String, contentType: String?, maxBytes: Int64 = .max) async throws -> UploadWriter {
        let id = try await createUpload(org: org, fileName: fileName, contentType: contentType)
        return UploadWriter(store: self, uploadID: id, maxBytes: maxBytes)
    }

    /// Streams an upload into the file at `path` (created or truncated), one stored chunk at a time, and returns
    /// the bytes written. Used by the worker to spool an upload for parsing.
    ///
    /// - Parameters:
    ///   - maxBytes: Throws ``FileStoreError/Code/tooLarge`` once more bytes than this arrive.
    ///   - isCancelled: Checked between chunks; throws ``FileStoreError/Code/cancelled`` when true.
    ///   - progress: Called with the bytes written so far after each chunk.
    @discardableResult
    public func copy(
        uploadID: UUID, to path: String, maxBytes: Int64 = .max, isCancelled: @Sendable () -> Bool = { false },
        progress: (Int64) -> Void = { _ in }
    ) async throws -> Int64 {
        guard FileManager.default.createFile(atPath: path, contents: nil), let out = FileHandle(forWritingAtPath: path) else {
            throw FileStoreError(.notFound, "cannot create \(path)")
        }
        defer { try? out.close() }
        var written: Int64 = 0
        for try await chunk in readChunks(uploadID: uploadID) {
            if isCancelled() { throw FileStoreError(.cancelled, "stopped while reading upload \(uploadID)") }
            written += Int64(chunk.count)
            if written > maxBytes { throw FileStoreError(.tooLarge, "upload \(uploadID) exceeds \(maxBytes) bytes") }
            try out.write(contentsOf: chunk)
            progress(written)
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
