import Extraction
import Foundation
import Models
import Testing

@Suite("Mapping: config decoding")
struct MappingConfigTests {
    func decode(_ json: String) throws(JobError) -> ExtractionConfig {
        try ExtractionConfig.decode(json: Data(json.utf8))
    }

    func decodeError(_ json: String) -> JobError? {
        expectJobError { try ExtractionConfig.decode(json: Data(json.utf8)) }
    }

    @Test func decodesFullConfig() throws {
        let config = try decode(
            """
            {"supplier_id":"acme","column_mapping":{"sku":"Art.-Nr.","price":3,"ean":"EAN"},
             "transformations":[{"type":"trim"},{"type":"parse_number","field":"price","decimal_comma":true},
                                {"type":"upper","field":"sku"},{"type":"multiply","field":"price","by":0.01},
                                {"type":"default","field":"currency","value":"EUR"},
                                {"type":"regex_extract","field":"sku","pattern":"^([A-Z]+)-","group":1},
                                {"type":"parse_date","field":"valid_from","format":"dd.MM.yyyy"},
                                {"type":"replace","field":"name","find":"  ","with":" "}],
             "validation_mode":"strict","header_row":2,"skip_rows":1,"sheet":0,"delimiter":"tab","currency":"€",
             "required_fields":["sku","price","gtin"]}
            """)
        #expect(config.supplierId == "acme")
        #expect(config.columnMapping == ["sku": .name("Art.-Nr."), "price": .index(3), "barcode": .name("EAN")])
        #expect(config.transformations.count == 8)
        #expect(config.transformations[1] == .parseNumber(field: "price", decimalComma: true))
        #expect(config.transformations[3] == .multiply(field: "price", by: Decimal(string: "0.01")!))
        #expect(config.transformations[6] == .parseDate(field: "valid_from", format: "dd.MM.yyyy"))
        #expect(config.validationMode == .strict)
        #expect(config.headerRow == 2)
        #expect(config.skipRows == 1)
        #expect(config.sheet == "0")
        #expect(config.delimiter == "\t")
        #expect(config.currency == "EUR")
        #expect(config.requiredFields == ["sku", "price", "barcode"])
    }

    @Test func defaultsForEmptyConfig() throws {
        for json in ["{}", "null", ""] {
            let config = try decode(json)
            #expect(config.validationMode == .lenient)
            #expect(config.transformations.isEmpty)
            #expect(config.effectiveRequiredFields == ["sku", "price"])
        }
    }

    @Test func unknownKeyIsRejected() {
        let error = decodeError(#"{"supplier_id":"x","colum_mapping":{}}"#)
        #expect(error?.code == .invalidConfig)
        #expect(error?.message == "unknown field 'colum_mapping' in config")
    }

    @Test func unknownTransformationKeyIsRejected() {
        let error = decodeError(#"{"transformations":[{"type":"trim"},{"type":"replace","field":"sku","find":"a","replace":"b"}]}"#)
        #expect(error?.code == .invalidConfig)
        #expect(error?.message.contains("transformations[1]") == true)
        #expect(error?.message.contains("unknown field 'replace'") == true)
    }

    @Test(arguments: [
        (#"{"validation_mode":"sloppy"}"#, "validation_mode"),
        (#"{"header_row":0}"#, "header_row"),
        (#"{"header_row":"two"}"#, "header_row"),
        (#"{"skip_rows":-1}"#, "skip_rows"),
        (#"{"currency":"EURO1"}"#, "currency"),
        (#"{"delimiter":";;"}"#, "delimiter"),
        (#"{"column_mapping":{"colour":"Farbe"}}"#, "colour"),
        (#"{"column_mapping":{"sku":true}}"#, "column_mapping"),
        (#"{"transformations":[{"type":"explode","field":"sku"}]}"#, "explode"),
        (#"{"transformations":[{"type":"regex_extract","field":"sku","pattern":"(["}]}"#, "regular expression"),
        (#"{"transformations":[{"type":"regex_extract","field":"sku","pattern":"(a)","group":3}]}"#, "group 3"),
        (#"{"transformations":[{"type":"multiply","field":"price","by":"lots"}]}"#, "'by'"),
        (#"{"transformations":[{"type":"parse_date","field":"x","format":"QQ/yyyy"}]}"#, "format"),
        (#"{"transformations":{"type":"trim"}}"#, "array"),
        (#"{"required_fields":["sku","colour"]}"#, "colour"),
        (#"[1,2]"#, "object"),
        (#"{"a":"#, "JSON"),
    ])
    func badValuesAreRejected(json: String, mentions: String) {
        let error = decodeError(json)
        #expect(error?.code == .invalidConfig)
        #expect(error?.message.contains(mentions) == true, "message: \(error?.message ?? "-")")
    }

    @Test func roundTripsThroughJSON() throws {
        let config = try decode(
            #"{"column_mapping":{"sku":0},"transformations":[{"type":"lower","field":"name"},{"type":"parse_number","field":"price"}],"currency":"usd"}"#
        )
        let data = try JSONEncoder().encode(config)
        let again = try ExtractionConfig.decode(json: data)
        #expect(again == config)
        #expect(again.currency == "USD")
    }
}
