import Models

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A push-style, byte-level parser of delimited text in any ``CSVDialect``: feed it chunks of UTF-8 (or
/// single-byte) text, get records. The default dialect is RFC 4180.
///
/// - Quoted fields may hold delimiters, escaped quotes (`""`, or `\"` in the backslash dialect) and line
///   breaks; records end at CRLF, LF or CR, and one file may mix them.
/// - Lenient where RFC 4180 is silent (as Python's `csv` module): a quote inside an unquoted field is literal;
///   text after a closing quote is kept. An unterminated quote at end of input is `.malformedFile`.
/// - Blank lines and comment lines are counted (record numbers stay physical) but not delivered.
/// - Space-padded dialects (`trimSpaces`) drop spaces around unquoted fields, never inside quotes.
/// - Memory is bounded: a record whose bytes exceed `maxRecordBytes`, or whose field count exceeds
///   `maxFields`, throws `.rowTooLong` as soon as the limit is crossed.
public struct CSVParser: Sendable {
    private enum State: UInt8 {
        case fieldStart, unquoted, quoted, quoteInQuoted, afterCR, escapedInUnquoted, escapedInQuoted, comment
    }

    /// How the text is written.
    public let dialect: CSVDialect
    /// The field separator byte.
    public var delimiter: UInt8 { dialect.delimiter }
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
    /// `dialect.trimSpaces`, kept apart from the optionals of `dialect` for `endField`.
    private let trimsSpaces: Bool
    /// `record.count` when the last quoted section closed: trimming never cuts into quoted text.
    private var quotedEnd = 0
    /// Records completed so far, blank and comment lines included.
    public private(set) var recordNumber = 0
    /// Line-keeping mode (``feedLines(_:onRecord:)``): whether a record has begun, and its bytes from earlier chunks.
    private var lineStarted = false
    private var lineCarry: [UInt8] = []

    /// A record handler that also gets the record's text as it stands in the input (quotes, escapes and embedded
    /// line breaks included, the terminating line break excluded), valid only during the call.
    public typealias LineHandler = (_ recordNumber: Int, _ fields: [String], _ line: UnsafeBufferPointer<UInt8>) throws -> Void

    /// Creates a parser for `dialect`.
    public init(
        dialect: CSVDialect, maxRecordBytes: Int = 1 << 20, maxFields: Int = 1000,
        decoding: FieldDecoding = .utf8OrWindows1252
    ) {
        self.dialect = dialect
        self.trimsSpaces = dialect.trimSpaces
        self.maxRecordBytes = maxRecordBytes
        self.maxFields = maxFields
        self.decoding = decoding
        record.reserveCapacity(4096)
        fieldEnds.reserveCapacity(64)
    }

    /// Creates an RFC 4180 parser with another delimiter.
    public init(
        delimiter: UInt8 = UInt8(ascii: ","), maxRecordBytes: Int = 1 << 20, maxFields: Int = 1000,
        decoding: FieldDecoding = .utf8OrWindows1252
    ) {
        self.init(
            dialect: CSVDialect(delimiter: delimiter), maxRecordBytes: maxRecordBytes, maxFields: maxFields,
            decoding: decoding)
    }

    /// A record handler that gets the record before its fields become strings (``RawRecord``).
    public typealias RawHandler = (_ record: RawRecord) throws -> Void

    /// Parses `bytes`, calling `onRecord(recordNumber, fields)` for each complete non-blank record.
    public mutating func feed(_ bytes: UnsafeBufferPointer<UInt8>, onRecord: (_ recordNumber: Int, _ fields: [String]) throws -> Void) throws {
        try scan(bytes, keepLines: false) { record in try onRecord(record.number, record.fields()) }
    }

    /// Parses `bytes` like ``feed(_:onRecord:)`` and also hands each record's original text to `onRecord` (the
    /// reject file). Costs one copy of a record's bytes only when it spans two chunks.
    public mutating func feedLines(_ bytes: UnsafeBufferPointer<UInt8>, onRecord: LineHandler) throws {
        try scan(bytes, keepLines: true) { record in try onRecord(record.number, record.fields(), record.line) }
    }

    /// Parses `bytes` like ``feedLines(_:onRecord:)``, handing each record as the parser holds it: its fields'
    /// bytes and original text, for a reader that makes strings only of the fields it needs.
    public mutating func feedRaw(_ bytes: UnsafeBufferPointer<UInt8>, onRecord: RawHandler) throws {
        try scan(bytes, keepLines: true, onRecord: onRecord)
    }

    /// Parses `bytes` like ``feedRaw(_:onRecord:)`` without keeping the records' text (``RawRecord/line`` is empty).
    public mutating func feedRecords(_ bytes: UnsafeBufferPointer<UInt8>, onRecord: RawHandler) throws {
        try scan(bytes, keepLines: false, onRecord: onRecord)
    }

    private mutating func scan(_ bytes: UnsafeBufferPointer<UInt8>, keepLines: Bool, onRecord: RawHandler) throws {
        guard let base = bytes.baseAddress else { return }
        // Where the current record's text begins in this chunk (0 when it began in an earlier one).
        var lineStart = 0
        defer {
            if keepLines && lineStarted { lineCarry.append(contentsOf: UnsafeBufferPointer(start: base + lineStart, count: bytes.count - lineStart)) }
        }
        let n = bytes.count
        let delim = dialect.delimiter
        let quoting = dialect.quote != nil, quote = dialect.quote ?? 0
        let backslash = dialect.escape == .backslash, esc = UInt8(ascii: "\\")
        let trims = dialect.trimSpaces, space = UInt8(ascii: " ")
        let commenting = dialect.commentPrefix != nil, commentByte = dialect.commentPrefix ?? 0
        let padOrComment = trims || commenting
        let lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        var i = 0
        while i < n {
            switch state {
            case .afterCR:
                state = .fieldStart
                if base[i] == lf { i += 1 }
            case .fieldStart:
                if keepLines && !lineStarted {
                    lineStarted = true
                    lineStart = i
                }
                let b = base[i]
                if b == quote && quoting {
                    state = .quoted
                    quotedInRecord = true
                    i += 1
                } else if !padOrComment {
                    state = .unquoted
                } else if trims && b == space {
                    i += 1
                } else if commenting && b == commentByte && fieldEnds.isEmpty && record.isEmpty {
                    state = .comment
                    i += 1
                } else {
                    state = .unquoted
                }
            case .unquoted:
                let start = i
                if backslash {
                    while i < n {
                        let b = base[i]
                        if b == delim || b == lf || b == cr || b == esc { break }
                        i += 1
                    }
                } else {
                    while i < n {
                        let b = base[i]
                        if b == delim || b == lf || b == cr { break }
                        i += 1
                    }
                }
                if i > start { try append(base + start, i - start) }
                if i == n { break }
                let b = base[i]
                i += 1
                if backslash && b == esc {
                    state = .escapedInUnquoted
                    continue
                }
                try endField()
                if b == delim {
                    state = .fieldStart
                } else {
                    try endRecord(onRecord, keepLines: keepLines, tail: UnsafeBufferPointer(start: base + lineStart, count: i - 1 - lineStart))
                    state = b == cr ? .afterCR : .fieldStart
                }
            case .quoted:
                if backslash {
                    try scanQuotedWithBackslash(base, n, &i, quote: quote, esc: esc)
                } else {
                    let start = i
                    if let hit = memchr(base + i, Int32(quote), n - i) {
                        i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                        if i > start { try append(base + start, i - start) }
                        i += 1
                        state = .quoteInQuoted
                        quotedEnd = record.count
                    } else {
                        try append(base + start, n - start)
                        i = n
                    }
                }
            case .quoteInQuoted:
                let b = base[i]
                if b == quote && !backslash {
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
                    try endRecord(onRecord, keepLines: keepLines, tail: UnsafeBufferPointer(start: base + lineStart, count: i - 1 - lineStart))
                    state = b == cr ? .afterCR : .fieldStart
                } else {
                    state = .unquoted
                }
            case .escapedInUnquoted, .escapedInQuoted:
                try append(base + i, 1)
                i += 1
                state = state == .escapedInQuoted ? .quoted : .unquoted
            case .comment:
                while i < n && base[i] != lf && base[i] != cr { i += 1 }
                if i == n { break }
                let b = base[i]
                i += 1
                recordNumber += 1
                lineStarted = false
                lineCarry.removeAll(keepingCapacity: true)
                state = b == cr ? .afterCR : .fieldStart
            }
        }
    }

    /// Inside a quoted field of the backslash dialect: copies text up to the closing quote or a backslash.
    @inline(__always)
    private mutating func scanQuotedWithBackslash(
        _ base: UnsafePointer<UInt8>, _ n: Int, _ i: inout Int, quote: UInt8, esc: UInt8
    ) throws {
        let start = i
        while i < n && base[i] != quote && base[i] != esc { i += 1 }
        if i > start { try append(base + start, i - start) }
        if i == n { return }
        let b = base[i]
        i += 1
        if b == esc {
            state = .escapedInQuoted
        } else {
            state = .quoteInQuoted
            quotedEnd = record.count
        }
    }

    /// Convenience over an array.
    public mutating func feed(_ bytes: [UInt8], onRecord: (_ recordNumber: Int, _ fields: [String]) throws -> Void) throws {
        try bytes.withUnsafeBufferPointer { try feed($0, onRecord: onRecord) }
    }

    /// Ends the input: flushes a last record without a trailing line break.
    public mutating func finish(onRecord: (_ recordNumber: Int, _ fields: [String]) throws -> Void) throws {
        try finishScan(keepLines: false) { record in try onRecord(record.number, record.fields()) }
    }

    /// Ends the input of ``feedLines(_:onRecord:)``.
    public mutating func finishLines(onRecord: LineHandler) throws {
        try finishScan(keepLines: true) { record in try onRecord(record.number, record.fields(), record.line) }
    }

    /// Ends the input of ``feedRaw(_:onRecord:)``.
    public mutating func finishRaw(onRecord: RawHandler) throws {
        try finishScan(keepLines: true, onRecord: onRecord)
    }

    /// Ends the input of ``feedRecords(_:onRecord:)``.
    public mutating func finishRecords(onRecord: RawHandler) throws {
        try finishScan(keepLines: false, onRecord: onRecord)
    }

    private mutating func finishScan(keepLines: Bool, onRecord: RawHandler) throws {
        switch state {
        case .quoted, .escapedInQuoted:
            throw JobError(
                .malformedFile, "unterminated quoted field in record \(recordNumber + 1)",
                details: ["row": String(recordNumber + 1), "column": String(fieldEnds.count + 1)])
        case .afterCR:
            state = .fieldStart
        case .comment:
            recordNumber += 1
            lineStarted = false
            lineCarry.removeAll(keepingCapacity: true)
            state = .fieldStart
        case .fieldStart:
            if !fieldEnds.isEmpty {
                try endField()
                try endRecord(onRecord, keepLines: keepLines, tail: UnsafeBufferPointer(start: nil, count: 0))
            }
        case .unquoted, .quoteInQuoted, .escapedInUnquoted:
            try endField()
            try endRecord(onRecord, keepLines: keepLines, tail: UnsafeBufferPointer(start: nil, count: 0))
            state = .fieldStart
        }
    }

    /// Parses a whole in-memory text (for tests and small inputs).
    public static func parse(_ text: String, delimiter: UInt8 = UInt8(ascii: ",")) throws -> [[String]] {
        try parse(text, dialect: CSVDialect(delimiter: delimiter))
    }

    /// Parses a whole in-memory text in `dialect` (for tests and small inputs).
    public static func parse(_ text: String, dialect: CSVDialect) throws -> [[String]] {
        var parser = CSVParser(dialect: dialect)
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
        if trimsSpaces {
            let floor = max(fieldEnds.last ?? 0, quotedEnd)
            while record.count > floor && record[record.count - 1] == UInt8(ascii: " ") { record.removeLast() }
        }
        fieldEnds.append(record.count)
    }

    /// Ends a record; with `keepLines`, its text is the bytes carried from earlier chunks plus `tail`.
    private mutating func endRecord(_ onRecord: RawHandler, keepLines: Bool, tail: UnsafeBufferPointer<UInt8>) throws {
        guard keepLines else { return try endRecord(onRecord, line: UnsafeBufferPointer(start: nil, count: 0)) }
        lineStarted = false
        if lineCarry.isEmpty { return try endRecord(onRecord, line: tail) }
        var line = lineCarry
        lineCarry = []
        line.append(contentsOf: tail)
        try line.withUnsafeBufferPointer { try endRecord(onRecord, line: $0) }
    }

    private mutating func endRecord(_ onRecord: RawHandler, line: UnsafeBufferPointer<UInt8>) throws {
        recordNumber += 1
        defer {
            record.removeAll(keepingCapacity: true)
            fieldEnds.removeAll(keepingCapacity: true)
            quotedInRecord = false
            quotedEnd = 0
        }
        if fieldEnds.count == 1 && record.isEmpty && !quotedInRecord { return }
        let number = recordNumber, decoding = self.decoding
        try record.withUnsafeBufferPointer { bytes in
            try fieldEnds.withUnsafeBufferPointer { ends in
                try onRecord(RawRecord(number: number, bytes: bytes, fieldEnds: ends, line: line, decoding: decoding))
            }
        }
    }
}

/// A record as ``CSVParser`` holds it before its fields become strings; valid only during the handler's call.
public struct RawRecord {
    /// The 1-based physical record number (blank and comment lines counted).
    public let number: Int
    /// The fields' bytes back to back: quotes removed, escapes resolved, in the file's (or transcoded) encoding.
    public let bytes: UnsafeBufferPointer<UInt8>
    /// Where each field ends in ``bytes``.
    public let fieldEnds: UnsafeBufferPointer<Int>
    /// The record's original text (empty unless the parser keeps lines).
    public let line: UnsafeBufferPointer<UInt8>
    /// How the bytes become strings.
    public let decoding: FieldDecoding

    /// How many fields the record has.
    @inline(__always)
    public var fieldCount: Int { fieldEnds.count }

    /// The bytes of field `index`.
    @inline(__always)
    public func field(_ index: Int) -> UnsafeBufferPointer<UInt8> {
        let start = index == 0 ? 0 : fieldEnds[index - 1]
        return UnsafeBufferPointer(rebasing: bytes[start..<fieldEnds[index]])
    }

    /// Every field decoded, as the parser's string handlers get them.
    public func fields() -> [String] {
        var fields: [String] = []
        fields.reserveCapacity(fieldEnds.count)
        var start = 0
        for end in fieldEnds {
            fields.append(decoding.decode(UnsafeBufferPointer(rebasing: bytes[start..<end])))
            start = end
        }
        return fields
    }

    /// The original text decoded like the fields.
    public func decodedLine() -> String { decoding.decode(line) }
}
