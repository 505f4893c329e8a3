import Models

/// Byte-at-a-time view over a `ChunkedFile`, with absolute offsets, a per-record byte budget and line count.
final class JSONByteStream {
    private let file: ChunkedFile
    private var buf: UnsafeBufferPointer<UInt8> = UnsafeBufferPointer(start: nil, count: 0)
    private var pos = 0
    private var bufStart: Int64 = 0
    private var atEnd = false
    /// Absolute offset past which reading throws `.rowTooLong` (set per record).
    var limit: Int64 = .max
    var limitRow = 0
    private let onChunk: (Int64) throws -> Void
    /// Newlines consumed so far.
    private(set) var newlines = 0

    init(file: ChunkedFile, onChunk: @escaping (Int64) throws -> Void) {
        self.file = file
        self.onChunk = onChunk
    }

    var offset: Int64 { bufStart + Int64(pos) }

    @inline(__always)
    func peek() throws -> UInt8? {
        if pos < buf.count { return buf[pos] }
        return try refill() ? buf[pos] : nil
    }

    @inline(__always)
    func next() throws -> UInt8? {
        if pos >= buf.count {
            guard try refill() else { return nil }
        }
        let b = buf[pos]
        pos += 1
        if b == 0x0A { newlines += 1 }
        if bufStart + Int64(pos) > limit {
            throw JobError(
                .rowTooLong, "record \(limitRow) is longer than the row byte limit", details: ["row": String(limitRow), "offset": String(offset)])
        }
        return b
    }

    private func refill() throws -> Bool {
        if atEnd { return false }
        bufStart += Int64(buf.count)
        pos = 0
        buf = try file.next()
        try onChunk(file.offset)
        if buf.isEmpty { atEnd = true; return false }
        return true
    }
}
