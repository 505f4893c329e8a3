/// Bytes that arrive in order and are read with a blocking call: a file that is still being uploaded.
///
/// The streaming readers (CSV/TSV, JSON, NDJSON) read through ``ChunkedFile``, which reads either a file on
/// disk or one of these. A stream knows neither its final size in advance nor whether more bytes will come
/// until it has them: `read` blocks until bytes arrive, returns 0 only at the verified end, and throws when
/// the bytes will never all arrive (a failed or abandoned upload). Reads happen on a thread that may block
/// (the job's database thread), never on Swift's cooperative pool.
public protocol ByteStream: AnyObject {
    /// Copies the next bytes (at most `buffer.count`) into `buffer` and returns how many; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// Opens a ``ByteStream`` from the first byte; each call starts a new, independent stream (a reader may
/// inspect the head and then read the whole).
public protocol ByteStreamSource: Sendable {
    /// A new stream positioned at the first byte.
    func open() throws -> any ByteStream
    /// The size announced before the bytes arrived (an HTTP Content-Length), for progress; nil when unknown.
    var expectedBytes: Int64? { get }
}

extension ByteStreamSource {
    /// Up to `count` bytes from the start of the stream (fewer only when the stream is shorter).
    public func head(count: Int) throws -> [UInt8] {
        let stream = try open()
        var out = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = try out.withUnsafeMutableBytes { raw in
                try stream.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]))
            }
            if n == 0 { break }
            filled += n
        }
        out.removeSubrange(filled...)
        return out
    }
}
