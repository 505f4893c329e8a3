// quarry-xls-dump FILE [--sheet-index N | --sheet-name NAME]
//
// Reads one worksheet of a legacy .xls (BIFF) workbook with libfreexl and writes its rows to stdout.
// It runs as a child process because libfreexl is not memory-safe on hostile input.
// Output: one line per non-empty row: `<1-based row number>\t<field>\t<field>…\n`, fields escaped
// as `\\`, `\t`, `\n`, `\r`. Exit: 0 ok, 2 unreadable file, 3 no such sheet, 4 encrypted, 64 usage.
import CFreeXL

#if canImport(Glibc)
    import Glibc
#endif

func fail(_ code: Int32, _ message: String) -> Never {
    let line = Array((message + "\n").utf8)
    _ = line.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count) }
    exit(code)
}

let args = CommandLine.arguments
guard args.count == 2 || args.count == 4 else { fail(64, "usage: quarry-xls-dump FILE [--sheet-index N | --sheet-name NAME]") }

var handle: UnsafeRawPointer?
if freexl_open(args[1], &handle) != FREEXL_OK {
    fail(2, "cannot open the file as an .xls workbook")
}
var info: UInt32 = 0
if freexl_get_info(handle, UInt16(FREEXL_BIFF_PASSWORD), &info) == FREEXL_OK && info == UInt32(FREEXL_BIFF_OBFUSCATED) {
    fail(4, "the workbook is password-protected")
}
var sheetCount: UInt32 = 0
guard freexl_get_info(handle, UInt16(FREEXL_BIFF_SHEET_COUNT), &sheetCount) == FREEXL_OK, sheetCount > 0 else {
    fail(2, "the workbook has no worksheet")
}
var names: [String] = []
for i in 0..<sheetCount {
    var name: UnsafePointer<CChar>?
    if freexl_get_worksheet_name(handle, UInt16(i), &name) == FREEXL_OK, let name {
        names.append(String(cString: name))
    } else {
        names.append("")
    }
}
var sheet = 0
if args.count == 4 {
    switch args[2] {
    case "--sheet-index":
        guard let i = Int(args[3]), i >= 0, i < names.count else {
            fail(3, "sheet index \(args[3]) out of range (sheets: \(names.joined(separator: ", ")))")
        }
        sheet = i
    case "--sheet-name":
        guard let i = names.firstIndex(of: args[3]) ?? names.firstIndex(where: { $0.lowercased() == args[3].lowercased() }) else {
            fail(3, "no sheet named \"\(args[3])\" (sheets: \(names.joined(separator: ", ")))")
        }
        sheet = i
    default:
        fail(64, "unknown option \(args[2])")
    }
}
guard freexl_select_active_worksheet(handle, UInt16(sheet)) == FREEXL_OK else { fail(2, "cannot select sheet \(sheet)") }
var rows: UInt32 = 0
var cols: UInt16 = 0
guard freexl_worksheet_dimensions(handle, &rows, &cols) == FREEXL_OK else { fail(2, "cannot read sheet dimensions") }

func number(_ d: Double) -> String {
    if d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
    var buf = [CChar](repeating: 0, count: 40)
    let n = withVaList([d]) { vsnprintf(&buf, 40, "%.15g", $0) }
    return n > 0 ? String(decoding: buf.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self) : String(d)
}

var out: [UInt8] = []
out.reserveCapacity(1 << 16)
func escape(_ s: String, into out: inout [UInt8]) {
    for b in s.utf8 {
        switch b {
        case 0x5C: out.append(0x5C); out.append(0x5C)
        case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
        case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
        case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
        default: out.append(b)
        }
    }
}
func flush(_ out: inout [UInt8]) {
    var offset = 0
    while offset < out.count {
        let n = out.withUnsafeBufferPointer { write(1, $0.baseAddress.map { $0 + offset }, $0.count - offset) }
        if n <= 0 { exit(2) }
        offset += n
    }
    out.removeAll(keepingCapacity: true)
}

var fields: [String] = []
for r in 0..<rows {
    fields.removeAll(keepingCapacity: true)
    for c in 0..<cols {
        var cell = FreeXL_CellValue()
        guard freexl_get_cell_value(handle, r, c, &cell) == FREEXL_OK else { fields.append(""); continue }
        let text: String
        switch Int32(cell.type) {
        case FREEXL_CELL_INT: text = String(cell.value.int_value)
        case FREEXL_CELL_DOUBLE: text = number(cell.value.double_value)
        case FREEXL_CELL_TEXT, FREEXL_CELL_SST_TEXT, FREEXL_CELL_DATE, FREEXL_CELL_TIME:
            text = cell.value.text_value.map { String(cString: $0) } ?? ""
        case FREEXL_CELL_DATETIME:
            text = (cell.value.text_value.map { String(cString: $0) } ?? "").replacingSpaceWithT()
        default: text = ""
        }
        fields.append(text)
    }
    while let last = fields.last, last.isEmpty { fields.removeLast() }
    if fields.isEmpty { continue }
    out.append(contentsOf: Array(String(r + 1).utf8))
    for f in fields { out.append(0x09); escape(f, into: &out) }
    out.append(0x0A)
    if out.count > 60_000 { flush(&out) }
}
flush(&out)
freexl_close(handle)
exit(0)

extension String {
    func replacingSpaceWithT() -> String {
        String(map { $0 == " " ? "T" : $0 })
    }
}
