#!/usr/bin/env python3
"""Times python-calamine reading every row of an XLSX: bench-calamine.py PATH.

Opens the workbook with CalamineWorkbook.from_path and materialises the first sheet's rows as Python values
(get_sheet_by_index(0).to_python()); only the read is timed, not the interpreter start or the import. The last
line is JSON {"rows", "seconds", "rows_per_s"}. Used by `quarry bench xlsx` (rows counted include the header row).
"""
import json
import sys
import time

from python_calamine import CalamineWorkbook


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: bench-calamine.py PATH", file=sys.stderr)
        return 2
    path = sys.argv[1]
    t0 = time.perf_counter()
    rows = CalamineWorkbook.from_path(path).get_sheet_by_index(0).to_python()
    seconds = time.perf_counter() - t0
    cells = sum(len(row) for row in rows)
    print(f"python-calamine: {len(rows)} rows, {cells} cells in {seconds:.3f} s, {len(rows) / seconds:.0f} rows/s")
    print(json.dumps({"rows": len(rows), "seconds": round(seconds, 4), "rows_per_s": int(len(rows) / seconds)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
