import Hummingbird

extension APIServer {
    /// Every route the API serves. Seed 000 paths first, then seed 002's `/api/jobs` aliases.
    static func buildRoutes(into r: inout [Route]) {
        func add(
            _ m: HTTPRequest.Method, _ path: String, _ access: Route.Access = .token, timed: Bool = true,
            _ h: @escaping @Sendable (APIServer, Call) async throws -> Response
        ) {
            r.append(Route(method: m, pattern: path.split(separator: "/").map(String.init), name: path, access: access, timed: timed, handler: h))
        }
        // Operations
        add(.get, "/", .open) { s, c in s.dashboard(c) }
        add(.get, "/healthz", .open) { _, _ in Envelope.ok(["status": "ok"]) }
        add(.get, "/readyz", .open) { s, c in try await s.readyz(c) }
        add(.get, "/metrics", .open) { s, c in try await s.prometheus(c) }
        // Uploads
        add(.post, "/api/uploads", timed: false) { s, c in try await s.upload(c) }
        // Jobs (seed 000)
        add(.post, "/api/extraction/jobs") { s, c in try await s.createJob(c) }
        add(.get, "/api/extraction/jobs") { s, c in try await s.listJobs(c) }
        add(.get, "/api/extraction/jobs/:id") { s, c in try await s.getJob(c) }
        add(.delete, "/api/extraction/jobs/:id") { s, c in try await s.cancelJob(c) }
        add(.post, "/api/extraction/jobs/:id/retry") { s, c in try await s.retryJob(c) }
        add(.get, "/api/extraction/jobs/:id/events", .tokenOrQuery, timed: false) { s, c in try await s.jobEvents(c) }
        add(.get, "/api/extraction/jobs/:id/result", timed: false) { s, c in try await s.jobResult(c) }
        add(.post, "/api/extraction/jobs/:id/commit") { s, c in try await s.commitResult(c) }
        // DLQ
        add(.get, "/api/extraction/dlq") { s, c in try await s.listDLQ(c) }
        add(.post, "/api/extraction/dlq/:id/reprocess") { s, c in try await s.reprocessDLQ(c) }
        // Monitor
        add(.get, "/api/extraction/monitor") { s, c in try await s.monitor(c) }
        // Cron trigger (seed 001 option B)
        add(.post, "/api/worker/process", timed: false) { s, c in try await s.processBatch(c) }
        // Seed 002 aliases
        add(.get, "/api/jobs") { s, c in try await s.listJobs(c) }
        add(.get, "/api/jobs/stats") { s, c in try await s.jobStats(c) }
        add(.get, "/api/jobs/health") { s, c in try await s.jobsHealth(c) }
        add(.get, "/api/jobs/:id") { s, c in try await s.getJob(c) }
        add(.get, "/api/jobs/:id/progress") { s, c in try await s.getProgress(c) }
        add(.post, "/api/jobs/:id/retry") { s, c in try await s.retryJob(c) }
        add(.post, "/api/jobs/:id/cancel") { s, c in try await s.cancelJob(c) }
    }
}
