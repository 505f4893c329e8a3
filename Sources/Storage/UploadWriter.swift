public import Foundation

/// Buffers written bytes into fixed-size chunks, hashing and counting as it goes, and stores them with the
/// next chunk's bytes arriving while the previous chunk is being written.
///
/// Problem: a chunk written as one round trip per MiB, hashed only when full, leaves the network, the hash and
/// PostgreSQL each waiting for the other. Mechanism: bytes are hashed as they arrive; a full chunk is handed to
/// an insert task and the writer goes back to reading the body while up to ``maxInFlight`` inserts run, each
/// on its own pooled connection and committed on its own (so a job following the upload sees it at once).
/// Cost: at most `maxInFlight + 1` chunks in memory. Chunks may commit out of order; readers ask for chunk
/// `seq` by number and the upload is marked complete only after every insert has finished.
///
/// One writer serves one upload from one task; it is an actor so it can be shared safely anyway.
public actor UploadWriter {
    public nonisolated let uploadID: UUID
    public nonisolated let maxBytes: Int64
    private let store: any FileStore
    private let chunkSize: Int
    private var buffer: [UInt8] = []
    private var seq = 0
    private var size: Int64 = 0
    private var digest = UploadDigest()
    private var inFlight: [Task<Void, any Error>] = []
    /// The first bytes of the file, kept for format sniffing.
    public private(set) var head: [UInt8] = []
    private var done = false

    static let headSize = 4096
    /// Chunk inserts running at once (each holds one pooled connection while it runs).
    static let maxInFlight = 2

    init(store: any FileStore, uploadID: UUID, maxBytes: Int64, chunkSize: Int = 1 << 20) {
        self.store = store
        self.uploadID = uploadID
        self.maxBytes = maxBytes
        self.chunkSize = chunkSize
        buffer.reserveCapacity(chunkSize)
    }

    /// Bytes written so far.
    public var bytesWritten: Int64 { size }

    /// Appends bytes; hands a stored chunk to an insert every ``chunkSize`` bytes.
    public func write<C: Collection & Sendable>(_ bytes: C) async throws where C.Element == UInt8 {
        try await write(Array(bytes))
    }

    /// Appends bytes (copied with `memcpy`: a generic collection walked element by element across the module
    /// boundary cost more CPU than the hash).
    public func write(_ bytes: [UInt8]) async throws {
        guard !done else { throw FileStoreError(.finished, "upload already finished") }
        size += Int64(bytes.count)
        if size > maxBytes { throw FileStoreError(.tooLarge, "upload exceeds \(maxBytes) bytes") }
        if head.count < Self.headSize { head.append(contentsOf: bytes.prefix(Self.headSize - head.count)) }
        var offset = 0
        while offset < bytes.count {
            let take = min(chunkSize - buffer.count, bytes.count - offset)
            bytes.withUnsafeBufferPointer { buffer.append(contentsOf: UnsafeBufferPointer(rebasing: $0[offset..<offset + take])) }
            offset += take
            if buffer.count == chunkSize { try await flush() }
        }
    }

    /// Hashes the buffered chunk and starts its insert, after waiting for the oldest insert when
    /// ``maxInFlight`` are running.
    private func flush() async throws {
        guard !buffer.isEmpty else { return }
        digest.update(buffer)
        let chunk = buffer
        buffer = []
        buffer.reserveCapacity(chunkSize)
        if inFlight.count >= Self.maxInFlight { try await inFlight.removeFirst().value }
        let (store, id, s) = (store, uploadID, seq)
        seq += 1
        inFlight.append(Task { try await store.append(uploadID: id, seq: s, chunk: chunk) })
    }

    private func drain() async throws {
        while !inFlight.isEmpty { try await inFlight.removeFirst().value }
    }

    /// Flushes the last chunk, waits for every insert and marks the upload complete.
    public func finish(format: String?) async throws -> (sizeBytes: Int64, sha256: String) {
        try await flush()
        try await drain()
        done = true
        let sha256 = digest.sha256
        try await store.finish(uploadID: uploadID, sizeBytes: size, sha256: sha256, format: format)
        return (size, sha256)
    }

    /// Gives the upload up. Without a reason it is deleted; with one (a job already follows the upload) its
    /// chunks are deleted and the reason kept, so the job fails with it (``FileStore/fail(uploadID:reason:)``).
    public func abort(reason: String? = nil) async {
        done = true
        buffer = []
        for task in inFlight { _ = try? await task.value }
        inFlight = []
        if let reason {
            try? await store.fail(uploadID: uploadID, reason: reason)
        } else {
            try? await store.delete(uploadID: uploadID)
        }
    }
}
