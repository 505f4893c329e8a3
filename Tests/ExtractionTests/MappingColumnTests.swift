import Extraction
import Models
import Testing

@Suite("Mapping: columns and headers")
struct MappingColumnTests {
    @Test func englishAliases() throws {
        let mapping = try ColumnMapper.map(headers: ["Item No", "Product Name", "Description", "Unit Price (USD)", "Qty", "Currency", "Colour"])
        #expect(mapping.fieldToIndex == ["sku": 0, "name": 1, "description": 2, "price": 3, "quantity": 4, "currency": 5])
        #expect(mapping.unmapped == [UnmappedColumn(index: 6, header: "Colour")])
    }

    @Test func germanAliases() throws {
        let mapping = try ColumnMapper.map(headers: ["Art.-Nr.", "Artikelbezeichnung", "Einzelpreis", "Menge", "Währung", "EAN", "Hersteller"])
        #expect(mapping.fieldToIndex == ["sku": 0, "name": 1, "price": 2, "quantity": 3, "currency": 4, "barcode": 5, "brand": 6])
        #expect(mapping.unmapped.isEmpty)
    }

    @Test func frenchSpanishDutchAliases() throws {
        let french = try ColumnMapper.map(headers: ["Référence", "Désignation", "Prix", "Quantité", "Devise"])
        #expect(french.fieldToIndex == ["sku": 0, "name": 1, "price": 2, "quantity": 3, "currency": 4])
        let spanish = try ColumnMapper.map(headers: ["Referencia", "Descripción", "Precio", "Cantidad", "Moneda"])
        #expect(spanish.fieldToIndex == ["sku": 0, "name": 1, "price": 2, "quantity": 3, "currency": 4])
        let dutch = try ColumnMapper.map(headers: ["Artikelnummer", "Omschrijving", "Prijs", "Aantal"])
        #expect(dutch.fieldToIndex == ["sku": 0, "name": 1, "price": 2, "quantity": 3])
    }

    @Test func descriptionAloneBecomesName() throws {
        let mapping = try ColumnMapper.map(headers: ["SKU", "Description", "Price"])
        #expect(mapping.fieldToIndex == ["sku": 0, "name": 1, "price": 2])
    }

    @Test func explicitMappingByNameAndIndexWins() throws {
        let mapping = try ColumnMapper.map(
            headers: ["Code", "Our Ref", "Bezeichnung", "Preis", "Sonderpreis"],
            explicit: ["sku": .name("Our Ref"), "price": .index(4)])
        #expect(mapping.fieldToIndex["sku"] == 1)
        #expect(mapping.fieldToIndex["price"] == 4)
        #expect(mapping.fieldToIndex["name"] == 2)
        // "Code" and "Preis" lose to the explicit columns and stay unmapped.
        #expect(mapping.unmapped.map(\.header) == ["Code", "Preis"])
    }

    @Test func explicitNameMatchIsCaseAndAccentInsensitive() throws {
        let mapping = try ColumnMapper.map(headers: ["Réf", "Prix HT"], explicit: ["sku": .name("ref"), "price": .name("PRIX HT")])
        #expect(mapping.fieldToIndex == ["sku": 0, "price": 1])
    }

    @Test func unknownHeaderListsAvailableHeaders() {
        let error = expectJobError { try ColumnMapper.map(headers: ["SKU", "Price"], explicit: ["name": .name("Title")]) }
        #expect(error?.code == .invalidConfig)
        #expect(error?.message.contains("'Title'") == true)
        #expect(error?.message.contains("0: 'SKU', 1: 'Price'") == true)
    }

    @Test func indexOutOfRangeIsInvalidConfig() {
        let error = expectJobError { try ColumnMapper.map(headers: ["SKU", "Price"], explicit: ["price": .index(5)]) }
        #expect(error?.code == .invalidConfig)
        #expect(error?.details["field"] == "price")
    }

    @Test func headerDetectionSkipsTitleRows() {
        let rows: [[String]] = [
            ["ACME Price List 2024", "", ""],
            ["Valid from 01.01.2024", "", ""],
            [],
            ["Artikelnummer", "Bezeichnung", "Preis"],
            ["A-1", "Schraube", "1,20"],
            ["A-2", "Mutter", "0,80"],
        ]
        #expect(HeaderDetector.detect(rows: rows) == 3)
        #expect(HeaderDetector.detect(rows: []) == 0)
        // Numeric rows never win over a text row.
        #expect(HeaderDetector.detect(rows: [["1", "2", "3"], ["foo", "bar", "baz"]]) == 1)
    }
}
