import Foundation
import Models
import Testing

@testable import Extraction

enum TabularFixture {
    static func path(_ name: String) throws -> String {
        let url = try #require(
            Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)
                ?? Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"))
        return url.path
    }

    /// This test process's temporary files, in one directory removed when the process exits (each run left a few
    /// hundred files in the system's temporary directory).
    static let temporaryDirectory: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("quarry-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: TabularFixture.temporaryDirectory) }
        return dir
    }()

    static func temp(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = temporaryDirectory.appendingPathComponent("\(UUID().uuidString)-\(name)")
        try Data(bytes).write(to: url)
        return url.path
    }

    /// Reads every row with a reader.
    static func rows(
        _ format: FileFormat, _ path: String, options: TabularOptions = TabularOptions(),
        limits: ExtractionLimits = ExtractionLimits()
    ) throws -> [(Int, [String])] {
        var out: [(Int, [String])] = []
        try TabularReaders.make(format: format, path: path, options: options)
            .read(limits: limits, isCancelled: { false }, progress: { _ in }) { n, f in out.append((n, f)) }
        return out
    }

    static func code(_ body: () throws -> Void) -> JobError.Code? {
        do { try body(); return nil } catch let e as JobError { return e.code } catch { return JobError.Code("OTHER") }
    }
}
