/// Accumulates paragraphs into sections with bounded memory: the paragraph list keeps the first
/// `maxParagraphs` entries and section text stops growing after `maxRetainedTextBytes` in total,
/// while word counts keep counting everything.
struct DocumentBuilder {
    /// Upper bound of `DocumentResult.paragraphs`.
    static let maxParagraphs = 10_000
    /// Upper bound of all section text kept, in UTF-8 bytes.
    static let maxRetainedTextBytes = 32 << 20

    private(set) var sections: [DocumentSection] = []
    private(set) var paragraphs: [String] = []
    private(set) var totalWords = 0
    private var title: String?
    private var parts: [String] = []
    private var words = 0
    private var retainedBytes = 0
    private var sectionOpen = false

    /// Adds one paragraph (whitespace-trimmed; empty ones are ignored) to the current section.
    mutating func addParagraph(_ raw: String) {
        let text = raw.trimmingWhitespace()
        guard !text.isEmpty else { return }
        sectionOpen = true
        let count = WordCounter.count(text)
        words += count
        totalWords += count
        if paragraphs.count < Self.maxParagraphs { paragraphs.append(text) }
        if retainedBytes < Self.maxRetainedTextBytes {
            retainedBytes += text.utf8.count
            parts.append(text)
        }
    }

    /// Closes the current section (if it has content or a title) and opens a new one.
    mutating func startSection(title: String?) {
        closeSection()
        let trimmed = title?.trimmingWhitespace()
        self.title = (trimmed?.isEmpty ?? true) ? nil : trimmed
        sectionOpen = self.title != nil
    }

    /// Closes the current section even when empty (used for PDF/TXT pages so indexes match page numbers).
    mutating func closePage() {
        sectionOpen = true
        closeSection()
    }

    private mutating func closeSection() {
        if sectionOpen {
            sections.append(
                DocumentSection(
                    index: sections.count, title: title,
                    text: parts.joined(separator: "\n\n"), wordCount: words))
        }
        title = nil
        parts = []
        words = 0
        sectionOpen = false
    }

    /// Closes the last section and returns the result.
    mutating func finish(pageCount: Int) -> DocumentResult {
        closeSection()
        return DocumentResult(
            sections: sections, pageCount: max(pageCount, 1), wordCount: totalWords,
            paragraphs: paragraphs)
    }
}
