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
    let config: ExtractionConfig
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
        if cached.kind == "tabular" {
            try results.copyRows(from: cached.jobID, onlyValid: false, resetClassification: true)
            let classes = try results.classify(org: job.orgID, supplier: config.supplierId ?? "", isCancelled: isCancelled)
            summary.setClassification(updated: classes.updated, unchanged: classes.unchanged)
        } else {
            try results.copySections(from: cached.jobID)
        }
        return try finish(summary, kind: cached.kind, rows: summary.rowsTotal ?? summary.sectionCount ?? 0, results: results, on: tx)
    }

    /// Detects the format of the spooled upload, reads it into the results and completes the job.
    func extract(spool: SpooledUpload, on tx: PostgresConnection) throws -> Result {
        try JobStore.checkLease(job, on: tx)
        var phases = ["download": spool.downloadMs]
        var phaseStart = ContinuousClock.now
        func phaseDone(_ name: String) {
            let now = ContinuousClock.now
            phases[name] = Int((now - phaseStart).milliseconds)
            phaseStart = now
        }
        let format = try FormatDetector.detect(path: spool.path, fileName: upload.fileName)
        progress.set(percent: 10, step: "Parsing \(format.rawValue.uppercased())", stage: "parsing", force: true)
        var summary = ExtractionSummary(fileName: upload.fileName, format: format.rawValue, sizeBytes: upload.sizeBytes, sha256: upload.sha256)
        let results = ResultStore(connection: tx, jobID: job.id)
        try results.clear()
        let kind: String
        let rows: Int
        if format.isTabular {
            kind = "tabular"
            rows = try extractTable(format: format, path: spool.path, into: &summary, results: results, phaseDone: phaseDone)
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
        return try finish(summary, kind: kind, rows: rows, results: results, on: tx)
    }

    /// Reads, maps and validates the rows into `result_rows`, then classifies them; returns the row count.
    func extractTable(
        format: FileFormat, path: String, into summary: inout ExtractionSummary, results: ResultStore, phaseDone: (String) -> Void
    ) throws -> Int {
        var onlyRows: Set<Int>?
        if payload.onlyRejected, let old = payload.retryOf { onlyRows = try results.invalidRowNumbers(of: old) }
        let pipeline = TabularPipeline(
            jobID: job.id, orgID: job.orgID, config: config, format: format, path: path, fileBytes: upload.sizeBytes,
            limits: settings.limits, isCancelled: isCancelled, progress: progress, onlyRows: onlyRows)
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
        let classes = try results.classify(org: job.orgID, supplier: config.supplierId ?? "", isCancelled: isCancelled)
        phaseDone("classify")
        summary.rowsTotal = outcome.rowsTotal
        summary.rowsValid = outcome.rowsValid
        summary.rowsInvalid = outcome.rowsInvalid
        summary.duplicates = outcome.duplicates
        summary.setClassification(updated: classes.updated, unchanged: classes.unchanged)
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
        return outcome.rowsTotal
    }

    /// Saves the summary and completes the job in the same transaction, fenced by the lease.
    func finish(_ summary: ExtractionSummary, kind: String, rows: Int, results: ResultStore, on tx: PostgresConnection) throws -> Result {
        progress.set(percent: 97, step: "Saving results", stage: "saving", force: true)
        let json = try results.save(
            summary: summary, org: job.orgID, uploadID: upload.id, cacheKey: cacheKey, kind: kind, ttlHours: settings.cacheTTLHours)
        try JobStore.complete(job, result: json, rowsProcessed: Int64(rows), inTransaction: tx)
        return Result(json: json, rows: rows)
    }
}
