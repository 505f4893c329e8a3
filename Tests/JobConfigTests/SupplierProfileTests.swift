import Foundation
import JobConfig
import Models
import Testing

/// `price_guard` and supplier profiles go through the one config decoder (issue 16).
@Suite("JobConfig: price guard and supplier profiles")
struct SupplierProfileTests {
    func refusal(_ json: String, profile: Bool = false) -> JobError? {
        do {
            if profile { _ = try SupplierProfile.decode(json: Data(json.utf8)) } else { _ = try ExtractionConfig.decode(json: Data(json.utf8)) }
            return nil
        } catch {
            return error
        }
    }

    @Test func priceGuardDecodesAndRoundTrips() throws {
        let config = try ExtractionConfig.decode(
            json: Data(#"{"price_guard":{"max_increase_pct":30,"max_decrease_pct":12.5,"max_held_share_pct":20}}"#.utf8))
        #expect(config.priceGuard == PriceGuard(maxIncreasePct: 30, maxDecreasePct: 12.5, maxHeldSharePct: 20))
        let again = try ExtractionConfig.decode(json: try JSONEncoder().encode(config))
        #expect(again == config)
        #expect(try ExtractionConfig.decode(json: Data(#"{"price_guard":null}"#.utf8)).priceGuard == nil)
        #expect(try ExtractionConfig.decode(json: Data(#"{"price_guard":{}}"#.utf8)).priceGuard == PriceGuard())
    }

    @Test(arguments: [
        (#"{"price_guard":{"max_increase_pct":-1}}"#, "price_guard.max_increase_pct"),
        (#"{"price_guard":{"max_increase":5}}"#, "price_guard.max_increase"),
        (#"{"price_guard":{"max_held_share_pct":101}}"#, "price_guard.max_held_share_pct"),
        (#"{"price_guard":{"max_decrease_pct":"ten"}}"#, "price_guard.max_decrease_pct"),
        (#"{"price_guard":30}"#, "price_guard"),
    ])
    func badGuardsNameTheirField(json: String, field: String) {
        let error = refusal(json)
        #expect(error?.code == .invalidConfig, "\(json)")
        #expect(error?.details["field"] == field, "\(json): \(String(describing: error))")
    }

    @Test func profileIsAConfigWithoutSupplierPlusAHeader() throws {
        let p = try SupplierProfile.decode(
            json: Data(#"{"column_mapping":{"SKU":"Art.-Nr.","price":"Preis"},"delimiter":"tab","header":[" Art.-Nr. ","Preis  netto","",""]}"#.utf8))
        #expect(p.config.columnMapping?["sku"] == .name("Art.-Nr."))
        #expect(p.config.delimiter == "\t")
        #expect(p.headerFingerprint == "art.-nr.\u{1F}preis netto")
        #expect(HeaderFingerprint.of(["ART.-NR.", "Preis netto"]) == p.headerFingerprint)
        #expect(HeaderFingerprint.of(["", " "]) == nil)
        #expect(refusal(#"{"supplier_id":"x"}"#, profile: true)?.details["field"] == "supplier_id")
        #expect(refusal(#"{"colum_mapping":{}}"#, profile: true)?.details["field"] == "colum_mapping")
        #expect(refusal(#"{"column_mapping":{"skew":"A"}}"#, profile: true)?.details["field"] == "skew")
        #expect(refusal(#"{"header":"A,B"}"#, profile: true)?.details["field"] == "header")
        #expect(refusal(#"[1]"#, profile: true)?.code == .invalidConfig)
    }

    @Test func profileFillsOnlyWhatTheJobLeavesOut() throws {
        let profile = try SupplierProfile.decode(
            json: Data(#"{"column_mapping":{"sku":"A"},"currency":"EUR","header_row":2,"price_guard":{"max_increase_pct":5}}"#.utf8))
        let job = try ExtractionConfig.decode(json: Data(#"{"supplier_id":"s","currency":"USD"}"#.utf8))
        let filled = profile.fill(job)
        #expect(filled.columnMapping?["sku"] == .name("A"))
        #expect(filled.currency == "USD")
        #expect(filled.headerRow == 2)
        #expect(filled.supplierId == "s")
        #expect(filled.priceGuard?.maxIncreasePct == 5)
    }
}
