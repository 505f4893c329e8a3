import Extraction
import Foundation
import Postgres

/// Reads supplier profiles (`quarry.supplier_profiles`) for the worker and decides which one a job uses:
/// the profile of the job's `supplier_id` when the job has no `column_mapping`; for a job without `supplier_id`,
/// the profile whose header fingerprint equals the file's (decided by `TabularPipeline` when it meets the header).
enum SupplierProfiles {
    /// A job's config after profile resolution.
    struct Resolved: Sendable {
        /// The job's config, completed by its supplier's profile when that profile is used.
        var config: ExtractionConfig
        /// `profile`, `config` or `auto` (the pipeline turns `auto` into `profile` on a fingerprint match).
        var source: String
        /// The supplier whose profile is used.
        var profileSupplier: String?
        /// Profiles a file without `supplier_id` may match by its header: fingerprint → (supplier, profile).
        var byFingerprint: [String: Match]
        /// Changes whenever one of the org's profiles changes: part of the result cache key.
        var version: String
    }

    /// A profile found by fingerprint.
    struct Match: Sendable {
        var supplier: String
        var profile: SupplierProfile
    }

    /// The stored profile of `supplier` in `org`, decoded by the worker's config decoder.
    static func load(org: UUID, supplier: String, on c: PostgresConnection) throws -> SupplierProfile? {
        guard
            let r = try c.query(
                "SELECT config::text AS config, header_fingerprint FROM quarry.supplier_profiles WHERE org_id = $1 AND supplier_id = $2",
                [org, supplier]
            ).first
        else { return nil }
        return try decode(r)
    }

    static func resolve(_ config: ExtractionConfig, org: UUID, on c: PostgresConnection) throws -> Resolved {
        let version =
            try c.query(
                "SELECT coalesce(string_agg(supplier_id || '@' || updated_at::text, ',' ORDER BY supplier_id), '') AS v FROM quarry.supplier_profiles WHERE org_id = $1",
                [org]
            ).first?.string("v") ?? ""
        var out = Resolved(
            config: config, source: config.columnMapping == nil ? "auto" : "config", profileSupplier: nil, byFingerprint: [:], version: version)
        if version.isEmpty { return out }
        if let supplier = config.supplierId {
            guard let profile = try load(org: org, supplier: supplier, on: c) else { return out }
            if config.columnMapping == nil {
                out.config = profile.fill(config)
                out.source = "profile"
                out.profileSupplier = supplier
            } else {
                // An explicit mapping wins; the profile still gives the supplier's price guard.
                out.config.priceGuard = config.priceGuard ?? profile.config.priceGuard
            }
            return out
        }
        if config.columnMapping != nil { return out }
        for r in try c.query(
            "SELECT supplier_id, config::text AS config, header_fingerprint FROM quarry.supplier_profiles WHERE org_id = $1 AND header_fingerprint IS NOT NULL",
            [org])
        {
            guard let supplier = r.string("supplier_id"), let fp = r.string("header_fingerprint") else { continue }
            out.byFingerprint[fp] = Match(supplier: supplier, profile: try decode(r))
        }
        return out
    }

    private static func decode(_ r: PostgresRow) throws -> SupplierProfile {
        let config = try ExtractionConfig.decode(json: Data((r.string("config") ?? "{}").utf8))
        return SupplierProfile(config: config, headerFingerprint: r.string("header_fingerprint"))
    }
}
