public import Extraction
public import Foundation
public import Models
public import Storage
import Synchronization

/// Reads an upload while it is still arriving, as a ``Extraction/ByteStreamSource`` for the streaming readers.
///
/// Problem: spooling waits for the last byte of the upload and then copies the whole file to disk before the
/// first row is parsed. Mechanism: each opened stream runs a fetch task that asks the file store for chunk
/// 0, 1, 2… as the api commits them (polling from every `pollInterval` up to every 100 ms while the next is not
/// there yet), keeps up to ``readAhead`` chunks for the blocking reader, and hashes and counts what it read. The stream ends only
/// at a *complete* upload whose stored size and sha256 equal the bytes read — so a job never completes on a
/// partial file. A failed upload (the api set `failure`, or the row is gone) throws `UPLOAD_FAILED`; no new
/// chunk for `stallTimeout` throws `UPLOAD_ABANDONED`; a cancelled job stops within 100 ms even while waiting.
/// Cost: `readAhead` chunks of memory per open stream and one pooled query per chunk (two while waiting).
/// ``copy(to:progress:)`` is the same walk for a format that must be complete before it is read (a workbook's
/// index is at its end): the chunks go to the spool file as they commit, so the job starts reading the moment the
/// last one is verified instead of polling for completion and downloading the file again.
public struct UploadFollower: ByteStreamSource {
    public let files: any FileStore
    public let uploadID: UUID
    public let maxBytes: Int64
    public let stallTimeout: Duration
    public let pollInterval: Duration
    public let expectedBytes: Int64?
    let isCancelled: @Sendable () -> Bool
    /// The upload as verified by the stream that read it to the end.
    private let box: VerifiedBox

    /// Chunks fetched ahead of the reader (each 1 MiB: the worker's peak RSS budget is 64 MB).
    public static let readAhead = 2

    public init(
        files: any FileStore, uploadID: UUID, maxBytes: Int64, expectedBytes: Int64?, stallTimeout: Duration,
        pollInterval: Duration = .milliseconds(10), isCancelled: @escaping @Sendable () -> Bool
    ) {
        self.files = files
        self.uploadID = uploadID
        self.maxBytes = maxBytes
        self.expectedBytes = expectedBytes
        self.stallTimeout = stallTimeout
        self.pollInterval = pollInterval
        self.isCancelled = isCancelled
        self.box = VerifiedBox()
    }

    /// The complete upload's metadata, once a stream has read it to the end and checked its size and digest.
    public var verifiedUpload: UploadInfo? { box.value.withLock { $0 } }

    public func open() throws -> any ByteStream {
        let queue = ChunkQueue()
        let task = Task { [self] in
            do {
                let info = try await fetch { chunk in
                    while queue.count >= Self.readAhead && !Task.isCancelled { try await Task.sleep(for: .milliseconds(1)) }
                    queue.push(chunk)
                }
                box.value.withLock { $0 = info }
                queue.end(nil)
            } catch {
                queue.end(error)
            }
        }
        return FollowedStream(queue: queue, task: task, isCancelled: isCancelled)
    }

    /// Writes the whole upload to a new file at `path` as its chunks arrive (no blocking read: for a format that
    /// cannot be parsed before its end, such as a workbook); returns the complete, verified upload's metadata.
    public func copy(to path: String, progress: (_ bytesWritten: Int64) -> Void) async throws -> UploadInfo {
        guard FileManager.default.createFile(atPath: path, contents: nil), let out = FileHandle(forWritingAtPath: path) else {
            throw JobError(.extractionError, "cannot create the spool file")
        }
        defer { try? out.close() }
        var written: Int64 = 0
        let info = try await fetch { chunk in
            try out.write(contentsOf: chunk)
            written += Int64(chunk.count)
            progress(written)
        }
        box.value.withLock { $0 = info }
        return info
    }

    /// Fetches chunks in order into `deliver` until the verified end; returns the complete upload's metadata.
    func fetch(_ deliver: ([UInt8]) async throws -> Void) async throws -> UploadInfo {
        var seq = 0
        var digest = UploadDigest()
        var lastChunk = ContinuousClock.now
        var sawComplete = false
        var wait = pollInterval
        while !Task.isCancelled {
            if isCancelled() { throw JobError.cancelledExtraction }
            if let data = try await files.chunk(uploadID: uploadID, seq: seq) {
                digest.update(data)
                if digest.byteCount > maxBytes {
                    throw JobError(.fileTooLarge, "file exceeds the \(maxBytes / 1_048_576) MB limit")
                }
                seq += 1
                lastChunk = .now
                wait = pollInterval
                try await deliver(data)
                continue
            }
            if sawComplete {
                // Complete, and no chunk past the last one read: the whole file went through; check it is this file.
                guard let state = try await files.state(uploadID: uploadID, org: nil), state.complete else {
                    throw JobError(.uploadFailed, "the upload was deleted while it was read")
                }
                guard digest.matches(sizeBytes: state.sizeBytes, sha256: state.sha256) else {
                    throw JobError(
                        .uploadFailed,
                        "the upload ended with \(state.sizeBytes) bytes, but \(digest.byteCount) bytes with another sha256 were read",
                        details: ["size_bytes": String(state.sizeBytes), "bytes_read": String(digest.byteCount)])
                }
                return state.info
            }
            guard let state = try await files.state(uploadID: uploadID, org: nil) else {
                throw JobError(.uploadFailed, "the upload was deleted before it completed")
            }
            if let failure = state.failure { throw JobError(.uploadFailed, "the upload failed: \(failure)") }
            if state.complete {
                sawComplete = true  // every chunk is committed before `complete`: one more look decides
                continue
            }
            if ContinuousClock.now - lastChunk > stallTimeout {
                throw JobError(
                    .uploadAbandoned, "no bytes arrived for \(stallTimeout.components.seconds) s; the upload was abandoned",
                    details: ["bytes_read": String(digest.byteCount)])
            }
            // A slow client: poll less often the longer nothing arrives (at most every 100 ms).
            try await Task.sleep(for: wait)
            wait = min(wait * 2, .milliseconds(100))
        }
        throw JobError.cancelledExtraction
    }
}

/// Where the stream that reached the verified end leaves the upload's final metadata.
final class VerifiedBox: Sendable {
    let value = Mutex<UploadInfo?>(nil)
}

/// Chunks handed from the async fetch task to the blocking reader.
final class ChunkQueue: @unchecked Sendable {  // every field is read and written under `condition`
    private let condition = NSCondition()
    private var chunks: [[UInt8]] = []
    private var ended = false
    private var failure: (any Error)?

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return chunks.count
    }

    func push(_ chunk: [UInt8]) {
        condition.lock()
        chunks.append(chunk)
        condition.signal()
        condition.unlock()
    }

    /// No more chunks: the end (`nil`) or the error the reader gets after the chunks already queued.
    func end(_ error: (any Error)?) {
        condition.lock()
        ended = true
        failure = error
        condition.broadcast()
        condition.unlock()
    }

    /// The next chunk, waiting for it; nil at the end. Checks `isCancelled` every 100 ms while waiting.
    func take(isCancelled: () -> Bool) throws -> [UInt8]? {
        condition.lock()
        defer { condition.unlock() }
        while chunks.isEmpty && !ended {
            if isCancelled() { throw JobError.cancelledExtraction }
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.1))
        }
        if !chunks.isEmpty { return chunks.removeFirst() }
        if let failure { throw failure }
        return nil
    }
}

/// One reader's pass over a followed upload.
final class FollowedStream: ByteStream {
    private let queue: ChunkQueue
    private let task: Task<Void, Never>
    private let isCancelled: @Sendable () -> Bool
    private var current: [UInt8] = []
    private var position = 0

    init(queue: ChunkQueue, task: Task<Void, Never>, isCancelled: @escaping @Sendable () -> Bool) {
        self.queue = queue
        self.task = task
        self.isCancelled = isCancelled
    }

    deinit { task.cancel() }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while position == current.count {
            guard let next = try queue.take(isCancelled: isCancelled) else { return 0 }
            current = next
            position = 0
        }
        let n = min(buffer.count, current.count - position)
        current.withUnsafeBytes { src in
            guard let from = src.baseAddress, let to = buffer.baseAddress else { return }
            to.copyMemory(from: from + position, byteCount: n)
        }
        position += n
        return n
    }
}
