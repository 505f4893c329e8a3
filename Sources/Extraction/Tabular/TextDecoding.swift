/// How field bytes become `String`s.
public enum FieldDecoding: Sendable, Hashable {
    /// UTF-8 when the bytes are valid UTF-8, else Windows-1252 (per field).
    case utf8OrWindows1252
    /// Always UTF-8 (invalid sequences become U+FFFD).
    case utf8
    /// Always Windows-1252.
    case windows1252
    /// Always Latin-1 (ISO-8859-1): each byte is the code point of the same value.
    case latin1

    @inline(__always)
    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var any: UInt8 = 0
        for b in bytes { any |= b }
        return any < 0x80
    }

    @inline(__always)
    func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        switch self {
        case .utf8OrWindows1252:
            // Most fields are ASCII: checked with a plain loop, then the specialized UTF-8 initializer.
            // (`String(validating:as:)` is generic and pays a runtime metadata lookup per call.)
            if Self.isASCII(bytes) { return String(decoding: bytes, as: UTF8.self) }
            if let s = String(validating: bytes, as: UTF8.self) { return s }
            return Windows1252.decode(bytes)
        case .utf8:
            return String(decoding: bytes, as: UTF8.self)
        case .windows1252:
            return Windows1252.decode(bytes)
        case .latin1:
            var scalars = String.UnicodeScalarView()
            scalars.reserveCapacity(bytes.count)
            for b in bytes { scalars.append(Unicode.Scalar(b)) }
            return String(scalars)
        }
    }
}

/// Windows-1252 (the common "ANSI" code page) to Unicode.
enum Windows1252 {
    /// Code points of bytes 0x80…0x9F (undefined slots map to the C1 control of the same value).
    static let high: [UInt32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
        0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ]

    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        scalars.reserveCapacity(bytes.count)
        for b in bytes {
            let v: UInt32 = (b >= 0x80 && b <= 0x9F) ? high[Int(b) - 0x80] : UInt32(b)
            if let s = Unicode.Scalar(v) { scalars.append(s) }
        }
        return String(scalars)
    }
}

/// Streaming UTF-16 (LE or BE) → UTF-8 transcoder; keeps a split code unit / surrogate across chunks.
struct UTF16StreamTranscoder {
    let bigEndian: Bool
    private var pendingByte: UInt8?
    private var pendingHigh: UInt16?

    init(bigEndian: Bool) { self.bigEndian = bigEndian }

    /// Appends the UTF-8 form of `input` to `output` (which is cleared first).
    mutating func transcode(_ input: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) {
        output.removeAll(keepingCapacity: true)
        output.reserveCapacity(input.count * 3 / 2 + 8)
        var i = 0
        let n = input.count
        func unit(_ a: UInt8, _ b: UInt8) -> UInt16 {
            bigEndian ? (UInt16(a) << 8 | UInt16(b)) : (UInt16(b) << 8 | UInt16(a))
        }
        if let p = pendingByte, n > 0 {
            pendingByte = nil
            emit(unit(p, input[0]), &output)
            i = 1
        }
        while i + 1 < n {
            emit(unit(input[i], input[i + 1]), &output)
            i += 2
        }
        if i < n { pendingByte = input[i] }
    }

    /// Flushes a dangling half character as U+FFFD.
    mutating func finish(into output: inout [UInt8]) {
        output.removeAll(keepingCapacity: true)
        if pendingByte != nil || pendingHigh != nil { appendScalar(0xFFFD, &output) }
        pendingByte = nil
        pendingHigh = nil
    }

    private mutating func emit(_ u: UInt16, _ out: inout [UInt8]) {
        if let hi = pendingHigh {
            pendingHigh = nil
            if u >= 0xDC00 && u <= 0xDFFF {
                let v = 0x10000 + ((UInt32(hi) - 0xD800) << 10) + (UInt32(u) - 0xDC00)
                appendScalar(v, &out)
                return
            }
            appendScalar(0xFFFD, &out)
        }
        if u >= 0xD800 && u <= 0xDBFF { pendingHigh = u; return }
        if u >= 0xDC00 && u <= 0xDFFF { appendScalar(0xFFFD, &out); return }
        appendScalar(UInt32(u), &out)
    }

    @inline(__always)
    private func appendScalar(_ v: UInt32, _ out: inout [UInt8]) {
        switch v {
        case 0..<0x80: out.append(UInt8(v))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | (v >> 6))); out.append(UInt8(0x80 | (v & 0x3F)))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | (v >> 12))); out.append(UInt8(0x80 | ((v >> 6) & 0x3F))); out.append(UInt8(0x80 | (v & 0x3F)))
        default:
            out.append(UInt8(0xF0 | (v >> 18))); out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F))); out.append(UInt8(0x80 | (v & 0x3F)))
        }
    }
}
