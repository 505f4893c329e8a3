"""Generates the workbook corpus (corpus/xls and corpus/xlsx). Needs a throwaway venv and LibreOffice:
    python3 -m venv /tmp/venv-wb && /tmp/venv-wb/bin/pip install openpyxl xlwt msoffcrypto-tool python-calamine
    apt-get install -y --no-install-recommends libreoffice-calc   # only to regenerate the LibreOffice files
    /tmp/venv-wb/bin/python Tests/ExtractionTests/Fixtures/corpus/make_workbooks.py
Files are deterministic except for timestamps inside the containers. Big inputs are not committed: pass
--bench to also write /tmp/bench-50k.xls (50 000 rows, for the read-speed figures in docs/BENCHMARKS.md).
"""
import datetime, io, os, shutil, struct, subprocess, sys, tempfile, zipfile
import openpyxl, xlwt
from xlwt import CompoundDoc

here = os.path.dirname(os.path.abspath(__file__))
XLS = os.path.join(here, "xls")
XLSX = os.path.join(here, "xlsx")


def soffice(src, filt, outdir, ext):
    """Converts src with LibreOffice headless into outdir; returns the produced path."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to",
                        f"{ext}:{filt}", "--outdir", outdir, src], check=True, capture_output=True)
    return os.path.join(outdir, os.path.splitext(os.path.basename(src))[0] + "." + ext)


# ---------- XLS via xlwt (BIFF8) ----------
def xlwt_biff8():
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("Data")
    date = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    stamp = xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM:SS")
    dur = xlwt.easyxf(num_format_str="[h]:mm:ss")
    for c, h in enumerate(["name", "qty", "price", "born", "seen", "ok", "elapsed"]):
        ws.write(0, c, h)
    data = [
        ["Zoë", 3, 12.5, datetime.date(1990, 5, 17), datetime.datetime(2024, 3, 15, 13, 45, 30), True, 10.6320601851852],
        ["Ünal €", -7, 0.1 + 0.2, datetime.date(1900, 3, 1), datetime.datetime(2000, 1, 1), False, 0.5],
        ["東京", 123456789, 1e-7, datetime.date(2038, 1, 19), datetime.datetime(1999, 12, 31, 23, 59, 59), True, 1.25],
    ]
    for r, row in enumerate(data, start=1):
        for c, v in enumerate(row):
            style = {3: date, 4: stamp, 6: dur}.get(c)
            ws.write(r, c, v, style) if style else ws.write(r, c, v)
    # Enough distinct strings to push the SST over one record (CONTINUE), with a long mixed string across it.
    for i in range(300):
        ws.write(10 + i, 0, f"string number {i:04d} ÿ")
    ws.write(310, 1, "long " + "ab€" * 3000)
    # MULRK: several RK numbers in a row; extra cells far to the right of the header.
    for c in range(8):
        ws.write(320, c, c * 100)
    ws.write(320, 12, "far right")
    other = wb.add_sheet("Second")
    other.write(0, 0, "k")
    other.write(0, 1, "v")
    other.write(1, 0, "x")
    other.write(1, 1, 42)
    wb.save(os.path.join(XLS, "xlwt-biff8.xls"))

    wb = xlwt.Workbook()
    wb.dates_1904 = True
    ws = wb.add_sheet("Mac")
    ws.write(0, 0, "when")
    ws.write(1, 0, datetime.date(2024, 3, 15), xlwt.easyxf(num_format_str="YYYY-MM-DD"))
    ws.write(2, 0, datetime.datetime(1904, 1, 2, 6, 0), xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM:SS"))
    wb.save(os.path.join(XLS, "xlwt-date1904.xls"))


def filepass_xls():
    """An xlwt workbook with a FILEPASS record (RC4 CryptoAPI header) after the globals BOF: what Excel writes
    for a workbook protected with the default password VelvetSweatshop. The cells stay clear (Quarry refuses
    the file on FILEPASS before reading any)."""
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Secret")
    ws.write(0, 0, "x")
    stream = bytearray(wb.get_biff_data())
    bof_len = 4 + struct.unpack_from("<H", stream, 2)[0]
    payload = struct.pack("<HHHI", 1, 4, 2, 0) + b"\0" * 48
    record = struct.pack("<HH", 0x002F, len(payload)) + payload
    stream[bof_len:bof_len] = record
    # BOUNDSHEET offsets move by the inserted length; then every payload after FILEPASS is scrambled the way
    # RC4 leaves it (BOF, FILEPASS, INTERFACEHDR and BOUNDSHEET's stream offset stay clear), with a fixed
    # keystream: Quarry and calamine must refuse the file on FILEPASS without trying to decode the cells.
    pos, seed, seen_filepass = 0, 12345, False
    while pos < len(stream):
        rtype, length = struct.unpack_from("<HH", stream, pos)
        if rtype == 0x0085:
            off = struct.unpack_from("<I", stream, pos + 4)[0]
            struct.pack_into("<I", stream, pos + 4, off + len(record))
        if seen_filepass and rtype not in (0x0809, 0x002F, 0x00E1):
            start = pos + 4 + (4 if rtype == 0x0085 else 0)
            for k in range(start, pos + 4 + length):
                seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
                stream[k] ^= seed >> 16 & 0xFF
        seen_filepass = seen_filepass or rtype == 0x002F
        pos += 4 + length
    CompoundDoc.XlsDoc().save(os.path.join(XLS, "filepass-velvetsweatshop.xls"), bytes(stream))


def formula_source(path):
    """An xlsx with formulas (no cached values) for LibreOffice to compute and save as BIFF8/BIFF5/xlsx."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Formulas"
    ws.append(["label", "value", "note"])
    ws.append(["sum", "=1+2", "Café"])
    ws.append(["text", '="a"&"b"', "naïve €"])
    ws.append(["bool", "=1<2", "x"])
    ws.append(["false", "=1>2", "y"])
    ws.append(["div0", "=1/0", "z"])
    ws.append(["na", "=NA()", ""])
    ws.append(["empty", '=""', "after"])
    ws.append(["plain bool", True, False])
    ws.append(["date", datetime.date(2024, 2, 29), 0.1 + 0.2])
    ws["B11"] = 1.5
    ws["B11"].number_format = "[h]:mm:ss"
    ws["A11"] = "duration"
    ws["A12"] = "wide"
    ws["F12"] = "beyond header"
    second = wb.create_sheet("Zweite")
    second.append(["ä", "ö"])
    second.append([1, 2])
    wb.save(path)


def libreoffice_files():
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "lo-formulas.xlsx")
        formula_source(src)
        out = soffice(src, "MS Excel 97", tmp, "xls")
        shutil.copy(out, os.path.join(XLS, "lo-biff8-formulas.xls"))
        # LibreOffice's BIFF8 writer over the xlwt workbook: its own SST/CONTINUE split of the long strings.
        src8 = os.path.join(tmp, "lo-biff8-roundtrip.xls")
        shutil.copy(os.path.join(XLS, "xlwt-biff8.xls"), src8)
        out = soffice(src8, "MS Excel 97", os.path.join(tmp, "out"), "xls")
        shutil.copy(out, os.path.join(XLS, "lo-biff8-roundtrip.xls"))
        # A formula whose string result (12 000 characters) is longer than one STRING record: CONTINUE records.
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "Long"
        ws.append(["k", "v"])
        ws.append(["rept", '=REPT("ab€",4000)'])
        ws.append(["after", 1])
        long_src = os.path.join(tmp, "lo-long-formula-string.xlsx")
        wb.save(long_src)
        out = soffice(long_src, "MS Excel 97", os.path.join(tmp, "out"), "xls")
        shutil.copy(out, os.path.join(XLS, "lo-long-formula-string.xls"))
        # LibreOffice's own xlsx (round trip through ods so it writes every part itself).
        ods = soffice(src, "calc8", tmp, "ods")
        out = soffice(ods, "Calc MS Excel 2007 XML", tmp, "xlsx")
        shutil.copy(out, os.path.join(XLSX, "lo-formulas.xlsx"))


# ---------- XLSX ----------
def base_xlsx(path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["id", "name"])
    ws.append([1, "Ann"])
    ws.append([2, "Bob"])
    wb.save(path)


def rewrite_zip(src, dst, rename=lambda n: n, edit=lambda n, b: b):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = edit(info.filename, zin.read(info.filename))
            zout.writestr(zipfile.ZipInfo(rename(info.filename), date_time=(2024, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)


def xlsx_files():
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "base.xlsx")
        base_xlsx(src)
        # Backslash entry names (some Windows tools).
        rewrite_zip(src, os.path.join(XLSX, "backslash-entry-names.xlsx"), rename=lambda n: n.replace("/", "\\"))

        # Workbook part somewhere else: found through _rels/.rels and [Content_Types].xml only.
        def moved(name):
            return {"xl/workbook.xml": "book/workbook.xml", "xl/_rels/workbook.xml.rels": "book/_rels/workbook.xml.rels"}.get(name, name)

        def fix(name, data):
            if name == "_rels/.rels" or name == "[Content_Types].xml":
                return data.replace(b"/xl/workbook.xml", b"/book/workbook.xml").replace(b'"xl/workbook.xml"', b'"book/workbook.xml"')
            if name == "xl/_rels/workbook.xml.rels":  # targets now relative to book/
                return data.replace(b'Target="/xl/', b'Target="/xl/').replace(b'Target="', b'Target="../xl/').replace(b"../xl//xl/", b"/xl/")
            return data

        rewrite_zip(src, os.path.join(XLSX, "workbook-part-elsewhere.xlsx"), rename=moved, edit=fix)

        # Password-protected (ECMA-376 agile encryption, as Excel writes it).
        import msoffcrypto
        from msoffcrypto.format.ooxml import OOXMLFile
        with open(src, "rb") as f:
            enc = OOXMLFile(f)
            with open(os.path.join(XLSX, "encrypted-agile.xlsx"), "wb") as out:
                enc.encrypt("secret", out)

    # Durations: [h]:mm:ss over 24 h, [mm]:ss, [ss], with fractions.
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Durations"
    ws.append(["format", "value"])
    for fmt, v in [("[h]:mm:ss", 10.6320601851852), ("[h]:mm:ss", 250 / 24 + 10 / 1440 + 10 / 86400),
                   ("[mm]:ss", 0.0423611111111111), ("[ss]", 0.00138888888888889), ("[h]:mm:ss.00", 1.5 / 86400 + 1),
                   ("h:mm:ss", 0.75), ("yyyy-mm-dd hh:mm:ss", 45366.5)]:
        ws.append([fmt, v])
        ws.cell(row=ws.max_row, column=2).number_format = fmt
    wb.save(os.path.join(XLSX, "durations.xlsx"))

    # Rows wider than the header and a stale <dimension>.
    with tempfile.TemporaryDirectory() as tmp:
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "Wide"
        ws.append(["a", "b"])
        ws.append([1, 2, 3, "four"])
        ws["H3"] = "far"
        p = os.path.join(tmp, "wide.xlsx")
        wb.save(p)
        rewrite_zip(p, os.path.join(XLSX, "wider-than-header.xlsx"),
                    edit=lambda n, b: b.replace(b'<dimension ref="A1:H3"/>', b'<dimension ref="A1:B1"/>') if n.endswith("sheet1.xml") else b)


# ---------- XLS BIFF5 (Excel 5/95) ----------
# LibreOffice 7.4 no longer exports "MS Excel 95" and xlwt writes BIFF8 only, so this is a minimal BIFF5
# writer following MS-XLS / the OpenOffice.org "Excel File Format" notes (as Excel 95 writes it: a "Book"
# stream, 8-bit strings in the CODEPAGE, LABEL records instead of an SST).
def rec(rtype, payload):
    return struct.pack("<HH", rtype, len(payload)) + payload


def biff5_workbook(sheets, codepage=1252):
    return biff5_workbook_cp(sheets, "cp1252", codepage)


def biff5_workbook_cp(sheets, encoding, codepage):
    """sheets: [(name, [(row, col, kind, value, xf)])]; kinds: label, number, rk, bool, error, fnum, fstr, fbool, ferr."""
    formats = [(164, "yyyy\\-mm\\-dd"), (165, "[h]:mm:ss")]
    xfs = [(0, 0xFFF5), (0, 0x0001), (164, 0x0001), (165, 0x0001), (14, 0x0001)]  # (format, flags: style/cell)
    glob = rec(0x0809, struct.pack("<HHHH", 0x0500, 0x0005, 0x0DBB, 0x07CC))
    glob += rec(0x0042, struct.pack("<H", codepage)) + rec(0x0022, struct.pack("<H", 0))
    glob += rec(0x0031, struct.pack("<HHHHHBBBB", 200, 0, 0x7FFF, 400, 0, 0, 0, 0, 5) + b"Arial")  # FONT
    for idx, code in formats:
        glob += rec(0x041E, struct.pack("<HB", idx, len(code)) + code.encode("cp1252"))
    for fmt, flags in xfs:
        glob += rec(0x00E0, struct.pack("<HHH", 0, fmt, flags) + b"\0" * 10)
    names = [n.encode(encoding) for n, _ in sheets]
    bound_len = sum(4 + 7 + len(n) for n in names)
    offset = len(glob) + bound_len + 4  # + EOF
    bodies = [biff5_sheet(cells, encoding) for _, cells in sheets]
    for n, body in zip(names, bodies):
        glob += rec(0x0085, struct.pack("<IBBB", offset, 0, 0, len(n)) + n)
        offset += len(body)
    glob += rec(0x000A, b"")
    return glob + b"".join(bodies)


def biff5_sheet(cells, encoding="cp1252"):
    out = rec(0x0809, struct.pack("<HHHH", 0x0500, 0x0010, 0x0DBB, 0x07CC))
    out += rec(0x0000, struct.pack("<HHHHH", 0, 1, 0, 1, 0))  # a stale DIMENSIONS: A1 only
    formula_tail = struct.pack("<HIH", 0, 0, 3) + bytes([0x1E, 0x01, 0x00])  # flags, chn, cce, ptgInt 1
    for row, col, kind, value, xf in cells:
        head = struct.pack("<HHH", row, col, xf)
        if kind == "label":
            b = value.encode(encoding)
            out += rec(0x0204, head + struct.pack("<H", len(b)) + b)
        elif kind == "number":
            out += rec(0x0203, head + struct.pack("<d", value))
        elif kind == "rk":  # integer RK
            out += rec(0x027E, head + struct.pack("<I", (value << 2) | 2))
        elif kind == "mulrk":  # value: list of ints from col
            body = struct.pack("<HH", row, col) + b"".join(struct.pack("<HI", xf, (v << 2) | 2) for v in value)
            out += rec(0x00BD, body + struct.pack("<H", col + len(value) - 1))
        elif kind == "bool":
            out += rec(0x0205, head + struct.pack("<BB", 1 if value else 0, 0))
        elif kind == "error":
            out += rec(0x0205, head + struct.pack("<BB", value, 1))
        elif kind == "fnum":
            out += rec(0x0006, head + struct.pack("<d", value) + formula_tail)
        elif kind == "fstr":
            out += rec(0x0006, head + bytes([0, 0, 0, 0, 0, 0, 0xFF, 0xFF]) + formula_tail)
            b = value.encode(encoding)
            out += rec(0x0207, struct.pack("<H", len(b)) + b)
        elif kind == "fbool":
            out += rec(0x0006, head + bytes([1, 0, 1 if value else 0, 0, 0, 0, 0xFF, 0xFF]) + formula_tail)
        elif kind == "ferr":
            out += rec(0x0006, head + bytes([2, 0, value, 0, 0, 0, 0xFF, 0xFF]) + formula_tail)
    return out + rec(0x000A, b"")


def save_book_stream(path, stream):
    """xlwt's compound-file writer names the stream "Workbook"; Excel 5/95 names it "Book"."""
    CompoundDoc.XlsDoc().save(path, stream)
    data = bytearray(open(path, "rb").read())
    old = "Workbook\0".encode("utf-16-le")
    at = data.index(old)
    data[at:at + 64] = "Book\0".encode("utf-16-le").ljust(64, b"\0")
    struct.pack_into("<H", data, at + 64, 10)
    open(path, "wb").write(bytes(data))


def biff5_files():
    cells = [
        (0, 0, "label", "name", 1), (0, 1, "label", "qty", 1), (0, 2, "label", "when", 1), (0, 3, "label", "ok", 1),
        (1, 0, "label", "Café €", 1), (1, 1, "rk", 3, 1), (1, 2, "number", 45366.0, 2), (1, 3, "bool", True, 1),
        (2, 0, "label", "naïve", 1), (2, 1, "number", 0.1 + 0.2, 1), (2, 2, "number", 1.5, 1), (2, 3, "error", 0x07, 1),
        (3, 0, "label", "formulas", 1), (3, 1, "fnum", 42.5, 1), (3, 2, "fstr", "Straße", 1), (3, 3, "fbool", False, 1),
        (3, 4, "ferr", 0x2A, 1),
        (4, 0, "mulrk", [10, 20, 30, 40, 50, 60], 1),
        (5, 0, "number", 36526.0, 4),
    ]
    stream = biff5_workbook([("Données", cells), ("Zweite", [(0, 0, "label", "ä", 1), (1, 0, "rk", 7, 1)])])
    save_book_stream(os.path.join(XLS, "biff5-excel95.xls"), stream)
    # Code page 1251 (Cyrillic): sheet name and labels are 8-bit in that code page.
    stream = biff5_workbook_cp([("Лист1", [(0, 0, "label", "Привет", 1), (0, 1, "label", "цена", 1), (1, 0, "label", "Ёж", 1), (1, 1, "rk", 5, 1)])], "cp1251", 1251)
    save_book_stream(os.path.join(XLS, "biff5-cp1251.xls"), stream)
    # Cells written column by column (as Spreadsheet::WriteExcel does when a program fills columns first).
    grid = [["id", "name", "qty"], [1, "Anna", 5], [2, "Bert", 7], [3, "Cleo", 9]]
    cells = [(r, c, "label" if isinstance(v, str) else "rk", v, 1) for c in range(3) for r, row in enumerate(grid) for v in [row[c]]]
    cells.append((5, 4, "label", "late", 1))
    cells.append((0, 3, "label", "extra", 1))
    save_book_stream(os.path.join(XLS, "biff5-column-order.xls"), biff5_workbook([("Columns", cells)]))


def bench():
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Bench")
    for c, h in enumerate(["id", "name", "city", "amount", "date", "flag", "code", "note", "qty", "price"]):
        ws.write(0, c, h)
    date = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for r in range(1, 50001):
        row = [r, f"name {r % 977}", f"Town, {r % 31}", r % 10000 + 0.25, datetime.date(2024, 1, 10 + r % 18), r % 2 == 0,
               f"C{r % 4099}", 'say "hi"', r % 50, r % 1000 + 0.5]
        for c, v in enumerate(row):
            ws.write(r, c, v, date) if c == 4 else ws.write(r, c, v)
    wb.save("/tmp/bench-50k.xls")


if __name__ == "__main__":
    os.makedirs(XLS, exist_ok=True)
    os.makedirs(XLSX, exist_ok=True)
    xlwt_biff8()
    filepass_xls()
    biff5_files()
    xlsx_files()
    if shutil.which("soffice"):
        libreoffice_files()
    if "--bench" in sys.argv:
        bench()
