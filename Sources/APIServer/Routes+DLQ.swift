import APIAuth
import Foundation
import Hummingbird
import Postgres
import Queue
import Storage

extension APIServer {
    func listDLQ(_ c: Call) async throws -> Response {
        let all = try c.boolQuery("all")
        if all && !c.who.isAdmin { throw APIError.forbidden("the fleet-wide DLQ needs an admin token") }
        let includeReprocessed = try c.boolQuery("include_reprocessed")
        let limit = try c.intQuery("limit", default: 50, range: 1...500)
        let rows = try await pool.query(
            """
            SELECT coalesce(jsonb_agg(e ORDER BY e.created_at DESC), '[]'::jsonb)::text AS list FROM (
                SELECT dlq_id, job_id, org_id, kind, upload_id, priority, retry_count, error_code, error_message,
                       error_details, created_at, reprocessed_at, reprocessed_by, reprocess_notes, reprocessed_job_id,
                       (extract(epoch FROM now() - created_at) / 60)::int AS age_minutes
                FROM quarry.dead_letter_jobs
                WHERE ($1 OR org_id = $2) AND ($3 OR reprocessed_at IS NULL)
                ORDER BY created_at DESC LIMIT $4
            ) e
            """, [all, c.who.orgID, includeReprocessed, limit])
        let count =
            try await pool.query(
                "SELECT count(*) AS n FROM quarry.dead_letter_jobs WHERE ($1 OR org_id = $2) AND reprocessed_at IS NULL",
                [all, c.who.orgID]
            ).first?.int("n") ?? 0
        return Envelope.raw("{\"entries\":\(rows.first?.string("list") ?? "[]"),\"pending\":\(count)}")
    }

    func reprocessDLQ(_ c: Call) async throws -> Response {
        let id = try c.uuid("id")
        let body = try JSONBody.parseObject(try await c.body(limit: config.maxJSONBytes), allowed: ["notes"])
        let notes = try JSONBody.string(body["notes"], field: "notes")
        let by = "token:\(c.who.name) (\(c.who.tokenID.uuidString.lowercased()))"
        do {
            let newID = try await jobs.reprocessDLQ(dlqID: id, by: by, notes: notes, org: c.who.isAdmin ? nil : c.who.orgID)
            await audit(c, action: "dlq.reprocess", target: id.uuidString.lowercased(), details: ["new_job_id": newID.uuidString.lowercased()])
            return Envelope.ok(["dlq_id": id.uuidString.lowercased(), "new_job_id": newID.uuidString.lowercased()], status: .created)
        } catch let e as PostgresError where e.sqlState == "P0002" {
            throw APIError.notFound("DLQ entry not found")
        } catch let e as PostgresError where e.sqlState == "P0003" {
            throw APIError.conflict("DLQ entry was already reprocessed")
        }
    }
}
