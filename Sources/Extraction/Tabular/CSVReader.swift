import Models

/// Streams a CSV/TSV/text file in 256 KB chunks through `CSVParser`.
///
/// Encoding: a UTF-8 BOM is skipped; a UTF-16 LE/BE BOM (or the matching hint) transcodes to UTF-8 while
/// streaming; otherwise each field is UTF-8 when valid, else Windows-1252.
/// Delimiter: `options.delimiter`, else the reader's default (tab for TSV), else sniffed from the first 64 KB.
public struct CSVReader: EscapingTabularReader {
    /// Source path.
    public let path: String
    /// Options chosen by the job.
    public let options: TabularOptions
    /// Delimiter used when the options give none (`nil` sniffs).
    public let defaultDelimiter: UInt8?

    /// Creates a reader.
    public init(path: String, options: TabularOptions = TabularOptions(), defaultDelimiter: UInt8? = nil) {
        self.path = path
        self.options = options
        self.defaultDelimiter = defaultDelimiter
    }

    func run(
        limits: ExtractionLimits,
        isCancelled: @escaping @Sendable () -> Bool,
        progress: (_ bytesRead: Int64) -> Void,
        onRow: (_ rowNumber: Int, _ fields: [String]) throws -> Void
    ) throws {
        let file = try ChunkedFile(path: path)
        try file.checkSize(limits)
        var gate = RowGate(limits: limits, isCancelled: isCancelled)
        try gate.checkCancelled()

        var chunk = try file.next()
        // Encoding from BOM / hint.
        var hint = options.encoding ?? .auto
        var skip = 0
        if chunk.count >= 3 && chunk[0] == 0xEF && chunk[1] == 0xBB && chunk[2] == 0xBF {
            skip = 3
            if hint == .auto { hint = .utf8 }
        } else if chunk.count >= 2 && chunk[0] == 0xFF && chunk[1] == 0xFE {
            if hint == .auto || hint == .utf16LE { hint = .utf16LE; skip = 2 }
        } else if chunk.count >= 2 && chunk[0] == 0xFE && chunk[1] == 0xFF {
            if hint == .auto || hint == .utf16BE { hint = .utf16BE; skip = 2 }
        }
        var transcoder: UTF16StreamTranscoder?
        let decoding: FieldDecoding
        switch hint {
        case .auto: decoding = .utf8OrWindows1252
        case .utf8: decoding = .utf8OrWindows1252  // BOM says UTF-8, but stay tolerant of stray CP1252 bytes
        case .windows1252: decoding = .windows1252
        case .utf16LE: decoding = .utf8; transcoder = UTF16StreamTranscoder(bigEndian: false)
        case .utf16BE: decoding = .utf8; transcoder = UTF16StreamTranscoder(bigEndian: true)
        }
        var utf8Buffer: [UInt8] = []

        var parser: CSVParser?
        func deliver(_ number: Int, _ fields: [String]) throws {
            try gate.admit(rowNumber: number)
            try onRow(number, fields)
        }
        func process(_ raw: UnsafeBufferPointer<UInt8>, isLast: Bool) throws {
            if var t = transcoder {
                t.transcode(raw, into: &utf8Buffer)
                transcoder = t
                try utf8Buffer.withUnsafeBufferPointer { try parse($0, isLast: isLast) }
            } else {
                try parse(raw, isLast: isLast)
            }
        }
        func parse(_ bytes: UnsafeBufferPointer<UInt8>, isLast: Bool) throws {
            if parser == nil {
                let delimiter =
                    options.delimiter ?? defaultDelimiter
                    ?? CSVDelimiterSniffer.sniff(bytes, sampleIsWholeFile: isLast) ?? UInt8(ascii: ",")
                parser = CSVParser(
                    delimiter: delimiter, maxRecordBytes: limits.maxRowBytes,
                    maxFields: limits.maxColumns, decoding: decoding)
            }
            try parser?.feed(bytes, onRecord: deliver)
        }

        var first = true
        while !chunk.isEmpty {
            try gate.checkCancelled()
            let body = first ? UnsafeBufferPointer(rebasing: chunk[skip...]) : chunk
            first = false
            try process(body, isLast: file.offset >= file.size)
            progress(file.offset)
            chunk = try file.next()
        }
        if var t = transcoder {
            t.finish(into: &utf8Buffer)
            if !utf8Buffer.isEmpty { try utf8Buffer.withUnsafeBufferPointer { try parse($0, isLast: true) } }
        }
        try parser?.finish(onRecord: deliver)
        progress(file.offset)
    }
}
