import Foundation
import Models
import Testing

@testable import Extraction

/// The small pure pieces behind the workbook readers: OPC part lookup, number-format classification and
/// duration text, sheet selection.
@Suite struct WorkbookPartsTests {
    static func parts(_ files: [String: String]) -> (String) -> [UInt8]? {
        { name in files[OOXMLPackage.normalize(name)].map { Array($0.utf8) } }
    }

    @Test func mainPartFromRelationshipsThenContentTypes() {
        let rels = """
            <?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
            <Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>
            <Relationship Id='rId1' Type='http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument' Target='/Book/Main&amp;1.xml'/>
            </Relationships>
            """
        #expect(OOXMLPackage.mainPart(read: Self.parts(["_rels/.rels": rels])) == "Book/Main&1.xml")
        let types = """
            <Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
            <Default Extension="xml" ContentType="application/xml"/>
            <Override PartName="/data/wb.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
            </Types>
            """
        #expect(OOXMLPackage.mainPart(read: Self.parts(["[content_types].xml": types])) == "data/wb.xml")
        #expect(OOXMLPackage.mainPart(read: Self.parts([:])) == nil)
    }

    @Test func relationshipTargetsResolveAgainstThePartFolder() {
        #expect(OOXMLPackage.resolve("worksheets/sheet1.xml", from: "xl") == "xl/worksheets/sheet1.xml")
        #expect(OOXMLPackage.resolve("../xl/styles.xml", from: "book") == "xl/styles.xml")
        #expect(OOXMLPackage.resolve("/xl/worksheets/sheet1.xml", from: "book") == "xl/worksheets/sheet1.xml")
        #expect(OOXMLPackage.resolve("worksheets\\sheet2.xml", from: "xl") == "xl/worksheets/sheet2.xml")
        #expect(OOXMLPackage.normalize("xl\\Workbook.xml") == "xl/workbook.xml")
        let rels = #"<Relationships><Relationship Id="rId1" Type="x/worksheet" Target="sheets/a.xml"/></Relationships>"#
        let found = OOXMLPackage.relationships(of: "book/workbook.xml", read: Self.parts(["book/_rels/workbook.xml.rels": rels]))
        #expect(found["rId1"]?.target == "book/sheets/a.xml")
    }

    @Test func durationFormatsAreElapsedTime() {
        for code in ["[h]:mm:ss", "[HH]:MM:SS", "[mm]:ss", "[ss]", "[h]:mm:ss.00", "[h]:mm"] {
            #expect(ExcelDate.classify(code) == .duration, "\(code)")
        }
        #expect(ExcelDate.classify("[Red]0.00") == .none)
        #expect(ExcelDate.classify("[$-409]h:mm AM/PM") == .time)
        #expect(ExcelDate.classify("yyyy-mm-dd hh:mm:ss") == .dateTime)
        #expect(ExcelDate.builtin(46) == .duration && ExcelDate.builtin(45) == .time)
        #expect(ExcelDate.format(10.6320601851852, kind: .duration, date1904: false) == "255:10:10")
        #expect(ExcelDate.format(1 + 1.5 / 86400, kind: .duration, date1904: true) == "24:00:01.5")
        #expect(ExcelDate.format(-0.5, kind: .duration, date1904: false) == "-12:00:00")
        #expect(ExcelDate.format(0, kind: .duration, date1904: false) == "0:00:00")
    }

    @Test func sheetSelection() throws {
        let names = ["Data", "Zweite"]
        #expect(try SheetSelector.pick(nil, among: names) == 0)
        #expect(try SheetSelector.pick(.name("zweite"), among: names) == 1)
        #expect(try SheetSelector.pick(.index(1), among: names) == 1)
        #expect(TabularFixture.code { _ = try SheetSelector.pick(.index(2), among: names) } == .invalidConfig)
        #expect(TabularFixture.code { _ = try SheetSelector.pick(.name("nope"), among: names) } == .invalidConfig)
        #expect(TabularFixture.code { _ = try SheetSelector.pick(nil, among: []) } == .malformedFile)
    }

    @Test func rkNumbers() {
        #expect(BIFF.rk(UInt32(bitPattern: Int32(-7) << 2) | 2) == (-7, -7))
        #expect(BIFF.rk((1234 << 2) | 3).value == 12.34)
        let d = UInt32((Double(12.5).bitPattern >> 32) & 0xFFFF_FFFC)
        #expect(BIFF.rk(d).value == 12.5 && BIFF.rk(d).integer == nil)
    }
}
