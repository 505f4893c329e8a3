import APIAuth
import Foundation
import Hummingbird
import NIOCore
import Postgres
import Queue
import Storage

extension APIServer {
    func readyz(_ c: Call) async throws -> Response {
        do {
            let pending = try await pool.withConnection { [migrations] conn -> [Int] in
                _ = try conn.query("SELECT 1")
                return try migrations?.pending(on: conn) ?? []
            }
            if !pending.isEmpty {
                return Envelope.error(
                    .init(
                        status: .serviceUnavailable, code: "NOT_READY",
                        message: "pending migrations: \(pending.map(String.init).joined(separator: ", "))"))
            }
            return Envelope.ok(["status": "ready"])
        } catch {
            return Envelope.error(.init(status: .serviceUnavailable, code: "NOT_READY", message: "database unreachable"))
        }
    }

    func prometheus(_ c: Call) async throws -> Response {
        var out = ""
        do {
            let byStatus = try await pool.query("SELECT status, kind, count(*) AS n FROM quarry.jobs GROUP BY status, kind ORDER BY 1, 2")
            out += "# HELP quarry_jobs Jobs by status and kind.\n# TYPE quarry_jobs gauge\n"
            for r in byStatus {
                out += "quarry_jobs{status=\"\(r["status"] ?? "")\",kind=\"\(Self.label(r["kind"] ?? ""))\"} \(r["n"] ?? "0")\n"
            }
            let dlq = try await pool.query("SELECT count(*) AS n FROM quarry.dead_letter_jobs WHERE reprocessed_at IS NULL").first?.int("n") ?? 0
            out += "# HELP quarry_dlq_pending Dead-letter entries not yet reprocessed.\n# TYPE quarry_dlq_pending gauge\nquarry_dlq_pending \(dlq)\n"
            let recent = try await pool.query(
                "SELECT status, count(*) AS n FROM quarry.job_metrics WHERE created_at > now() - interval '5 minutes' GROUP BY status ORDER BY 1")
            out += "# HELP quarry_jobs_finished_5m Job outcomes in the last 5 minutes.\n# TYPE quarry_jobs_finished_5m gauge\n"
            for r in recent { out += "quarry_jobs_finished_5m{status=\"\(r["status"] ?? "")\"} \(r["n"] ?? "0")\n" }
            out += "# HELP quarry_api_up Whether the database answered.\n# TYPE quarry_api_up gauge\nquarry_api_up 1\n"
        } catch {
            out += "# TYPE quarry_api_up gauge\nquarry_api_up 0\n"
        }
        out +=
            "# HELP quarry_api_sse_subscribers Open event streams.\n# TYPE quarry_api_sse_subscribers gauge\nquarry_api_sse_subscribers \(events.subscriberCount)\n"
        out += metrics.render()
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: out)))
    }

    static func label(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: " ")
    }

    func dashboard(_ c: Call) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: DashboardPage.html)))
    }
}
