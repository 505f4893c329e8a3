import Foundation
import JobConfig
import Models
import Testing

/// `column_mapping` keys are canonical fields or their aliases (`ean`, `gtin` → `barcode`). Two names for one
/// field used to be resolved by dictionary order (a different column from run to run); now they are refused.
@Suite("JobConfig: column_mapping aliases")
struct ColumnMappingAliasTests {
    @Test func twoNamesForOneFieldAreRefusedNamingThem() throws {
        // Several key orders: the refusal may not depend on which one the decoder met first.
        for json in [
            #"{"column_mapping": {"ean": "EAN", "barcode": "Barcode"}}"#,
            #"{"column_mapping": {"barcode": "Barcode", "ean": "EAN"}}"#,
            #"{"column_mapping": {"gtin": 3, "ean": "EAN", "sku": "SKU"}}"#,
        ] {
            let error = expectJobError { try ExtractionConfig.decode(json: Data(json.utf8)) }
            #expect(error?.code == .invalidConfig, "\(json)")
            #expect(error?.message.contains("barcode") == true, "\(error?.message ?? "")")
        }
    }

    @Test func oneAliasIsTheCanonicalField() throws {
        let config = try ExtractionConfig.decode(json: Data(#"{"column_mapping": {"ean": "EAN", "sku": "SKU"}}"#.utf8))
        #expect(config.columnMapping?["barcode"] == .name("EAN"))
        #expect(config.columnMapping?["sku"] == .name("SKU"))
    }
}
