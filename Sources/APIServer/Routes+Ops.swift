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

    /// `GET /metrics`: the background-refreshed gauges plus this process's own counters (no query per scrape).
    func prometheus(_ c: Call) async throws -> Response {
        if self.gauges.snapshot.refreshes == 0 { await self.gauges.refresh() }  // only until the first refresh lands
        let gauges = self.gauges.snapshot
        var out = gauges.text
        out += "# HELP quarry_api_gauge_refreshes_total Database reads of the gauges above by this process.\n"
        out += "# TYPE quarry_api_gauge_refreshes_total counter\nquarry_api_gauge_refreshes_total \(gauges.refreshes)\n"
        out +=
            "# HELP quarry_api_sse_subscribers Open event streams.\n# TYPE quarry_api_sse_subscribers gauge\nquarry_api_sse_subscribers \(events.subscriberCount)\n"
        out += metrics.render()
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: out)))
    }

    func dashboard(_ c: Call) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: DashboardPage.html)))
    }
}
