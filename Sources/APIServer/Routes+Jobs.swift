import APIAuth
import Foundation
import Hummingbird
import JobConfig
import Models
import Postgres
import Queue
import Storage

extension APIServer {
    /// The job JSON (seed 000's shape, widened), built by SQL over `quarry.jobs j`.
    static let jobJSON = """
        jsonb_build_object(
            'job_id', j.id, 'status', j.status, 'kind', j.kind, 'priority', j.priority, 'attempt', j.attempt,
            'max_attempts', j.max_attempts, 'created_at', j.created_at, 'started_at', j.started_at,
            'completed_at', j.completed_at,
            'upload_id', coalesce(j.upload_id::text, j.payload->>'upload_id'),
            'retry_of', j.payload->>'retry_of', 'reprocessed_from', j.reprocessed_from,
            'progress', jsonb_build_object('percent_complete', 0, 'current_step', j.status, 'rows_processed', 0,
                                           'rows_total', NULL, 'estimated_remaining_ms', NULL)
                || coalesce(j.progress, '{}'::jsonb)
                || jsonb_build_object(
                    'elapsed_ms', CASE WHEN j.started_at IS NULL THEN 0
                        ELSE greatest(0, (extract(epoch FROM coalesce(j.completed_at, now()) - j.started_at) * 1000))::bigint END)
                || CASE WHEN j.status = 'completed'
                        THEN jsonb_build_object('percent_complete', 100, 'estimated_remaining_ms', 0) ELSE '{}'::jsonb END,
            'error', CASE WHEN j.error IS NULL THEN NULL ELSE jsonb_build_object(
                'code', j.error->>'code', 'message', j.error->>'message',
                'retryable', coalesce((j.error->>'retryable')::boolean, false)) END)
        """

    /// Checks a job's `config` with the decoder the worker runs (`ExtractionConfig.decode(json:)`), so the api
    /// accepts exactly the configs a worker can run.
    ///
    /// - Parameter value: the body's `config` member (absent and `null` mean the defaults).
    /// - Returns: the config as the client gave it (`{}` when absent): the worker decodes it again, and its
    ///   result cache key hashes it, so the decoded (normalized) form is not what is stored.
    /// - Throws: `APIError` 400 `INVALID_REQUEST` when `config` is not an object, 400 `INVALID_CONFIG` with the
    ///   decoder's message and details (`field`, …) when the worker would refuse it.
    static func checkedConfig(_ value: JSONValue?) throws -> JSONValue {
        guard let value, !value.isNull else { return .object([:]) }
        guard case .object = value else { throw APIError.badRequest("'config' must be an object") }
        do {
            // The bytes checked are the bytes stored in the payload (same encoding).
            _ = try ExtractionConfig.decode(json: Data(value.jsonText.utf8))
        } catch let error where error.code == .invalidConfig {
            throw APIError.invalidConfig(error.message, details: error.details)
        }
        return value
    }

    /// Queue position (1 = next) and a wait estimate for a queued job.
    func position(of id: UUID) async throws -> (position: Int, waitMs: Int) {
        let r = try await pool.query(
            """
            WITH me AS (SELECT id, kind, priority, run_at FROM quarry.jobs WHERE id = $1)
            SELECT (SELECT count(*) FROM quarry.jobs q, me WHERE q.status = 'queued' AND q.kind = me.kind
                      AND (q.priority > me.priority OR (q.priority = me.priority AND (q.run_at, q.id) < (me.run_at, me.id)))) AS ahead,
                   (SELECT avg(duration_ms) FROM quarry.job_metrics
                     WHERE status = 'completed' AND created_at > now() - interval '1 hour') AS avg_ms,
                   (SELECT coalesce(sum(concurrency), 0) FROM quarry.workers
                     WHERE stopped_at IS NULL AND last_seen > now() - interval '30 seconds') AS slots
            """, [id]
        ).first
        let ahead = r?.int("ahead") ?? 0
        let avg = r?.double("avg_ms") ?? Double(config.defaultJobDuration.components.seconds * 1000)
        let slots = max(1, r?.int("slots") ?? 0)
        return (ahead + 1, Int((avg * Double(ahead) / Double(slots)).rounded()))
    }

    // MARK: Create

    func createJob(_ c: Call) async throws -> Response {
        let body = try JSONBody.parseObject(try await c.body(limit: config.maxJSONBytes), allowed: ["upload_id", "config", "priority"])
        guard let raw = try JSONBody.string(body["upload_id"], field: "upload_id") else {
            throw APIError.badRequest("'upload_id' is required")
        }
        guard let uploadID = UUID(uuidString: raw) else { throw APIError.badRequest("'upload_id' is not a valid UUID") }
        let cfg = try Self.checkedConfig(body["config"])
        let priority = try JSONBody.int(body["priority"], field: "priority", range: -1000...1000) ?? 0
        try checkPriorityCeiling(priority, c.who)
        guard try await files.info(uploadID: uploadID, org: c.who.orgID) != nil else {
            throw APIError.notFound("upload \(uploadID.uuidString.lowercased()) not found")
        }
        let payload = JSONValue.object(["upload_id": .string(uploadID.uuidString.lowercased()), "config": cfg]).jsonText
        let id = try await jobs.enqueue(org: c.who.orgID, kind: "extract", payload: payload, priority: priority, uploadID: uploadID)
        let pos = try await position(of: id)
        await audit(c, action: "job.create", target: id.uuidString.lowercased(), details: ["upload_id": uploadID.uuidString.lowercased()])
        return Envelope.ok(
            ["job_id": id.uuidString.lowercased(), "position": pos.position, "estimated_wait_ms": pos.waitMs, "status": "queued"],
            status: .created)
    }

    // MARK: Read

    /// A job's JSON and status as `org` sees it (nil: no such job, or another org's), through the batch loader.
    func jobRow(_ id: UUID, org: UUID) async throws -> JobSnapshot? {
        try await jobReader.load(JobKey(id: id, org: org))
    }

    func getJob(_ c: Call) async throws -> Response {
        let id = try c.uuid("id")
        guard let job = try await jobRow(id, org: c.who.orgID) else { throw APIError.notFound("job not found") }
        return Envelope.raw(job.json)
    }

    /// One job as the API shows it, plus its status (the SSE stream ends on a final one).
    struct JobSnapshot: Sendable {
        var json: String
        var status: String
    }

    /// A job as one org sees it (another org's job is "not found").
    struct JobKey: Hashable, Sendable {
        var id: UUID
        var org: UUID
    }

    /// `GET /api/extraction/jobs/:id` (the route clients poll) and every SSE stream's re-read after a
    /// NOTIFY: concurrent reads share one statement.
    static func makeJobReader(pool: PostgresPool) -> PostgresBatchLoader<JobKey, JobSnapshot> {
        PostgresBatchLoader(pool: pool) { connection, keys in
            let rows = try connection.query(
                "SELECT j.id, j.org_id, j.status, \(jobJSON)::text AS job FROM quarry.jobs j WHERE j.id = ANY($1::uuid[])",
                [keys.map(\.id)], prepare: true)
            var out: [JobKey: JobSnapshot] = [:]
            for r in rows {
                guard let id = r.uuid("id"), let org = r.uuid("org_id"), let json = r.string("job") else { continue }
                out[JobKey(id: id, org: org)] = JobSnapshot(json: json, status: r.string("status") ?? "")
            }
            return out
        }
    }

    func getProgress(_ c: Call) async throws -> Response {
        let id = try c.uuid("id")
        let r = try await pool.query(
            "SELECT jsonb_build_object('job_id', j.id, 'status', j.status, 'progress', (\(Self.jobJSON))->'progress')::text AS p FROM quarry.jobs j WHERE j.id = $1 AND j.org_id = $2",
            [id, c.who.orgID]
        ).first
        guard let p = r?.string("p") else { throw APIError.notFound("job not found") }
        return Envelope.raw(p)
    }

    func listJobs(_ c: Call) async throws -> Response {
        let status = c.query("status").flatMap { $0.isEmpty ? nil : $0 }
        if let status, JobStatus(rawValue: status) == nil {
            throw APIError.badRequest("'status' must be one of \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let kind = c.query("kind").flatMap { $0.isEmpty ? nil : $0 }
        let limit = try c.intQuery("limit", default: 20, range: 1...100)
        var after: (String, UUID)?
        if let cursor = c.query("cursor"), !cursor.isEmpty {
            guard let decoded = Cursor.decode(cursor), decoded.count == 2, let id = UUID(uuidString: decoded[1]) else {
                throw APIError.badRequest("invalid cursor")
            }
            after = (decoded[0], id)
        }
        let rows = try await pool.query(
            """
            SELECT \(Self.jobJSON)::text AS job, j.created_at::text AS c, j.id
            FROM quarry.jobs j
            WHERE j.org_id = $1 AND ($2::text IS NULL OR j.status = $2) AND ($3::text IS NULL OR j.kind = $3)
              AND ($4::timestamptz IS NULL OR (j.created_at, j.id) < ($4::timestamptz, $5::uuid))
            ORDER BY j.created_at DESC, j.id DESC
            LIMIT $6
            """, [c.who.orgID, status, kind, after?.0, after?.1, limit + 1])
        let page = Array(rows.prefix(limit))
        var next = "null"
        if rows.count > limit, let last = page.last, let ts = last.string("c"), let id = last.string("id") {
            next = Envelope.encode(Cursor.encode([ts, id]))
        }
        let list = page.compactMap { $0.string("job") }.joined(separator: ",")
        return Envelope.raw("{\"jobs\":[\(list)],\"next_cursor\":\(next)}")
    }

    // MARK: Cancel and retry

    func cancelJob(_ c: Call) async throws -> Response {
        let id = try c.uuid("id")
        // quarry.cancel answers a job's final status as is ('cancelled' included), so look first:
        // only a call that moved the job reports cancelled=true.
        let current = try await pool.query("SELECT status FROM quarry.jobs WHERE id = $1 AND org_id = $2", [id, c.who.orgID]).first?.string("status")
        guard let current else { throw APIError.notFound("job not found") }
        if JobStatus(rawValue: current)?.isFinal == true {
            return Envelope.ok(["job_id": id.uuidString.lowercased(), "cancelled": false, "status": current])
        }
        let outcome = try await jobs.cancel(id: id, org: c.who.orgID)
        if outcome == "not_found" { throw APIError.notFound("job not found") }
        await audit(c, action: "job.cancel", target: id.uuidString.lowercased(), details: ["outcome": outcome])
        let cancelled = outcome == "cancelled" || outcome == "cancelling"
        return Envelope.ok(["job_id": id.uuidString.lowercased(), "cancelled": cancelled, "status": outcome])
    }

    func retryJob(_ c: Call) async throws -> Response {
        let id = try c.uuid("id")
        let body = try JSONBody.parseObject(try await c.body(limit: config.maxJSONBytes), allowed: ["config", "only_rejected"])
        let onlyRejected = try JSONBody.bool(body["only_rejected"], field: "only_rejected") ?? false
        let newConfig: JSONValue? = body["config"].map { $0.isNull ? nil : $0 } ?? nil
        let validated = try newConfig.map { try Self.checkedConfig($0) }
        let r = try await pool.query(
            "SELECT status, kind, priority, upload_id, payload::text AS payload FROM quarry.jobs WHERE id = $1 AND org_id = $2",
            [id, c.who.orgID]
        ).first
        guard let r, let status = r.string("status").flatMap(JobStatus.init(rawValue:)) else { throw APIError.notFound("job not found") }
        guard status.isFinal else { throw APIError.conflict("job is \(status.rawValue); only finished jobs can be retried") }
        let old = (try? JSONDecoder().decode(JSONValue.self, from: Data((r.string("payload") ?? "{}").utf8))) ?? .object([:])
        guard case .object(var payload) = old else { throw APIError.conflict("job payload is not an object") }
        if let validated { payload["config"] = validated }
        if payload["config"] == nil { payload["config"] = .object([:]) }
        if validated == nil, (r.string("kind") ?? "extract") == "extract" {
            // The stored config was checked by the rules of its day; a retry runs under today's, so it is checked
            // again here rather than dead-lettered by the worker.
            do { _ = try Self.checkedConfig(payload["config"]) } catch let error as APIError {
                throw APIError.invalidConfig(
                    "the job's stored config is not valid any more (\(error.message)); retry with a new \"config\"",
                    details: error.details)
            }
        }
        let uploadID = r.uuid("upload_id") ?? payload["upload_id"].flatMap { if case .string(let s) = $0 { UUID(uuidString: s) } else { nil } }
        if let uploadID { payload["upload_id"] = .string(uploadID.uuidString.lowercased()) }
        payload["retry_of"] = .string(id.uuidString.lowercased())
        payload["only_rejected"] = .bool(onlyRejected)
        let newID = try await jobs.enqueue(
            org: c.who.orgID, kind: r.string("kind") ?? "extract", payload: JSONValue.object(payload).jsonText,
            priority: r.int("priority") ?? 0, uploadID: uploadID)
        let pos = try await position(of: newID)
        await audit(
            c, action: "job.retry", target: newID.uuidString.lowercased(),
            details: ["retry_of": id.uuidString.lowercased(), "only_rejected": onlyRejected])
        return Envelope.ok(
            [
                "job_id": newID.uuidString.lowercased(), "retry_of": id.uuidString.lowercased(), "only_rejected": onlyRejected,
                "position": pos.position, "estimated_wait_ms": pos.waitMs, "status": "queued",
            ], status: .created)
    }

    // MARK: Seed 002 stats and health

    func jobStats(_ c: Call) async throws -> Response {
        let r = try await pool.query(
            """
            SELECT jsonb_build_object(
              'by_status', (SELECT coalesce(jsonb_object_agg(status, n), '{}'::jsonb)
                            FROM (SELECT status, count(*) AS n FROM quarry.jobs WHERE org_id = $1 GROUP BY status) s),
              'by_kind', (SELECT coalesce(jsonb_object_agg(kind, n), '{}'::jsonb)
                          FROM (SELECT kind, count(*) AS n FROM quarry.jobs WHERE org_id = $1 GROUP BY kind) k),
              'completed_24h', (SELECT count(*) FROM quarry.job_metrics WHERE org_id = $1 AND status = 'completed' AND created_at > now() - interval '24 hours'),
              'failed_24h', (SELECT count(*) FROM quarry.job_metrics WHERE org_id = $1 AND status IN ('failed','dead_lettered') AND created_at > now() - interval '24 hours'),
              'avg_duration_ms_24h', (SELECT coalesce(round(avg(duration_ms)), 0) FROM quarry.job_metrics WHERE org_id = $1 AND status = 'completed' AND created_at > now() - interval '24 hours'),
              'avg_queue_ms_24h', (SELECT coalesce(round(avg(extract(epoch FROM started_at - created_at) * 1000)), 0) FROM quarry.jobs WHERE org_id = $1 AND started_at IS NOT NULL AND created_at > now() - interval '24 hours')
            )::text AS s
            """, [c.who.orgID])
        return Envelope.raw(r.first?.string("s") ?? "{}")
    }

    func jobsHealth(_ c: Call) async throws -> Response {
        try await Envelope.raw(healthJSON())
    }
}

/// Opaque pagination cursors: base64url of `|`-joined fields.
enum Cursor {
    static func encode(_ fields: [String]) -> String {
        Data(fields.joined(separator: "|").utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ s: String) -> [String]? {
        var b = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b.count % 4 != 0 { b += "=" }
        guard let d = Data(base64Encoded: b), let text = String(data: d, encoding: .utf8) else { return nil }
        return text.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
    }
}
