/// ASCII fast paths for the per-cell work in `RowProcessor`. Each falls back to the Unicode-aware
/// implementation as soon as it meets a non-ASCII byte at the place that matters, so results are identical.
extension String {
    /// ASCII bytes that are Unicode `White_Space` (TAB, LF, VT, FF, CR, space). No other ASCII byte is.
    @inline(__always)
    static func isASCIIWhitespace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }

    /// Same result as `trimmingWhitespace()`; returns `self` unchanged (no copy) when nothing is trimmed
    /// and uses the UTF-8 bytes when the edges are ASCII.
    func trimmingWhitespaceFast() -> String {
        enum Edges { case untouched, empty, unicode, trimmed(Int, Int) }
        var copy = self
        // One pass over contiguous bytes (String.UTF8View indexing cost more than the scan itself).
        let edges = copy.withUTF8 { b -> Edges in
            var start = 0
            var end = b.count
            while start < end {
                let c = b[start]
                if c >= 0x80 { return .unicode }
                if !Self.isASCIIWhitespace(c) { break }
                start += 1
            }
            if start == end { return .empty }
            while true {
                let c = b[end - 1]
                if c >= 0x80 { return .unicode }
                if !Self.isASCIIWhitespace(c) { break }
                end -= 1
            }
            return start == 0 && end == b.count ? .untouched : .trimmed(start, end)
        }
        switch edges {
        case .untouched: return self
        case .empty: return ""
        case .unicode: return trimmingWhitespace()
        case .trimmed(let start, let end):
            return copy.withUTF8 { String(decoding: UnsafeBufferPointer(rebasing: $0[start..<end]), as: UTF8.self) }
        }
    }

    /// Same result as `trimmingWhitespace().isEmpty`.
    var isBlankFast: Bool {
        for b in utf8 {
            if b >= 0x80 { return trimmingWhitespace().isEmpty }
            if !Self.isASCIIWhitespace(b) { return false }
        }
        return true
    }

    /// Same result as `count > limit` without counting characters when the UTF-8 length decides it
    /// (a character is at least one byte).
    @inline(__always)
    func hasMoreCharacters(than limit: Int) -> Bool {
        utf8.count <= limit ? false : count > limit
    }
}
