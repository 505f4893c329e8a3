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
        // Subscribe before reading the current state so nothing between the two is missed.
        let stream = events.subscribe(id)
        guard let first = try await jobRow(id, org: org) else { throw APIError.notFound("job not found") }
        await audit(c, action: "job.events", target: id.uuidString.lowercased())
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let heartbeat = config.sseHeartbeat
        let body = ResponseBody { [self] writer in
            func send(_ event: String, _ json: String) async throws {
                try await writer.write(ByteBuffer(string: "event: \(event)\ndata: \(json)\n\n"))
            }
            try await send("status", first.json)
            if JobStatus(rawValue: first.status)?.isFinal == true {
                try await writer.finish(nil)
                return
            }
            let ticker = Task {
                while !Task.isCancelled {
                    try await Task.sleep(for: heartbeat)
                    events.poke(id)
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

extension EventHub {
    /// Wakes one job's subscribers with a heartbeat.
    func poke(_ job: UUID) { deliver(job, .heartbeat) }
}
