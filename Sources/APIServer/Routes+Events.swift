import APIAuth
import Foundation
import Hummingbird
import Models
import NIOCore
import Queue
import Storage

extension APIServer {
    /// `GET /api/extraction/jobs/:id/events`: Server-Sent Events for one job, fed by the shared listener.
    func jobEvents(_ c: Call) async throws -> Response {
        let id = try c.uuid("id")
        let org = c.who.orgID
        // Keyed by the token's id: the header, another spelling of it and ?access_token= all count together.
        guard let slot = streams.acquire(c.who.tokenID) else {
            throw APIError(
                status: .tooManyRequests, code: "RATE_LIMITED",
                message: "this token already has \(streams.perToken) open event streams (API_SSE_MAX_STREAMS_PER_TOKEN)",
                retryAfterSeconds: 5)
        }
        // Subscribe before reading the current state so nothing between the two is missed.
        let subscription = events.subscribe(id)
        let stream = subscription.stream
        guard let first = try await jobRow(id, org: org) else { throw APIError.notFound("job not found") }
        await audit(c, action: "job.events", target: id.uuidString.lowercased())
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let heartbeat = config.sseHeartbeat
        let body = ResponseBody { [self] writer in
            defer { withExtendedLifetime(slot) {} }  // the slot is held until the stream ends
            func send(_ event: String, _ json: String) async throws {
                try await writer.write(ByteBuffer(string: "event: \(event)\ndata: \(json)\n\n"))
            }
            try await send("status", first.json)
            if JobStatus(rawValue: first.status)?.isFinal == true {
                try await writer.finish(nil)
                return
            }
            // This stream's own heartbeat, into its own subscription only (not to every subscriber of the job).
            let ticker = Task { [continuation = subscription.continuation] in
                while !Task.isCancelled {
                    try await Task.sleep(for: heartbeat)
                    continuation.yield(.heartbeat)
                }
            }
            defer { ticker.cancel() }
            var lastJSON = first.json
            for await event in stream {
                switch event {
                case .heartbeat:
                    try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                    continue
                case .job, .resync:
                    guard let row = try await jobRow(id, org: org) else { break }
                    let final = JobStatus(rawValue: row.status)?.isFinal == true
                    let name: String = if case .job("progress") = event, !final { "progress" } else { "status" }
                    if row.json != lastJSON || final {
                        try await send(name, row.json)
                        lastJSON = row.json
                    }
                    if final { break }
                    continue
                }
                break
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}
