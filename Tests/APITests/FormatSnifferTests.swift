import Extraction
import Foundation
import Testing

/// The upload route's first-4-KB check on real workbook files.
@Suite struct FormatSnifferTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ExtractionTests/Fixtures/corpus")

    static func head(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: corpus.appendingPathComponent(path)).prefix(4096))
    }

    /// UTF-16 text written without a byte-order mark has a NUL in every other byte: it is text, not binary data
    /// (it was refused at upload as "does not look like csv"); random binary with NULs still is refused.
    @Test func bomLessUTF16TextIsAcceptedBinaryIsNot() throws {
        let text = "sku,name\nF-1,Sécateur\n"
        let le = Array(text.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        let be = Array(text.utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] })
        #expect(FormatSniffer.check(fileName: "a.csv", head: le) == .ok("csv"))
        #expect(FormatSniffer.check(fileName: "a.csv", head: be) == .ok("csv"))
        let binary: [UInt8] = [0x00, 0x01, 0x02, 0x00, 0xFF, 0x00, 0x00, 0x7F, 0x13, 0x00, 0x00, 0x00, 0x44, 0x45]
        #expect(FormatSniffer.check(fileName: "a.csv", head: binary) == .mismatch(format: "csv"))
    }

    @Test func passwordProtectedPackageIsEncryptedNotMismatch() throws {
        let head = try Self.head("xlsx/encrypted-agile.xlsx")
        #expect(FormatSniffer.check(fileName: "a.xlsx", head: head) == .encrypted(format: "xlsx"))
        #expect(FormatSniffer.check(fileName: "a.docx", head: head) == .encrypted(format: "docx"))
        #expect(FormatSniffer.check(fileName: "a.xls", head: head) == .encrypted(format: "xls"))
    }

    @Test func legacyWorkbooksStayWhatTheyAre() throws {
        for file in ["xls/xlwt-biff8.xls", "xls/lo-biff8-formulas.xls", "xls/biff5-excel95.xls", "xls/filepass-velvetsweatshop.xls"] {
            let head = try Self.head(file)
            #expect(FormatSniffer.check(fileName: "a.xls", head: head) == .ok("xls"), "\(file)")
            // A legacy workbook renamed .xlsx is a mismatch, not a password-protected file.
            #expect(FormatSniffer.check(fileName: "a.xlsx", head: head) == .mismatch(format: "xlsx"), "\(file)")
        }
        #expect(FormatSniffer.check(fileName: "a.xlsx", head: try Self.head("xlsx/backslash-entry-names.xlsx")) == .ok("xlsx"))
    }
}
