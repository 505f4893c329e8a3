import Models

/// Streams a CSV/TSV/text file in 256 KB chunks through `CSVParser`.
///
/// Before the first row it probes the first chunk (see ``CSVProbe``): the encoding (BOM, BOM-less UTF-16,
/// UTF-8, Windows-1252 / Latin-1; `options.encoding` overrides) and the dialect (delimiter — `options.delimiter`,
/// else the reader's default such as tab for TSV, else sniffed —, quote, escape, space padding, comment lines).
///
/// What is delivered: every field of every row, whatever the header's width (ragged rows and trailing
/// delimiters included). Not delivered: blank lines, comment lines, and the preamble — lines of prose before
/// the table that the sniffer found (a title, "exported on …"); all of them keep counting, so row numbers stay
/// physical and the first delivered row number shows how many were skipped. Lines after the table (footnotes)
/// are delivered as ordinary rows, so nothing after the header is lost silently.
public struct CSVReader: EscapingTabularReader {
    /// Source path.
    public let path: String
    /// Options chosen by the job.
    public let options: TabularOptions
    /// Delimiter used when the options give none (`nil` sniffs).
    public let defaultDelimiter: UInt8?
    /// Bytes still arriving (an upload in progress), read instead of the file at `path`.
    public var source: (any ByteStreamSource)?

    /// Creates a reader.
    public init(path: String, options: TabularOptions = TabularOptions(), defaultDelimiter: UInt8? = nil) {
        self.path = path
        self.options = options
        self.defaultDelimiter = defaultDelimiter
    }

    /// The encoding and dialect found in the first 256 KB, without reading the rest.
    public func inspect(limits: ExtractionLimits) throws -> TabularSourceInfo {
        let file = try ChunkedFile.opening(path: path, stream: source)
        try file.checkSize(limits)
        let probe = CSVProbe(head: Array(try file.next()), isWholeFile: file.offset >= file.size, reader: self)
        return probe.info
    }

    func run(
        limits: ExtractionLimits,
        isCancelled: @escaping @Sendable () -> Bool,
        progress: (_ bytesRead: Int64) -> Void,
        onRow: (_ rowNumber: Int, _ fields: [String]) throws -> Void
    ) throws {
        try stream(limits: limits, isCancelled: isCancelled, progress: progress, keepLines: false) { record in
            try onRow(record.number, record.fields())
        }
    }

    /// Reads like ``read(limits:isCancelled:progress:onRow:)`` and also offers each row's original text — the
    /// record as it stands in the file, quotes, escapes and embedded line breaks included, without its line
    /// break — decoded like its cells (UTF-16 and single-byte files become Unicode text). `line()` is only valid
    /// during the call and decodes on demand, so rows that do not need it cost nothing more than the parse.
    public func readLines(
        limits: ExtractionLimits,
        isCancelled: @Sendable () -> Bool,
        progress: (_ bytesRead: Int64) -> Void,
        onRow: (_ rowNumber: Int, _ fields: [String], _ line: () -> String) throws -> Void
    ) throws {
        try readRaw(limits: limits, isCancelled: isCancelled, progress: progress) { record in
            try onRow(record.number, record.fields()) { record.decodedLine() }
        }
    }

    /// Reads like ``readLines(limits:isCancelled:progress:onRow:)`` but hands each row as the parser holds it
    /// (``RawRecord``: the fields' bytes and the original text, valid only during the call), for a caller that
    /// makes strings only of the cells it needs. Preamble rows are skipped and the row limit is applied first.
    public func readRaw(
        limits: ExtractionLimits,
        isCancelled: @Sendable () -> Bool,
        progress: (_ bytesRead: Int64) -> Void,
        onRow: (_ record: RawRecord) throws -> Void
    ) throws {
        try withoutActuallyEscaping(isCancelled) { isCancelled in
            try stream(limits: limits, isCancelled: isCancelled, progress: progress, keepLines: true, onRow: onRow)
        }
    }

    private func stream(
        limits: ExtractionLimits,
        isCancelled: @escaping @Sendable () -> Bool,
        progress: (_ bytesRead: Int64) -> Void,
        keepLines: Bool,
        onRow: (_ record: RawRecord) throws -> Void
    ) throws {
        let file = try ChunkedFile.opening(path: path, stream: source)
        try file.checkSize(limits)
        var gate = RowGate(limits: limits, isCancelled: isCancelled)
        try gate.checkCancelled()

        var chunk = try file.next()
        let probe = CSVProbe(head: Array(chunk), isWholeFile: file.offset >= file.size, reader: self)
        var transcoder = probe.encoding.isUTF16 ? UTF16StreamTranscoder(bigEndian: probe.encoding.kind == .utf16BE) : nil
        var utf8Buffer: [UInt8] = []
        var parser = CSVParser(
            dialect: probe.sniffed.dialect, maxRecordBytes: limits.maxRowBytes, maxFields: limits.maxColumns,
            decoding: probe.encoding.decoding)
        // A job that places its header itself (`header_row` / `skip_rows`) counts physical rows: nothing is skipped.
        let preamble = options.keepPreamble ? 0 : probe.sniffed.preambleRecords

        func deliver(_ record: RawRecord) throws {
            if record.number <= preamble { return }
            try gate.admit(rowNumber: record.number)
            try onRow(record)
        }
        func feed(_ bytes: UnsafeBufferPointer<UInt8>) throws {
            if keepLines {
                try parser.feedRaw(bytes, onRecord: deliver)
            } else {
                try parser.feedRecords(bytes, onRecord: deliver)
            }
        }
        func process(_ raw: UnsafeBufferPointer<UInt8>) throws {
            if var t = transcoder {
                t.transcode(raw, into: &utf8Buffer)
                transcoder = t
                try utf8Buffer.withUnsafeBufferPointer { try feed($0) }
            } else {
                try feed(raw)
            }
        }

        var first = true
        while !chunk.isEmpty {
            try gate.checkCancelled()
            let skip = first ? min(probe.encoding.bomLength, chunk.count) : 0
            first = false
            try process(UnsafeBufferPointer(rebasing: chunk[skip...]))
            progress(file.offset)
            chunk = try file.next()
        }
        if var t = transcoder {
            t.finish(into: &utf8Buffer)
            if !utf8Buffer.isEmpty { try utf8Buffer.withUnsafeBufferPointer { try feed($0) } }
        }
        if keepLines {
            try parser.finishRaw(onRecord: deliver)
        } else {
            try parser.finishRecords(onRecord: deliver)
        }
        progress(file.offset)
    }
}

/// What ``CSVReader`` learns from the first chunk of its file: the encoding, then the dialect sniffed from the
/// decoded text. `run` and `inspect` both go through it, so the summary reports exactly what was read.
struct CSVProbe {
    let encoding: TextEncodingDetector.Detected
    let sniffed: CSVDialectSniffer.Result
    let delimiterGiven: Bool

    init(head: [UInt8], isWholeFile: Bool, reader: CSVReader) {
        encoding = TextEncodingDetector.detect(head, isWholeFile: isWholeFile, hint: reader.options.encoding ?? .auto)
        var body = Array(head.dropFirst(encoding.bomLength))
        if encoding.isUTF16 {
            var transcoder = UTF16StreamTranscoder(bigEndian: encoding.kind == .utf16BE)
            var utf8: [UInt8] = []
            let raw = Array(body.prefix(2 * CSVDialectSniffer.sampleBytes))
            raw.withUnsafeBufferPointer { transcoder.transcode($0, into: &utf8) }
            body = utf8
        }
        let fixed = reader.options.delimiter ?? reader.defaultDelimiter
        delimiterGiven = fixed != nil
        sniffed = CSVDialectSniffer.sniff(body, isWholeFile: isWholeFile, delimiter: fixed)
    }

    /// The report for ``TabularSourceInfo``.
    var info: TabularSourceInfo {
        let d = sniffed.dialect
        let report = CSVDialectReport(
            delimiter: sniffed.delimiterText, quote: d.quote.map { String(UnicodeScalar($0)) },
            escape: d.escape.rawValue, lineTerminator: sniffed.lineTerminator,
            commentPrefix: d.commentPrefix.map { String(UnicodeScalar($0)) }, trimsSpaces: d.trimSpaces,
            sniffed: !delimiterGiven, confidence: sniffed.confidence, preambleLines: sniffed.preambleRecords)
        return TabularSourceInfo(encoding: encoding.name, dialect: report)
    }
}
