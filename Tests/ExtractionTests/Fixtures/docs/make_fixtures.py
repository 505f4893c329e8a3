#!/usr/bin/env python3
"""Generates the document fixtures used by DocumentsTests.

Run from this directory with a throwaway venv:
    python3 -m venv /tmp/venv-docs && /tmp/venv-docs/bin/pip install python-docx reportlab
    /tmp/venv-docs/bin/python make_fixtures.py
"""
import datetime
import zipfile

from docx import Document
from docx.enum.text import WD_BREAK
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

# Page texts with known word counts: 5, 7 and 9 words.
PAGES = [
    "Alpha bravo charlie delta echo",
    "Foxtrot golf hotel india juliet kilo lima",
    "Mike november oscar papa quebec romeo sierra tango uniform",
]


def make_pdf(path, encrypt=None):
    c = canvas.Canvas(path, pagesize=A4, encrypt=encrypt, invariant=1)
    for text in PAGES:
        c.setFont("Helvetica", 14)
        c.drawString(72, 760, text)
        c.showPage()
    c.save()


make_pdf("three_pages.pdf")
make_pdf("encrypted.pdf", encrypt="secret")
with open("three_pages.pdf", "rb") as f:
    data = f.read()
with open("truncated.pdf", "wb") as f:
    f.write(data[: len(data) // 3])

# DOCX: title paragraph, two Heading 1 sections, a page break, a tab.
doc = Document()
doc.add_paragraph("Intro paragraph before any heading.")
doc.add_heading("Prices", level=1)
doc.add_paragraph("Widgets cost twelve euros each.")
p = doc.add_paragraph("Column A")
p.add_run().add_tab()
p.add_run("Column B")
p.add_run().add_break(WD_BREAK.PAGE)
doc.add_heading("Delivery", level=1)
doc.add_paragraph("Shipping takes three days.")
doc.core_properties.created = datetime.datetime(2024, 1, 1)
doc.save("sample.docx")

# DOCX whose document.xml declares entities (billion laughs): must be rejected, never expanded.
BOMB = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
<w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>
"""
with zipfile.ZipFile("sample.docx") as src, zipfile.ZipFile("entities.docx", "w", zipfile.ZIP_DEFLATED) as dst:
    for item in src.infolist():
        data = BOMB.encode() if item.filename == "word/document.xml" else src.read(item.filename)
        dst.writestr(item.filename, data)

# Same bomb, but the DOCTYPE sits after a 70 KB comment so only the parser itself can catch it.
LATE = BOMB.replace("<!DOCTYPE", "<!--" + "c" * 70_000 + "-->\n<!DOCTYPE", 1)
with zipfile.ZipFile("sample.docx") as src, zipfile.ZipFile("entities_late.docx", "w", zipfile.ZIP_DEFLATED) as dst:
    for item in src.infolist():
        data = LATE.encode() if item.filename == "word/document.xml" else src.read(item.filename)
        dst.writestr(item.filename, data)

# DOCX whose document.xml inflates to ~5 MB of zeros-like XML (tests the unpack budget).
with zipfile.ZipFile("sample.docx") as src, zipfile.ZipFile("big.docx", "w", zipfile.ZIP_DEFLATED) as dst:
    for item in src.infolist():
        if item.filename == "word/document.xml":
            body = "<w:p><w:r><w:t>x</w:t></w:r></w:p>" * 150_000
            data = ('<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
                    'wordprocessingml/2006/main"><w:body>' + body + "</w:body></w:document>").encode()
        else:
            data = src.read(item.filename)
        dst.writestr(item.filename, data)

HTML = """<!DOCTYPE html>
<html><head><title>Catalogue Page</title>
<style>body { color: red; } .hidden { display: none }</style>
<script>var secret = "dropme"; console.log("nope");</script>
</head>
<body>
<noscript>Enable javascript please</noscript>
<p>Welcome to   our <b>catalogue</b>.</p>
<h1>Tools</h1>
<p>Hammers and saws.</p>
<ul><li>Hammer</li><li>Saw</li></ul>
<h2>Paint</h2>
<div>Red paint &amp; blue paint</div>
<script type="text/javascript">document.write("also dropped")</script>
</body></html>
"""
with open("page.html", "w", encoding="utf-8") as f:
    f.write(HTML)

TXT = "Caf\u00e9 cr\u00e8me \u20ac5 \u2013 na\u00efve\nsecond line\n\nSecond paragraph here\n\fPage two text\n"
with open("cp1252.txt", "wb") as f:
    f.write(TXT.encode("cp1252"))
