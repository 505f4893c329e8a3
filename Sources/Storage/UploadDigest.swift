import Crypto
import Foundation

/// The size and sha256 of an upload's bytes as they go by: what ``UploadWriter`` records when the upload completes,
/// and what every reader of a whole upload (the spool copy, the worker following an upload) checks its bytes
/// against, so a job never runs on a partial or altered file.
public struct UploadDigest {  // not Sendable: SHA256 is not; each reader keeps its own
    private var hasher = SHA256()
    /// Bytes seen so far.
    public private(set) var byteCount: Int64 = 0

    public init() {}

    /// Adds the next bytes.
    public mutating func update(_ bytes: [UInt8]) {
        hasher.update(data: bytes)
        byteCount += Int64(bytes.count)
    }

    /// The sha256 of the bytes so far, as lowercase hex (the form `quarry.uploads.sha256` stores).
    public var sha256: String { hasher.finalize().map { String(format: "%02x", $0) }.joined() }

    /// Whether the bytes seen are exactly the upload recorded with `sizeBytes` and `sha256`.
    public func matches(sizeBytes: Int64, sha256 expected: String) -> Bool {
        byteCount == sizeBytes && sha256 == expected
    }
}
