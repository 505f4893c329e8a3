/// One section of an extracted document: a PDF page, a heading-delimited part of a DOCX/HTML file,
/// or a form-feed-delimited page of a text file.
public struct DocumentSection: Sendable, Codable, Hashable {
    /// 0-based position of the section in the document.
    public var index: Int
    /// The heading that starts the section, if any.
    public var title: String?
    /// The section's text (paragraphs joined by blank lines; may be truncated for very large documents).
    public var text: String
    /// Words in the section (see `WordCounter`), counted over the full text even when `text` was truncated.
    public var wordCount: Int

    public init(index: Int, title: String?, text: String, wordCount: Int) {
        self.index = index
        self.title = title
        self.text = text
        self.wordCount = wordCount
    }
}

/// The text content of a document with word and page counts.
public struct DocumentResult: Sendable, Codable, Hashable {
    /// Pages for PDF; heading-split sections for DOCX/HTML; form-feed pages for TXT.
    public var sections: [DocumentSection]
    /// Pages (PDF pages, DOCX page breaks + 1, TXT form feeds + 1, 1 for HTML).
    public var pageCount: Int
    /// Total words over all sections.
    public var wordCount: Int
    /// A lines/paragraphs view of the document, bounded to the first `DocumentBuilder.maxParagraphs` entries.
    public var paragraphs: [String]

    public init(sections: [DocumentSection], pageCount: Int, wordCount: Int, paragraphs: [String]) {
        self.sections = sections
        self.pageCount = pageCount
        self.wordCount = wordCount
        self.paragraphs = paragraphs
    }
}

/// The document formats `DocumentExtractor` reads.
public enum DocumentKind: String, Sendable, Codable, CaseIterable {
    case pdf, docx, html, txt
}
