import Models

/// Streams JSON (an array of objects, or an object holding exactly one array of objects) or NDJSON
/// (one object per line) without loading the file.
///
/// Delivers a synthetic header as row 0: the union of keys of the first 1000 records in first-seen
/// order. Later new keys are appended as extra columns and the extended header is re-announced as
/// another row 0 before the first row that needs it. Record rows are numbered by record ordinal
/// (JSON) or by line (NDJSON). Members of non-array type next to the record array (e.g. `"count": 3`)
/// are ignored; a second array is `.invalidJSON`.
public struct JSONReader: TabularReader {
    /// Records buffered to build the header.
    public static let headerSampleRecords = 1000

    /// Source path.
    public let path: String
    /// NDJSON (`true`) or JSON (`false`).
    public let lineDelimited: Bool
    /// Bytes still arriving (an upload in progress), read instead of the file at `path`.
    public var source: (any ByteStreamSource)?

    /// Creates a reader.
    public init(path: String, lineDelimited: Bool) {
        self.path = path
        self.lineDelimited = lineDelimited
    }

    public func read(
        limits: ExtractionLimits,
        isCancelled: @Sendable () -> Bool,
        progress: (_ bytesRead: Int64) -> Void,
        onRow: (_ rowNumber: Int, _ fields: [String]) throws -> Void
    ) throws {
        try withoutActuallyEscaping(isCancelled) { isCancelled in
            try withoutActuallyEscaping(progress) { progress in
                try run(limits: limits, isCancelled: isCancelled, progress: progress, onRow: onRow)
            }
        }
    }

    private func run(
        limits: ExtractionLimits,
        isCancelled: @escaping @Sendable () -> Bool,
        progress: @escaping (_ bytesRead: Int64) -> Void,
        onRow: (_ rowNumber: Int, _ fields: [String]) throws -> Void
    ) throws {
        let file = try ChunkedFile.opening(path: path, stream: source)
        try file.checkSize(limits)
        var gate = RowGate(limits: limits, isCancelled: isCancelled)
        try gate.checkCancelled()
        let stream = JSONByteStream(file: file) { offset in
            if isCancelled() { throw JobError.cancelledExtraction }
            progress(offset)
        }
        let parser = JSONRecordParser(stream: stream, maxDepth: limits.maxJSONDepth)

        var header: [String] = []
        var keyIndex: [String: Int] = [:]
        var announced = 0  // header.count when last announced
        var buffered: [(Int, [(String, String)])] = []
        var streaming = false
        try gate.admit(rowNumber: 0)  // the header

        func emit(_ number: Int, _ members: [(String, String)]) throws {
            if header.count != announced {
                try onRow(0, header)
                announced = header.count
            }
            var values = [String](repeating: "", count: header.count)
            var any = false
            for (k, v) in members {
                if let idx = keyIndex[k] { values[idx] = v; if !v.isEmpty { any = true } }
            }
            guard any else { return }
            try gate.admit(rowNumber: number)
            try onRow(number, values)
        }
        func record(_ number: Int, _ members: [(String, String)]) throws {
            for (k, _) in members where keyIndex[k] == nil {
                keyIndex[k] = header.count
                header.append(k)
                if header.count > limits.maxColumns { throw JobError.tooManyColumns(header.count, limit: limits.maxColumns, row: number) }
            }
            if streaming { return try emit(number, members) }
            buffered.append((number, members))
            if buffered.count >= Self.headerSampleRecords { try flush() }
        }
        func flush() throws {
            streaming = true
            try onRow(0, header)
            announced = header.count
            for (n, m) in buffered { try emit(n, m) }
            buffered.removeAll()
        }
        func nextRecord(_ number: Int) throws -> [(String, String)] {
            stream.limit = stream.offset + Int64(limits.maxRowBytes)
            stream.limitRow = number
            defer { stream.limit = .max }
            try gate.tick()
            return try parser.parseRecord(depth: 1)
        }
        func recordArray(depth: Int) throws {
            try parser.expect(UInt8(ascii: "["))
            try parser.skipWhitespace()
            if try stream.peek() == UInt8(ascii: "]") { _ = try stream.next(); return }
            var ordinal = 0
            while true {
                ordinal += 1
                try parser.skipWhitespace()
                guard try stream.peek() == UInt8(ascii: "{") else { throw parser.error("element \(ordinal) of the array is not an object") }
                try record(ordinal, try nextRecord(ordinal))
                try parser.skipWhitespace()
                guard let c = try stream.next() else { throw parser.error("unexpected end of input in array") }
                if c == UInt8(ascii: "]") { return }
                if c != UInt8(ascii: ",") { throw parser.error("expected ',' or ']' in array") }
            }
        }

        var bom = [UInt8]()
        if try stream.peek() == 0xEF { for _ in 0..<3 { if let b = try stream.next() { bom.append(b) } } }
        if !bom.isEmpty && bom != [0xEF, 0xBB, 0xBF] { throw parser.error("invalid byte") }

        if lineDelimited {
            while true {
                try parser.skipWhitespace()
                guard let b = try stream.peek() else { break }
                let line = stream.newlines + 1
                guard b == UInt8(ascii: "{") else { throw parser.error("line \(line) is not a JSON object") }
                try record(line, try nextRecord(line))
                try parser.skipWhitespace(stopAtNewline: true)
                if let c = try stream.peek(), c != 0x0A { throw parser.error("expected a line break after the object on line \(line)") }
            }
        } else {
            try parser.skipWhitespace()
            switch try stream.peek() {
            case UInt8(ascii: "["):
                try recordArray(depth: 1)
            case UInt8(ascii: "{"):
                _ = try stream.next()
                var found = false
                try parser.skipWhitespace()
                if try stream.peek() == UInt8(ascii: "}") {
                    _ = try stream.next()
                } else {
                    while true {
                        try parser.skipWhitespace()
                        let key = try parser.parseStringValue()
                        try parser.expect(UInt8(ascii: ":"))
                        try parser.skipWhitespace()
                        if try stream.peek() == UInt8(ascii: "[") {
                            if found { throw parser.error("the top-level object holds more than one array (second: \"\(key)\")") }
                            found = true
                            try recordArray(depth: 2)
                        } else {
                            var scratch: [UInt8] = []
                            try parser.parseValue(depth: 2, into: &scratch)
                        }
                        try parser.skipWhitespace()
                        guard let c = try stream.next() else { throw parser.error("unexpected end of input in object") }
                        if c == UInt8(ascii: "}") { break }
                        if c != UInt8(ascii: ",") { throw parser.error("expected ',' or '}' in object") }
                    }
                }
                if !found { throw parser.error("the top-level object holds no array of records") }
            case nil:
                throw JobError(.emptyFile, "file holds only whitespace")
            default:
                throw parser.error("expected '[' or '{' at the top level")
            }
            try parser.skipWhitespace()
            if try stream.peek() != nil { throw parser.error("unexpected data after the top-level value") }
        }
        if !streaming { try flush() }
        progress(file.offset)
    }
}
