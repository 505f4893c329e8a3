import CZlib  // zlib, through ZIPFoundation's system-library module (Linux)
import Foundation
import Models
import ZIPFoundation

/// A ZIP archive whose entries are inflated — to private temp files, or streamed to a consumer — while
/// counting the bytes actually produced: past `maxUnpackedEntryBytes` for one entry or `maxUnpackedTotalBytes` overall → `.zipBomb`.
/// Declared sizes and ratios are never trusted. The temp directory is removed on deinit.
final class ZipContainer {
    private let archive: Archive
    private let limits: ExtractionLimits
    private let tempDir: URL
    private(set) var totalInflated: Int64 = 0

    init(path: String, limits: ExtractionLimits) throws {
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read, pathEncoding: nil)
        } catch {
            throw JobError(.malformedFile, "not a readable ZIP container: \(error)")
        }
        self.limits = limits
        tempDir = FileManager.default.temporaryDirectory.appendingPathComponent("quarry-zip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tempDir, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: tempDir) }

    /// The entry at `path` (exact, then case-insensitive, with `\` in stored names read as `/`).
    func entry(_ path: String) -> Entry? {
        if let e = archive[path] { return e }
        return index[OOXMLPackage.normalize(path)]
    }

    /// Entries by normalized name (``OOXMLPackage/normalize(_:)``); the first of duplicates wins.
    private lazy var index: [String: Entry] = {
        var out: [String: Entry] = [:]
        for e in archive where out[OOXMLPackage.normalize(e.path)] == nil { out[OOXMLPackage.normalize(e.path)] = e }
        return out
    }()

    /// A small part's bytes in memory (nil when absent); `.zipBomb` past `limit`.
    func small(_ path: String, limit: Int = OOXMLPackage.smallPartLimit, isCancelled: @Sendable () -> Bool) throws -> [UInt8]? {
        guard entry(path) != nil else { return nil }
        var out: [UInt8] = []
        _ = try stream(path, isCancelled: isCancelled) { bytes in
            out.append(contentsOf: bytes)
            if out.count > limit { throw JobError(.zipBomb, "\(path) is larger than \(limit) bytes", details: ["entry": path]) }
        }
        return out
    }

    /// Inflates `path` to a temp file and returns the file's path and size.
    func extract(_ path: String, isCancelled: @Sendable () -> Bool) throws -> (path: String, size: Int64) {
        let target = tempDir.appendingPathComponent(UUID().uuidString).path
        guard let out = fopen(target, "wb") else { throw JobError(.extractionError, "cannot create temp file") }
        defer { fclose(out) }
        let size = try stream(path, isCancelled: isCancelled) { bytes in
            if fwrite(bytes.baseAddress, 1, bytes.count, out) != bytes.count { throw JobError(.extractionError, "cannot write temp file") }
        }
        return (target, size)
    }

    /// The uncompressed size the archive declares for `path` (for progress only: never trusted as a limit).
    func declaredSize(_ path: String) -> Int64 { entry(path).map { Int64($0.uncompressedSize) } ?? 0 }

    /// Inflates `path` 64 KB at a time into `consume` (nothing touches the disk) and returns the bytes produced.
    /// The CRC-32 is checked after the last piece (`.malformedFile`), so a consumer that acts on the bytes
    /// must let a later error undo what it did (the extraction runs in one transaction). What `consume` throws
    /// reaches the caller unchanged: a database error while the rows are stored stays a database error (it was
    /// reported as a corrupt ZIP entry, and not retried).
    func stream(
        _ path: String, isCancelled: @Sendable () -> Bool, consume: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int64 {
        guard let entry = entry(path) else {
            throw JobError(.malformedFile, "missing \(path) in the container", details: ["entry": path])
        }
        var entryBytes: Int64 = 0
        let limits = self.limits
        var total = totalInflated
        defer { totalInflated = total }
        do {
            // CRC-32 checked here with zlib's crc32 (ZIPFoundation's is a byte-at-a-time Swift loop).
            var crc = crc32(0, nil, 0)
            _ = try archive.extract(entry, bufferSize: 64 * 1024, skipCRC32: true) { data in
                entryBytes += Int64(data.count)
                total += Int64(data.count)
                if entryBytes > limits.maxUnpackedEntryBytes || total > limits.maxUnpackedTotalBytes {
                    throw JobError(
                        .zipBomb, "\(path) inflates past the unpack limit",
                        details: [
                            "entry": path, "inflated": String(entryBytes),
                            "limit": String(min(limits.maxUnpackedEntryBytes, limits.maxUnpackedTotalBytes)),
                        ])
                }
                if isCancelled() { throw JobError.cancelledExtraction }
                try data.withUnsafeBytes { b in
                    crc = crc32(crc, b.bindMemory(to: UInt8.self).baseAddress, uInt(b.count))
                    do { try consume(b) } catch { throw ConsumerFailure(error: error) }
                }
            }
            if UInt32(truncatingIfNeeded: crc) != entry.checksum {
                throw JobError(.malformedFile, "corrupt ZIP entry \(path): CRC-32 mismatch", details: ["entry": path])
            }
        } catch let failure as ConsumerFailure {
            throw failure.error
        } catch let error as JobError {
            throw error
        } catch {
            throw JobError(.malformedFile, "corrupt ZIP entry \(path): \(error)", details: ["entry": path])
        }
        return entryBytes
    }

    /// An error thrown by the consumer of an entry's bytes, carried through ZIPFoundation unchanged.
    private struct ConsumerFailure: Error {
        let error: any Error
    }
}
