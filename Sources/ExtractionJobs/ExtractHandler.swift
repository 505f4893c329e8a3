import Crypto
import Extraction
public import Foundation
public import Models
public import Postgres
public import Queue
public import Storage
public import WorkerService

/// The `extract` job: upload (spooled, or followed while it arrives) → format detection → streaming read → mapping,
/// transforms, validation → row blocks in `quarry.result_blocks` (COPY) → catalog classification → summary.
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
        let checked = try await checkedUpload(payload.uploadID, org: job.orgID)
        var upload = checked.info
        // An upload still arriving in a streaming format is parsed as it arrives (below).
        var arriving = checked.streamable ? checked.arriving : nil
        // A workbook or document still arriving (its ZIP/OLE index is at the end) is copied to the spool as its chunks
        // commit, then read like a complete upload: no poll for completion, no second download.
        var arrived: SpooledUpload?
        if let state = checked.arriving, !checked.streamable {
            (upload, arrived) = try await spoolWhileArriving(state, job: job, progress: box, isCancelled: cancelled)
            arriving = nil
        }
        defer { if let arrived { try? FileManager.default.removeItem(atPath: arrived.path) } }
        let profiles: SupplierProfiles.Resolved
        do {
            profiles = try await pool.withConnection { c in try SupplierProfiles.resolve(config, org: job.orgID, on: c) }
        } catch let e as PostgresError {
            throw JobError(.databaseError, e.description, retryable: e.isTransient || e.isConnectionLost)
        }
        var cacheConfig = payload.configJSON
        if !profiles.version.isEmpty { cacheConfig.append(Data("|profiles:\(profiles.version)".utf8)) }
        let retryOf = payload.onlyRejected ? payload.retryOf : nil
        let cacheKey = Self.cacheKey(upload: upload, config: cacheConfig, retryOf: retryOf)
        let run = ExtractionRun(
            job: job, payload: payload, config: profiles.config, profiles: profiles, upload: upload, cacheKey: cacheKey, settings: settings,
            progress: box,
            isCancelled: cancelled, started: .now)
        let summary: ExtractionRun.Result
        do {
            if let arriving {
                // Parse while the upload arrives: no cache (the digest is not known yet), no spool.
                let follower = UploadFollower(
                    files: files, uploadID: upload.id, maxBytes: settings.maxFileBytes, expectedBytes: arriving.expectedBytes,
                    stallTimeout: settings.uploadStallTimeout, isCancelled: cancelled)
                let config = cacheConfig
                let input = SpooledUpload(path: spoolPath(job), downloadMs: 0, follower: follower) { final in
                    Self.cacheKey(upload: final, config: config, retryOf: retryOf)
                }
                summary = try await pool.withConnection { c in try c.transaction { try run.extract(spool: input, on: $0) } }
            } else if let reused = try await pool.withConnection({ c in try c.transaction { try run.reuseCached(on: $0) } }) {
                summary = reused
            } else {
                let spool: SpooledUpload
                if let arrived { spool = arrived } else { spool = try await self.spool(upload, job: job, progress: box, isCancelled: cancelled) }
                defer { try? FileManager.default.removeItem(atPath: spool.path) }  // `arrived` too, as soon as it is read
                summary = try await pool.withConnection { c in try c.transaction { try run.extract(spool: spool, on: $0) } }
            }
        } catch let e as PostgresError {
            throw JobError(.databaseError, e.description, retryable: e.isTransient || e.isConnectionLost)
        }
        box.set(percent: 100, step: "Completed", stage: "completed", force: true)
        if let (p, _) = box.take() { await context.report(p, force: true) }
        return JobOutcome(resultJSON: summary.json, rowsProcessed: Int64(summary.rows), completedInTransaction: true)
    }

    /// The upload's metadata, checked against the org and the limits. An upload still arriving comes back as
    /// `arriving`; `streamable` when its format can be parsed as it arrives (CSV/TSV, JSON, NDJSON).
    func checkedUpload(_ id: UUID, org: UUID) async throws
        -> (info: UploadInfo, arriving: UploadState?, streamable: Bool)
    {
        guard let state = try await files.state(uploadID: id, org: org) else {
            throw JobError(.fileNotFound, "upload \(id.uuidString.lowercased()) not found")
        }
        if let failure = state.failure { throw JobError(.uploadFailed, "the upload failed: \(failure)") }
        guard let format = FileFormat.fromExtension(of: state.fileName) else {
            throw JobError(.unsupportedFormat, "unsupported file type: \(state.fileName)")
        }
        if state.complete { return (try checkedSize(state.info), nil, format.isStreamable) }
        return (state.info, state, format.isStreamable)
    }

    /// Copies an upload still arriving into this run's spool file chunk by chunk as the api commits them (an
    /// ``UploadFollower``: the same waits, `UPLOAD_FAILED`/`UPLOAD_ABANDONED`, and the final size and sha256 check),
    /// and returns the complete upload's metadata with the spool.
    func spoolWhileArriving(_ arriving: UploadState, job: ClaimedJob, progress: ProgressBox, isCancelled: @escaping @Sendable () -> Bool)
        async throws -> (info: UploadInfo, spool: SpooledUpload)
    {
        let started = ContinuousClock.now
        let path = spoolPath(job)
        let follower = UploadFollower(
            files: files, uploadID: arriving.id, maxBytes: settings.maxFileBytes, expectedBytes: arriving.expectedBytes,
            stallTimeout: settings.uploadStallTimeout, isCancelled: isCancelled)
        Self.spoolProgress(progress, step: "Receiving file", bytes: 0, of: arriving.expectedBytes, force: true)
        do {
            let info = try await follower.copy(to: path) { n in
                Self.spoolProgress(progress, step: "Receiving file", bytes: n, of: arriving.expectedBytes)
            }
            return (try checkedSize(info), SpooledUpload(path: path, downloadMs: Int((ContinuousClock.now - started).milliseconds)))
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }

    private func checkedSize(_ upload: UploadInfo) throws -> UploadInfo {
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
        let path = spoolPath(job)
        Self.spoolProgress(progress, step: "Downloading file", bytes: 0, of: upload.sizeBytes, force: true)
        do {
            let expected = (upload.sizeBytes, upload.sha256)
            _ = try await files.copy(uploadID: upload.id, to: path, maxBytes: settings.maxFileBytes, expected: expected, isCancelled: isCancelled) {
                n in
                Self.spoolProgress(progress, step: "Downloading file", bytes: n, of: upload.sizeBytes)
            }
        } catch let e as FileStoreError where e.code == .tooLarge {
            try? FileManager.default.removeItem(atPath: path)
            throw JobError(.fileTooLarge, "file exceeds the \(settings.maxFileBytes / 1_048_576) MB limit")
        } catch let e as FileStoreError where e.code == .incomplete {
            try? FileManager.default.removeItem(atPath: path)
            throw JobError(.uploadFailed, "the stored upload does not match its recorded size and sha256")
        } catch let e as FileStoreError where e.code == .cancelled {
            try? FileManager.default.removeItem(atPath: path)
            throw JobError.cancelledExtraction
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        return SpooledUpload(path: path, downloadMs: Int((ContinuousClock.now - started).milliseconds))
    }

    /// Spooling is the first 2–10 % of an extraction's progress, by bytes (of `total` when known).
    static func spoolProgress(_ progress: ProgressBox, step: String, bytes n: Int64, of total: Int64?, force: Bool = false) {
        progress.set(
            percent: 2 + Int(8 * Double(n) / Double(max(total ?? n, 1))), step: step, stage: "reading", bytes: n, bytesTotal: total,
            force: force)
    }

    /// The local file (and spill-file prefix) of this run: named for the job and lease, so two runs never share it.
    func spoolPath(_ job: ClaimedJob) -> String {
        settings.spoolDirectory + "/quarry-\(job.id.uuidString.lowercased())-\(job.leaseToken.uuidString.lowercased())"
    }

    static func cacheKey(upload: UploadInfo, config: Data, retryOf: UUID?) -> String {
        var h = SHA256()
        h.update(data: Data("quarry-extract-v1|\(upload.sha256)|\(upload.sizeBytes)|".utf8))
        h.update(data: config)
        if let retryOf { h.update(data: Data("|retry:\(retryOf.uuidString)".utf8)) }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

/// An upload copied to a local file for parsing — or, with `follower`, read while it arrives (then `path` is
/// only the prefix of the run's spill files and nothing is written there).
struct SpooledUpload: Sendable {
    var path: String
    var downloadMs: Int
    var follower: UploadFollower?
    /// The cache key of the upload once its digest is known (a followed upload).
    var cacheKey: (@Sendable (UploadInfo) -> String)?

    init(path: String, downloadMs: Int, follower: UploadFollower? = nil, cacheKey: (@Sendable (UploadInfo) -> String)? = nil) {
        self.path = path
        self.downloadMs = downloadMs
        self.follower = follower
        self.cacheKey = cacheKey
    }
}
