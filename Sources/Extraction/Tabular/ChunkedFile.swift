import Models

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A read-only file read in fixed-size chunks into one reused buffer (constant memory) — a file on disk, or a
/// ``ByteStream`` still arriving (then `size` is unknown: `Int64.max` until the end is read).
final class ChunkedFile {
    static let chunkSize = 256 * 1024
    private let fd: Int32
    private let stream: (any ByteStream)?
    let path: String
    private(set) var size: Int64
    private(set) var offset: Int64 = 0
    private let buffer: UnsafeMutableRawBufferPointer

    /// Reads `stream` as if it were a file; `path` names it in errors and spill files.
    init(stream: any ByteStream, path: String, chunkSize: Int = ChunkedFile.chunkSize) {
        self.path = path
        self.fd = -1
        self.stream = stream
        self.size = .max
        self.buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
    }

    /// The file at `path`, or `stream` when one is given.
    static func opening(path: String, stream source: (any ByteStreamSource)?) throws -> ChunkedFile {
        guard let source else { return try ChunkedFile(path: path) }
        return ChunkedFile(stream: try source.open(), path: path)
    }

    init(path: String, chunkSize: Int = ChunkedFile.chunkSize) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw JobError(.fileNotFound, "cannot open file: \(String(cString: strerror(errno)))", details: ["path": path])
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw JobError(.fileNotFound, "cannot stat file", details: ["path": path])
        }
        self.fd = fd
        self.stream = nil
        self.size = Int64(st.st_size)
        self.buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
    }

    deinit {
        if fd >= 0 { close(fd) }
        buffer.deallocate()
    }

    /// Throws `.fileTooLarge` / `.emptyFile` according to `limits`; returns the size.
    @discardableResult
    func checkSize(_ limits: ExtractionLimits) throws -> Int64 {
        if stream != nil { return size }  // a stream's source enforces the size limit as bytes arrive
        if size > limits.maxFileBytes {
            throw JobError(
                .fileTooLarge, "file is \(size) bytes, limit \(limits.maxFileBytes)",
                details: ["bytes": String(size), "limit": String(limits.maxFileBytes)])
        }
        if size == 0 { throw JobError(.emptyFile, "file is empty") }
        return size
    }

    /// Reads the next chunk; the buffer is valid until the next call. Empty at end of file.
    func next() throws -> UnsafeBufferPointer<UInt8> {
        if let stream { return try nextFromStream(stream) }
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw JobError(.extractionError, "read failed: \(String(cString: strerror(errno)))", details: ["path": path])
            }
            offset += Int64(n)
            return UnsafeBufferPointer(start: buffer.baseAddress?.assumingMemoryBound(to: UInt8.self), count: n)
        }
    }

    /// Fills the buffer from the stream (short only at the end, where `size` becomes known).
    private func nextFromStream(_ stream: any ByteStream) throws -> UnsafeBufferPointer<UInt8> {
        var filled = 0
        while filled < buffer.count {
            let n = try stream.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 {
                size = offset + Int64(filled)
                break
            }
            filled += n
        }
        offset += Int64(filled)
        return UnsafeBufferPointer(start: buffer.baseAddress?.assumingMemoryBound(to: UInt8.self), count: filled)
    }

    /// Reads up to `count` bytes from the start of the file without moving the stream.
    static func head(path: String, count: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw JobError(.fileNotFound, "cannot open file", details: ["path": path]) }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = out.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return read(fd, base + filled, count - filled)
            }
            if n < 0 { if errno == EINTR { continue }; throw JobError(.extractionError, "read failed", details: ["path": path]) }
            if n == 0 { break }
            filled += n
        }
        out.removeSubrange(filled...)
        return out
    }
}
