import Models

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A read-only file read in fixed-size chunks into one reused buffer (constant memory).
final class ChunkedFile {
    static let chunkSize = 256 * 1024
    private let fd: Int32
    let path: String
    let size: Int64
    private(set) var offset: Int64 = 0
    private let buffer: UnsafeMutableRawBufferPointer

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
        self.size = Int64(st.st_size)
        self.buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    /// Throws `.fileTooLarge` / `.emptyFile` according to `limits`; returns the size.
    @discardableResult
    func checkSize(_ limits: ExtractionLimits) throws -> Int64 {
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
