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
        guard let value else {
            buffer.append(0x5C)
            buffer.append(0x4E)
            return
        }
        var v = value
        v.withUTF8 { bytes in
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
