import Models
import Testing

@testable import Extraction

/// Header detection on exported-report shapes: title rows, notes, key–value lines and padding above the header, a
/// header shorter than its data, tables without a header.
@Suite struct HeaderDetectionTests {
    @Test func titleAndExportLinesAboveAnERPTable() {
        let rows: [[String]] = [
            ["ACME Industrial Supplies — Price list 2024"],
            ["Exported 2024-05-03 14:02 by ERP user jdoe"],
            ["Item No", "Description", "Unit Price", "Stock", "Valid From"],
            ["A-100", "Hex bolt M8x40, zinc", "0.42", "500", "2024-05-01"],
            ["A-101", "Hex nut M8, zinc", "0.08", "2000", "2024-05-01"],
            ["B-200", "Threaded rod M8 1 m", "2.95", "120", "2024-03-30"],
        ]
        let choice = HeaderDetector.choose(rows: rows)
        #expect(choice.index == 2)
        #expect(choice.confidence >= 0.8, "\(choice)")
    }

    /// A key–value line as wide as the header and in its columns, with no known aliases anywhere: the old
    /// detector (most text cells, earliest on a tie) took the key–value line.
    @Test func keyValueLineAsWideAsAHeaderWithoutAliases() {
        let rows: [[String]] = [
            ["Firma:", "ACME Sp. z o.o.", "Miasto:", "Kraków"],
            ["Kod", "Nazwa", "Cena", "Ilość"],
            ["K-1", "Młotek", "12,50", "3"],
            ["K-2", "Piła", "24,90", "1"],
            ["K-3", "Obcęgi", "18,00", "7"],
        ]
        #expect(HeaderDetector.choose(rows: rows).index == 1)
    }

    /// The header is shorter than the data and has no known aliases; the data rows have more text cells than it
    /// (codes without digits, which the number parser would otherwise take for numbers): the old detector took the
    /// first data row.
    @Test func headerShorterThanItsDataWithoutAliases() {
        let rows: [[String]] = [
            ["Kod", "Nazwa", "Cena"],
            ["HMR", "Młotek", "12,50", "czerwony", "nowość"],
            ["SAW", "Piła", "24,90", "niebieski", "promocja"],
            ["PLR", "Obcęgi", "18,00", "zielony", "nowość"],
        ]
        let choice = HeaderDetector.choose(rows: rows)
        #expect(choice.index == 0, "\(choice)")
    }

    @Test func notesAndPaddingAboveASupplierList() {
        let rows: [[String]] = [
            ["", "Supplier:", "Müller Werkzeuge GmbH"],
            ["", "Customer no.:", "K-55102"],
            ["", "Note: prices are net, excluding VAT, valid until further notice."],
            ["", "Artikelnummer", "Bezeichnung", "Preis", "Menge", "Einheit"],
            ["", "MW-1", "Schraubendreher Schlitz 4 mm", "3.2", "12", "Stk"],
            ["", "MW-2", "Schraubendreher PH2", "3.9", "8", "Stk"],
            ["", "MW-3", "Bitsatz 32-teilig", "14.5", "3", "Set"],
        ]
        let choice = HeaderDetector.choose(rows: rows)
        #expect(choice.index == 3)
        #expect(choice.confidence >= 0.8, "\(choice)")
    }

    /// Without a header every row is data: the first one is taken, so nothing is dropped above it.
    @Test func aTableWithoutHeaderStartsAtItsFirstRow() {
        #expect(HeaderDetector.choose(rows: [["1", "2.5", "3"], ["4", "5.5", "6"], ["7", "8.5", "9"]]).index == 0)
        let text: [[String]] = [["Dupont", "Besançon", "France"], ["Müller", "Zürich", "Suisse"], ["Noël", "Liège", "Belgique"]]
        let choice = HeaderDetector.choose(rows: text)
        #expect(choice.index == 0)
        // Every row looks alike: the choice is a guess, and says so.
        #expect(choice.confidence < 0.7, "\(choice)")
    }

    @Test func aOneCellTitleAboveATextOnlyTable() {
        let rows: [[String]] = [
            ["Liste des fournisseurs – été"], ["Société", "Ville", "Pays"], ["Dupont & Fils", "Besançon", "France"],
            ["Müller AG", "Zürich", "Suisse"],
        ]
        #expect(HeaderDetector.choose(rows: rows).index == 1)
    }

    @Test func aPlainCSVHeaderIsCertain() {
        let choice = HeaderDetector.choose(rows: [["sku", "name", "price"], ["A-1", "Bolt", "0.42"], ["A-2", "Nut", "0.08"]])
        #expect(choice.index == 0)
        #expect(choice.confidence >= 0.9, "\(choice)")
        #expect(HeaderDetector.choose(rows: []) == HeaderDetector.Choice(index: 0, confidence: 0))
    }

    /// Thirty rows of a thousand text cells each (the column limit): detection stays well under a second.
    @Test func aWideSheetIsScoredQuickly() {
        let header = (0..<1000).map { "Attribute \($0)" }
        let rows = [header] + (0..<29).map { r in (0..<1000).map { "value \(r)-\($0) text" } }
        let start = ContinuousClock.now
        #expect(HeaderDetector.choose(rows: rows).index == 0)
        #expect(ContinuousClock.now - start < .seconds(1), "\(ContinuousClock.now - start)")
    }

    // MARK: HeaderLocator

    func locate(_ rows: [(Int, [String])], _ locator: HeaderLocator) -> [HeaderLocator.Event] {
        var locator = locator
        var events: [HeaderLocator.Event] = []
        for (n, cells) in rows { locator.feed(n, cells) { events.append($0) } }
        locator.finish { events.append($0) }
        return events
    }

    @Test func locatorDropsTheRowsAboveADetectedHeader() {
        let rows: [(Int, [String])] = [(1, ["Price list"]), (3, ["sku", "price"]), (4, ["A", "1"]), (5, ["B", "2"])]
        let events = locate(rows, HeaderLocator(headerRow: nil, syntheticHeader: false))
        guard case .header(3, ["sku", "price"], let confidence) = events.first else {
            Issue.record("first event \(String(describing: events.first))")
            return
        }
        #expect(confidence > 0.5)
        #expect(Array(events.dropFirst()) == [.row(4, ["A", "1"]), .row(5, ["B", "2"])])
    }

    @Test func anExplicitHeaderRowWinsWithConfidenceOne() {
        let rows: [(Int, [String])] = [(1, ["sku", "price"]), (2, ["A", "1"]), (4, ["B", "2"]), (5, ["C", "3"])]
        #expect(
            locate(rows, HeaderLocator(headerRow: 3, syntheticHeader: false)) == [
                .header(row: 4, cells: ["B", "2"], confidence: 1), .row(5, ["C", "3"]),
            ])
        #expect(
            locate(rows, HeaderLocator(headerRow: nil, skipRows: 1, syntheticHeader: false)).first
                == .header(row: 2, cells: ["A", "1"], confidence: HeaderDetector.choose(rows: [["A", "1"], ["B", "2"], ["C", "3"]]).confidence))
        // JSON's synthetic header is row 0, every time it grows.
        #expect(
            locate([(0, ["a"]), (1, ["x"]), (0, ["a", "b"]), (2, ["y", "z"])], HeaderLocator(headerRow: nil, syntheticHeader: true)) == [
                .header(row: 0, cells: ["a"], confidence: 1), .row(1, ["x"]), .header(row: 0, cells: ["a", "b"], confidence: 1),
                .row(2, ["y", "z"]),
            ])
    }
}
