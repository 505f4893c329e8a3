import Foundation
import Models
import Testing

@testable import Extraction

/// The Swift XML tokenizer the XLSX reader streams sheets and shared strings through.
@Suite("XML byte scanner")
struct XMLByteScannerTests {
    struct Recorder: XMLScanDelegate {
        var events: [String] = []
        var text: [UInt8] = []
        mutating func startElement(_ name: UnsafeBufferPointer<UInt8>, _ attributes: XMLScanAttributes) -> XMLScanStop? {
            var attrs: [String] = []
            attributes.forEach { n, v in attrs.append("\(String(decoding: n, as: UTF8.self))=\(String(decoding: v, as: UTF8.self))") }
            events.append("<\(String(decoding: name, as: UTF8.self))\(attrs.isEmpty ? "" : " " + attrs.joined(separator: " "))>")
            return nil
        }
        mutating func endElement(_ name: UnsafeBufferPointer<UInt8>) -> XMLScanStop? {
            events.append("</\(String(decoding: name, as: UTF8.self))>")
            return nil
        }
        mutating func characters(_ bytes: UnsafeBufferPointer<UInt8>) { text.append(contentsOf: bytes) }
    }

    /// Scans `xml` fed in pieces of `chunk` bytes (to cross chunk boundaries anywhere).
    func scan(_ xml: String, chunk: Int) throws -> Recorder {
        var recorder = Recorder()
        var scanner = XMLByteScanner(what: "test.xml")
        try scanner.scan(Array(xml.utf8), chunk: chunk, delegate: &recorder)
        return recorder
    }

    /// The same events whatever the chunk size.
    func scan(_ xml: String) throws -> Recorder {
        let whole = try scan(xml, chunk: .max)
        for chunk in [1, 2, 3, 5, 7, 13] {
            let pieces = try scan(xml, chunk: chunk)
            #expect(pieces.events == whole.events, "chunk \(chunk)")
            #expect(pieces.text == whole.text, "chunk \(chunk)")
        }
        return whole
    }

    func code(_ xml: String) -> JobError.Code? {
        var codes: Set<String> = []
        for chunk in [Int.max, 1, 4] {
            do {
                _ = try scan(xml, chunk: chunk)
                codes.insert("OK")
            } catch let e as JobError {
                codes.insert(e.code.rawValue)
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        #expect(codes.count == 1, "different outcomes by chunk size: \(codes)")
        return codes.first.flatMap { JobError.Code(rawValue: $0) }
    }

    @Test func eventsAttributesAndDecodedReferences() throws {
        let r = try scan(
            #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"# + "\n<!-- c -->"
                + #"<a x="A1" y = 's' z="1>0"><b/>&lt;&#233;&#x4E2D;&gt;&amp;&quot;&apos;<![CDATA[<raw&amp;>]]><?pi x?></a>"# + "\n")
        #expect(r.events == ["<a x=A1 y=s z=1>0>", "<b>", "</b>", "</a>"])
        #expect(String(decoding: r.text, as: UTF8.self) == "<é中>&\"'<raw&amp;>")
    }

    @Test func prefixesAreRemovedFromNamesButMustMatch() throws {
        let r = try scan(#"<x:worksheet xmlns:x="urn:x"><x:c x:r="B2"><x:v>1</x:v></x:c></x:worksheet>"#)
        #expect(r.events == ["<worksheet x=urn:x>", "<c r=B2>", "<v>", "</v>", "</c>", "</worksheet>"])
        #expect(code("<x:a></y:a>") == .malformedFile)
    }

    @Test func aByteOrderMarkIsSkippedAndUTF16IsRefused() throws {
        #expect(try scan("\u{FEFF}<a>t</a>").events == ["<a>", "</a>"])
        var scanner = XMLByteScanner(what: "t")
        var r = Recorder()
        #expect(throws: JobError.self) { try scanner.scan([0xFF, 0xFE, 0x3C, 0x00, 0x61, 0x00], delegate: &r) }
    }

    @Test func doctypeAndEntitiesAreRefused() {
        #expect(code(#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>"#) == .xmlForbidden)
        #expect(code(#"<?xml version="1.0"?><!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>"#) == .xmlForbidden)
        #expect(code(#"<!DOCTYPE a><a/>"#) == .xmlForbidden)
        #expect(code(#"<a>&undeclared;</a>"#) == .xmlForbidden)
        #expect(code(#"<a>&abcdefghijklmnop;</a>"#) == .xmlForbidden)  // 16 name bytes: still read as a name
        #expect(code(#"<a><!ENTITY e "x"></a>"#) == .malformedFile)
    }

    @Test func malformedDocumentsFailCleanly() {
        for bad in [
            "<a><b></a>", "<a>unterminated", "", "   ", "\u{0}\u{1}garbage", "text<a/>", "<a/><b/>", "<a/>tail", "<a x=1/>",
            "<a x='1'y='2'/>", "<a x></a>", "<a>&amp</a>", "<a>&#0;</a>", "<a>&#xD800;</a>", "<a>&#12a;</a>", "</a>", "<a", "<a x='1",
            "<a><!-- open</a>", "<a><![CDATA[open</a>", "<a/ >", "<a x='<'/>", "<>", "<a></>",
            // A reference ends at its first non-name byte, wherever the next ';' is (found by the fuzzer:
            // this read as the undeclared entity "amp b &#2" whole, but malformed when cut before "&#2;").
            "<a>&amp b &#2;</a>", "<a>&abcdefghijklmnopq;</a>",
        ] {
            #expect(code(bad) == .malformedFile, "\(bad.debugDescription)")
        }
    }

    @Test func depthAndTokenLengthAreBounded() throws {
        #expect(code(String(repeating: "<a>", count: 300) + String(repeating: "</a>", count: 300)) == .malformedFile)
        #expect(try scan(String(repeating: "<a>", count: 200) + String(repeating: "</a>", count: 200)).events.count == 400)

        // A tag longer than maxTokenBytes: refused instead of buffered.
        var scanner = XMLByteScanner(what: "t", maxTokenBytes: 1024)
        var r = Recorder()
        let longTag = Array(("<a " + String(repeating: "x", count: 5000) + "='1'/>").utf8)
        #expect(throws: JobError.self) { try scanner.scan(longTag, chunk: 256, delegate: &r) }

        // Long text is delivered in pieces, not buffered whole, and survives any chunking.
        let long = String(repeating: "ab&amp;", count: 2000)
        for chunk in [100, 257, 4096] {
            var pieces = XMLByteScanner(what: "t", maxTokenBytes: 1024)
            var r2 = Recorder()
            try pieces.scan(Array("<a>\(long)</a>".utf8), chunk: chunk, delegate: &r2)
            #expect(String(decoding: r2.text, as: UTF8.self) == String(repeating: "ab&", count: 2000))
        }
    }

    @Test func aDelegateCanStopEarlyOrWithAnError() throws {
        struct StopAtB: XMLScanDelegate {
            var seen = 0
            let error: JobError?
            mutating func startElement(_ name: UnsafeBufferPointer<UInt8>, _ attributes: XMLScanAttributes) -> XMLScanStop? {
                seen += 1
                return name.isByte("b") ? XMLScanStop(error: error) : nil
            }
            mutating func endElement(_ name: UnsafeBufferPointer<UInt8>) -> XMLScanStop? { nil }
            mutating func characters(_ bytes: UnsafeBufferPointer<UInt8>) {}
        }
        let xml = Array("<a><b/><c/><d/></a> trailing garbage <<<".utf8)
        var done = StopAtB(error: nil)
        var s1 = XMLByteScanner(what: "t")
        try s1.scan(xml, chunk: 3, delegate: &done)
        #expect(s1.isFinished)
        #expect(done.seen == 2)

        var failing = StopAtB(error: JobError(.rowLimitExceeded, "stop"))
        var s2 = XMLByteScanner(what: "t")
        #expect(throws: JobError.self) { try s2.scan(xml, delegate: &failing) }
    }
}
