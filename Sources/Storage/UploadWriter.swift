import Crypto
public import Foundation

/// Buffers written bytes into fixed-size chunks, hashing and counting as it goes.
///
/// One writer serves one upload from one task; it is an actor so it can be shared safely anyway.
public actor UploadWriter {
    public nonisolated let uploadID: UUID
    public nonisolated let maxBytes: Int64
    private let store: any FileStore
    private var buffer: [UInt8] = []
    private var seq = 0
    private var size: Int64 = 0
    private var hasher = SHA256()
    /// The first bytes of the file, kept for format sniffing.
    public private(set) var head: [UInt8] = []
    private var done = false

    static let headSize = 4096

    init(store: any FileStore, uploadID: UUID, maxBytes: Int64) {
        self.store = store
        self.uploadID = uploadID
        self.maxBytes = maxBytes
        buffer.reserveCapacity(1 << 20)
    }

    /// Bytes written so far.
    public var bytesWritten: Int64 { size }

    /// Appends bytes; flushes a stored chunk every 1 MiB.
    public func write<C: Collection & Sendable>(_ bytes: C) async throws where C.Element == UInt8 {
        guard !done else { throw FileStoreError(.finished, "upload already finished") }
        size += Int64(bytes.count)
        if size > maxBytes { throw FileStoreError(.tooLarge, "upload exceeds \(maxBytes) bytes") }
        if head.count < Self.headSize { head.append(contentsOf: bytes.prefix(Self.headSize - head.count)) }
        var rest = bytes[...]
        let chunkSize = 1 << 20
        while !rest.isEmpty {
            let take = min(chunkSize - buffer.count, rest.count)
            let end = rest.index(rest.startIndex, offsetBy: take)
            buffer.append(contentsOf: rest[rest.startIndex..<end])
            rest = rest[end...]
            if buffer.count == chunkSize { try await flush() }
        }
    }

    private func flush() async throws {
        guard !buffer.isEmpty else { return }
        hasher.update(data: buffer)
        try await store.append(uploadID: uploadID, seq: seq, chunk: buffer)
        seq += 1
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes the last chunk and marks the upload complete.
    public func finish(format: String?) async throws -> (sizeBytes: Int64, sha256: String) {
        try await flush()
        done = true
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        try await store.finish(uploadID: uploadID, sizeBytes: size, sha256: digest, format: format)
        return (size, digest)
    }

    /// Deletes the partial upload.
    public func abort() async {
        done = true
        buffer = []
        try? await store.delete(uploadID: uploadID)
    }
}
