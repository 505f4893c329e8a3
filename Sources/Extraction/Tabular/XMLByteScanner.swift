import Models

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why a delegate stops the scanner: an error (thrown from the scan that triggered it), or — with
/// `error` nil — it has read what it needs and the rest of the document is skipped.
struct XMLScanStop {
    var error: (any Error)?
    /// The delegate has what it needs.
    static let finished = XMLScanStop(error: nil)
}

/// Receives the events of an ``XMLByteScanner``. Buffers are valid only during the call.
/// Element events return nil to go on, or why to stop.
protocol XMLScanDelegate {
    /// An element opened; `name` is its local name (a `prefix:` is removed).
    mutating func startElement(_ name: UnsafeBufferPointer<UInt8>, _ attributes: XMLScanAttributes) -> XMLScanStop?
    /// An element closed (also right after `startElement` for an empty-element tag `<x/>`).
    mutating func endElement(_ name: UnsafeBufferPointer<UInt8>) -> XMLScanStop?
    /// Character data, possibly in several pieces: references decoded, CDATA content as is.
    mutating func characters(_ bytes: UnsafeBufferPointer<UInt8>)
}

/// The attributes of a start tag, as byte ranges of the scanned text (no copies).
///
/// Names are local (a `prefix:` is removed). Values are raw: references in them are not decoded
/// (the attributes Quarry reads — `r`, `t`, `s` of sheet cells — never hold any).
struct XMLScanAttributes {
    fileprivate let text: UnsafePointer<UInt8>
    fileprivate let spans: UnsafeBufferPointer<XMLByteScanner.AttributeSpan>

    /// Calls `body` with each attribute's local name and value.
    @inline(__always)
    func forEach(_ body: (_ name: UnsafeBufferPointer<UInt8>, _ value: UnsafeBufferPointer<UInt8>) -> Void) {
        for span in spans {
            body(
                UnsafeBufferPointer(start: text + span.nameStart, count: span.nameEnd - span.nameStart),
                UnsafeBufferPointer(start: text + span.valueStart, count: span.valueEnd - span.valueStart))
        }
    }
}

/// A streaming, non-validating XML tokenizer in Swift for the parts of an XLSX that grow with the file
/// (sheet data and shared strings), in the spirit of quick-xml (calamine) rather than a full parser.
///
/// It checks what extraction relies on and refuses what it must: tags nest and match, attributes are
/// quoted, text references are the five predefined entities or character references, and any DOCTYPE
/// (so any DTD or entity declaration) or undeclared entity is `.xmlForbidden` — there is no DTD
/// processing to abuse. Anything else malformed, including a truncated document, is `.malformedFile`.
/// Memory is bounded: one read buffer plus a token of at most `maxTokenBytes`, element depth ≤ 256.
/// Only UTF-8 (or ASCII) documents are read; a UTF-16 part is `.malformedFile`.
///
/// Generic over a struct delegate, so the events are direct calls without dynamic dispatch,
/// reference counting or exclusivity checks — libxml2's SAX2 parser spent about half the XLSX read here.
struct XMLByteScanner {
    /// Byte ranges of one attribute within the scanned text.
    fileprivate struct AttributeSpan {
        var nameStart: Int, nameEnd: Int, valueStart: Int, valueEnd: Int
    }

    /// What is being read (a ZIP part name), for messages.
    let what: String
    /// Longest tag, comment or unbroken reference-carrying text run; longer is `.malformedFile`.
    let maxTokenBytes: Int
    static let maxDepth = 256
    static let maxAttributes = 256

    /// Qualified names of the open elements, back to back in `openNames[0..<openEnds.last]`; `openEnds[k]`
    /// is where the k-th one ends. The array only grows (bytes past the last end are stale), so pushing
    /// and popping a name does not resize it.
    private var openNames: [UInt8] = []
    private var openEnds: [Int] = []
    private var attributes: [AttributeSpan] = []
    private var decoded: [UInt8] = []
    /// The unfinished token at the end of the bytes fed so far (at most `maxTokenBytes`).
    private var carry: [UInt8] = []
    private var sawRoot = false
    private var rootClosed = false
    private var atStart = true
    /// The delegate stopped without an error; the rest of the document is not read.
    private(set) var isFinished = false

    init(what: String, maxTokenBytes: Int = 4 << 20) {
        self.what = what
        self.maxTokenBytes = maxTokenBytes
        openNames.reserveCapacity(1024)
        openEnds.reserveCapacity(16)
        attributes.reserveCapacity(8)
    }

    // MARK: Input

    /// Scans the next bytes of the document (any split is fine); whatever ends in an unfinished token is kept
    /// for the next call. After the delegate has finished, further bytes are ignored.
    mutating func feed<D: XMLScanDelegate>(_ bytes: UnsafeRawBufferPointer, delegate: inout D) throws {
        guard !isFinished, bytes.count > 0 else { return }
        if carry.isEmpty {
            // Scan the caller's bytes in place; keep only the unfinished tail.
            let consumed = try scan(bytes.bindMemory(to: UInt8.self), atEnd: false, delegate: &delegate)
            if consumed < bytes.count && !isFinished { carry.append(contentsOf: bytes[consumed...]) }
        } else {
            // Moved out while scanned, so the scan (which mutates self) never overlaps an access to `carry`.
            var pending = carry
            carry = []
            pending.append(contentsOf: bytes)
            let consumed = try pending.withUnsafeBufferPointer { try scan($0, atEnd: false, delegate: &delegate) }
            if !isFinished {
                pending.removeFirst(consumed)
                carry = pending
            }
        }
        if carry.count > maxTokenBytes { throw malformed("a token is longer than \(maxTokenBytes) bytes") }
    }

    /// Ends the document: what is left must complete it (the root closed), unless the delegate finished early.
    mutating func finish<D: XMLScanDelegate>(delegate: inout D) throws {
        guard !isFinished else { return }
        let rest = carry
        carry = []
        _ = try rest.withUnsafeBufferPointer { try scan($0, atEnd: true, delegate: &delegate) }
    }

    /// Scans an in-memory document (tests, small parts), in `chunk`-byte pieces to exercise the boundaries.
    mutating func scan<D: XMLScanDelegate>(_ bytes: [UInt8], chunk: Int = .max, delegate: inout D) throws {
        let step = max(1, chunk)
        var i = 0
        try bytes.withUnsafeBytes { all in
            while i < all.count && !isFinished {
                let j = all.count - i <= step ? all.count : i + step
                try feed(UnsafeRawBufferPointer(rebasing: all[i..<j]), delegate: &delegate)
                i = j
            }
        }
        try finish(delegate: &delegate)
    }

    // MARK: Tokens

    /// Scans complete tokens of `text`; returns how many bytes were consumed (the rest is an incomplete
    /// token to scan again with more bytes). With `atEnd`, everything must be consumed and the root closed.
    private mutating func scan<D: XMLScanDelegate>(_ text: UnsafeBufferPointer<UInt8>, atEnd: Bool, delegate: inout D) throws -> Int {
        guard !isFinished, let p = text.baseAddress else {
            if atEnd && !isFinished { try finishDocument() }
            return text.count
        }
        let n = text.count
        var i = 0
        if atStart {
            if n < 3 && !atEnd { return 0 }
            if n >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF) || p[0] == 0 || p[1] == 0) {
                throw malformed("only UTF-8 XML is supported")
            }
            if n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF { i = 3 }
            atStart = false
        }
        let lt = UInt8(ascii: "<"), gt = UInt8(ascii: ">")
        while i < n {
            if p[i] != lt {
                // Character data up to the next tag.
                let end: Int
                if let hit = memchr(p + i, Int32(lt), n - i) {
                    end = p.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                } else if atEnd {
                    end = n
                } else {
                    // Deliver all but an unfinished reference at the end (kept for the next bytes).
                    var cut = n
                    var k = n - 1
                    while k >= max(i, n - 1 - Self.maxReferenceName) {
                        if p[k] == UInt8(ascii: "&") { cut = k; break }
                        if !Self.isReferenceByte(p[k]) { break }
                        k -= 1
                    }
                    if cut > i { try characters(UnsafeBufferPointer(start: p + i, count: cut - i), delegate: &delegate) }
                    return cut
                }
                try characters(UnsafeBufferPointer(start: p + i, count: end - i), delegate: &delegate)
                i = end
                continue
            }
            // A markup token starting at i.
            guard i + 1 < n else { break }
            let next = p[i + 1]
            if next == UInt8(ascii: "/") {
                guard let hit = memchr(p + i + 2, Int32(gt), n - i - 2) else { break }
                let close = p.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                var nameEnd = close
                while nameEnd > i + 2 && Self.isSpace(p[nameEnd - 1]) { nameEnd -= 1 }
                let name = UnsafeBufferPointer(start: p + i + 2, count: nameEnd - (i + 2))
                try endElement(name, delegate: &delegate)
                i = close + 1
                if isFinished { return n }
            } else if next == UInt8(ascii: "?") {
                guard let end = Self.find(p, from: i + 2, to: n, "?>") else { break }
                i = end + 2
            } else if next == UInt8(ascii: "!") {
                let rest = n - i
                if rest >= 4 && p[i + 2] == UInt8(ascii: "-") && p[i + 3] == UInt8(ascii: "-") {
                    guard let end = Self.find(p, from: i + 4, to: n, "-->") else { break }
                    i = end + 3
                } else if rest >= 9 && Self.hasPrefix(p + i, "<![CDATA[") {
                    guard openEnds.count > 0 else { throw malformed("CDATA outside the root element") }
                    guard let end = Self.find(p, from: i + 9, to: n, "]]>") else { break }
                    if end > i + 9 { delegate.characters(UnsafeBufferPointer(start: p + i + 9, count: end - i - 9)) }
                    i = end + 3
                } else if rest >= 9 || atEnd {
                    if rest >= 9 && Self.hasPrefix(p + i, "<!DOCTYPE") {
                        throw JobError(.xmlForbidden, "\(what) declares a DTD or entities, which are not allowed", details: ["part": what])
                    }
                    throw malformed("unexpected markup declaration")
                } else {
                    break
                }
            } else {
                guard let end = try startTag(p, from: i, to: n, delegate: &delegate) else { break }
                i = end
                if isFinished { return n }
            }
        }
        if atEnd {
            if i < n { throw malformed("the document ends inside a tag") }
            try finishDocument()
        }
        return i
    }

    /// Parses the start tag at `start` (`<name attr="v" …>` or `…/>`); nil when it is not complete yet.
    private mutating func startTag<D: XMLScanDelegate>(
        _ p: UnsafePointer<UInt8>, from start: Int, to n: Int, delegate: inout D
    ) throws -> Int? {
        var i = start + 1
        let nameStart = i
        while i < n && Self.isNameByte(p[i]) { i += 1 }
        guard i < n else { return nil }
        let nameEnd = i
        guard nameEnd > nameStart else { throw malformed("a tag without a name") }
        var attributeCount = 0
        var selfClosing = false
        while true {
            let spaceStart = i
            while i < n && Self.isSpace(p[i]) { i += 1 }
            guard i < n else { return nil }
            let b = p[i]
            if b == UInt8(ascii: ">") {
                i += 1
                break
            }
            if b == UInt8(ascii: "/") {
                guard i + 1 < n else { return nil }
                guard p[i + 1] == UInt8(ascii: ">") else { throw malformed("'/' not followed by '>' in a tag") }
                selfClosing = true
                i += 2
                break
            }
            guard i > spaceStart else { throw malformed("unexpected '\(Character(Unicode.Scalar(b)))' in a tag") }
            let attrNameStart = i
            while i < n && Self.isNameByte(p[i]) { i += 1 }
            guard i < n else { return nil }
            let attrNameEnd = i
            guard attrNameEnd > attrNameStart else { throw malformed("unexpected '\(Character(Unicode.Scalar(b)))' in a tag") }
            while i < n && Self.isSpace(p[i]) { i += 1 }
            guard i < n else { return nil }
            guard p[i] == UInt8(ascii: "=") else { throw malformed("an attribute without a value") }
            i += 1
            while i < n && Self.isSpace(p[i]) { i += 1 }
            guard i < n else { return nil }
            let quote = p[i]
            guard quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else { throw malformed("an unquoted attribute value") }
            guard let hit = memchr(p + i + 1, Int32(quote), n - i - 1) else { return nil }
            let valueEnd = p.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if memchr(p + i + 1, Int32(UInt8(ascii: "<")), valueEnd - i - 1) != nil { throw malformed("'<' in an attribute value") }
            guard attributeCount < Self.maxAttributes else { throw malformed("more than \(Self.maxAttributes) attributes in a tag") }
            let local = Self.localStart(p, attrNameStart, attrNameEnd)
            let span = AttributeSpan(nameStart: local, nameEnd: attrNameEnd, valueStart: i + 1, valueEnd: valueEnd)
            // Overwritten in place: clearing the array per tag cost more than the parsing.
            if attributeCount < attributes.count { attributes[attributeCount] = span } else { attributes.append(span) }
            attributeCount += 1
            i = valueEnd + 1
        }
        // Complete: check structure, then deliver.
        if rootClosed { throw malformed("content after the root element") }
        guard openEnds.count < Self.maxDepth else { throw malformed("elements nested deeper than \(Self.maxDepth)") }
        sawRoot = true
        let local = Self.localStart(p, nameStart, nameEnd)
        let name = UnsafeBufferPointer(start: p + local, count: nameEnd - local)
        if !selfClosing {
            let used = openEnds.last ?? 0
            let length = nameEnd - nameStart
            if used + length > openNames.count { openNames.append(contentsOf: repeatElement(0, count: used + length - openNames.count)) }
            openNames.withUnsafeMutableBufferPointer { names in
                guard let base = names.baseAddress else { return }
                (base + used).update(from: p + nameStart, count: length)
            }
            openEnds.append(used + length)
        }
        let stop = attributes.withUnsafeBufferPointer { spans in
            delegate.startElement(name, XMLScanAttributes(text: p, spans: UnsafeBufferPointer(rebasing: spans[0..<attributeCount])))
        }
        if let stop { try handle(stop) }
        if selfClosing && !isFinished {
            if openEnds.isEmpty { rootClosed = true }
            if let stop = delegate.endElement(name) { try handle(stop) }
        }
        return i
    }

    private mutating func endElement<D: XMLScanDelegate>(_ qualified: UnsafeBufferPointer<UInt8>, delegate: inout D) throws {
        guard let end = openEnds.last else { throw malformed("a closing tag without an open element") }
        let start = openEnds.count > 1 ? openEnds[openEnds.count - 2] : 0
        let matches = openNames.withUnsafeBufferPointer { open in
            guard end - start == qualified.count, let names = open.baseAddress, let closing = qualified.baseAddress else { return false }
            return memcmp(names + start, closing, qualified.count) == 0
        }
        guard matches else {
            throw malformed("closing tag </\(String(decoding: qualified.prefix(64), as: UTF8.self))> does not match the open element")
        }
        openEnds.removeLast()
        if openEnds.isEmpty { rootClosed = true }
        guard let base = qualified.baseAddress else { return }
        let local = Self.localStart(base, 0, qualified.count)
        if let stop = delegate.endElement(UnsafeBufferPointer(start: base + local, count: qualified.count - local)) { try handle(stop) }
    }

    /// Delivers character data, decoding references; outside the root only whitespace is allowed.
    private mutating func characters<D: XMLScanDelegate>(_ raw: UnsafeBufferPointer<UInt8>, delegate: inout D) throws {
        guard let base = raw.baseAddress, raw.count > 0 else { return }
        if openEnds.isEmpty {
            for b in raw where !Self.isSpace(b) { throw malformed("text outside the root element") }
            return
        }
        guard memchr(base, Int32(UInt8(ascii: "&")), raw.count) != nil else {
            delegate.characters(raw)
            return
        }
        decoded.removeAll(keepingCapacity: true)
        var i = 0
        let n = raw.count
        while i < n {
            let b = base[i]
            guard b == UInt8(ascii: "&") else {
                decoded.append(b)
                i += 1
                continue
            }
            var end = i + 1
            while end < n && end - (i + 1) < Self.maxReferenceName && Self.isReferenceByte(base[end]) { end += 1 }
            guard end < n, base[end] == UInt8(ascii: ";"), end > i + 1 else {
                throw malformed("'&' is not the start of a reference")
            }
            let ref = UnsafeBufferPointer(start: base + i + 1, count: end - i - 1)
            try decodeReference(ref)
            i = end + 1
        }
        decoded.withUnsafeBufferPointer { delegate.characters($0) }
    }

    private mutating func decodeReference(_ ref: UnsafeBufferPointer<UInt8>) throws {
        if ref.isEqual("lt") {
            decoded.append(UInt8(ascii: "<"))
        } else if ref.isEqual("gt") {
            decoded.append(UInt8(ascii: ">"))
        } else if ref.isEqual("amp") {
            decoded.append(UInt8(ascii: "&"))
        } else if ref.isEqual("quot") {
            decoded.append(UInt8(ascii: "\""))
        } else if ref.isEqual("apos") {
            decoded.append(UInt8(ascii: "'"))
        } else if ref.first == UInt8(ascii: "#") {
            var value: UInt32 = 0
            let hex = ref.count > 1 && (ref[1] == UInt8(ascii: "x"))
            let digits = ref.dropFirst(hex ? 2 : 1)
            guard !digits.isEmpty, digits.count <= 8 else { throw malformed("an invalid character reference") }
            for d in digits {
                let v: UInt32
                switch d {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(d - 48)
                case UInt8(ascii: "a")...UInt8(ascii: "f") where hex: v = UInt32(d - 87)
                case UInt8(ascii: "A")...UInt8(ascii: "F") where hex: v = UInt32(d - 55)
                default: throw malformed("an invalid character reference")
                }
                value = value * (hex ? 16 : 10) + v
            }
            guard value != 0, let scalar = Unicode.Scalar(value) else { throw malformed("a character reference to an invalid code point") }
            UTF8.encode(scalar) { decoded.append($0) }
        } else {
            throw JobError(
                .xmlForbidden, "\(what) refers to the undeclared entity '\(String(decoding: ref.prefix(40), as: UTF8.self))'",
                details: ["part": what])
        }
    }

    private mutating func handle(_ stop: XMLScanStop) throws {
        if let error = stop.error { throw error }
        isFinished = true
    }

    private func finishDocument() throws {
        guard sawRoot else { throw malformed("no root element") }
        guard openEnds.isEmpty else { throw malformed("the document ends before its elements are closed") }
    }

    private func malformed(_ reason: String) -> JobError {
        JobError(.malformedFile, "\(what) is not well-formed XML: \(reason)", details: ["part": what])
    }

    // MARK: Bytes

    /// Longest reference name read (`#x10FFFF` is 8); a longer run of name bytes after `&` is malformed.
    static let maxReferenceName = 16

    /// Bytes of a reference name: ASCII letters, digits and `#`.
    @inline(__always)
    private static func isReferenceByte(_ b: UInt8) -> Bool {
        (b | 0x20) &- UInt8(ascii: "a") < 26 || b &- UInt8(ascii: "0") < 10 || b == UInt8(ascii: "#")
    }

    @inline(__always)
    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D }

    /// Bytes allowed in a (qualified) name: anything but markup, quotes, references, spaces and control bytes.
    @inline(__always)
    private static func isNameByte(_ b: UInt8) -> Bool {
        switch b {
        case 0...0x20, UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: "\""),
            UInt8(ascii: "'"), UInt8(ascii: "&"), UInt8(ascii: "?"), UInt8(ascii: "!"):
            return false
        default: return true
        }
    }

    /// Where the local part of the name in `start..<end` begins (after the last ':').
    @inline(__always)
    private static func localStart(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> Int {
        var k = end - 1
        while k >= start {
            if p[k] == UInt8(ascii: ":") { return k + 1 }
            k -= 1
        }
        return start
    }

    private static func hasPrefix(_ p: UnsafePointer<UInt8>, _ literal: StaticString) -> Bool {
        memcmp(p, literal.utf8Start, literal.utf8CodeUnitCount) == 0
    }

    /// Index of the first `literal` in `from..<to`, nil if absent.
    private static func find(_ p: UnsafePointer<UInt8>, from: Int, to: Int, _ literal: StaticString) -> Int? {
        let m = literal.utf8CodeUnitCount
        let first = Int32(literal.utf8Start[0])
        var i = from
        while i + m <= to {
            guard let hit = memchr(p + i, first, to - i) else { return nil }
            let k = p.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            guard k + m <= to else { return nil }
            if memcmp(p + k, literal.utf8Start, m) == 0 { return k }
            i = k + 1
        }
        return nil
    }
}

extension UnsafeBufferPointer where Element == UInt8 {
    /// Compares the bytes with an ASCII literal.
    @inline(__always)
    func isEqual(_ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard count == n, let base = baseAddress else { return n == 0 && count == 0 }
        return memcmp(base, literal.utf8Start, n) == 0
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// Whether this is exactly the one ASCII byte `byte`.
    @inline(__always)
    func isByte(_ byte: Unicode.Scalar) -> Bool { count == 1 && self[0] == UInt8(byte.value) }
}
