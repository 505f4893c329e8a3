import Foundation
import Models
import Testing

@testable import Extraction

/// A deterministic mutation fuzzer over the CSV parser, the JSON reader, the XLSX reader and its XML scanner:
/// bit flips, byte insertions, deletions, truncations and splices of real fixtures. Every input
/// must either parse or fail with a `JobError` — no crash, no hang, bounded output.
/// `QUARRY_FUZZ_ITERATIONS` raises the count (default keeps CI fast).
@Suite(.timeLimit(.minutes(3)))
struct FuzzTests {
    static let iterations = Int(ProcessInfo.processInfo.environment["QUARRY_FUZZ_ITERATIONS"] ?? "") ?? 400

    /// xorshift64*: reproducible without a global seed.
    struct Rng {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12; state ^= state << 25; state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }
        mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
    }

    static func mutate(_ input: [UInt8], _ rng: inout Rng) -> [UInt8] {
        var b = input
        for _ in 0..<(1 + rng.below(8)) {
            switch rng.below(6) {
            case 0 where !b.isEmpty: b[rng.below(b.count)] ^= UInt8(1 << rng.below(8))
            case 1: b.insert(UInt8(truncatingIfNeeded: rng.next()), at: rng.below(b.count + 1))
            case 2 where !b.isEmpty: b.remove(at: rng.below(b.count))
            case 3 where !b.isEmpty: b = Array(b.prefix(rng.below(b.count)))
            case 4:
                let specials: [UInt8] = [0x22, 0x2C, 0x0A, 0x0D, 0x00, 0xFF, 0x3B, 0x09, 0x7B, 0x5B, 0x3C]
                b.insert(specials[rng.below(specials.count)], at: rng.below(b.count + 1))
            case 5 where b.count > 4:
                let start = rng.below(b.count - 2)
                let len = min(rng.below(64), b.count - start)
                b.insert(contentsOf: b[start..<start + len], at: rng.below(b.count))
            default: b.append(UInt8(truncatingIfNeeded: rng.next()))
            }
        }
        return b
    }

    @Test func csvParserSurvivesMutations() throws {
        let seeds = try ["quoted_newlines.csv", "semicolon.csv", "cp1252.csv", "utf16le.csv"].map {
            Array(try Data(contentsOf: URL(fileURLWithPath: try TabularFixture.path($0))))
        }
        var rng = Rng(state: 0x9E37_79B9_7F4A_7C15)
        var parsed = 0
        for i in 0..<Self.iterations * 5 {
            let input = Self.mutate(seeds[i % seeds.count], &rng)
            var parser = CSVParser(delimiter: [0x2C, 0x3B, 0x09][i % 3], maxRecordBytes: 4096, maxFields: 64)
            var fields = 0
            do {
                try parser.feed(input) { _, f in fields += f.count }
                try parser.finish { _, f in fields += f.count }
                parsed += 1
            } catch is JobError {}
            #expect(fields <= input.count + 1 + input.count)  // no field invented out of nothing
        }
        #expect(parsed > 0)
    }

    /// The XLSX byte scanner on mutated sheet XML (ZIP mutations rarely get past the CRC check): every input
    /// scans or fails with a `JobError`, with the same outcome and the same events whatever the chunking.
    @Test func xmlByteScannerSurvivesMutations() throws {
        let seed = Array(
            (#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="urn:x"><sheetData>"#
                + #"<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="inlineStr"><is><t>a &amp; b &#233;</t></is></c></row>"#
                + #"<row r="2"><c r="A2"><v>12.5</v></c><c r="B2" t="b"><v>1</v></c><c r="C2"/><!-- c --><c r="D2" t="str"><v><![CDATA[x<y]]></v></c></row>"#
                + "</sheetData></worksheet>").utf8)
        struct Events: XMLScanDelegate {
            var log: [UInt8] = []
            mutating func startElement(_ name: UnsafeBufferPointer<UInt8>, _ attributes: XMLScanAttributes) -> XMLScanStop? {
                log.append(0x3C)
                log.append(contentsOf: name)
                attributes.forEach { n, v in
                    log.append(0x20)
                    log.append(contentsOf: n)
                    log.append(0x3D)
                    log.append(contentsOf: v)
                }
                return nil
            }
            mutating func endElement(_ name: UnsafeBufferPointer<UInt8>) -> XMLScanStop? {
                log.append(0x2F)
                log.append(contentsOf: name)
                return nil
            }
            mutating func characters(_ bytes: UnsafeBufferPointer<UInt8>) { log.append(contentsOf: bytes) }
        }
        func outcome(_ input: [UInt8], chunk: Int) -> (String, [UInt8]) {
            var events = Events()
            var scanner = XMLByteScanner(what: "sheet.xml", maxTokenBytes: 4096)
            do {
                try scanner.scan(input, chunk: chunk, delegate: &events)
                return ("OK", events.log)
            } catch let e as JobError {
                return (e.code.rawValue, [])
            } catch {
                return ("OTHER", [])
            }
        }
        var rng = Rng(state: 0x6A09_E667_F3BC_C909)
        var outcomes: [String: Int] = [:]
        for _ in 0..<(Self.iterations * 5) {
            let input = Self.mutate(seed, &rng)
            let whole = outcome(input, chunk: .max)
            let pieces = outcome(input, chunk: 1 + rng.below(40))
            #expect(whole.0 == pieces.0, "chunking changed the outcome")
            #expect(whole.1 == pieces.1, "chunking changed the events")
            #expect(whole.1.count <= input.count * 2, "events out of proportion to the input")
            outcomes[whole.0, default: 0] += 1
        }
        #expect(outcomes["OTHER"] == nil, "non-JobError failures: \(outcomes)")
        #expect((outcomes["OK"] ?? 0) > 0 && (outcomes[JobError.Code.malformedFile.rawValue] ?? 0) > 0, "\(outcomes)")
    }

    @Test func jsonReaderSurvivesMutations() throws {
        let seed = Array(#"{"products":[{"sku":"A","price":"1,50","tags":["x",{"y":[1,2]}]},{"sku":"B","price":2.5,"n":null,"t":true}]}"#.utf8)
        var rng = Rng(state: 0xD1B5_4A32_D192_ED03)
        for i in 0..<Self.iterations {
            let input = Self.mutate(seed, &rng)
            let path = try TabularFixture.temp("f\(i).json", input)
            defer { try? FileManager.default.removeItem(atPath: path) }
            var limits = ExtractionLimits()
            limits.maxJSONDepth = 16
            _ = TabularFixture.code { _ = try TabularFixture.rows(.json, path, limits: limits) }
        }
    }

    @Test func xlsxReaderSurvivesMutations() throws {
        let seed = Array(try Data(contentsOf: URL(fileURLWithPath: try TabularFixture.path("products.xlsx"))))
        var rng = Rng(state: 0x2545_F491_4F6C_DD1D)
        var limits = ExtractionLimits()
        limits.maxUnpackedTotalBytes = 8 << 20
        limits.maxUnpackedEntryBytes = 4 << 20
        var outcomes: [String: Int] = [:]
        for i in 0..<(Self.iterations / 4) {
            let input = Self.mutate(seed, &rng)
            let path = try TabularFixture.temp("f\(i).xlsx", input)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let code = TabularFixture.code { _ = try TabularFixture.rows(.xlsx, path, limits: limits) }
            outcomes[code?.rawValue ?? "OK", default: 0] += 1
        }
        // Mutations of a ZIP mostly break it: they must be reported as errors, never crash.
        #expect(outcomes.values.reduce(0, +) == Self.iterations / 4)
        #expect(outcomes["OTHER"] == nil, "non-JobError failures: \(outcomes)")
    }
}
