import CLibXML2
import Foundation
import Models

/// Extracts HTML text with libxml2's forgiving HTML parser (no network, errors suppressed, recovery on).
/// Script/style/noscript/template and `head` (except `title`) are dropped; block elements become
/// paragraphs; `h1`–`h3` start sections.
enum HTMLDocumentExtractor {
    static let options: Int32 = Int32(
        HTML_PARSE_NONET.rawValue | HTML_PARSE_NOERROR.rawValue
            | HTML_PARSE_NOWARNING.rawValue | HTML_PARSE_RECOVER.rawValue | HTML_PARSE_NOIMPLIED.rawValue)

    static let dropped: Set<String> = ["script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "canvas"]
    static let blocks: Set<String> = [
        "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "thead", "tbody", "tfoot", "caption",
        "blockquote", "pre", "section", "article", "header", "footer", "nav", "aside", "main", "figure",
        "figcaption", "form", "fieldset", "address", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "br", "body",
        "title", "details", "summary",
    ]
    static let sectionHeadings: Set<String> = ["h1", "h2", "h3"]
    static let cells: Set<String> = ["td", "th"]

    static func extract(
        path: String, maxBytes: Int64, timeout: Duration,
        isCancelled: @escaping @Sendable () -> Bool,
        progress: (_ done: Int, _ total: Int?, _ step: String) -> Void
    ) throws -> DocumentResult {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard let size = (attributes?[.size] as? NSNumber)?.int64Value else {
            throw JobError(.fileNotFound, "cannot open HTML file", details: ["path": path])
        }
        if size > maxBytes {
            throw JobError(
                .fileTooLarge, "HTML file is \(size) bytes, over the limit of \(maxBytes)",
                details: ["size": "\(size)", "limit": "\(maxBytes)"])
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JobError(.fileNotFound, "cannot read HTML file", details: ["path": path])
        }
        var guardrail = ExtractionGuard(timeout: timeout, isCancelled: isCancelled)
        progress(0, nil, "parsing HTML")
        let encoding = declaredEncoding(in: data) ? nil : (String(validating: data, as: UTF8.self) != nil ? "UTF-8" : "windows-1252")
        let document: htmlDocPtr? = data.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress?.assumingMemoryBound(to: CChar.self) else { return nil }
            return htmlReadMemory(base, Int32(clamping: buffer.count), nil, encoding, options)
        }
        guard let document else {
            if data.isEmpty { throw JobError(.emptyFile, "the HTML file is empty") }
            throw JobError(.malformedFile, "the HTML could not be parsed")
        }
        defer { xmlFreeDoc(document) }
        try guardrail.checkNow()
        var walker = HTMLTextWalker()
        try walker.walk(document: document, guardrail: &guardrail)
        progress(walker.builder.paragraphs.count, walker.builder.paragraphs.count, "parsed HTML")
        return walker.builder.finish(pageCount: 1)
    }

    /// Whether the first 2 KB declare a charset (then libxml2 honours the declaration).
    private static func declaredEncoding(in data: Data) -> Bool {
        let head = String(decoding: data.prefix(2048), as: UTF8.self).lowercased()
        return head.contains("charset=") || head.contains("<?xml") && head.contains("encoding=")
    }
}

/// Iterative depth-first walk over the libxml2 HTML tree.
struct HTMLTextWalker {
    var builder = DocumentBuilder()
    private var current = ""
    private var preDepth = 0

    private enum Step {
        case enter(xmlNodePtr)
        case exit(name: String)
    }

    mutating func walk(document: htmlDocPtr, guardrail: inout ExtractionGuard) throws {
        guard let root = xmlDocGetRootElement(document) else { return }
        var pending: [Step] = [.enter(root)]
        while let step = pending.popLast() {
            switch step {
            case .exit(let name):
                leave(name)
            case .enter(let node):
                try guardrail.check()
                switch node.pointee.type {
                case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                    if let content = node.pointee.content { appendText(String(cString: content)) }
                case XML_ELEMENT_NODE:
                    let name = node.pointee.name.map { String(cString: $0) }?.lowercased() ?? ""
                    if HTMLDocumentExtractor.dropped.contains(name) { continue }
                    enter(name)
                    pending.append(.exit(name: name))
                    // Children pushed in reverse so they pop in document order; in `head` only `title` survives.
                    var children: [xmlNodePtr] = []
                    var child = node.pointee.children
                    while let c = child {
                        if name != "head" || c.pointee.name.map({ String(cString: $0).lowercased() }) == "title" {
                            children.append(c)
                        }
                        child = c.pointee.next
                    }
                    pending.append(contentsOf: children.reversed().map { Step.enter($0) })
                default:
                    break
                }
            }
        }
        flush()
    }

    private mutating func enter(_ name: String) {
        if HTMLDocumentExtractor.blocks.contains(name) { flush() }
        if HTMLDocumentExtractor.cells.contains(name), !current.isEmpty { current += "\t" }
        if name == "pre" { preDepth += 1 }
    }

    private mutating func leave(_ name: String) {
        if name == "pre" { preDepth = max(0, preDepth - 1) }
        if HTMLDocumentExtractor.sectionHeadings.contains(name) {
            let heading = current
            current = ""
            builder.startSection(title: heading)
            builder.addParagraph(heading)
        } else if HTMLDocumentExtractor.blocks.contains(name) {
            flush()
        }
    }

    private mutating func appendText(_ text: String) {
        if preDepth > 0 {
            current += text
            return
        }
        // Collapse whitespace runs like a browser would.
        var lastWasSpace = current.last.map { $0 == " " || $0 == "\t" } ?? true
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace && scalar != "\u{00A0}" {
                if !lastWasSpace { current.unicodeScalars.append(" ") }
                lastWasSpace = true
            } else {
                current.unicodeScalars.append(scalar)
                lastWasSpace = false
            }
        }
    }

    private mutating func flush() {
        builder.addParagraph(current)
        current = ""
    }
}
