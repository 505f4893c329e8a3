import Foundation
import Models
import Testing

@testable import Extraction

/// The hardened SAX2 push parser the XLSX reader streams sheets and shared strings through.
@Suite("XML push parser")
struct XMLPushParserTests {
    final class Recorder: XMLSAXDelegate {
        var events: [String] = []
        var text: [UInt8] = []
        func startElement(_ name: UnsafePointer<UInt8>, _ attributes: XMLSAXAttributes) -> XMLSAXStop? {
            var attrs: [String] = []
            attributes.forEach { n, v in attrs.append("\(String(cString: n))=\(String(decoding: v, as: UTF8.self))") }
            events.append("<\(String(cString: name))\(attrs.isEmpty ? "" : " " + attrs.joined(separator: " "))>")
            return nil
        }
        func endElement(_ name: UnsafePointer<UInt8>) -> XMLSAXStop? {
            events.append("</\(String(cString: name))>")
            return nil
        }
        func characters(_ bytes: UnsafeBufferPointer<UInt8>) { text.append(contentsOf: bytes) }
    }

    /// Parses `xml` fed in pieces of `chunk` bytes (to cross chunk boundaries anywhere).
    func parse(_ xml: String, chunk: Int = 7) throws -> Recorder {
        let recorder = Recorder()
        let parser = try XMLPushParser(what: "test.xml", delegate: recorder)
        let bytes = Array(xml.utf8)
        var i = 0
        while i < bytes.count {
            let j = min(bytes.count, i + chunk)
            try bytes[i..<j].withUnsafeBytes { try parser.feed($0) }
            i = j
        }
        try parser.feed(UnsafeRawBufferPointer(start: nil, count: 0), last: true)
        return recorder
    }

    func code(_ xml: String) -> JobError.Code? {
        do {
            _ = try parse(xml)
            return nil
        } catch let e as JobError {
            return e.code
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func eventsAttributesAndResolvedReferences() throws {
        let r = try parse(#"<?xml version="1.0"?><a x="A1" y='s'><b/>&lt;&#233;&gt;<![CDATA[<raw>]]></a>"#)
        #expect(r.events == ["<a x=A1 y=s>", "<b>", "</b>", "</a>"])
        // Without entity substitution libxml2 hands attribute values over with references re-escaped.
        #expect(try parse(#"<a x="A&amp;B"/>"#).events.first == "<a x=A&#38;B>")
        #expect(String(decoding: r.text, as: UTF8.self) == "<é><raw>")
    }

    @Test func doctypeAndEntitiesAreRefused() {
        #expect(code(#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>"#) == .xmlForbidden)
        #expect(code(#"<?xml version="1.0"?><!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>"#) == .xmlForbidden)
        #expect(code(#"<?xml version="1.0"?><!DOCTYPE a><a/>"#) == .xmlForbidden)
        #expect(code(#"<a>&undeclared;</a>"#) == .xmlForbidden)
    }

    @Test func malformedDocumentsFailCleanly() {
        #expect(code("<a><b></a>") == .malformedFile)
        #expect(code("<a>unterminated") == .malformedFile)
        #expect(code("") == .malformedFile)
        #expect(code("\u{0}\u{1}garbage") == .malformedFile)
    }

    @Test func aDelegateCanStopEarlyOrWithAnError() throws {
        final class StopAtB: XMLSAXDelegate {
            var seen = 0
            let error: JobError?
            init(error: JobError?) { self.error = error }
            func startElement(_ name: UnsafePointer<UInt8>, _ attributes: XMLSAXAttributes) -> XMLSAXStop? {
                seen += 1
                return name.isEqual("b") ? XMLSAXStop(error: error) : nil
            }
            func endElement(_ name: UnsafePointer<UInt8>) -> XMLSAXStop? { nil }
            func characters(_ bytes: UnsafeBufferPointer<UInt8>) {}
        }
        let xml = Array("<a><b/><c/><d/></a> trailing garbage <<<".utf8)
        let done = StopAtB(error: nil)
        let p1 = try XMLPushParser(what: "t", delegate: done)
        try xml.withUnsafeBytes { try p1.feed($0) }
        #expect(p1.isFinished)
        #expect(done.seen == 2)

        let failing = StopAtB(error: JobError(.rowLimitExceeded, "stop"))
        let p2 = try XMLPushParser(what: "t", delegate: failing)
        #expect(throws: JobError.self) { try xml.withUnsafeBytes { try p2.feed($0) } }
    }
}
