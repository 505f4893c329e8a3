import CLibXML2
import Foundation
import Models

/// Why a delegate stops the parser: an error (thrown from the `feed` that triggered it), or — with
/// `error` nil — it has read what it needs and the rest of the document is skipped.
struct XMLSAXStop {
    var error: (any Error)?
    /// The delegate has what it needs.
    static let finished = XMLSAXStop(error: nil)
}

/// Receives the events of an ``XMLPushParser``. Pointers are valid only during the call.
/// Element events return nil to go on, or why to stop.
protocol XMLSAXDelegate: AnyObject {
    /// An element opened; `name` is its NUL-terminated local name.
    func startElement(_ name: UnsafePointer<UInt8>, _ attributes: XMLSAXAttributes) -> XMLSAXStop?
    /// An element closed.
    func endElement(_ name: UnsafePointer<UInt8>) -> XMLSAXStop?
    /// Text or CDATA content (entities and character references already resolved).
    func characters(_ bytes: UnsafeBufferPointer<UInt8>)
}

/// The attributes of a SAX2 start tag: local names are NUL-terminated, values are byte ranges.
///
/// Entity substitution stays off, so a value holding a reference comes as libxml2 re-escapes it
/// (`A&amp;B` → `A&#38;B`); the attributes Quarry reads (`r`, `t`, `s` of sheet cells) never hold any.
struct XMLSAXAttributes {
    let count: Int
    let base: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?

    /// Calls `body` with each attribute's local name and value bytes (no copies).
    func forEach(_ body: (_ name: UnsafePointer<UInt8>, _ value: UnsafeBufferPointer<UInt8>) -> Void) {
        guard let base else { return }
        for i in 0..<count {
            // libxml2 packs 5 pointers per attribute: localname, prefix, URI, value start, value end.
            guard let name = base[5 * i], let start = base[5 * i + 3], let end = base[5 * i + 4] else { continue }
            body(name, UnsafeBufferPointer(start: start, count: end - start))
        }
    }
}

/// libxml2's SAX2 push parser, hardened like ``XMLPullReader``: no entity substitution, no DTD loading,
/// no network, no huge mode, and any DOCTYPE or entity declaration fails with `.xmlForbidden` at once.
///
/// Unlike the pull reader it builds no tree nodes: bytes go in with ``feed(_:)``, events come out on the
/// delegate. A delegate that wants to stop (an error, or it has read what it needs) returns an
/// ``XMLSAXStop``; the pending error is thrown from the `feed` that triggered it.
final class XMLPushParser {
    private let context: xmlParserCtxtPtr
    private let box: Box
    let what: String

    /// What the C callbacks reach through libxml2's user-data pointer.
    private final class Box {
        // unowned(unsafe): the caller keeps the delegate alive while it parses; no retain per event.
        unowned(unsafe) let delegate: any XMLSAXDelegate
        var context: xmlParserCtxtPtr?
        var failure: (any Error)?
        var stoppedEarly = false
        let what: String

        init(delegate: any XMLSAXDelegate, what: String) {
            self.delegate = delegate
            self.what = what
        }

        func forbid() {
            stop(XMLSAXStop(error: JobError(.xmlForbidden, "\(what) declares a DTD or entities, which are not allowed", details: ["part": what])))
        }

        /// Stops after the current event; the first error wins.
        func stop(_ stop: XMLSAXStop) {
            if let error = stop.error {
                if failure == nil { failure = error }
            } else {
                stoppedEarly = true
            }
            if let context { xmlStopParser(context) }
        }
    }

    private static let initialized: Bool = {
        xmlInitParser()
        return true
    }()

    init(what: String, delegate: any XMLSAXDelegate) throws {
        _ = Self.initialized
        self.what = what
        box = Box(delegate: delegate, what: what)
        var sax = xmlSAXHandler()
        sax.initialized = XML_SAX2_MAGIC
        sax.startElementNs = { ctx, localname, _, _, _, _, nbAttributes, _, attributes in
            guard let ctx, let localname else { return }
            // _withUnsafeGuaranteedRef: the parser owns the box for the whole parse, so no retain per event.
            Unmanaged<Box>.fromOpaque(ctx)._withUnsafeGuaranteedRef { box in
                if let stop = box.delegate.startElement(localname, XMLSAXAttributes(count: Int(nbAttributes), base: attributes)) {
                    box.stop(stop)
                }
            }
        }
        sax.endElementNs = { ctx, localname, _, _ in
            guard let ctx, let localname else { return }
            Unmanaged<Box>.fromOpaque(ctx)._withUnsafeGuaranteedRef { box in
                if let stop = box.delegate.endElement(localname) { box.stop(stop) }
            }
        }
        let characters: charactersSAXFunc = { ctx, bytes, length in
            guard let ctx, let bytes, length > 0 else { return }
            Unmanaged<Box>.fromOpaque(ctx)._withUnsafeGuaranteedRef {
                $0.delegate.characters(UnsafeBufferPointer(start: bytes, count: Int(length)))
            }
        }
        sax.characters = characters
        sax.cdataBlock = characters
        sax.ignorableWhitespace = characters
        // Any DOCTYPE or entity declaration: refuse.
        sax.internalSubset = { ctx, _, _, _ in
            guard let ctx else { return }
            Unmanaged<Box>.fromOpaque(ctx).takeUnretainedValue().forbid()
        }
        sax.externalSubset = { ctx, _, _, _ in
            guard let ctx else { return }
            Unmanaged<Box>.fromOpaque(ctx).takeUnretainedValue().forbid()
        }
        sax.entityDecl = { ctx, _, _, _, _, _ in
            guard let ctx else { return }
            Unmanaged<Box>.fromOpaque(ctx).takeUnretainedValue().forbid()
        }
        sax.getEntity = { ctx, _ in
            // Predefined entities (&amp; …) never get here; anything else would need a declaration.
            guard let ctx else { return nil }
            Unmanaged<Box>.fromOpaque(ctx).takeUnretainedValue().forbid()
            return nil
        }
        let user = Unmanaged.passUnretained(box).toOpaque()
        guard let ctxt = xmlCreatePushParserCtxt(&sax, user, nil, 0, nil) else {
            throw JobError(.malformedFile, "cannot create an XML parser for \(what)")
        }
        context = ctxt
        box.context = ctxt
        xmlCtxtUseOptions(
            ctxt, Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue | XML_PARSE_COMPACT.rawValue))
    }

    deinit { xmlFreeParserCtxt(context) }

    /// Whether the delegate stopped the document early without an error.
    var isFinished: Bool { box.stoppedEarly && box.failure == nil }

    /// Parses the next bytes of the document; `last` ends it (checking that it is complete).
    func feed(_ bytes: UnsafeRawBufferPointer, last: Bool = false) throws {
        if isFinished { return }
        let rc = bytes.withMemoryRebound(to: CChar.self) { p in
            xmlParseChunk(context, p.baseAddress, Int32(p.count), last ? 1 : 0)
        }
        if let failure = box.failure { throw failure }
        if isFinished { return }
        guard rc == 0 else { throw lastError() }
    }

    private func lastError() -> JobError {
        var message = "invalid XML"
        if let err = xmlCtxtGetLastError(UnsafeMutableRawPointer(context)), let m = err.pointee.message {
            message = String(String(cString: m).split(separator: "\n").first ?? "")
        }
        if message.contains("ntity") || message.contains("DOCTYPE") || message.contains("amplification") {
            return JobError(.xmlForbidden, "\(what): \(message)", details: ["part": what])
        }
        return JobError(.malformedFile, "\(what) is not well-formed XML: \(message)", details: ["part": what])
    }

    /// Feeds a whole file in `chunkSize` pieces; `afterChunk` runs between pieces with the bytes fed so far
    /// (deliver buffered results, report progress, check cancellation — it may throw).
    func parseFile(_ path: String, chunkSize: Int = 256 * 1024, afterChunk: (_ bytesFed: Int64) throws -> Void) throws {
        guard let file = fopen(path, "rb") else { throw JobError(.extractionError, "cannot open \(what)") }
        defer { fclose(file) }
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var fed: Int64 = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, chunkSize, file) }
            if n > 0 {
                try buffer.withUnsafeBytes { try feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                fed += Int64(n)
                try afterChunk(fed)
                if isFinished { return }
            }
            if n < chunkSize {
                if ferror(file) != 0 { throw JobError(.extractionError, "cannot read \(what)") }
                try feed(UnsafeRawBufferPointer(start: nil, count: 0), last: true)
                try afterChunk(fed)
                return
            }
        }
    }
}

extension UnsafeBufferPointer where Element == UInt8 {
    /// Compares the bytes with an ASCII literal.
    func isEqual(_ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard count == n else { return false }
        let s = literal.utf8Start
        for i in 0..<n where self[i] != s[i] { return false }
        return true
    }
}
