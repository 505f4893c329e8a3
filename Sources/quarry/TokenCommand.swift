import APIAuth
import ArgumentParser
import Foundation

/// `quarry token create|revoke`: API bearer tokens.
struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create and revoke API tokens.", subcommands: [Create.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token for an org (created when missing); the token is printed once, as the last line.")
        @OptionGroup var db: DatabaseOptions
        @Option(help: "Organization name.") var org: String
        @Option(help: "A label for the token.") var name: String?
        @Flag(help: "Admin token: fleet-wide monitor and DLQ views.") var admin = false

        func run() async throws {
            let created = try await APITokens.create(
                pool: try db.pool(size: 1), orgName: org, name: name ?? "\(org)-token", admin: admin)
            print("token id: \(created.id.uuidString.lowercased())")
            print("org id:   \(created.orgID.uuidString.lowercased())")
            print("store it now, it is not shown again:")
            print(created.token)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by id.")
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "Token id.") var id: String

        func run() async throws {
            guard let tokenID = UUID(uuidString: id) else { throw ValidationError("not a UUID: \(id)") }
            if try await APITokens.revoke(pool: try db.pool(size: 1), id: tokenID) {
                print("revoked \(tokenID.uuidString.lowercased())")
            } else {
                throw ValidationError("no active token \(id)")
            }
        }
    }
}
