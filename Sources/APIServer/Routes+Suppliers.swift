import APIAuth
import Foundation
import Hummingbird
import JobConfig
import Models
import Postgres

/// Supplier profiles (issue 16): `GET/PUT /api/suppliers/:supplier_id/profile`, per org.
///
/// A supplier id names a supplier within the caller's org. An org knows a supplier once it has a profile,
/// catalog products or an extraction result for it; a supplier the org does not know is 404 (so another org's
/// supplier is 404, and nothing says whether some other org has one of that name).
extension APIServer {
    static let profileJSON = """
        jsonb_build_object('supplier_id', supplier_id, 'config', config, 'header_fingerprint', header_fingerprint,
            'updated_at', updated_at, 'updated_by', updated_by)
        """

    func supplierID(_ c: Call) throws -> String {
        guard let id = c.params["supplier_id"], !id.isEmpty, id.count <= 200 else { throw APIError.badRequest("invalid supplier id") }
        return id
    }

    func getSupplierProfile(_ c: Call) async throws -> Response {
        let supplier = try supplierID(c)
        guard
            let r = try await pool.query(
                "SELECT \(Self.profileJSON)::text AS p FROM quarry.supplier_profiles WHERE org_id = $1 AND supplier_id = $2",
                [c.who.orgID, supplier]
            ).first?.string("p")
        else { throw APIError.notFound("no profile for this supplier") }
        return Envelope.raw(r)
    }

    /// Stores the profile after the worker's config decoder accepted it (400 `INVALID_CONFIG` naming the field).
    func putSupplierProfile(_ c: Call) async throws -> Response {
        let supplier = try supplierID(c)
        let org = c.who.orgID
        let known =
            try await pool.query(
                """
                SELECT EXISTS (SELECT 1 FROM quarry.supplier_profiles WHERE org_id = $1 AND supplier_id = $2)
                    OR EXISTS (SELECT 1 FROM quarry.products WHERE org_id = $1 AND supplier_id = $2)
                    OR EXISTS (SELECT 1 FROM quarry.extraction_results WHERE org_id = $1 AND supplier_id = $2) AS k
                """, [org, supplier]
            ).first?.bool("k") ?? false
        guard known else { throw APIError.notFound("unknown supplier: this org has no catalog, result or profile for it") }
        let body = try await c.body(limit: config.maxJSONBytes)
        let profile: SupplierProfile
        do {
            profile = try SupplierProfile.decode(json: Data(body))
        } catch {
            throw APIError.invalidConfig(error.message, details: error.details)
        }
        let configJSON = String(decoding: try JSONEncoder().encode(profile.config), as: UTF8.self)
        let out = try await pool.query(
            """
            INSERT INTO quarry.supplier_profiles (org_id, supplier_id, config, header_fingerprint, updated_by)
            VALUES ($1, $2, $3::jsonb, $4, $5)
            ON CONFLICT (org_id, supplier_id) DO UPDATE SET config = excluded.config,
                header_fingerprint = excluded.header_fingerprint, updated_at = now(), updated_by = excluded.updated_by
            RETURNING \(Self.profileJSON)::text AS p
            """, [org, supplier, JSONText(configJSON), profile.headerFingerprint, c.who.tokenID]
        ).first?.string("p")
        await audit(c, action: "supplier.profile", target: supplier)
        return Envelope.raw(out ?? "null")
    }
}
