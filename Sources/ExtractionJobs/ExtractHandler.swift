import Crypto
import Extraction
public import Foundation
public import Models
public import Postgres
public import Queue
public import WorkerService

/// The `extract` job: upload → format detection → streaming read → mapping, transforms,
/// validation → rows in `quarry.result_rows` (COPY) → catalog classification → summary.
///
/// Everything is written in one transaction, so a failed or cancelled attempt leaves nothing
/// behind and a retried attempt starts clean. The same file with the same config within the
/// cache TTL reuses the earlier result.
public struct ExtractHandler: JobHandler {
    let pool: PostgresPool
    let settings: ExtractionSettings

    public init(pool: PostgresPool, settings: ExtractionSettings = ExtractionSettings()) {
        self.pool = pool
        self.settings = settings
    }

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
        let settings = self.settings
        let cancelled: @Sendable () -> Bool = { context.isCancelled }
        let started = ContinuousClock.now
        let summary: Summary
        do {
            summary = try await pool.withConnection { c in
                try Self.extract(
                    job: job, payload: payload, config: config, settings: settings, progress: box, isCancelled: cancelled, on: c,
                    started: started)
            }
        } catch let e as PostgresError {
            throw JobError(.databaseError, e.description, retryable: true)
        }
        if let (p, _) = box.take() { await context.report(p, force: true) }
        return JobOutcome(resultJSON: summary.json, rowsProcessed: Int64(summary.rows))
    }

    struct Summary {
        var json: String
        var rows: Int
    }

    static func extract(
        job: ClaimedJob, payload: ExtractPayload, config: ExtractionConfig, settings: ExtractionSettings,
        progress: ProgressBox, isCancelled: @escaping @Sendable () -> Bool, on c: PostgresConnection, started: ContinuousClock.Instant
    ) throws -> Summary {
        guard let upload = try UploadSpool.load(payload.uploadID, on: c), upload.orgID == job.orgID, upload.complete else {
            throw JobError(.fileNotFound, "upload \(payload.uploadID.uuidString.lowercased()) not found")
        }
        guard FileFormat.fromExtension(of: upload.fileName) != nil else {
            throw JobError(.unsupportedFormat, "unsupported file type: \(upload.fileName)")
        }
        if upload.sizeBytes == 0 { throw JobError(.emptyFile, "the uploaded file is empty") }
        if upload.sizeBytes > settings.maxFileBytes {
            throw JobError(.fileTooLarge, "file is \(upload.sizeBytes / 1_048_576) MB; the limit is \(settings.maxFileBytes / 1_048_576) MB")
        }
        let cacheKey = Self.cacheKey(upload: upload, config: payload.configJSON, retryOf: payload.onlyRejected ? payload.retryOf : nil)
        let jobID = job.id
        let ttl = settings.cacheTTLHours

        // Cache: the same file and config extracted recently → copy that result.
        if let cached = try c.query(
            """
            SELECT job_id FROM quarry.extraction_results
            WHERE org_id = $1 AND cache_key = $2 AND expires_at > now() AND job_id <> $3
            ORDER BY created_at DESC LIMIT 1
            """, [job.orgID, cacheKey, jobID]
        ).first?.uuid("job_id") {
            progress.set(percent: 50, step: "Reusing cached result", stage: "cache", force: true)
            let json = try c.transaction { tx -> String in
                try Self.clear(jobID, on: tx)
                try tx.query(
                    """
                    INSERT INTO quarry.result_rows (job_id, row_number, valid, sku, name, description, price, currency, quantity,
                        unit, category, brand, barcode, classification, old_price, extra, issues)
                    SELECT $1, row_number, valid, sku, name, description, price, currency, quantity, unit, category, brand,
                        barcode, classification, old_price, extra, issues FROM quarry.result_rows WHERE job_id = $2
                    """, [jobID, cached])
                try tx.query(
                    "INSERT INTO quarry.result_sections (job_id, index, title, text, word_count) SELECT $1, index, title, text, word_count FROM quarry.result_sections WHERE job_id = $2",
                    [jobID, cached])
                let row = try tx.query(
                    """
                    INSERT INTO quarry.extraction_results (job_id, org_id, upload_id, cache_key, kind, summary, expires_at)
                    SELECT $1, org_id, upload_id, cache_key, kind,
                           summary || jsonb_build_object('cached', true, 'cached_from', $4::text),
                           now() + make_interval(hours => $3)
                    FROM quarry.extraction_results WHERE job_id = $2
                    RETURNING summary::text AS s
                    """, [jobID, cached, ttl, cached.uuidString.lowercased()]
                ).first
                return row?.string("s") ?? "{}"
            }
            let rows = (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["rows_total"] as? Int ?? 0
            return Summary(json: json, rows: rows)
        }

        var phases: [String: Int] = [:]
        var phaseStart = ContinuousClock.now
        // Spool the upload to a local file (constant memory, byte progress).
        let spool = settings.spoolDirectory + "/quarry-\(jobID.uuidString.lowercased())-\(upload.fileName.hashValue & 0xffff)"
        defer { try? FileManager.default.removeItem(atPath: spool) }
        progress.set(percent: 2, step: "Downloading file", stage: "reading", bytes: 0, bytesTotal: upload.sizeBytes, force: true)
        _ = try UploadSpool.copy(upload, to: spool, on: c, maxBytes: settings.maxFileBytes, isCancelled: isCancelled) { n in
            progress.set(
                percent: 2 + Int(8 * Double(n) / Double(max(upload.sizeBytes, 1))), step: "Downloading file",
                stage: "reading", bytes: n, bytesTotal: upload.sizeBytes)
        }
        func phaseDone(_ name: String) {
            let now = ContinuousClock.now
            phases[name] = Int((now - phaseStart).milliseconds)
            phaseStart = now
        }
        phaseDone("download")
        let format = try FormatDetector.detect(path: spool, fileName: upload.fileName)
        progress.set(percent: 10, step: "Parsing \(format.rawValue.uppercased())", stage: "parsing", force: true)

        var summary: [String: Any] = [
            "file_name": upload.fileName, "format": format.rawValue, "size_bytes": upload.sizeBytes, "sha256": upload.sha256,
            "cached": false,
        ]
        let resultKind: String
        var rowsOut = 0
        try c.execute("BEGIN")
        do {
            try Self.clear(jobID, on: c)
            if format.isTabular {
                resultKind = "tabular"
                var onlyRows: Set<Int>?
                if payload.onlyRejected, let old = payload.retryOf {
                    onlyRows = Set(
                        try c.query(
                            "SELECT row_number FROM quarry.result_rows WHERE job_id = $1 AND NOT valid", [old]
                        ).compactMap { $0.int("row_number") })
                }
                let pipeline = TabularPipeline(
                    jobID: jobID, orgID: job.orgID, config: config, format: format, path: spool, fileBytes: upload.sizeBytes,
                    limits: settings.limits, isCancelled: isCancelled, progress: progress, onlyRows: onlyRows)
                var outcome = try pipeline.run(on: c)
                phaseDone("parse_and_store")
                if payload.onlyRejected, let old = payload.retryOf {
                    // Keep the rows the first run accepted.
                    let kept = try c.query(
                        """
                        INSERT INTO quarry.result_rows (job_id, row_number, valid, sku, name, description, price, currency, quantity,
                            unit, category, brand, barcode, classification, old_price, extra, issues)
                        SELECT $1, row_number, valid, sku, name, description, price, currency, quantity, unit, category, brand,
                            barcode, classification, old_price, extra, issues FROM quarry.result_rows WHERE job_id = $2 AND valid
                        """, [jobID, old]
                    ).affectedRows
                    outcome.rowsTotal += kept
                    outcome.rowsValid += kept
                    summary["retry_of"] = old.uuidString.lowercased()
                    summary["rows_kept_from_previous_run"] = kept
                }
                progress.set(
                    percent: 86, step: "Validating products", stage: "validating",
                    rows: Int64(outcome.rowsTotal), rowsTotal: Int64(outcome.rowsTotal), force: true)
                let classes = try Self.classify(jobID: jobID, org: job.orgID, supplier: config.supplierId ?? "", on: c, isCancelled: isCancelled)
                phaseDone("classify")
                rowsOut = outcome.rowsTotal
                summary["rows_total"] = outcome.rowsTotal
                summary["rows_valid"] = outcome.rowsValid
                summary["rows_invalid"] = outcome.rowsInvalid
                summary["duplicates"] = outcome.duplicates
                summary["new"] = outcome.rowsValid - classes.updated - classes.unchanged
                summary["updated"] = classes.updated
                summary["unchanged"] = classes.unchanged
                summary["header_row"] = outcome.headerRow
                summary["issues_by_code"] = outcome.issueCounts
                summary["validation_mode"] = config.validationMode.rawValue
                if let m = outcome.mapping {
                    var used: [String: String] = [:]
                    for (field, index) in m.fieldToIndex where index < m.headers.count { used[field] = m.headers[index] }
                    summary["mapping"] = used
                    summary["unmapped_columns"] = m.unmapped.map(\.header)
                }
            } else {
                resultKind = "document"
                let doc = try DocumentPipeline.run(
                    jobID: jobID, format: format, path: spool, settings: settings, isCancelled: isCancelled, progress: progress, on: c)
                summary["page_count"] = doc.pageCount
                summary["word_count"] = doc.wordCount
                summary["section_count"] = doc.sections.count
                summary["paragraph_count"] = doc.paragraphs.count
                summary["paragraphs"] = Array(doc.paragraphs.prefix(200))
                rowsOut = doc.sections.count
                phaseDone("extract_and_store")
            }
            let elapsed = ContinuousClock.now - started
            let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            summary["duration_ms"] = Int(ms)
            summary["phases_ms"] = phases
            if let rows = summary["rows_total"] as? Int, ms > 0 { summary["rows_per_s"] = Int(Double(rows) / (ms / 1000)) }
            progress.set(percent: 97, step: "Saving results", stage: "saving", force: true)
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
            let json = String(decoding: data, as: UTF8.self)
            try c.query(
                """
                INSERT INTO quarry.extraction_results (job_id, org_id, upload_id, cache_key, kind, summary, expires_at)
                VALUES ($1, $2, $3, $4, $5, $6::jsonb, now() + make_interval(hours => $7))
                """, [jobID, job.orgID, upload.id, cacheKey, resultKind, JSONText(json), ttl])
            try c.execute("COMMIT")
            progress.set(percent: 100, step: "Completed", stage: "completed", force: true)
            return Summary(json: json, rows: rowsOut)
        } catch {
            if c.isHealthy { try? c.execute("ROLLBACK") }
            if let e = error as? PostgresError {
                throw JobError(.databaseError, e.description, retryable: e.isTransient || e.isConnectionLost)
            }
            throw error
        }
    }

    static func clear(_ jobID: UUID, on c: PostgresConnection) throws {
        try c.query("DELETE FROM quarry.result_rows WHERE job_id = $1", [jobID])
        try c.query("DELETE FROM quarry.result_sections WHERE job_id = $1", [jobID])
        try c.query("DELETE FROM quarry.extraction_results WHERE job_id = $1", [jobID])
    }

    /// Classifies valid rows against the org's catalog for the supplier, 500 SKUs per statement.
    /// Rows were written as `new`; only SKUs found in the catalog are updated.
    static func classify(jobID: UUID, org: UUID, supplier: String, on c: PostgresConnection, isCancelled: () -> Bool) throws -> (
        updated: Int, unchanged: Int
    ) {
        let hasCatalog =
            try c.query(
                "SELECT EXISTS (SELECT 1 FROM quarry.products WHERE org_id = $1 AND supplier_id = $2) AS e", [org, supplier]
            ).first?.bool("e") ?? false
        guard hasCatalog else { return (0, 0) }
        var updated = 0
        var unchanged = 0
        var after = 0
        while true {
            if isCancelled() { throw JobError.cancelledExtraction }
            let rows = try c.query(
                """
                WITH batch AS (
                    SELECT row_number, sku, price FROM quarry.result_rows
                    WHERE job_id = $1 AND valid AND row_number > $4 ORDER BY row_number LIMIT 500
                ), matched AS (
                    UPDATE quarry.result_rows r
                    SET classification = CASE WHEN p.price IS DISTINCT FROM b.price THEN 'updated' ELSE 'unchanged' END,
                        old_price = CASE WHEN p.price IS DISTINCT FROM b.price THEN p.price END
                    FROM batch b JOIN quarry.products p ON p.org_id = $2 AND p.supplier_id = $3 AND p.sku = b.sku
                    WHERE r.job_id = $1 AND r.row_number = b.row_number
                    RETURNING r.classification
                )
                SELECT (SELECT max(row_number) FROM batch) AS last,
                       (SELECT count(*) FROM matched WHERE classification = 'updated') AS updated,
                       (SELECT count(*) FROM matched WHERE classification = 'unchanged') AS unchanged
                """, [jobID, org, supplier, after]
            ).first
            guard let last = rows?.int("last") else { break }
            updated += rows?.int("updated") ?? 0
            unchanged += rows?.int("unchanged") ?? 0
            after = last
        }
        return (updated, unchanged)
    }

    static func cacheKey(upload: UploadRecord, config: Data, retryOf: UUID?) -> String {
        var h = SHA256()
        h.update(data: Data("quarry-extract-v1|\(upload.sha256)|\(upload.sizeBytes)|".utf8))
        h.update(data: config)
        if let retryOf { h.update(data: Data("|retry:\(retryOf.uuidString)".utf8)) }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
