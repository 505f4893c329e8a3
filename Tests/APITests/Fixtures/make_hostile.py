#!/usr/bin/env python3
"""Builds the committed hostile fixtures for HostileUploadTests (run from anywhere; deterministic).

empty_cells.xlsx: the ExtractionTests products.xlsx with xl/worksheets/sheet1.xml replaced by a sheet of
1,000 rows x 1,000 columns = 1,000,000 empty cells that each carry a style (`<c r="…" s="1"/>`), deflated.
It is small on disk (~100s of KB) but forces a reader to walk a million cells that hold no value.
"""
import os
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "..", "ExtractionTests", "Fixtures", "products.xlsx")
OUT = os.path.join(HERE, "empty_cells.xlsx")
ROWS, COLS = 1000, 1000
FIXED = (2020, 1, 1, 0, 0, 0)  # fixed timestamps: the output is byte-for-byte reproducible


def col(n: int) -> str:
    s = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def sheet() -> bytes:
    cols = [col(c) for c in range(COLS)]
    parts = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             f'<dimension ref="A1:{cols[-1]}{ROWS}"/><sheetData>']
    for r in range(1, ROWS + 1):
        parts.append(f'<row r="{r}">')
        parts.append("".join(f'<c r="{c}{r}" s="1"/>' for c in cols))
        parts.append("</row>")
    parts.append("</sheetData></worksheet>")
    return "".join(parts).encode()


def main() -> None:
    with zipfile.ZipFile(SRC) as src, zipfile.ZipFile(OUT, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for info in src.infolist():
            data = sheet() if info.filename == "xl/worksheets/sheet1.xml" else src.read(info.filename)
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED)
            zi.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(zi, data, compresslevel=9)
    print(OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
