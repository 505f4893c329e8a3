import Foundation
import Models

/// BIFF record ids the XLS reader understands (MS-XLS 2.3).
enum BIFF {
    static let bof: UInt16 = 0x0809, eof: UInt16 = 0x000A, filePass: UInt16 = 0x002F, codePage: UInt16 = 0x0042
    static let dateMode: UInt16 = 0x0022, format: UInt16 = 0x041E, xf: UInt16 = 0x00E0, boundSheet: UInt16 = 0x0085
    static let sst: UInt16 = 0x00FC, `continue`: UInt16 = 0x003C, labelSST: UInt16 = 0x00FD, label: UInt16 = 0x0204
    static let rString: UInt16 = 0x00D6, rk: UInt16 = 0x027E, mulRK: UInt16 = 0x00BD, number: UInt16 = 0x0203
    static let formula: UInt16 = 0x0006, string: UInt16 = 0x0207, boolErr: UInt16 = 0x0205
    /// BOF records of BIFF2–4 (no workbook globals, no compound file in practice).
    static let oldBOFs: Set<UInt16> = [0x0009, 0x0209, 0x0409]

    /// Excel error code → its text.
    static func errorText(_ code: UInt8) -> String {
        switch code {
        case 0x00: "#NULL!"
        case 0x07: "#DIV/0!"
        case 0x0F: "#VALUE!"
        case 0x17: "#REF!"
        case 0x1D: "#NAME?"
        case 0x24: "#NUM!"
        case 0x2A: "#N/A"
        case 0x2B: "#GETTING_DATA"
        default: "#ERR\(code)"
        }
    }

    /// An RK number (MS-XLS 2.5.217): 30 bits of integer or of the top of a double, optionally /100.
    static func rk(_ v: UInt32) -> (value: Double, integer: Int64?) {
        let div100 = v & 1 != 0
        if v & 2 != 0 {
            let i = Int64(Int32(bitPattern: v) >> 2)
            return div100 ? (Double(i) / 100, i % 100 == 0 ? i / 100 : nil) : (Double(i), i)
        }
        let d = Double(bitPattern: UInt64(v & 0xFFFF_FFFC) << 32)
        return (div100 ? d / 100 : d, nil)
    }
}

/// One record: its id and payload (at most 8224 bytes in BIFF8; the 16-bit length bounds it anyway).
struct BIFFRecord {
    var type: UInt16 = 0
    var data: [UInt8] = []

    func u8(_ i: Int) -> UInt8 { i < data.count ? data[i] : 0 }
    func u16(_ i: Int) -> Int { Int(le16(data, i)) }
    func u32(_ i: Int) -> UInt32 { le32(data, i) }
    func f64(_ i: Int) -> Double { Double(bitPattern: le64(data, i)) }
}

/// Reads BIFF records one after another from a workbook stream.
struct BIFFRecordReader {
    var stream: CompoundStream
    private var header: [UInt8] = []

    init(stream: CompoundStream) { self.stream = stream }

    /// Byte offset of the next record.
    var position: Int64 { stream.position }

    /// The next record into `record`; false at the end of the stream.
    mutating func next(into record: inout BIFFRecord) throws -> Bool {
        guard try stream.read(4, into: &header) else { return false }
        record.type = le16(header, 0)
        let length = Int(le16(header, 2))
        if length == 0 {
            record.data.removeAll(keepingCapacity: true)
            return true
        }
        guard try stream.read(length, into: &record.data) else { throw XLSReader.malformed("the stream ends inside a record") }
        return true
    }
}

/// Decodes the strings of BIFF5 (8-bit, in the workbook's code page) and BIFF8 (`XLUnicodeString`: 8-bit
/// Latin-1 or UTF-16LE, per string).
struct BIFFText {
    /// Code page of 8-bit strings in BIFF5 (CODEPAGE record), 1252 when absent.
    var codePage = 1252

    /// Bytes in the code page → text (Windows-1252 for unknown pages; 1200 means UTF-16 already).
    func decode8(_ bytes: ArraySlice<UInt8>) -> String {
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        let encoding: String.Encoding? =
            switch codePage {
            case 1250: .windowsCP1250
            case 1251: .windowsCP1251
            case 1253: .windowsCP1253
            case 1254: .windowsCP1254
            case 932: .shiftJIS
            case 10000, 32768: .macOSRoman
            case 28591: .isoLatin1
            default: nil
            }
        if let encoding, let s = String(data: Data(bytes), encoding: encoding) { return s }
        return Array(bytes).withUnsafeBufferPointer { Windows1252.decode($0) }
    }

    /// BIFF8 characters: `compressed` = 1 byte each (the low byte of a UTF-16 unit), else UTF-16LE.
    static func decodeChars(_ bytes: ArraySlice<UInt8>, compressed: Bool) -> String {
        if compressed {
            return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        }
        var units: [UInt16] = []
        units.reserveCapacity(bytes.count / 2)
        var i = bytes.startIndex
        while i + 1 < bytes.endIndex {
            units.append(UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8)
            i += 2
        }
        return String(decoding: units, as: UTF16.self)
    }

    /// A string at `offset` of `record`: BIFF8 `XLUnicodeString` (`lengthBytes` = 2) or
    /// `ShortXLUnicodeString` (1); BIFF5 a byte count (`lengthBytes`) then bytes in the code page.
    /// Rich-text runs and phonetic data after the characters are not needed (the string ends the record's use).
    func string(_ record: BIFFRecord, at offset: Int, lengthBytes: Int, biff8: Bool) throws -> String {
        let d = record.data
        guard offset + lengthBytes <= d.count else { throw XLSReader.malformed("string header beyond its record") }
        let count = lengthBytes == 2 ? record.u16(offset) : Int(record.u8(offset))
        var i = offset + lengthBytes
        guard biff8 else {
            guard i + count <= d.count else { throw XLSReader.malformed("string beyond its record") }
            return decode8(d[i..<i + count])
        }
        guard i < d.count else { throw XLSReader.malformed("string flags beyond its record") }
        let flags = d[i]
        i += 1
        if flags & 0x08 != 0 { i += 2 }  // rich-text run count
        if flags & 0x04 != 0 { i += 4 }  // phonetic size
        let width = flags & 0x01 != 0 ? 2 : 1
        guard i + count * width <= d.count else { throw XLSReader.malformed("string beyond its record") }
        return Self.decodeChars(d[i..<i + count * width], compressed: width == 1)
    }
}
