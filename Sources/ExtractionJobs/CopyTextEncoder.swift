/// Builds rows in PostgreSQL's COPY text format into a reusable byte buffer.
///
/// Tabs, newlines, carriage returns and backslashes inside values are escaped; `nil` is `\N`.
struct CopyTextEncoder {
    private(set) var buffer: [UInt8] = []
    private var columnIndex = 0

    init(capacity: Int = 512 * 1024) { buffer.reserveCapacity(capacity) }

    var count: Int { buffer.count }

    mutating func field(_ value: String?) {
        if columnIndex > 0 { buffer.append(0x09) }
        columnIndex += 1
        guard var v = value else {
            buffer.append(0x5C)
            buffer.append(0x4E)
            return
        }
        v.withUTF8 { appendEscaped($0) }
    }

    /// A field from bytes already known to need no escaping (ASCII digits, a UUID…).
    mutating func field(plain bytes: [UInt8]) {
        if columnIndex > 0 { buffer.append(0x09) }
        columnIndex += 1
        buffer.append(contentsOf: bytes)
    }

    /// A non-negative or negative integer field, written as decimal digits.
    mutating func field(_ value: Int) {
        if columnIndex > 0 { buffer.append(0x09) }
        columnIndex += 1
        var v = value.magnitude
        if value < 0 { buffer.append(0x2D) }
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch: enough for 20 digits
        withUnsafeMutableBytes(of: &tmp) { scratch in
            var n = 0
            repeat { scratch[n] = UInt8(truncatingIfNeeded: 0x30 &+ v % 10); v /= 10; n += 1 } while v > 0
            while n > 0 { n -= 1; buffer.append(scratch[n]) }
        }
    }

    @inline(__always)
    private mutating func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>) {
        // Fast path: nothing to escape (the usual case) → one bulk copy.
        var clean = true
        for b in bytes where b <= 0x5C && (b == 0x5C || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x00) {
            clean = false
            break
        }
        if clean {
            buffer.append(contentsOf: bytes)
            return
        }
        for b in bytes {
            switch b {
            case 0x5C: buffer.append(0x5C); buffer.append(0x5C)
            case 0x09: buffer.append(0x5C); buffer.append(0x74)
            case 0x0A: buffer.append(0x5C); buffer.append(0x6E)
            case 0x0D: buffer.append(0x5C); buffer.append(0x72)
            case 0x00: break  // PostgreSQL text cannot hold NUL
            default: buffer.append(b)
            }
        }
    }

    mutating func endRow() {
        buffer.append(0x0A)
        columnIndex = 0
    }

    mutating func reset() {
        buffer.removeAll(keepingCapacity: true)
        columnIndex = 0
    }
}
