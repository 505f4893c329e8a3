#!/usr/bin/env python3
"""Times openpyxl read-only over every row of an XLSX: bench-openpyxl.py PATH.

Opens with load_workbook(path, read_only=True), iterates ws.iter_rows(values_only=True) on the
first sheet and prints rows/s; the last line is JSON {"rows", "seconds", "rows_per_s"}.
Used by `quarry bench xlsx` (rows counted include the header row).
"""
import json
import sys
import time

from openpyxl import load_workbook


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: bench-openpyxl.py PATH", file=sys.stderr)
        return 2
    path = sys.argv[1]
    t0 = time.perf_counter()
    wb = load_workbook(path, read_only=True)
    ws = wb.worksheets[0]
    rows = 0
    cells = 0
    for row in ws.iter_rows(values_only=True):
        rows += 1
        cells += len(row)
    wb.close()
    seconds = time.perf_counter() - t0
    print(f"openpyxl read-only: {rows} rows, {cells} cells in {seconds:.2f} s, {rows / seconds:.0f} rows/s")
    print(json.dumps({"rows": rows, "seconds": round(seconds, 3), "rows_per_s": int(rows / seconds)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
