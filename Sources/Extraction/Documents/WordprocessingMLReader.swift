import CLibXML2
import Foundation
import Models

/// Streams WordprocessingML (`word/document.xml`) with libxml2's `xmlTextReader`, turning `w:p` into
/// paragraphs (`w:t` text, `w:tab` → tab, `w:br`/`w:cr` → newline), starting a section at each
/// Heading/Title-styled paragraph and counting `w:br w:type="page"` page breaks.
struct WordprocessingMLReader {
    static let wordNamespace = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

    /// Safe parser options: never NOENT, HUGE, DTDLOAD or DTDATTR.
    static let options: Int32 = Int32(
        XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue
            | XML_PARSE_NOWARNING.rawValue | XML_PARSE_NOCDATA.rawValue)

    private struct Paragraph {
        var text = ""
        var style: String?
    }

    private var builder = DocumentBuilder()
    private var stack: [Paragraph] = []
    private var runDepth = 0
    private var inText = false
    private var pageBreaks = 0
    private var paragraphCount = 0
    private var lastWasHeading = false

    mutating func read(
        xmlPath: String, guardrail: inout ExtractionGuard,
        onParagraph: (Int) -> Void
    ) throws -> DocumentResult {
        try Self.rejectDoctype(inFileAt: xmlPath)
        guard let reader = xmlReaderForFile(xmlPath, nil, Self.options) else {
            throw JobError(.malformedFile, "could not open document.xml")
        }
        defer { xmlFreeTextReader(reader) }
        while true {
            let status = xmlTextReaderRead(reader)
            if status == 0 { break }
            if status < 0 {
                // libxml2 may fail inside an internal subset before reporting the DOCTYPE node.
                if let doc = xmlTextReaderCurrentDoc(reader), doc.pointee.intSubset != nil || doc.pointee.extSubset != nil {
                    throw JobError(.xmlForbidden, "document.xml declares a DOCTYPE; DTDs and entities are not allowed")
                }
                throw JobError(
                    .malformedFile, "document.xml is not well-formed XML",
                    details: ["line": "\(xmlTextReaderGetParserLineNumber(reader))"])
            }
            let type = xmlTextReaderNodeType(reader)
            switch type {
            case Int32(XML_READER_TYPE_DOCUMENT_TYPE.rawValue):
                throw JobError(.xmlForbidden, "document.xml declares a DOCTYPE; DTDs and entities are not allowed")
            case Int32(XML_READER_TYPE_ENTITY_REFERENCE.rawValue), Int32(XML_READER_TYPE_ENTITY.rawValue):
                throw JobError(.xmlForbidden, "document.xml uses a custom entity; DTDs and entities are not allowed")
            case Int32(XML_READER_TYPE_ELEMENT.rawValue):
                try guardrail.check()
                startElement(reader)
            case Int32(XML_READER_TYPE_END_ELEMENT.rawValue):
                // Progress at each heading and every 500 paragraphs, so callers are not flooded.
                if endElement(reader), paragraphCount % 500 == 0 || lastWasHeading { onParagraph(paragraphCount) }
            case Int32(XML_READER_TYPE_TEXT.rawValue), Int32(XML_READER_TYPE_SIGNIFICANT_WHITESPACE.rawValue),
                Int32(XML_READER_TYPE_WHITESPACE.rawValue), Int32(XML_READER_TYPE_CDATA.rawValue):
                if inText, !stack.isEmpty, let value = xmlTextReaderConstValue(reader) {
                    stack[stack.count - 1].text += String(cString: value)
                }
            default:
                break
            }
        }
        try guardrail.checkNow()
        return builder.finish(pageCount: pageBreaks + 1)
    }

    /// A DOCTYPE can only appear in the prolog: scan the first 64 KiB for "<!DOCTYPE" / "<!ENTITY" before parsing,
    /// so a hostile DTD is rejected without handing it to the parser at all.
    static func rejectDoctype(inFileAt path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw JobError(.malformedFile, "could not open document.xml")
        }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 64 << 10)) ?? Data()
        for marker in ["<!DOCTYPE", "<!ENTITY"] where head.range(of: Data(marker.utf8)) != nil {
            throw JobError(
                .xmlForbidden, "document.xml declares a DOCTYPE; DTDs and entities are not allowed",
                details: ["marker": marker])
        }
    }

    private func isWord(_ reader: xmlTextReaderPtr) -> Bool {
        guard let uri = xmlTextReaderConstNamespaceUri(reader) else { return false }
        return String(cString: uri) == Self.wordNamespace
    }

    private func localName(_ reader: xmlTextReaderPtr) -> String {
        xmlTextReaderConstLocalName(reader).map { String(cString: $0) } ?? ""
    }

    /// The value of the `w:`-namespaced attribute `name` on the current element.
    private func wordAttribute(_ reader: xmlTextReaderPtr, _ name: String) -> String? {
        guard xmlTextReaderMoveToAttributeNs(reader, name, Self.wordNamespace) == 1 else { return nil }
        defer { xmlTextReaderMoveToElement(reader) }
        return xmlTextReaderConstValue(reader).map { String(cString: $0) }
    }

    private mutating func startElement(_ reader: xmlTextReaderPtr) {
        guard isWord(reader) else { return }
        let name = localName(reader)
        let isEmpty = xmlTextReaderIsEmptyElement(reader) == 1
        switch name {
        case "p":
            stack.append(Paragraph())
            if isEmpty { finishParagraph() }
        case "r":
            if !isEmpty { runDepth += 1 }
        case "t", "delText":
            inText = !isEmpty && name == "t"
        case "pStyle":
            if !stack.isEmpty { stack[stack.count - 1].style = wordAttribute(reader, "val") }
        case "tab" where runDepth > 0:
            appendText("\t")
        case "br":
            if wordAttribute(reader, "type") == "page" { pageBreaks += 1 }
            appendText("\n")
        case "cr":
            appendText("\n")
        default:
            break
        }
    }

    /// Returns true when a paragraph was completed.
    private mutating func endElement(_ reader: xmlTextReaderPtr) -> Bool {
        guard isWord(reader) else { return false }
        switch localName(reader) {
        case "p":
            finishParagraph()
            return true
        case "r":
            runDepth = max(0, runDepth - 1)
        case "t", "delText":
            inText = false
        default:
            break
        }
        return false
    }

    private mutating func appendText(_ text: String) {
        if !stack.isEmpty { stack[stack.count - 1].text += text }
    }

    private mutating func finishParagraph() {
        guard let paragraph = stack.popLast() else { return }
        paragraphCount += 1
        lastWasHeading = Self.isHeading(style: paragraph.style)
        if lastWasHeading, !paragraph.text.trimmingWhitespace().isEmpty {
            builder.startSection(title: paragraph.text)
        }
        builder.addParagraph(paragraph.text)
    }

    /// Heading1…Heading9, Title, and localized ids such as "berschrift1" are treated as headings.
    static func isHeading(style: String?) -> Bool {
        guard let style = style?.lowercased() else { return false }
        return style.hasPrefix("heading") || style == "title" || style.hasPrefix("berschrift")
            || style.hasPrefix("titre") || style.hasPrefix("kop")
    }
}
