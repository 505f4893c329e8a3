import Extraction
public import Foundation
import Models

/// The `extract` job's payload: `{"upload_id": …, "config": {…}, "retry_of": …, "only_rejected": bool}`.
public struct ExtractPayload: Sendable {
    public var uploadID: UUID
    public var configJSON: Data
    public var retryOf: UUID?
    public var onlyRejected: Bool

    public init(json: String) throws {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] else {
            throw JobError(.invalidConfig, "job payload is not a JSON object")
        }
        guard let s = object["upload_id"] as? String, let id = UUID(uuidString: s) else {
            throw JobError(.invalidConfig, "job payload has no valid upload_id")
        }
        uploadID = id
        let config = object["config"] ?? [String: Any]()
        guard JSONSerialization.isValidJSONObject(config), config is [String: Any] else {
            throw JobError(.invalidConfig, "config must be a JSON object")
        }
        configJSON = (try? JSONSerialization.data(withJSONObject: config, options: [.sortedKeys])) ?? Data("{}".utf8)
        retryOf = (object["retry_of"] as? String).flatMap(UUID.init(uuidString:))
        onlyRejected = object["only_rejected"] as? Bool ?? false
    }
}
