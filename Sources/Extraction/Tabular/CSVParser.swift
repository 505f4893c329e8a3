import Models

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A push-style, byte-level RFC 4180 parser: feed it chunks of UTF-8 (or single-byte) text, get records.
///
/// - Quoted fields may hold delimiters, `""` escapes and line breaks; records end at CRLF, LF or CR.
/// - Lenient where RFC 4180 is silent: a quote inside an unquoted field is literal; text after a
///   closing quote is kept. An unterminated quote at end of input is `.malformedFile`.
/// - Blank lines are counted (record numbers stay physical) but not delivered.
/// - Memory is bounded: a record whose bytes exceed `maxRecordBytes`, or whose field count exceeds
///   `maxFields`, throws `.rowTooLong` as soon as the limit is crossed.
public struct CSVParser: Sendable {
    private enum State: UInt8 { case fieldStart, unquoted, quoted, quoteInQuoted, afterCR }

    /// The field separator byte.
    public let delimiter: UInt8
    /// Largest record, in bytes.
    public let maxRecordBytes: Int
    /// Most fields in a record.
    public let maxFields: Int
    /// How field bytes become strings.
    public var decoding: FieldDecoding

    private var record: [UInt8] = []
    private var fieldEnds: [Int] = []
    private var state: State = .fieldStart
    private var quotedInRecord = false
    /// Records completed so far, blank lines included.
    public private(set) var recordNumber = 0

    /// Creates a parser.
    public init(
        delimiter: UInt8 = UInt8(ascii: ","), maxRecordBytes: Int = 1 << 20, maxFields: Int = 1000,
        decoding: FieldDecoding = .utf8OrWindows1252
    ) {
        self.delimiter = delimiter
        self.maxRecordBytes = maxRecordBytes
        self.maxFields = maxFields
        self.decoding = decoding
        record.reserveCapacity(4096)
        fieldEnds.reserveCapacity(64)
    }

    /// Parses `bytes`, calling `onRecord(recordNumber, fields)` for each complete non-blank record.
    public mutating func feed(_ bytes: UnsafeBufferPointer<UInt8>, onRecord: (_ recordNumber: Int, _ fields: [String]) throws -> Void) throws {
        guard let base = bytes.baseAddress else { return }
        let n = bytes.count
        let delim = delimiter
        let quote = UInt8(ascii: "\""), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        var i = 0
        while i < n {
            switch state {
            case .afterCR:
                state = .fieldStart
                if base[i] == lf { i += 1 }
            case .fieldStart:
                if base[i] == quote {
                    state = .quoted
                    quotedInRecord = true
                    i += 1
                } else {
                    state = .unquoted
                }
            case .unquoted:
                let start = i
                while i < n {
                    let b = base[i]
                    if b == delim || b == lf || b == cr { break }
                    i += 1
                }
                if i > start { try append(base + start, i - start) }
                if i == n { break }
                let b = base[i]
                i += 1
                try endField()
                if b == delim {
                    state = .fieldStart
                } else {
                    try endRecord(onRecord)
                    state = b == cr ? .afterCR : .fieldStart
                }
            case .quoted:
                let start = i
                if let hit = memchr(base + i, Int32(quote), n - i) {
                    i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                    if i > start { try append(base + start, i - start) }
                    i += 1
                    state = .quoteInQuoted
                } else {
                    try append(base + start, n - start)
                    i = n
                }
            case .quoteInQuoted:
                let b = base[i]
                if b == quote {
                    try append(base + i, 1)
                    i += 1
                    state = .quoted
                } else if b == delim {
                    i += 1
                    try endField()
                    state = .fieldStart
                } else if b == lf || b == cr {
                    i += 1
                    try endField()
                    try endRecord(onRecord)
                    state = b == cr ? .afterCR : .fieldStart
                } else {
                    state = .unquoted
                }
            }
        }
    }

    /// Convenience over an array.
    public mutating func feed(_ bytes: [UInt8], onRecord: (_ recordNumber: Int, _ fields: [String]) throws -> Void) throws {
        try bytes.withUnsafeBufferPointer { try feed($0, onRecord: onRecord) }
    }

    /// Ends the input: flushes a last record without a trailing line break.
    public mutating func finish(onRecord: (_ recordNumber: Int, _ fields: [String]) throws -> Void) throws {
        switch state {
        case .quoted:
            throw JobError(
                .malformedFile, "unterminated quoted field in record \(recordNumber + 1)",
                details: ["row": String(recordNumber + 1), "column": String(fieldEnds.count + 1)])
        case .afterCR:
            state = .fieldStart
        case .fieldStart:
            if !fieldEnds.isEmpty {
                try endField()
                try endRecord(onRecord)
            }
        case .unquoted, .quoteInQuoted:
            try endField()
            try endRecord(onRecord)
            state = .fieldStart
        }
    }

    /// Parses a whole in-memory text (for tests and small inputs).
    public static func parse(_ text: String, delimiter: UInt8 = UInt8(ascii: ",")) throws -> [[String]] {
        var parser = CSVParser(delimiter: delimiter)
        var rows: [[String]] = []
        try parser.feed(Array(text.utf8)) { _, f in rows.append(f) }
        try parser.finish { _, f in rows.append(f) }
        return rows
    }

    @inline(__always)
    private mutating func append(_ p: UnsafePointer<UInt8>, _ count: Int) throws {
        if record.count + fieldEnds.count + count > maxRecordBytes {
            throw JobError(
                .rowTooLong, "record \(recordNumber + 1) is longer than \(maxRecordBytes) bytes",
                details: ["row": String(recordNumber + 1), "column": String(fieldEnds.count + 1), "limit": String(maxRecordBytes)])
        }
        record.append(contentsOf: UnsafeBufferPointer(start: p, count: count))
    }

    @inline(__always)
    private mutating func endField() throws {
        if fieldEnds.count >= maxFields {
            throw JobError.tooManyColumns(fieldEnds.count + 1, limit: maxFields, row: recordNumber + 1)
        }
        fieldEnds.append(record.count)
    }

    private mutating func endRecord(_ onRecord: (_ recordNumber: Int, _ fields: [String]) throws -> Void) throws {
        recordNumber += 1
        defer {
            record.removeAll(keepingCapacity: true)
            fieldEnds.removeAll(keepingCapacity: true)
            quotedInRecord = false
        }
        if fieldEnds.count == 1 && record.isEmpty && !quotedInRecord { return }
        var fields: [String] = []
        fields.reserveCapacity(fieldEnds.count)
        let decoding = self.decoding
        record.withUnsafeBufferPointer { p in
            var start = 0
            for end in fieldEnds {
                fields.append(decoding.decode(UnsafeBufferPointer(rebasing: p[start..<end])))
                start = end
            }
        }
        try onRecord(recordNumber, fields)
    }
}
