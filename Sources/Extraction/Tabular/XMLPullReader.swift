import CLibXML2
import Models

/// A libxml2 `xmlTextReader` over a file, hardened: no entity substitution, no DTD loading, no network,
/// no huge mode. Any DOCTYPE, entity declaration or entity reference throws `.xmlForbidden` at once.
final class XMLPullReader {
    static let elementType = Int32(XML_READER_TYPE_ELEMENT.rawValue)
    static let endElementType = Int32(XML_READER_TYPE_END_ELEMENT.rawValue)
    private static let initialized: Bool = {
        xmlInitParser(); return true
    }()

    private let reader: xmlTextReaderPtr
    let what: String

    init(path: String, what: String) throws {
        _ = Self.initialized
        self.what = what
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue | XML_PARSE_COMPACT.rawValue)
        guard let r = xmlReaderForFile(path, nil, options) else {
            throw JobError(.malformedFile, "cannot open \(what) as XML")
        }
        reader = r
    }

    deinit { xmlFreeTextReader(reader) }

    /// Advances to the next node; `false` at the end of the document.
    func read() throws -> Bool {
        let rc = xmlTextReaderRead(reader)
        if rc == 1 {
            let t = xmlTextReaderNodeType(reader)
            nodeType = t
            if t == Int32(XML_READER_TYPE_DOCUMENT_TYPE.rawValue) || t == Int32(XML_READER_TYPE_ENTITY.rawValue)
                || t == Int32(XML_READER_TYPE_ENTITY_REFERENCE.rawValue)
            {
                throw JobError(.xmlForbidden, "\(what) declares a DTD or entities, which are not allowed", details: ["part": what])
            }
            return true
        }
        nodeType = 0
        if rc == 0 { return false }
        var message = "invalid XML"
        if let err = xmlGetLastError(), let m = err.pointee.message {
            message = String(String(cString: m).split(separator: "\n").first ?? "")
            if message.contains("ntity") || message.contains("DOCTYPE") || message.contains("amplification") {
                throw JobError(.xmlForbidden, "\(what): \(message)", details: ["part": what])
            }
        }
        throw JobError(.malformedFile, "\(what) is not well-formed XML: \(message)", details: ["part": what])
    }

    /// The current node's type, cached by `read()` (one libxml2 call per node instead of one per check).
    private(set) var nodeType: Int32 = 0
    var depth: Int32 { xmlTextReaderDepth(reader) }
    var isEmptyElement: Bool { xmlTextReaderIsEmptyElement(reader) == 1 }

    /// Whether the current node's local name is `name` (ASCII).
    func nameIs(_ name: StaticString) -> Bool {
        guard let p = xmlTextReaderConstLocalName(reader) else { return false }
        let n = name.utf8CodeUnitCount
        let s = name.utf8Start
        for i in 0..<n where p[i] != s[i] { return false }
        return p[n] == 0
    }

    /// All attributes of the current element as (local name, value); the reader stays on the element.
    func attributes() -> [(String, String)] {
        var out: [(String, String)] = []
        while xmlTextReaderMoveToNextAttribute(reader) == 1 {
            let name = xmlTextReaderConstLocalName(reader).map { String(cString: $0) } ?? ""
            let value = xmlTextReaderConstValue(reader).map { String(cString: $0) } ?? ""
            out.append((name, value))
        }
        xmlTextReaderMoveToElement(reader)
        return out
    }

    /// The current node's local name (NUL-terminated, owned by libxml2; valid until the next `read()`).
    var localName: UnsafePointer<xmlChar>? { xmlTextReaderConstLocalName(reader) }
}

extension UnsafePointer where Pointee == UInt8 {
    /// Compares a NUL-terminated C string with an ASCII literal.
    func isEqual(_ name: StaticString) -> Bool {
        let n = name.utf8CodeUnitCount
        let s = name.utf8Start
        for i in 0..<n where self[i] != s[i] { return false }
        return self[n] == 0
    }
}
