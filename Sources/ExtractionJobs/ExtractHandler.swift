import Crypto
import Extraction
public import Foundation
public import Models
public import Postgres
public import Queue
public import Storage
public import WorkerService

/// The `extract` job: upload → format detection → streaming read → mapping, transforms,
/// validation → row blocks in `quarry.result_blocks` (COPY) → catalog classification → summary.
///
/// The upload is read through the file store, then everything is written in one transaction that ends with
/// the job's fenced completion (``Queue/JobStore/complete(_:result:rowsProcessed:inTransaction:)``): the
/// results and the `completed` status commit together, and only while this run still holds the lease. A
/// failed, cancelled or superseded attempt leaves nothing. The same file with the same config within the
/// cache TTL reuses an earlier completed result, re-classified against today's catalog.
public struct ExtractHandler: JobHandler {
    let pool: PostgresPool
    let files: any FileStore
    let settings: ExtractionSettings

    public init(pool: PostgresPool, files: (any FileStore)? = nil, settings: ExtractionSettings = ExtractionSettings()) {
        self.pool = pool
        self.files = files ?? PostgresFileStore(pool: pool)
        self.settings = settings
    }

    /// An extraction holds one pooled connection for its whole transaction.
    public var connectionsPerRun: Int { 1 }

    public func run(_ job: ClaimedJob, context: JobContext) async throws -> JobOutcome {
        let payload = try ExtractPayload(json: job.payload)
        let config = try ExtractionConfig.decode(json: payload.configJSON)
        let box = ProgressBox()
        box.set(percent: 1, step: "Starting", stage: "validating", force: true)
        let reporter = Task {
            while !Task.isCancelled {
                if let (p, force) = box.take() { await context.report(p, force: force) }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        defer { reporter.cancel() }
        let cancelled: @Sendable () -> Bool = { context.isCancelled }
        let upload = try await checkedUpload(payload.uploadID, org: job.orgID)
        let profiles: SupplierProfiles.Resolved
        do {
            profiles = try await pool.withConnection { c in try SupplierProfiles.resolve(config, org: job.orgID, on: c) }
        } catch let e as PostgresError {
            throw JobError(.databaseError, e.description, retryable: e.isTransient || e.isConnectionLost)
        }
        var cacheConfig = payload.configJSON
        if !profiles.version.isEmpty { cacheConfig.append(Data("|profiles:\(profiles.version)".utf8)) }
        let cacheKey = Self.cacheKey(upload: upload, config: cacheConfig, retryOf: payload.onlyRejected ? payload.retryOf : nil)
        let run = ExtractionRun(
            job: job, payload: payload, config: profiles.config, profiles: profiles, upload: upload, cacheKey: cacheKey, settings: settings,
            progress: box,
            isCancelled: cancelled, started: .now)
        let summary: ExtractionRun.Result
        do {
            if let reused = try await pool.withConnection({ c in try c.transaction { try run.reuseCached(on: $0) } }) {
                summary = reused
            } else {
                let spool = try await spool(upload, job: job, progress: box, isCancelled: cancelled)
                defer { try? FileManager.default.removeItem(atPath: spool.path) }
                summary = try await pool.withConnection { c in try c.transaction { try run.extract(spool: spool, on: $0) } }
            }
        } catch let e as PostgresError {
            throw JobError(.databaseError, e.description, retryable: e.isTransient || e.isConnectionLost)
        }
        box.set(percent: 100, step: "Completed", stage: "completed", force: true)
        if let (p, _) = box.take() { await context.report(p, force: true) }
        return JobOutcome(resultJSON: summary.json, rowsProcessed: Int64(summary.rows), completedInTransaction: true)
    }

    /// The upload's metadata, checked against the org and the limits.
    func checkedUpload(_ id: UUID, org: UUID) async throws -> UploadInfo {
        guard let upload = try await files.info(uploadID: id, org: org) else {
            throw JobError(.fileNotFound, "upload \(id.uuidString.lowercased()) not found")
        }
        guard FileFormat.fromExtension(of: upload.fileName) != nil else {
            throw JobError(.unsupportedFormat, "unsupported file type: \(upload.fileName)")
        }
        if upload.sizeBytes == 0 { throw JobError(.emptyFile, "the uploaded file is empty") }
        if upload.sizeBytes > settings.maxFileBytes {
            throw JobError(.fileTooLarge, "file is \(upload.sizeBytes / 1_048_576) MB; the limit is \(settings.maxFileBytes / 1_048_576) MB")
        }
        return upload
    }

    /// Streams the upload out of the file store into a local file named for this run (job and lease), so two
    /// runs of one job never share it. Constant memory, byte progress.
    func spool(_ upload: UploadInfo, job: ClaimedJob, progress: ProgressBox, isCancelled: @escaping @Sendable () -> Bool) async throws
        -> SpooledUpload
    {
        let started = ContinuousClock.now
        let path = settings.spoolDirectory + "/quarry-\(job.id.uuidString.lowercased())-\(job.leaseToken.uuidString.lowercased())"
        progress.set(percent: 2, step: "Downloading file", stage: "reading", bytes: 0, bytesTotal: upload.sizeBytes, force: true)
        do {
            _ = try await files.copy(uploadID: upload.id, to: path, maxBytes: settings.maxFileBytes, isCancelled: isCancelled) { n in
                progress.set(
                    percent: 2 + Int(8 * Double(n) / Double(max(upload.sizeBytes, 1))), step: "Downloading file",
                    stage: "reading", bytes: n, bytesTotal: upload.sizeBytes)
            }
        } catch let e as FileStoreError where e.code == .tooLarge {
            try? FileManager.default.removeItem(atPath: path)
            throw JobError(.fileTooLarge, "file exceeds the \(settings.maxFileBytes / 1_048_576) MB limit")
        } catch let e as FileStoreError where e.code == .cancelled {
            try? FileManager.default.removeItem(atPath: path)
            throw JobError.cancelledExtraction
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        return SpooledUpload(path: path, downloadMs: Int((ContinuousClock.now - started).milliseconds))
    }

    static func cacheKey(upload: UploadInfo, config: Data, retryOf: UUID?) -> String {
        var h = SHA256()
        h.update(data: Data("quarry-extract-v1|\(upload.sha256)|\(upload.sizeBytes)|".utf8))
        h.update(data: config)
        if let retryOf { h.update(data: Data("|retry:\(retryOf.uuidString)".utf8)) }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

/// An upload copied to a local file for parsing.
struct SpooledUpload: Sendable {
    var path: String
    var downloadMs: Int
}
