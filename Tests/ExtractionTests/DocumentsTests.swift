import Extraction
import Foundation
import Models
import Testing

@Suite("Documents")
struct DocumentsTests {
    let budget: Int64 = 50 << 20

    func extract(
        _ kind: DocumentKind, _ name: String, timeout: Duration = .seconds(30),
        maxBytes: Int64 = 50 << 20, cancelled: @escaping @Sendable () -> Bool = { false },
        progress: (Int, Int?, String) -> Void = { _, _, _ in }
    ) throws -> DocumentResult {
        try DocumentExtractor.extract(
            kind: kind, path: try docsFixture(name), maxUnpackedBytes: maxBytes,
            timeout: timeout, isCancelled: cancelled, progress: progress)
    }

    @Test func wordCounterCountsAlphanumericTokens() {
        #expect(WordCounter.count("Hello,  world — 3.5 e-mail\t•\nx") == 5)
        #expect(WordCounter.count("") == 0)
        #expect(WordCounter.count(" — • ") == 0)
        #expect(WordCounter.count("naïve café\u{00A0}crème") == 3)
    }

    @Test func pdfPagesAndWordCounts() throws {
        var steps: [(Int, Int?)] = []
        let result = try extract(.pdf, "three_pages.pdf", progress: { done, total, _ in steps.append((done, total)) })
        #expect(result.pageCount == 3)
        #expect(result.sections.count == 3)
        #expect(result.sections.map(\.wordCount) == [5, 7, 9])
        #expect(result.wordCount == 21)
        #expect(result.sections[1].text.contains("Foxtrot golf hotel"))
        #expect(result.sections.map(\.index) == [0, 1, 2])
        #expect(result.paragraphs.first == "Alpha bravo charlie delta echo")
        #expect(steps.contains { $0.0 == 3 && $0.1 == 3 })
        #expect(steps.contains { $0.0 == 1 && $0.1 == 3 })
    }

    @Test func truncatedPDFIsMalformed() throws {
        let error = expectJobError { try extract(.pdf, "truncated.pdf") }
        #expect(error?.code == .malformedFile)
        #expect(error?.message.contains("Syntax Error") == true)
    }

    @Test func encryptedPDFIsRejected() throws {
        let error = expectJobError { try extract(.pdf, "encrypted.pdf") }
        #expect(error?.code == .encryptedFile)
    }

    @Test func pdfTimeoutKillsChild() throws {
        let error = expectJobError { try extract(.pdf, "three_pages.pdf", timeout: .milliseconds(1)) }
        #expect(error?.code == .timeLimitExceeded)
    }

    @Test func cancellationStopsExtraction() throws {
        let error = expectJobError { try extract(.txt, "cp1252.txt", cancelled: { true }) }
        #expect(error?.code == .cancelled)
    }

    @Test func pdfOutputIsBounded() throws {
        let error = expectJobError { try extract(.pdf, "three_pages.pdf", maxBytes: 20) }
        #expect(error?.code == .fileTooLarge)
    }

    @Test func docxHeadingsSectionsAndPageBreaks() throws {
        var steps: [String] = []
        let result = try extract(.docx, "sample.docx", progress: { _, _, step in steps.append(step) })
        #expect(steps.first == "unpacking document.xml")
        #expect(steps.count >= 3)
        #expect(result.pageCount == 2)
        #expect(result.sections.map(\.title) == [nil, "Prices", "Delivery"])
        #expect(result.sections.map(\.wordCount) == [5, 10, 5])
        #expect(result.wordCount == 20)
        #expect(result.paragraphs.contains("Column A\tColumn B"))
        #expect(result.paragraphs.first == "Intro paragraph before any heading.")
        #expect(result.sections[2].text == "Delivery\n\nShipping takes three days.")
    }

    @Test func docxWithEntitiesIsForbidden() throws {
        let error = expectJobError { try extract(.docx, "entities.docx") }
        #expect(error?.code == .xmlForbidden)
    }

    @Test func docxWithLateDoctypeIsForbiddenByTheParser() throws {
        let error = expectJobError { try extract(.docx, "entities_late.docx") }
        #expect(error?.code == .xmlForbidden)
    }

    @Test func docxOverUnpackBudgetIsZipBomb() throws {
        let error = expectJobError { try extract(.docx, "big.docx", maxBytes: 1 << 20) }
        #expect(error?.code == .zipBomb)
        // Within budget the same file reads fine.
        let result = try extract(.docx, "big.docx")
        #expect(result.wordCount == 150_000)
        #expect(result.paragraphs.count == 10_000)
    }

    @Test func notAZipIsMalformed() throws {
        let error = expectJobError { try extract(.docx, "page.html") }
        #expect(error?.code == .malformedFile)
    }

    @Test func htmlDropsScriptsAndSplitsOnHeadings() throws {
        let result = try extract(.html, "page.html")
        let all = result.sections.map(\.text).joined(separator: "\n")
        #expect(!all.contains("dropme"))
        #expect(!all.contains("color"))
        #expect(!all.contains("Enable javascript"))
        #expect(!all.contains("also dropped"))
        #expect(
            result.paragraphs == [
                "Catalogue Page", "Welcome to our catalogue.", "Tools", "Hammers and saws.",
                "Hammer", "Saw", "Paint", "Red paint & blue paint",
            ])
        #expect(result.sections.map(\.title) == [nil, "Tools", "Paint"])
        #expect(result.sections.map(\.wordCount) == [6, 6, 5])
        #expect(result.wordCount == 17)
        #expect(result.pageCount == 1)
    }

    @Test func htmlSizeIsGuarded() throws {
        let error = expectJobError { try extract(.html, "page.html", maxBytes: 100) }
        #expect(error?.code == .fileTooLarge)
    }

    @Test func txtDecodesCP1252AndSplitsOnFormFeed() throws {
        let result = try extract(.txt, "cp1252.txt")
        #expect(result.paragraphs == ["Café crème €5 – naïve\nsecond line", "Second paragraph here", "Page two text"])
        #expect(result.pageCount == 2)
        #expect(result.sections.count == 2)
        #expect(result.sections.map(\.wordCount) == [9, 3])
        #expect(result.wordCount == 12)
    }

    @Test func missingFileIsReported() throws {
        let error = expectJobError {
            try DocumentExtractor.extract(
                kind: .txt, path: "/nonexistent/x.txt", maxUnpackedBytes: 1000,
                timeout: .seconds(1), isCancelled: { false }, progress: { _, _, _ in })
        }
        #expect(error?.code == .fileNotFound)
    }
}
