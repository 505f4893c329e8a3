/// Guesses the delimiter of a delimited text from a sample.
enum CSVDelimiterSniffer {
    static let candidates: [UInt8] = [UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "\t"), UInt8(ascii: "|")]
    static let sampleBytes = 64 * 1024

    /// Counts each candidate outside quotes per line over the first 64 KB and picks the one whose
    /// per-line count is most consistent (ties: the higher count, then candidate order).
    /// `sampleIsWholeFile` keeps the last line even without a line break.
    static func sniff(_ sample: UnsafeBufferPointer<UInt8>, sampleIsWholeFile: Bool) -> UInt8? {
        let n = min(sample.count, sampleBytes)
        var perLine: [[Int]] = []  // per line, count per candidate
        var counts = [Int](repeating: 0, count: candidates.count)
        var inQuotes = false
        var lineHasContent = false
        var i = 0
        while i < n && perLine.count < 500 {
            let b = sample[i]
            i += 1
            if b == UInt8(ascii: "\"") { inQuotes.toggle(); lineHasContent = true; continue }
            if inQuotes { continue }
            if b == UInt8(ascii: "\n") || b == UInt8(ascii: "\r") {
                if lineHasContent { perLine.append(counts) }
                counts = [Int](repeating: 0, count: candidates.count)
                lineHasContent = false
                continue
            }
            lineHasContent = true
            if let k = candidates.firstIndex(of: b) { counts[k] += 1 }
        }
        if lineHasContent && (sampleIsWholeFile && n == sample.count || perLine.isEmpty) { perLine.append(counts) }
        guard !perLine.isEmpty else { return nil }

        var best: (index: Int, consistency: Double, mode: Int)?
        for k in candidates.indices {
            var freq: [Int: Int] = [:]
            for line in perLine where line[k] > 0 { freq[line[k], default: 0] += 1 }
            guard let (mode, hits) = freq.max(by: { ($0.value, $0.key) < ($1.value, $1.key) }) else { continue }
            let consistency = Double(hits) / Double(perLine.count)
            if let b = best {
                if consistency > b.consistency + 1e-9 || (abs(consistency - b.consistency) <= 1e-9 && mode > b.mode) {
                    best = (k, consistency, mode)
                }
            } else {
                best = (k, consistency, mode)
            }
        }
        return best.map { candidates[$0.index] }
    }
}
