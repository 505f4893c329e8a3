/// Recognises UTF-16 text written without a byte-order mark by its NUL bytes: in mostly-Latin text every
/// other byte is 0. Used by the upload check, format detection and the CSV reader's encoding detection, so the
/// three agree on what counts as text.
public enum UTF16Heuristic {
    /// Byte order of BOM-less UTF-16.
    public enum ByteOrder: Sendable { case littleEndian, bigEndian }

    /// The byte order when at least a third of the odd (LE) or even (BE) bytes are NUL and at most one in twenty of
    /// the others; nil for anything else (including fewer than two code units).
    public static func byteOrder(of sample: ArraySlice<UInt8>) -> ByteOrder? {
        let pairs = sample.count / 2
        guard pairs >= 2 else { return nil }
        var evenNULs = 0
        var oddNULs = 0
        var i = sample.startIndex
        for _ in 0..<pairs {
            if sample[i] == 0 { evenNULs += 1 }
            if sample[i + 1] == 0 { oddNULs += 1 }
            i += 2
        }
        if oddNULs * 3 >= pairs && evenNULs * 20 <= pairs { return .littleEndian }
        if evenNULs * 3 >= pairs && oddNULs * 20 <= pairs { return .bigEndian }
        return nil
    }
}
