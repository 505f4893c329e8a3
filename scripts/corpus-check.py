#!/usr/bin/env python3
"""Compares `quarry parse --format json` with a reference reader on every corpus entry (run by scripts/corpus-check).

Each MANIFEST.json entry (see Tests/ExtractionTests/Fixtures/corpus/README.md) names a file and either a
`reference` reader or an `expect_error` code:

- reference `calamine`: python-calamine reads `sheet` (name or 0-based index) from A1 (`skip_empty_area=False`, so
  row numbers are the sheet's); reference `csv`: Python's csv module with the entry's explicit dialect
  (`encoding`, `delimiter`, `quotechar`, `escapechar`, `doublequote`, `skipinitialspace`) after `skip_lines` lines.
- `header_row` (default 1): the table's header row in the reference's numbering. Quarry runs with auto-detection
  unless `quarry.header_row` is given, and must print exactly the reference rows from `header_row` on — rows above
  it are the only ones it may drop; when the reference numbers rows physically (calamine, csv without skip_lines)
  Quarry's reported `header_row` must equal it too.
- `quarry`: options passed to `quarry parse` (`sheet`, `delimiter`, `encoding`, `header_row`).
- `expect_error`: `quarry parse` must fail with exactly this code.

Normalisations: trailing empty cells and fully blank rows are ignored; numbers compare numerically; dates as ISO 8601
(`YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS`), times `HH:MM:SS`; durations (timedelta) as elapsed `H:MM:SS` with unbounded
hours; booleans as `true`/`false` (any case); text exactly. For delimited text whose dialect Quarry sniffed (no
`quarry.delimiter`), the reported dialect must match the reference's delimiter, quote and escape, and the reported
encoding its encoding (Latin-1 and Windows-1252 are taken as one); a reader that reports no dialect or encoding is a
warning, not a failure.
"""
import argparse
import csv
import datetime
import glob
import io
import json
import math
import os
import re
import subprocess
import sys


def reference_rows(path, ref):
    """[(row_number, [values])] as the reference reader sees the file."""
    if ref["reader"] == "calamine":
        from python_calamine import CalamineWorkbook

        wb = CalamineWorkbook.from_path(path)
        sheet = ref.get("sheet", 0)
        ws = wb.get_sheet_by_name(sheet) if isinstance(sheet, str) else wb.get_sheet_by_index(sheet)
        return [(i + 1, list(r)) for i, r in enumerate(ws.to_python(skip_empty_area=False))]
    if ref["reader"] == "csv":
        codec = {"utf-8": "utf-8-sig", "windows-1252": "cp1252", "latin-1": "latin-1"}.get(
            norm_encoding(ref.get("encoding", "utf-8")), ref.get("encoding", "utf-8"))
        text = open(path, "rb").read().decode(codec)
        if text.startswith("\ufeff"):
            text = text[1:]
        skip = ref.get("skip_lines", 0)
        if skip:
            text = "".join(re.split(r"(?<=\r\n)|(?<=\n)|(?<=\r)(?!\n)", text)[skip:])
        quote = ref.get("quotechar", '"')
        delimiter = ref.get("delimiter", ",")
        if len(delimiter) != 1:
            raise ValueError(f"Python's csv module takes a one-character delimiter, not {delimiter!r}")
        reader = csv.reader(
            io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quote or '"',
            quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE, escapechar=ref.get("escapechar"),
            doublequote=ref.get("doublequote", True), skipinitialspace=ref.get("skipinitialspace", False), strict=False)
        return [(i + 1, r) for i, r in enumerate(reader)]
    raise ValueError(f"unknown reference reader {ref['reader']!r}")


def norm_encoding(name):
    n = (name or "").lower().replace("_", "-")
    n = {"utf8": "utf-8", "utf-8-sig": "utf-8", "cp1252": "windows-1252", "latin1": "latin-1", "iso-8859-1": "latin-1",
         "ascii": "utf-8", "us-ascii": "utf-8"}.get(n, n)
    return "windows-1252" if n == "latin-1" else n


def expected_text(value):
    """The reference value as the text Quarry should print, or a number (compared numerically)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime.datetime):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, datetime.timedelta):
        seconds = round(value.total_seconds())
        sign = "-" if seconds < 0 else ""
        seconds = abs(seconds)
        return f"{sign}{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return str(value)


def same(expected, got):
    if isinstance(expected, float):
        try:
            number = float(got.replace(",", "")) if got.strip() else None
        except ValueError:
            return False
        return number is not None and math.isclose(number, expected, rel_tol=1e-9, abs_tol=1e-9)
    if expected in ("true", "false"):
        return got.lower() == expected
    # Known limits of the reference reader (python-calamine 0.9), never of the data: it rounds durations to whole
    # seconds, shows error cells (#DIV/0!, #N/A, …) as empty, and cuts a formula's cached string after 4,110
    # characters. Quarry keeps all three; the cell still has to agree with what the reference can say.
    m = re.fullmatch(r"(-?\d+:\d\d:)(\d\d)\.(\d+)", got)
    if m and re.fullmatch(r"-?\d+:\d\d:\d\d", expected):
        seconds = round(float(m.group(2) + "." + m.group(3)))
        minutes, hours = int(got.split(":")[1]), int(got.split(":")[0].lstrip("-"))
        total = hours * 3600 + minutes * 60 + seconds
        rounded = f"{'-' if got.startswith('-') else ''}{total // 3600}:{total // 60 % 60:02d}:{total % 60:02d}"
        return rounded == expected
    if re.fullmatch(r"\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d)?|\d\d:\d\d:\d\d", expected):
        got = re.sub(r"\.0+$", "", got.replace(" ", "T"))
        # python-calamine gives a date for a date-time cell at midnight when the format has no visible time part.
        return got == expected or got == expected + "T00:00:00"
    if expected == "" and got in ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA"):
        return True
    if len(expected) >= 4000 and got.startswith(expected):
        return True
    return got == expected


def trimmed(cells):
    cells = list(cells)
    while cells and (cells[-1] is None or cells[-1] == ""):
        cells.pop()
    return cells


def run_quarry(quarry, path, options):
    args = [quarry, "parse", path, "--format", "json"]
    for key, flag in (("sheet", "--sheet"), ("delimiter", "--delimiter"), ("encoding", "--encoding"),
                      ("header_row", "--header-row")):
        if key in options:
            args += [flag, str(options[key])]
    p = subprocess.run(args, capture_output=True, timeout=120)
    report = {}
    for line in p.stderr.decode("utf-8", "replace").splitlines():
        try:
            report = json.loads(line)
        except ValueError:
            continue
    rows = json.loads(p.stdout.decode("utf-8")) if p.returncode == 0 and p.stdout.strip() else []
    return p.returncode, rows, report, p.stderr.decode("utf-8", "replace").strip()


def check(entry, folder, quarry, verbose):
    """(status, message, cells_compared, cells_differing) for one entry; status is ok, FAIL or WARN."""
    path = os.path.join(folder, entry["file"])
    options = entry.get("quarry", {})
    code, rows, report, stderr = run_quarry(quarry, path, options)
    if "expect_error" in entry:
        got = (report.get("error") or {}).get("code")
        if code != 0 and got == entry["expect_error"]:
            return "ok", f"refused with {got}", 0, 0
        return "FAIL", f"expected {entry['expect_error']}, got exit {code} {got or stderr[:200]}", 0, 0
    if code != 0:
        return "FAIL", f"quarry parse failed: {stderr[:300]}", 0, 0
    ref = entry["reference"]
    header_row = entry.get("header_row", 1)
    expected = [trimmed(cells) for n, cells in reference_rows(path, ref) if n >= header_row]
    expected = [[expected_text(v) for v in cells] for cells in expected if cells]
    got = [trimmed(cells) for cells in rows]
    got = [cells for cells in got if any(c.strip() for c in cells)]
    problems, warnings = [], []
    if ref["reader"] == "calamine" or ref.get("skip_lines", 0) == 0:
        if "header_row" not in options and report.get("header_row") != header_row:
            problems.append(f"header row {report.get('header_row')} (confidence {report.get('header_row_confidence')}), "
                            f"expected {header_row}")
    if ref["reader"] == "csv":
        dialect = report.get("dialect")
        if "delimiter" not in options:
            if not dialect:
                warnings.append("no dialect reported")
            else:
                escape = "backslash" if ref.get("escapechar") == "\\" and not ref.get("doublequote", True) else "double"
                want = {"delimiter": ref.get("delimiter", ","), "quote": ref.get("quotechar", '"'), "escape": escape}
                have = {k: dialect.get(k) for k in want}
                # Python's csv takes one delimiter character and skips the spaces after it (skipinitialspace);
                # Quarry reports such a dialect as the two-character delimiter it is (", ").
                if ref.get("skipinitialspace") and want["delimiter"] != " " and have["delimiter"] == want["delimiter"] + " ":
                    have["delimiter"] = want["delimiter"]
                if have != want:
                    problems.append(f"dialect {have}, expected {want}")
        if "encoding" not in options:
            if not report.get("encoding"):
                warnings.append("no encoding reported")
            elif norm_encoding(report["encoding"]) != norm_encoding(ref.get("encoding", "utf-8")) and not (
                norm_encoding(report["encoding"]).startswith("utf-16") and norm_encoding(ref.get("encoding")) == "utf-16"):
                problems.append(f"encoding {report['encoding']}, expected {ref.get('encoding', 'utf-8')}")
    compared = differing = 0
    diffs = []
    for i in range(max(len(expected), len(got))):
        want = expected[i] if i < len(expected) else []
        have = got[i] if i < len(got) else []
        for j in range(max(len(want), len(have))):
            w = want[j] if j < len(want) else ""
            h = have[j] if j < len(have) else ""
            compared += 1
            if not same(w, h):
                differing += 1
                short = lambda v: repr(v) if len(str(v)) <= 80 else repr(str(v)[:60]) + f"… ({len(str(v))} chars)"
                diffs.append(f"row {i + 1} of the table, column {j + 1}: reference {short(w)}, quarry {short(h)}")
    if len(expected) != len(got):
        problems.append(f"{len(got)} rows, reference {len(expected)}")
    if differing:
        shown = diffs if verbose else diffs[:3]
        problems.append(f"{differing} of {compared} cells differ: " + "; ".join(shown) + ("" if len(shown) == len(diffs) else "; …"))
    width = max((len(r) for r in expected), default=0)
    if problems:
        return "FAIL", " | ".join(problems + warnings), compared, differing
    if warnings:
        return "WARN", f"{len(expected)} rows × {width} agree; " + ", ".join(warnings), compared, 0
    return "ok", f"{len(expected)} rows × {width} agree", compared, 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quarry", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("only", nargs="*", help="kinds or file names to check (default: all)")
    a = parser.parse_args()
    counts = {"ok": 0, "WARN": 0, "FAIL": 0}
    cells = lost = 0
    manifests = sorted(glob.glob(os.path.join(a.corpus, "*", "MANIFEST.json")))
    if not manifests:
        print(f"corpus-check: no MANIFEST.json under {a.corpus}")
        return 1
    for manifest in manifests:
        folder = os.path.dirname(manifest)
        kind = os.path.basename(folder)
        for entry in json.load(open(manifest, encoding="utf-8"))["files"]:
            name = f"{kind}/{entry['file']}"
            if a.only and not any(o in (kind, entry["file"], name, entry.get("kind")) for o in a.only):
                continue
            try:
                status, message, compared, differing = check(entry, folder, a.quarry, a.verbose)
            except Exception as e:  # a broken entry is a failure of the corpus, reported like one
                status, message, compared, differing = "FAIL", f"{type(e).__name__}: {e}", 0, 0
            counts[status] += 1
            cells += compared
            lost += differing
            print(f"{status:<4}  {name:<55} {message}")
    total = sum(counts.values())
    print(f"corpus-check: {total} files: {counts['ok']} agree, {counts['WARN']} agree with warnings, "
          f"{counts['FAIL']} disagree; {cells} cells compared, {lost} differ")
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
