import Crypto
public import Foundation
public import Postgres

/// An authenticated API token (never the secret itself).
public struct APIPrincipal: Sendable, Hashable {
    public var tokenID: UUID
    public var orgID: UUID
    public var name: String
    public var isAdmin: Bool

    public init(tokenID: UUID, orgID: UUID, name: String, isAdmin: Bool) {
        self.tokenID = tokenID
        self.orgID = orgID
        self.name = name
        self.isAdmin = isAdmin
    }
}

/// Why a bearer token was refused.
public enum AuthFailure: Error, Sendable, Equatable {
    case missing
    case malformed
    case unknown
    case revoked(tokenID: UUID)
}

/// Bearer tokens: `qk_` + base64url of 32 random bytes, stored only as SHA-256.
public enum APITokens {
    public static let prefix = "qk_"

    /// A new random token (shown once).
    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
        return prefix + base64url(bytes)
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// SHA-256 of the token's UTF-8 bytes.
    public static func hash(_ token: String) -> [UInt8] { Array(SHA256.hash(data: Array(token.utf8))) }

    /// Compares two digests in time independent of where they differ.
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    /// Whether a string has the shape of a token (cheap check before touching the database).
    public static func isWellFormed(_ token: String) -> Bool {
        guard token.hasPrefix(prefix), token.utf8.count == prefix.utf8.count + 43 else { return false }
        return token.utf8.dropFirst(3).allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 95
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        "\\x" + bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func unhex(_ text: String) -> [UInt8] {
        let s = Array(text.utf8.dropFirst(2))
        var out: [UInt8] = []
        var i = 0
        while i + 1 < s.count {
            out.append(UInt8(String(decoding: s[i...i + 1], as: UTF8.self), radix: 16) ?? 0)
            i += 2
        }
        return out
    }

    /// Creates a token for `org` (creating the org when missing); returns its id and the secret.
    public static func create(pool: PostgresPool, orgName: String, name: String, admin: Bool) async throws -> (id: UUID, orgID: UUID, token: String) {
        let token = generate()
        let digest = hex(hash(token))
        let rows = try await pool.transaction { c in
            try c.query("INSERT INTO quarry.organizations (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", [orgName])
            return try c.query(
                """
                INSERT INTO quarry.api_tokens (org_id, name, token_sha256, is_admin)
                SELECT id, $2, $3::bytea, $4 FROM quarry.organizations WHERE name = $1
                RETURNING id, org_id
                """, [orgName, name, digest, admin])
        }
        guard let r = rows.first, let id = r.uuid("id"), let org = r.uuid("org_id") else {
            throw PostgresError(code: .protocolViolation, message: "token insert returned nothing")
        }
        return (id, org, token)
    }

    /// Revokes a token; false when it does not exist or was already revoked.
    public static func revoke(pool: PostgresPool, id: UUID) async throws -> Bool {
        let rows = try await pool.query(
            "UPDATE quarry.api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id", [id])
        return !rows.isEmpty
    }

    /// Looks a token up by its digest, compares in constant time and touches `last_used_at`
    /// at most once a minute, in one round trip.
    public static func authenticate(pool: PostgresPool, token: String) async throws -> Result<APIPrincipal, AuthFailure> {
        guard isWellFormed(token) else { return .failure(.malformed) }
        let digest = hash(token)
        let rows = try await pool.query(
            """
            WITH t AS (
                SELECT id, org_id, name, is_admin, token_sha256, revoked_at IS NOT NULL AS revoked
                FROM quarry.api_tokens WHERE token_sha256 = $1::bytea
            ), touched AS (
                UPDATE quarry.api_tokens a SET last_used_at = now()
                FROM t WHERE a.id = t.id AND NOT t.revoked
                  AND (a.last_used_at IS NULL OR a.last_used_at < now() - interval '1 minute')
            )
            SELECT * FROM t
            """, [hex(digest)], prepare: true)
        guard let r = rows.first, let id = r.uuid("id"), let org = r.uuid("org_id"),
            let stored = r.string("token_sha256")
        else { return .failure(.unknown) }
        guard constantTimeEquals(unhex(stored), digest) else { return .failure(.unknown) }
        if r.bool("revoked") == true { return .failure(.revoked(tokenID: id)) }
        return .success(APIPrincipal(tokenID: id, orgID: org, name: r.string("name") ?? "", isAdmin: r.bool("is_admin") ?? false))
    }
}
