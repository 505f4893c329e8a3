/// ASCII fast paths for the per-cell work in `RowProcessor`. Each falls back to the Unicode-aware
/// implementation as soon as it meets a non-ASCII byte at the place that matters, so results are identical.
extension String {
    /// ASCII bytes that are Unicode `White_Space` (TAB, LF, VT, FF, CR, space). No other ASCII byte is.
    @inline(__always)
    static func isASCIIWhitespace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }

    /// Same result as `trimmingWhitespace()`; returns `self` unchanged (no copy) when nothing is trimmed
    /// and uses the UTF-8 bytes when the edges are ASCII.
    func trimmingWhitespaceFast() -> String {
        let utf8 = self.utf8
        var start = utf8.startIndex
        var end = utf8.endIndex
        while start < end {
            let b = utf8[start]
            if b >= 0x80 { return trimmingWhitespace() }
            if !Self.isASCIIWhitespace(b) { break }
            start = utf8.index(after: start)
        }
        if start == end { return "" }
        while true {
            let before = utf8.index(before: end)
            let b = utf8[before]
            if b >= 0x80 { return trimmingWhitespace() }
            if !Self.isASCIIWhitespace(b) { break }
            end = before
        }
        if start == utf8.startIndex && end == utf8.endIndex { return self }
        return String(self[start..<end])
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
