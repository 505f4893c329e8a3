import Extraction
import Foundation
import Models
import Postgres
import Queue
import Storage

/// One attempt of an extract job, inside its transaction: everything it writes goes through a
/// ``ResultStore`` and ends with the fenced completion, so it commits only under a live lease.
struct ExtractionRun: Sendable {
    let job: ClaimedJob
    let payload: ExtractPayload
    /// The job's config after supplier-profile resolution.
    let config: ExtractionConfig
    let profiles: SupplierProfiles.Resolved
    let upload: UploadInfo
    let cacheKey: String
    let settings: ExtractionSettings
    let progress: ProgressBox
    let isCancelled: @Sendable () -> Bool
    let started: ContinuousClock.Instant

    /// The stored summary and the rows it counts.
    struct Result: Sendable {
        var json: String
        var rows: Int
    }

    /// Reuses a recent result of a completed job with the same file and config: its rows are copied,
    /// re-classified against today's catalog, and the job completed under the fence. Nil when there is none.
    func reuseCached(on tx: PostgresConnection) throws -> Result? {
        guard let cached = try ResultStore.cached(org: job.orgID, cacheKey: cacheKey, excluding: job.id, on: tx) else { return nil }
        try JobStore.checkLease(job, on: tx)
        progress.set(percent: 50, step: "Reusing cached result", stage: "cache", force: true)
        let results = ResultStore(connection: tx, jobID: job.id)
        try results.clear()
        var summary = cached.summary
        summary.cached = true
        summary.cachedFrom = cached.jobID.uuidString.lowercased()
        var scope: CatalogScope?
        if cached.kind == "tabular" {
            try results.copyRows(from: cached.jobID, onlyValid: false, resetClassification: true)
            // The cached run's supplier (a profile may have named it); its guard as resolved today.
            let supplier = summary.supplierId ?? config.supplierId ?? ""
            var priceGuard = config.priceGuard
            if priceGuard == nil, let p = summary.profileSupplierId {
                priceGuard = try SupplierProfiles.load(org: job.orgID, supplier: p, on: tx)?.config.priceGuard
            }
            var s = CatalogScope(org: job.orgID, supplier: supplier, priceGuard: priceGuard)
            try classify(&summary, scope: &s, hasDuplicates: (summary.duplicates ?? 1) > 0, results: results)
            scope = s
        } else {
            try results.copySections(from: cached.jobID)
        }
        return try finish(
            summary, kind: cached.kind, rows: summary.rowsTotal ?? summary.sectionCount ?? 0, results: results, scope: scope, on: tx)
    }

    /// Detects the format of the spooled (or followed) upload, reads it into the results and completes the job.
    func extract(spool: SpooledUpload, on tx: PostgresConnection) throws -> Result {
        try JobStore.checkLease(job, on: tx)
        var phases = ["download": spool.downloadMs]
        var phaseStart = ContinuousClock.now
        func phaseDone(_ name: String) {
            let now = ContinuousClock.now
            phases[name] = Int((now - phaseStart).milliseconds)
            phaseStart = now
        }
        let format =
            try spool.follower.map { try FormatDetector.detect(head: $0.head(count: 64 * 1024), fileName: upload.fileName) }
            ?? FormatDetector.detect(path: spool.path, fileName: upload.fileName)
        progress.set(percent: 10, step: "Parsing \(format.rawValue.uppercased())", stage: "parsing", force: true)
        var summary = ExtractionSummary(fileName: upload.fileName, format: format.rawValue, sizeBytes: upload.sizeBytes, sha256: upload.sha256)
        let results = ResultStore(connection: tx, jobID: job.id)
        try results.clear()
        let kind: String
        let rows: Int
        var scope: CatalogScope?
        if format.isTabular {
            kind = "tabular"
            let table = try extractTable(format: format, spool: spool, into: &summary, results: results, phaseDone: phaseDone)
            rows = table.rows
            scope = table.scope
        } else {
            kind = "document"
            let doc = try DocumentPipeline.run(
                jobID: job.id, format: format, path: spool.path, settings: settings, isCancelled: isCancelled, progress: progress, on: tx)
            summary.pageCount = doc.pageCount
            summary.wordCount = doc.wordCount
            summary.sectionCount = doc.sections.count
            summary.paragraphCount = doc.paragraphs.count
            summary.paragraphs = Array(doc.paragraphs.prefix(200))
            rows = doc.sections.count
            phaseDone("extract_and_store")
        }
        let ms = Int((ContinuousClock.now - started).milliseconds)
        summary.durationMs = ms
        summary.phasesMs = phases
        if let total = summary.rowsTotal, ms > 0 { summary.rowsPerS = Int(Double(total) / (Double(ms) / 1000)) }
        var key = cacheKey
        if let follower = spool.follower {
            // Read while it arrived: the file is the one whose size and digest the follower verified at its end.
            guard let final = follower.verifiedUpload else {
                throw JobError(.uploadFailed, "the upload was not read to its verified end")
            }
            summary.sizeBytes = final.sizeBytes
            summary.sha256 = final.sha256
            key = spool.cacheKey?(final) ?? key
        }
        return try finish(summary, kind: kind, rows: rows, results: results, scope: scope, cacheKey: key, on: tx)
    }

    /// Reads, maps and validates the rows into the row blocks (`result_blocks`), then classifies them; returns the row count and the
    /// catalog they were classified against.
    func extractTable(
        format: FileFormat, spool: SpooledUpload, into summary: inout ExtractionSummary, results: ResultStore, phaseDone: (String) -> Void
    ) throws -> (rows: Int, scope: CatalogScope) {
        var onlyRows: Set<Int>?
        if payload.onlyRejected, let old = payload.retryOf { onlyRows = try results.invalidRowNumbers(of: old) }
        var pipeline = TabularPipeline(
            jobID: job.id, orgID: job.orgID, config: config, format: format, path: spool.path,
            fileBytes: spool.follower.map { $0.expectedBytes ?? 0 } ?? upload.sizeBytes,
            limits: settings.limits, isCancelled: isCancelled, progress: progress, onlyRows: onlyRows)
        pipeline.profilesByFingerprint = profiles.byFingerprint
        pipeline.source = spool.follower
        var outcome = try pipeline.run(into: results)
        phaseDone("parse_and_store")
        if payload.onlyRejected, let old = payload.retryOf {
            // Keep the rows the first run accepted.
            let kept = try results.copyRows(from: old, onlyValid: true, resetClassification: false)
            outcome.rowsTotal += kept
            outcome.rowsValid += kept
            summary.retryOf = old.uuidString.lowercased()
            summary.rowsKeptFromPreviousRun = kept
        }
        progress.set(
            percent: 86, step: "Validating products", stage: "validating",
            rows: Int64(outcome.rowsTotal), rowsTotal: Int64(outcome.rowsTotal), force: true)
        summary.rowsTotal = outcome.rowsTotal
        summary.rowsValid = outcome.rowsValid
        summary.rowsInvalid = outcome.rowsInvalid
        summary.duplicates = outcome.duplicates
        summary.headerFingerprint = outcome.headerFingerprint
        summary.sourceHeader = Array(outcome.sourceHeader.prefix(1000))
        summary.sourceHeaderLine = outcome.sourceHeaderLine
        summary.mappingSource = profiles.source
        summary.profileSupplierId = profiles.profileSupplier
        var scope = CatalogScope(org: job.orgID, supplier: config.supplierId ?? "", priceGuard: config.priceGuard)
        if let match = outcome.matchedProfile {
            summary.mappingSource = "profile"
            summary.profileSupplierId = match.supplier
            scope.supplier = match.supplier
            scope.priceGuard = config.priceGuard ?? match.profile.config.priceGuard
        }
        try classify(&summary, scope: &scope, hasDuplicates: outcome.duplicates > 0 || payload.onlyRejected, results: results)
        phaseDone("classify")
        summary.headerRow = outcome.headerRow
        summary.headerRowConfidence = outcome.headerRowConfidence
        summary.extraCells = outcome.extraCells
        summary.encoding = outcome.source.encoding
        summary.dialect = outcome.source.dialect
        summary.sheet = outcome.source.sheet
        summary.sheets = outcome.source.sheets
        summary.issuesByCode = outcome.issueCounts
        summary.validationMode = config.validationMode.rawValue
        if let m = outcome.mapping {
            var used: [String: String] = [:]
            for (field, index) in m.fieldToIndex where index < m.headers.count { used[field] = m.headers[index] }
            summary.mapping = used
            summary.unmappedColumns = m.unmapped.map(\.header)
        }
        return (outcome.rowsTotal, scope)
    }

    /// Classifies the rows against the scope's catalog and records the diff, its review state and the supplier.
    func classify(_ summary: inout ExtractionSummary, scope: inout CatalogScope, hasDuplicates: Bool, results: ResultStore) throws {
        let classes = try results.classify(catalog: &scope, hasDuplicates: hasDuplicates, isCancelled: isCancelled)
        summary.setClassification(updated: classes.updated, unchanged: classes.unchanged)
        summary.supplierId = scope.supplier
        summary.diff = classes.diff
        summary.review = scope.reviewState(for: classes.diff).map(ReviewSummary.init(state:))
    }

    /// Saves the summary and completes the job in the same transaction, fenced by the lease.
    func finish(
        _ summary: ExtractionSummary, kind: String, rows: Int, results: ResultStore, scope: CatalogScope?, cacheKey: String? = nil,
        on tx: PostgresConnection
    ) throws -> Result {
        progress.set(percent: 97, step: "Saving results", stage: "saving", force: true)
        let json = try results.save(
            summary: summary, org: job.orgID, uploadID: upload.id, cacheKey: cacheKey ?? self.cacheKey, kind: kind,
            ttlHours: settings.cacheTTLHours,
            catalog: scope)
        try JobStore.complete(job, result: json, rowsProcessed: Int64(rows), inTransaction: tx)
        return Result(json: json, rows: rows)
    }
}
