import Foundation

/// Locating parts in an Office Open XML package (ECMA-376 Part 2, OPC): the main part is the target of the
/// package's `officeDocument` relationship in `_rels/.rels` (else the `[Content_Types].xml` override of a
/// workbook or document content type); a part's own relationships live in `<folder>/_rels/<name>.rels` and
/// their relative targets resolve against the part's folder. Part names are compared as ZIP entry names with
/// `\` read as `/` (some Windows tools write backslashes) and without case.
///
/// The `.rels` and content-types parts are tiny; they are scanned for their empty elements' attributes with a
/// plain tag scanner (no DTD, no entities beyond the five predefined ones), read capped at 1 MB.
enum OOXMLPackage {
    static let officeDocument = "/officeDocument"
    static let mainContentTypes = [
        "spreadsheetml.sheet.main", "sheet.macroEnabled.main", "spreadsheetml.template.main", "wordprocessingml.document.main",
    ]
    /// Largest `.rels` / content-types part read.
    static let smallPartLimit = 1 << 20

    /// `xl\workbook.xml`, `/xl/workbook.xml` → `xl/workbook.xml` (the key entries are looked up by, lowercased).
    static func normalize(_ name: String) -> String {
        var s = name.replacingBackslashes()
        while s.hasPrefix("/") { s.removeFirst() }
        return s.lowercased()
    }

    /// The package's main part (`xl/workbook.xml` in most workbooks), or nil when the package names none.
    /// `read` returns a part's bytes (capped), nil when absent.
    static func mainPart(read: (String) throws -> [UInt8]?) rethrows -> String? {
        if let rels = try read("_rels/.rels") {
            for attrs in elements(rels, named: "Relationship")
            where attrs["Type"]?.hasSuffix(officeDocument) == true && attrs["TargetMode"] != "External" {
                if let target = attrs["Target"] { return resolve(target, from: "") }
            }
        }
        if let types = try read("[Content_Types].xml") {
            for attrs in elements(types, named: "Override") {
                guard let type = attrs["ContentType"], let part = attrs["PartName"] else { continue }
                if mainContentTypes.contains(where: { type.contains($0) }) { return resolve(part, from: "") }
            }
        }
        return nil
    }

    /// Relationships of `part`: Id → (type, resolved part path).
    static func relationships(of part: String, read: (String) throws -> [UInt8]?) rethrows -> [String: (type: String, target: String)] {
        let folder = folder(of: part)
        let name = part.split(separator: "/").last.map(String.init) ?? part
        guard let rels = try read((folder.isEmpty ? "" : folder + "/") + "_rels/" + name + ".rels") else { return [:] }
        var out: [String: (type: String, target: String)] = [:]
        for attrs in elements(rels, named: "Relationship") where attrs["TargetMode"] != "External" {
            guard let id = attrs["Id"], let target = attrs["Target"] else { continue }
            out[id] = (attrs["Type"] ?? "", resolve(target, from: folder))
        }
        return out
    }

    /// `book/workbook.xml` → `book`.
    static func folder(of part: String) -> String {
        let p = part.replacingBackslashes()
        guard let slash = p.lastIndex(of: "/") else { return "" }
        return String(p[..<slash])
    }

    /// A relationship target against `folder`: `/xl/x.xml` is absolute, `worksheets/sheet1.xml` and
    /// `../xl/styles.xml` are relative; `.` and `..` collapsed.
    static func resolve(_ target: String, from folder: String) -> String {
        let t = target.replacingBackslashes()
        let raw = t.hasPrefix("/") ? t : (folder.isEmpty ? t : folder + "/" + t)
        var parts: [Substring] = []
        for p in raw.split(separator: "/") {
            if p == ".." { _ = parts.popLast() } else if p != "." { parts.append(p) }
        }
        return parts.joined(separator: "/")
    }

    /// The attributes of every `<name …>` / `<prefix:name …>` element in `xml`.
    static func elements(_ xml: [UInt8], named name: String) -> [[String: String]] {
        let text = String(decoding: xml, as: UTF8.self)
        var out: [[String: String]] = []
        for tag in text.split(separator: "<").dropFirst() {
            guard let end = tag.firstIndex(of: ">") else { continue }
            let body = tag[..<end]
            let tagName = body.prefix { !$0.isWhitespace && $0 != "/" }
            guard tagName == name || tagName.hasSuffix(":" + name) else { continue }
            out.append(attributes(body.dropFirst(tagName.count)))
        }
        return out
    }

    /// `a="1" b='x &amp; y'` → ["a": "1", "b": "x & y"].
    private static func attributes(_ s: Substring) -> [String: String] {
        var out: [String: String] = [:]
        var rest = s
        while let eq = rest.firstIndex(of: "=") {
            let key = rest[..<eq].trimmingCharacters(in: CharacterSet(charactersIn: " \t\r\n/"))
            var after = rest[rest.index(after: eq)...].drop { $0.isWhitespace }
            guard let quote = after.first, quote == "\"" || quote == "'" else { break }
            after = after.dropFirst()
            guard let close = after.firstIndex(of: quote) else { break }
            out[key] = unescape(after[..<close])
            rest = after[after.index(after: close)...]
        }
        return out
    }

    private static func unescape(_ s: Substring) -> String {
        guard s.contains("&") else { return String(s) }
        return s.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}

extension StringProtocol {
    fileprivate func replacingBackslashes() -> String { String(map { $0 == "\\" ? "/" : $0 }) }
}
