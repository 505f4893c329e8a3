import Foundation
import Models
import Testing

@testable import Extraction

/// The real-file corpus (`Fixtures/corpus/<kind>/MANIFEST.json`): every manifest is complete and every entry is read
/// in-process as the extract job reads it — refused with its `expect_error` code, or read with its header where the
/// manifest puts it. The cell-by-cell comparison with the reference readers is `scripts/corpus-check`.
@Suite struct CorpusTests {
    struct Manifest: Decodable {
        var files: [Entry]
    }

    struct Entry: Decodable {
        var file: String
        var kind: String
        var origin: String
        var license: String
        var reference: [String: JSONScalar]?
        var quarry: [String: JSONScalar]?
        var expectError: String?
        var headerRow: Int?

        enum CodingKeys: String, CodingKey {
            case file, kind, origin, license, reference, quarry
            case expectError = "expect_error", headerRow = "header_row"
        }
    }

    /// A manifest value: text, number, boolean or null.
    enum JSONScalar: Decodable {
        case text(String), number(Double), bool(Bool), null
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() {
                self = .null
            } else if let b = try? c.decode(Bool.self) {
                self = .bool(b)
            } else if let d = try? c.decode(Double.self) {
                self = .number(d)
            } else {
                self = .text(try c.decode(String.self))
            }
        }
        var text: String? {
            switch self {
            case .text(let s): s
            case .number(let d): d == d.rounded() ? String(Int(d)) : String(d)
            case .bool(let b): String(b)
            case .null: nil
            }
        }
    }

    /// The corpus folders in the source tree (read by path so files not yet listed are seen too).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/corpus")

    static func manifests() throws -> [(folder: URL, manifest: Manifest)] {
        let folders = try FileManager.default.contentsOfDirectory(at: root, includingPropertiesForKeys: nil)
            .filter { $0.hasDirectoryPath }.sorted { $0.path < $1.path }
        return try folders.map { folder in
            let data = try Data(contentsOf: folder.appendingPathComponent("MANIFEST.json"))
            return (folder, try JSONDecoder().decode(Manifest.self, from: data))
        }
    }

    @Test func everyManifestListsEveryFileWithItsOriginAndLicense() throws {
        let manifests = try Self.manifests()
        #expect(manifests.contains { $0.folder.lastPathComponent == "header" })
        for (folder, manifest) in manifests {
            let listed = Set(manifest.files.map(\.file))
            #expect(listed.count == manifest.files.count, "\(folder.lastPathComponent): a file is listed twice")
            let present = Set(try FileManager.default.contentsOfDirectory(atPath: folder.path))
            // Besides the listed files: the manifest, notes and the scripts that generate the files.
            func isHelper(_ name: String) -> Bool {
                name == "MANIFEST.json" || name.hasPrefix("make_") || [".md", ".py", ".sh"].contains { name.hasSuffix($0) }
            }
            for name in present.subtracting(listed) where !isHelper(name) {
                Issue.record("\(folder.lastPathComponent)/\(name) is not in MANIFEST.json")
            }
            for entry in manifest.files {
                let where_ = "\(folder.lastPathComponent)/\(entry.file)"
                #expect(present.contains(entry.file), "\(where_) is listed but missing")
                let size = (try? FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(entry.file).path)[.size] as? Int) ?? 0
                #expect(size <= 50_000, "\(where_) is \(size) bytes; corpus files stay under 50 KB")
                #expect(!entry.kind.isEmpty && !entry.origin.isEmpty && !entry.license.isEmpty, "\(where_): kind, origin, license")
                #expect((entry.reference == nil) != (entry.expectError == nil), "\(where_): exactly one of reference and expect_error")
                if let reader = entry.reference?["reader"]?.text {
                    #expect(["calamine", "csv"].contains(reader), "\(where_): unknown reference reader \(reader)")
                }
            }
        }
    }

    /// Every entry through the extract job's own reading path: format detection, the reader with the entry's
    /// options, the header locator. Refused files fail with their code; the others yield a header (at
    /// `header_row` when the manifest says) and no error.
    @Test func everyEntryIsReadOrRefusedWithItsCode() throws {
        var checked = 0
        for (folder, manifest) in try Self.manifests() {
            for entry in manifest.files {
                let where_ = "\(folder.lastPathComponent)/\(entry.file)"
                let options = entry.quarry ?? [:]
                let config = ExtractionConfig(
                    headerRow: options["header_row"]?.text.flatMap { Int($0) }, sheet: options["sheet"]?.text,
                    delimiter: options["delimiter"]?.text)
                let limits = ExtractionLimits()
                do {
                    let scan = try TableScan(
                        path: folder.appendingPathComponent(entry.file).path, fileName: entry.file, config: config,
                        encoding: options["encoding"]?.text.flatMap(TextEncodingHint.init(name:)), limits: limits)
                    var rows = 0
                    let result = try scan.run(limits: limits) { event in
                        if case .row = event { rows += 1 }
                        return true
                    }
                    if let code = entry.expectError {
                        Issue.record("\(where_): read \(rows) rows, expected \(code)")
                    } else {
                        let header = try #require(result.header, "\(where_): no header")
                        // Quarry numbers rows physically; the reference does too unless it skipped lines first.
                        let physical = entry.reference?["reader"]?.text == "calamine" || (entry.reference?["skip_lines"]?.text ?? "0") == "0"
                        if let expected = entry.headerRow, options["header_row"] == nil, physical {
                            #expect(header.row == expected, "\(where_): header row \(header.row) (confidence \(header.confidence))")
                        }
                    }
                } catch let error as JobError {
                    #expect(error.code.rawValue == entry.expectError, "\(where_): \(error)")
                }
                checked += 1
            }
        }
        #expect(checked >= 7)
    }
}
