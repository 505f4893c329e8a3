"""Generates the tabular test fixtures. Run with a throwaway venv holding openpyxl and xlwt:
    python3 -m venv /tmp/venv-fx && /tmp/venv-fx/bin/pip install openpyxl xlwt
    /tmp/venv-fx/bin/python Tests/ExtractionTests/Fixtures/make_fixtures.py
"""
import datetime, os, zipfile
import openpyxl, xlwt
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont

here = os.path.dirname(os.path.abspath(__file__))
p = lambda name: os.path.join(here, name)

# CSV variants
rows = [["id", "name", "city"], ["1", "Zoë", "Köln"], ["2", "Renée", "Besançon"]]
open(p("utf16le.csv"), "wb").write("\ufeff".encode("utf-16-le") + "\r\n".join(",".join(r) for r in rows).encode("utf-16-le") + "\r\n".encode("utf-16-le"))
open(p("utf16be.csv"), "wb").write("\ufeff".encode("utf-16-be") + "\n".join("\t".join(r) for r in rows).encode("utf-16-be") + b"")
open(p("cp1252.csv"), "wb").write("\r\n".join(",".join(r) for r in rows + [["3", "Price €5", "“quoted”"]]).encode("cp1252") + b"\r\n")
open(p("semicolon.csv"), "wb").write("name;price;note\nWidget;12,50;ok\nGadget;3,10;\"a;b\"\n".encode())
open(p("quoted_newlines.csv"), "wb").write(b'\xef\xbb\xbfid,text,n\r\n1,"line one\r\nline two",5\r\n2,"say ""hi""",6\r\n\r\n3,plain,7')

# XLSX: shared strings, numbers, dates, booleans, inline strings, rich text, several sheets
wb = openpyxl.Workbook()
ws = wb.active
ws.title = "Products"
ws.append(["sku", "price", "when", "stamp", "active", "qty"])
ws.append(["A-1", 12.5, datetime.date(2024, 3, 15), datetime.datetime(2024, 3, 15, 13, 45, 30), True, 3])
ws.append(["B-2", 0.1 + 0.2, datetime.date(1999, 12, 31), datetime.datetime(2000, 1, 1, 0, 0, 0), False, 1000000])
ws["A5"] = "gap-row"
ws["D5"] = "far"
ws["A6"] = CellRichText([TextBlock(InlineFont(b=True), "Bold"), " and plain"])
ws["B6"] = "=1+1"
for r in range(10, 40):  # empty styled trailing cells
    ws.cell(row=r, column=3).number_format = "0.00"
other = wb.create_sheet("Second")
other.append(["k", "v"])
other.append(["x", 42])
wb.save(p("products.xlsx"))

wb = openpyxl.Workbook()
wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
ws = wb.active
ws.append(["d"])
ws.append([datetime.date(2020, 2, 29)])
wb.save(p("date1904.xlsx"))

# Inline strings: rewrite a sheet by hand
with zipfile.ZipFile(p("products.xlsx")) as src, zipfile.ZipFile(p("inline.xlsx"), "w", zipfile.ZIP_DEFLATED) as dst:
    for item in src.infolist():
        data = src.read(item.filename)
        if item.filename == "xl/worksheets/sheet1.xml":
            data = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                    b'<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c><c r="B1" t="inlineStr"><is><t>n</t></is></c></row>'
                    b'<row r="2"><c r="A2" t="inlineStr"><is><r><t>Ri</t></r><r><t xml:space="preserve">ch </t></r></is></c><c r="B2"><v>7</v></c>'
                    b'<c r="C2" t="e"><v>#DIV/0!</v></c><c r="D2" t="str"><f>A2</f><v>cached</v></c></row>'
                    b'</sheetData></worksheet>')
        dst.writestr(item, data)

# XLS
book = xlwt.Workbook()
sh = book.add_sheet("People")
for r, row in enumerate([["name", "age", "born"], ["Ann", 31, None], ["Bob", 12.25, None]]):
    for c, v in enumerate(row):
        if v is not None:
            sh.write(r, c, v)
sh.write(1, 2, datetime.date(1990, 5, 17), xlwt.easyxf(num_format_str="YYYY-MM-DD"))
sh2 = book.add_sheet("Other")
sh2.write(0, 0, "only")
book.save(p("people.xls"))
print("ok")

# Hostile: ZIP bomb (sheet inflates to ~300 MB of spaces) and billion laughs, both valid containers.
def rewrite(target, sheet_xml, compresslevel=9):
    with zipfile.ZipFile(p("products.xlsx")) as src, zipfile.ZipFile(p(target), "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as dst:
        for item in src.infolist():
            if item.filename == "xl/worksheets/sheet1.xml":
                info = zipfile.ZipInfo(item.filename)
                info.compress_type = zipfile.ZIP_DEFLATED
                with dst.open(info, "w", force_zip64=True) as f:
                    for chunk in sheet_xml():
                        f.write(chunk)
            else:
                dst.writestr(item, src.read(item.filename))

def bomb():
    yield b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row>'
    block = b" " * (1 << 20)
    for _ in range(300):
        yield block
    yield b"</sheetData></worksheet>"
rewrite("bomb.xlsx", bomb)

def laughs():
    ents = '<!ENTITY lol "lol">' + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % ("" if i == 1 else i - 1)) * 10}">' for i in range(1, 10))
    yield (f'<?xml version="1.0"?><!DOCTYPE worksheet [{ents}]>'
           '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
           '<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>').encode()
rewrite("laughs.xlsx", laughs)
print("hostile ok")
