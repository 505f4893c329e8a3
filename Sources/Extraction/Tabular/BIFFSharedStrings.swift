import Models

/// Parses a BIFF8 SST record and its CONTINUE records piece by piece into a ``SharedStringTable``.
///
/// A string may be cut at a CONTINUE boundary: inside its characters the next piece starts with a fresh
/// flags byte (the character width may change there: 8-bit in one piece, UTF-16 in the next); inside its
/// rich-text runs or phonetic block the bytes simply go on. The header of a string is never trusted to be
/// whole either. Memory: one string at a time, the table itself spills to an unlinked temp file.
struct BIFFSharedStrings {
    private enum State {
        case header
        case chars(remaining: Int, wide: Bool)
        case skip(Int)
    }

    private let writer: SharedStringTableWriter
    private let limit: Int64
    private var state = State.header
    private var headerBytes: [UInt8] = []
    private var trailing = 0
    private var units: [UInt16] = []
    private var total: Int64 = 0

    init(limit: Int64) throws {
        writer = try SharedStringTableWriter()
        self.limit = limit
    }

    /// Feeds the SST payload (`first`: its 8-byte count header is skipped) or a CONTINUE payload.
    mutating func feed(_ piece: [UInt8], first: Bool) throws {
        var i = first ? min(8, piece.count) : 0
        if !first, case .chars(let remaining, _) = state, remaining > 0, i < piece.count {
            state = .chars(remaining: remaining, wide: piece[i] & 0x01 != 0)  // re-sent flags byte
            i += 1
        }
        while i < piece.count {
            switch state {
            case .header:
                headerBytes.append(piece[i])
                i += 1
                try parseHeaderIfComplete()
            case .chars(let remaining, let wide):
                let width = wide ? 2 : 1
                let n = min(remaining, (piece.count - i) / width)
                guard n > 0 else { throw XLSReader.malformed("a shared string splits a UTF-16 character") }
                if wide {
                    for k in 0..<n { units.append(UInt16(piece[i + 2 * k]) | UInt16(piece[i + 2 * k + 1]) << 8) }
                } else {
                    for k in 0..<n { units.append(UInt16(piece[i + k])) }
                }
                i += n * width
                if remaining == n { try finishString() } else { state = .chars(remaining: remaining - n, wide: wide) }
            case .skip(let count):
                let n = min(count, piece.count - i)
                i += n
                state = count == n ? .header : .skip(count - n)
            }
        }
    }

    /// `cch` (2), flags (1), then the run count (2) and phonetic size (4) when the flags say so.
    private mutating func parseHeaderIfComplete() throws {
        guard headerBytes.count >= 3 else { return }
        let flags = headerBytes[2]
        let needed = 3 + (flags & 0x08 != 0 ? 2 : 0) + (flags & 0x04 != 0 ? 4 : 0)
        guard headerBytes.count == needed else { return }
        let count = Int(le16(headerBytes, 0))
        var extra = 0
        var at = 3
        if flags & 0x08 != 0 {
            extra += 4 * Int(le16(headerBytes, at))
            at += 2
        }
        if flags & 0x04 != 0 { extra += Int(Int32(bitPattern: le32(headerBytes, at))) }
        guard extra >= 0 else { throw XLSReader.malformed("negative phonetic block in a shared string") }
        headerBytes.removeAll(keepingCapacity: true)
        trailing = extra
        units.removeAll(keepingCapacity: true)
        if count == 0 { try finishString() } else { state = .chars(remaining: count, wide: flags & 0x01 != 0) }
    }

    private mutating func finishString() throws {
        let bytes = Array(String(decoding: units, as: UTF16.self).utf8)
        total += Int64(bytes.count + 16)
        if total > limit {
            throw JobError(.zipBomb, "shared strings exceed \(limit) bytes", details: ["limit": String(limit)])
        }
        try writer.append(bytes)
        state = trailing > 0 ? .skip(trailing) : .header
    }

    /// The table (a string cut short by the end of the records is dropped).
    func finish() throws -> SharedStringTable { try writer.finish() }
}
