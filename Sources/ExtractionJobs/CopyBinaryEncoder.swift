import Foundation
import Models

/// Builds rows in PostgreSQL's binary COPY format (`COPY … FROM STDIN (FORMAT binary)`) into a reusable
/// byte buffer.
///
/// Binary input spares the server the text format's line and escape scanning and its type input
/// functions (`uuid_in` alone, which parses a UUID with 16 `strtoul` calls, was ~8 % of the backend's
/// COPY time); on the client a text value is a length and a copy, with nothing to escape.
/// NUL bytes are dropped from text (PostgreSQL text cannot hold them).
struct CopyBinaryEncoder {
    /// Bytes `0..<count` are the encoded data; the array is kept at its capacity (zero-filled beyond
    /// `count`), so values are stored into it through one pointer instead of appended piece by piece.
    private var storage: [UInt8]
    /// Bytes encoded so far.
    private(set) var count = 0

    /// `PGCOPY\n\377\r\n\0`, flags 0, no header extension.
    private static let header: [UInt8] = [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]

    init(capacity: Int = 512 * 1024) { storage = [UInt8](repeating: 0, count: max(64, capacity)) }

    /// Calls `body` with the encoded bytes.
    func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try storage.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }

    /// The file header; call once, before the first row.
    mutating func start() { Self.header.withUnsafeBytes { bytes($0) } }

    /// The end-of-data marker; call once, after the last row.
    mutating func finish() { int16(-1) }

    /// Starts a row of `fields` values.
    mutating func row(fields: Int) { int16(Int16(fields)) }

    /// A NULL value.
    mutating func null() { int32(-1) }

    /// A `uuid` value.
    mutating func field(_ uuid: UUID) {
        int32(16)
        withUnsafeBytes(of: uuid.uuid) { bytes($0) }
    }

    /// An `integer` (int4) value.
    mutating func field(int4 value: Int32) {
        int32(4)
        int32(value)
    }

    /// A `boolean` value.
    mutating func field(_ value: Bool) {
        int32(1)
        withUnsafeBytes(of: value ? UInt8(1) : UInt8(0)) { bytes($0) }
    }

    /// A `text` value (NULL for nil).
    mutating func field(_ value: String?) {
        guard var value else { return null() }
        value.withUTF8 { text($0) }
    }

    /// A `text` value from its UTF-8 bytes (NUL bytes dropped, as for a `String`).
    mutating func field(utf8 bytes: UnsafeBufferPointer<UInt8>) { text(bytes) }

    /// A `jsonb` value from JSON text (NULL for nil): version 1, then the text.
    mutating func field(jsonb value: String?) {
        guard var value else { return null() }
        value.withUTF8 { bytes in
            int32(Int32(bytes.count + 1))
            withUnsafeBytes(of: UInt8(1)) { self.bytes($0) }
            self.bytes(UnsafeRawBufferPointer(bytes))
        }
    }

    /// A `numeric` value from plain decimal text (`-?digits(.digits)?`, as `Decimal` prints); NULL for nil.
    /// Throws for any other text, rather than storing something else.
    mutating func field(numeric text: String?) throws {
        guard var text else { return null() }
        try text.withUTF8 { try field(numericUTF8: $0) }
    }

    /// A `numeric` value from the UTF-8 bytes of plain decimal text, like ``field(numeric:)``.
    mutating func field(numericUTF8 bytes: UnsafeBufferPointer<UInt8>) throws {
        guard numeric(bytes) else {
            throw JobError(.extractionError, "cannot encode '\(String(decoding: bytes, as: UTF8.self).prefix(40))' as a number for COPY")
        }
    }

    /// A raw big-endian `int4` (no length prefix): array headers, column type OIDs inside a record.
    mutating func raw(int4 value: Int32) { int32(value) }

    /// Reserves a length prefix for a value whose bytes follow; returns its position for ``endLength(at:)``.
    mutating func beginLength() -> Int {
        let at = count
        int32(0)
        return at
    }

    /// Stores the length of the bytes written since ``beginLength()`` into its prefix.
    mutating func endLength(at position: Int) {
        let length = Int32(count - position - 4)
        storage.withUnsafeMutableBytes { $0.storeBytes(of: length.bigEndian, toByteOffset: position, as: Int32.self) }
    }

    /// Appends the bytes another encoder has encoded.
    mutating func append(_ other: CopyBinaryEncoder) { other.withBytes { bytes($0) } }

    /// Forgets the bytes encoded so far (the capacity is kept).
    mutating func reset() { count = 0 }

    /// Hands the bytes encoded so far to `write` once there are at least `threshold` of them, and starts over.
    mutating func flush(to write: (UnsafeRawBufferPointer) throws -> Void, ifAtLeast threshold: Int = 256 * 1024) throws {
        guard count >= threshold, count > 0 else { return }
        try withBytes(write)
        count = 0
    }

    // MARK: Encoding

    private mutating func text(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress, memchr(base, 0, bytes.count) != nil else {
            int32(Int32(bytes.count))
            self.bytes(UnsafeRawBufferPointer(bytes))
            return
        }
        let kept = bytes.filter { $0 != 0 }
        int32(Int32(kept.count))
        kept.withUnsafeBytes { self.bytes($0) }
    }

    /// PostgreSQL's binary numeric: ndigits, weight, sign, dscale (int16 each), then base-10000 digits
    /// (most significant first), grouped from the decimal point.
    private mutating func numeric(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        var negative = false
        if i < b.count && b[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        let intStart = i
        while i < b.count && b[i] &- 0x30 < 10 { i += 1 }
        let intEnd = i
        var fracStart = i, fracEnd = i
        if i < b.count && b[i] == UInt8(ascii: ".") {
            i += 1
            fracStart = i
            while i < b.count && b[i] &- 0x30 < 10 { i += 1 }
            fracEnd = i
        }
        guard i == b.count, intEnd > intStart || fracEnd > fracStart, fracEnd - fracStart <= 1000 else { return false }
        // Significant digits only: leading zeros of the integer part, trailing zeros of the fraction.
        var firstInt = intStart
        while firstInt < intEnd && b[firstInt] == UInt8(ascii: "0") { firstInt += 1 }
        var lastFrac = fracEnd
        while lastFrac > fracStart && b[lastFrac - 1] == UInt8(ascii: "0") { lastFrac -= 1 }
        let dscale = Int16(fracEnd - fracStart)
        let intDigits = intEnd - firstInt
        let fracDigits = lastFrac - fracStart
        // Base-10000 groups aligned at the decimal point: the integer digits right-aligned (leading padding
        // zeros add nothing), the fraction digits left-aligned (a partial last group is scaled up).
        let intGroups = (intDigits + 3) / 4
        let groupCount = intGroups + (fracDigits + 3) / 4
        withUnsafeTemporaryAllocation(of: Int16.self, capacity: max(1, groupCount)) { groups in
            groups.initialize(repeating: 0)
            for k in 0..<intDigits {
                let g = (intGroups * 4 - intDigits + k) / 4
                groups[g] = groups[g] * 10 + Int16(b[firstInt + k] &- 0x30)
            }
            for k in 0..<fracDigits {
                let g = intGroups + k / 4
                groups[g] = groups[g] * 10 + Int16(b[fracStart + k] &- 0x30)
            }
            if fracDigits % 4 != 0 {
                for _ in 0..<(4 - fracDigits % 4) { groups[groupCount - 1] *= 10 }
            }
            var weight = intGroups - 1
            var first = 0
            while first < groupCount && groups[first] == 0 {
                first += 1
                weight -= 1
            }
            var end = groupCount
            while end > first && groups[end - 1] == 0 { end -= 1 }
            let ndigits = end - first
            int32(Int32(8 + 2 * ndigits))
            int16(Int16(ndigits))
            int16(ndigits == 0 ? 0 : Int16(weight))
            int16(negative && ndigits > 0 ? 0x4000 : 0)
            int16(dscale)
            for g in first..<end { int16(groups[g]) }
        }
        return true
    }

    /// Makes room for `n` more bytes (doubling).
    @inline(__always)
    private mutating func reserve(_ n: Int) {
        if count + n > storage.count { storage.append(contentsOf: repeatElement(0, count: max(storage.count, count + n - storage.count))) }
    }

    @inline(__always)
    private mutating func bytes(_ source: UnsafeRawBufferPointer) {
        guard let from = source.baseAddress, source.count > 0 else { return }
        reserve(source.count)
        let at = count
        storage.withUnsafeMutableBytes { $0.baseAddress.map { ($0 + at).copyMemory(from: from, byteCount: source.count) } }
        count += source.count
    }

    @inline(__always)
    private mutating func int16(_ v: Int16) { integer(v) }

    @inline(__always)
    private mutating func int32(_ v: Int32) { integer(v) }

    /// A big-endian integer, stored in place.
    @inline(__always)
    private mutating func integer<T: FixedWidthInteger>(_ v: T) {
        let size = MemoryLayout<T>.size
        reserve(size)
        let at = count
        storage.withUnsafeMutableBytes { $0.storeBytes(of: v.bigEndian, toByteOffset: at, as: T.self) }
        count += size
    }
}
