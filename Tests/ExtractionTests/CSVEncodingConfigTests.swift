import Extraction
import Foundation
import JobConfig
import Models
import Testing

/// The job config's `encoding` overrides detection, through the one config → reader-options translation.
@Suite("CSV: encoding from the job config")
struct CSVEncodingConfigTests {
    /// "Ã©" in Windows-1252 is also valid UTF-8 ("é"), so detection reads it as UTF-8; a config that says
    /// `windows-1252` must get the two characters the supplier wrote.
    @Test func configEncodingOverridesDetection() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("enc-\(UUID().uuidString).csv").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bytes: [UInt8] = Array("sku,name\nA-1,".utf8) + [0xC3, 0xA9] + Array("\n".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        func cells(_ json: String) throws -> [[String]] {
            let config = try ExtractionConfig.decode(json: Data(json.utf8))
            let reader = try TabularReaders.make(format: .csv, path: path, options: TabularOptions(config: config))
            var rows: [[String]] = []
            try reader.read(limits: ExtractionLimits(), isCancelled: { false }, progress: { _ in }) { _, fields in rows.append(fields) }
            return rows
        }
        #expect(try cells("{}").last == ["A-1", "é"])
        #expect(try cells(#"{"encoding": "windows-1252"}"#).last == ["A-1", "Ã©"])
        #expect(try cells(#"{"encoding": "CP1252"}"#).last == ["A-1", "Ã©"])
        #expect(try cells(#"{"encoding": "auto"}"#).last == ["A-1", "é"])
        let error = expectJobError { try ExtractionConfig.decode(json: Data(#"{"encoding": "ebcdic"}"#.utf8)) }
        #expect(error?.code == .invalidConfig)
        #expect(error?.details["field"] == "encoding")
    }
}
