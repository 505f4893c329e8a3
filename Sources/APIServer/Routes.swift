import Hummingbird

extension APIServer {
    /// The authorization matrix: every route with the rule the router enforces, in the order they are matched.
    /// Tests iterate over this table, so a route cannot be added without a rule.
    public static let routeRules: [RouteRule] = {
        var table: [Route] = []
        buildRoutes(into: &table)
        return table.map(\.rule)
    }()

    /// Every route the API serves, each with its role (required: there is no default) and, for `:id` paths,
    /// whose resources it reaches. Seed 000 paths first, then seed 002's `/api/jobs` aliases. Checks that depend
    /// on the query (monitor views other than `recent-jobs`, `dlq?all=true`) stay in the handlers.
    static func buildRoutes(into r: inout [Route]) {
        func add(
            _ m: HTTPRequest.Method, _ path: String, _ role: RouteRole, _ tenancy: RouteTenancy = .none, queryToken: Bool = false,
            timed: Bool = true, _ h: @escaping @Sendable (APIServer, Call) async throws -> Response
        ) {
            precondition(path.contains("/:") == (tenancy != .none), "\(path): a path naming a resource needs a tenancy, and only then")
            let rule = RouteRule(method: m.rawValue, path: path, role: role, tenancy: tenancy, queryToken: queryToken)
            r.append(Route(method: m, pattern: path.split(separator: "/").map(String.init), rule: rule, timed: timed, handler: h))
        }
        // Operations
        add(.get, "/", .open) { s, c in s.dashboard(c) }
        add(.get, "/healthz", .open) { _, _ in Envelope.ok(["status": "ok"]) }
        add(.get, "/readyz", .open) { s, c in try await s.readyz(c) }
        add(.get, "/metrics", .metrics) { s, c in try await s.prometheus(c) }
        // Uploads
        add(.post, "/api/uploads", .member, timed: false) { s, c in try await s.upload(c) }
        add(.get, "/api/uploads/:id/preview", .member, .ownOrg) { s, c in try await s.previewUpload(c) }
        // Jobs (seed 000)
        add(.post, "/api/extraction/jobs", .member) { s, c in try await s.createJob(c) }
        add(.get, "/api/extraction/jobs", .member) { s, c in try await s.listJobs(c) }
        add(.get, "/api/extraction/jobs/:id", .member, .ownOrg) { s, c in try await s.getJob(c) }
        add(.delete, "/api/extraction/jobs/:id", .member, .ownOrg) { s, c in try await s.cancelJob(c) }
        add(.post, "/api/extraction/jobs/:id/retry", .member, .ownOrg) { s, c in try await s.retryJob(c) }
        add(.get, "/api/extraction/jobs/:id/events", .member, .ownOrg, queryToken: true, timed: false) { s, c in try await s.jobEvents(c) }
        add(.get, "/api/extraction/jobs/:id/result", .member, .ownOrg, timed: false) { s, c in try await s.jobResult(c) }
        add(.post, "/api/extraction/jobs/:id/commit", .member, .ownOrg) { s, c in try await s.commitResult(c) }
        // Supplier workflow (issue 16)
        add(.get, "/api/extraction/jobs/:id/diff", .member, .ownOrg) { s, c in try await s.jobDiff(c) }
        add(.post, "/api/extraction/jobs/:id/review", .member, .ownOrg) { s, c in try await s.reviewResult(c) }
        add(.get, "/api/extraction/jobs/:id/rejects", .member, .ownOrg, timed: false) { s, c in try await s.jobRejects(c) }
        add(.get, "/api/suppliers/:supplier_id/profile", .member, .ownOrg) { s, c in try await s.getSupplierProfile(c) }
        add(.put, "/api/suppliers/:supplier_id/profile", .member, .ownOrg) { s, c in try await s.putSupplierProfile(c) }
        // DLQ
        add(.get, "/api/extraction/dlq", .member) { s, c in try await s.listDLQ(c) }
        add(.post, "/api/extraction/dlq/:id/reprocess", .member, .ownOrgOrAdmin) { s, c in try await s.reprocessDLQ(c) }
        // Monitor (views other than recent-jobs are refused to members by the handler)
        add(.get, "/api/extraction/monitor", .member) { s, c in try await s.monitor(c) }
        // Cron trigger (seed 001 option B)
        add(.post, "/api/worker/process", .admin, timed: false) { s, c in try await s.processBatch(c) }
        // Seed 002 aliases
        add(.get, "/api/jobs", .member) { s, c in try await s.listJobs(c) }
        add(.get, "/api/jobs/stats", .member) { s, c in try await s.jobStats(c) }
        add(.get, "/api/jobs/health", .admin) { s, c in try await s.jobsHealth(c) }  // fleet-wide, as monitor?view=health
        add(.get, "/api/jobs/:id", .member, .ownOrg) { s, c in try await s.getJob(c) }
        add(.get, "/api/jobs/:id/progress", .member, .ownOrg) { s, c in try await s.getProgress(c) }
        add(.post, "/api/jobs/:id/retry", .member, .ownOrg) { s, c in try await s.retryJob(c) }
        add(.post, "/api/jobs/:id/cancel", .member, .ownOrg) { s, c in try await s.cancelJob(c) }
    }
}
