import APIAuth
public import Foundation
public import Hummingbird
public import Logging
import NIOCore
public import Postgres
public import Queue
public import ServiceLifecycle
import Storage

/// The request context: Hummingbird's core storage plus the peer address (for the audit log).
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }
}

/// One matched request, as handlers see it.
struct Call: Sendable {
    let request: Request
    let context: APIRequestContext
    let params: [String: String]
    let principal: APIPrincipal?

    /// The authenticated caller (routes under `/api` always have one).
    var who: APIPrincipal { principal! }

    func query(_ name: String) -> String? {
        request.uri.queryParameters[Substring(name)].map(String.init)
    }

    func uuid(_ name: String) throws -> UUID {
        guard let raw = params[name], let id = UUID(uuidString: raw) else {
            throw APIError.badRequest("'\(name)' is not a valid UUID")
        }
        return id
    }

    func intQuery(_ name: String, default def: Int, range: ClosedRange<Int>) throws -> Int {
        guard let raw = query(name), !raw.isEmpty else { return def }
        guard let v = Int(raw), range.contains(v) else {
            throw APIError.badRequest("'\(name)' must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    func boolQuery(_ name: String) throws -> Bool {
        switch query(name)?.lowercased() {
        case nil, "", "false", "0": return false
        case "true", "1": return true
        default: throw APIError.badRequest("'\(name)' must be true or false")
        }
    }

    /// Collects a JSON body up to `limit` bytes (413 beyond).
    func body(limit: Int) async throws -> [UInt8] {
        if let len = request.headers[.contentLength].flatMap(Int.init), len > limit {
            throw APIError.tooLarge("JSON bodies are limited to \(limit) bytes")
        }
        var out: [UInt8] = []
        for try await buffer in request.body {
            if out.count + buffer.readableBytes > limit { throw APIError.tooLarge("JSON bodies are limited to \(limit) bytes") }
            out.append(contentsOf: buffer.readableBytesView)
        }
        return out
    }
}

/// Who may call a route: one cell of the authorization matrix (`APIServer.routeRules`).
public enum RouteRole: String, Sendable, CaseIterable {
    /// No credentials (probes, the dashboard page).
    case open
    /// Open unless `METRICS_TOKEN` is set, then that token only.
    case metrics
    /// Any valid token; what it reaches is scoped by ``RouteTenancy``.
    case member
    /// Admin tokens only (403 for members).
    case admin
}

/// Which org's resource a `:id` in the path may name.
public enum RouteTenancy: String, Sendable {
    /// The path names no resource.
    case none
    /// Only the caller's org's (another org's is 404, admins included).
    case ownOrg
    /// The caller's org's; admins reach every org's.
    case ownOrgOrAdmin
}

/// One row of the authorization matrix: a route and the rule the router enforces for it.
public struct RouteRule: Sendable, Hashable {
    public let method: String
    /// The path pattern; `:name` segments capture.
    public let path: String
    public let role: RouteRole
    public let tenancy: RouteTenancy
    /// Whether `?access_token=` is accepted in place of the header (event streams, for `EventSource`).
    public let queryToken: Bool
}

/// A route: its rule, path pattern, and how it runs.
struct Route: Sendable {
    let method: HTTPRequest.Method
    let pattern: [String]
    let rule: RouteRule
    /// Streaming routes (uploads, SSE, CSV) are not bounded by the request timeout.
    let timed: Bool
    let handler: @Sendable (APIServer, Call) async throws -> Response

    var name: String { rule.path }

    func match(_ parts: [Substring]) -> [String: String]? {
        guard parts.count == pattern.count else { return nil }
        var params: [String: String] = [:]
        for (p, s) in zip(pattern, parts) {
            if p.hasPrefix(":") {
                params[String(p.dropFirst())] = s.contains("%") ? (s.removingPercentEncoding ?? String(s)) : String(s)
            } else if p != s {
                return nil
            }
        }
        return params
    }
}

/// The HTTP API: routing, authentication, tenancy, rate limits, metrics, and the handlers.
public final class APIServer: Sendable {
    let config: APIConfiguration
    let pool: PostgresPool
    let jobs: JobStore
    let files: PostgresFileStore
    let events: EventHub
    let metrics = RequestMetrics()
    let limiter: RateLimiter<UUID>
    /// Unauthenticated or unverified requests per client address, in front of authentication.
    let anonLimiter: RateLimiter<String>
    let failedAuth: FailedAuthAudit
    let streams: StreamSlots
    let tokenCache: TokenCache
    let migrations: MigrationRunner?
    let logger: Logger
    let routes: [Route]
    let batchProcessor: BatchProcessor?
    let jobReader: PostgresBatchLoader<JobKey, JobSnapshot>
    let watchdog = RequestWatchdog()
    let gauges: MetricsGauges

    /// - Parameter batchProcessor: runs one batch of jobs in-request for `POST /api/worker/process`.
    public init(
        configuration: APIConfiguration, pool: PostgresPool, migrations: MigrationRunner?, logger: Logger,
        batchProcessor: BatchProcessor? = nil
    ) {
        self.batchProcessor = batchProcessor
        self.config = configuration
        self.pool = pool
        self.jobs = JobStore(pool: pool)
        self.files = PostgresFileStore(pool: pool)
        self.jobReader = Self.makeJobReader(pool: pool)
        self.events = EventHub(
            listener: PostgresListener(conninfo: configuration.databaseURL, channels: ["quarry_events"], logger: logger),
            logger: logger)
        self.limiter = RateLimiter(perMinute: configuration.rateLimitPerMinute)
        self.anonLimiter = RateLimiter(perMinute: configuration.anonRateLimitPerMinute)
        self.failedAuth = FailedAuthAudit(pool: pool, logger: logger)
        self.streams = StreamSlots(perToken: configuration.sseMaxStreamsPerToken)
        self.tokenCache = TokenCache(ttl: configuration.tokenCacheTTL)
        self.migrations = migrations
        self.logger = logger
        self.gauges = MetricsGauges(pool: pool, interval: configuration.metricsRefresh, logger: logger)
        var table: [Route] = []
        Self.buildRoutes(into: &table)
        self.routes = table
    }

    /// The Hummingbird application plus the shared NOTIFY listener, as services.
    public func services() -> [any Service] {
        let responder = CallbackResponder<APIRequestContext> { [self] request, context in
            await self.respond(request, context)
        }
        let app = Application(
            responder: responder,
            server: .http1(configuration: .init(idleTimeout: .seconds(75))),
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "quarry-api"),
            logger: logger)
        // Graceful shutdown runs in reverse: the server drains first, the watchdog still timing its requests out.
        return [WatchdogService(watchdog: watchdog), failedAuth, gauges, events, app]
    }

    // MARK: Dispatch

    func respond(_ request: Request, _ context: APIRequestContext) async -> Response {
        let start = ContinuousClock.now
        let parts = request.uri.path.split(separator: "/", omittingEmptySubsequences: true)
        var routeName = "unmatched"
        let response: Response
        do {
            let candidates = routes.compactMap { r in r.match(parts).map { (r, $0) } }
            guard !candidates.isEmpty else { throw APIError.notFound("no route for \(request.uri.path)") }
            guard let (route, params) = candidates.first(where: { $0.0.method == request.method }) else {
                throw APIError.methodNotAllowed()
            }
            routeName = route.name
            let principal = try await authenticate(route: route, request: request, context: context)
            if route.rule.role == .admin, principal?.isAdmin != true {
                throw APIError.forbidden("\(request.method.rawValue) \(route.name) needs an admin token")
            }
            if let principal, let wait = limiter.take(principal.tokenID) { throw APIError.rateLimited(wait) }
            let call = Call(request: request, context: context, params: params, principal: principal)
            if route.timed {
                response = try await watchdog.run(limit: config.requestTimeout) { [self] in try await route.handler(self, call) }
            } else {
                response = try await route.handler(self, call)
            }
        } catch let e as APIError {
            response = Envelope.error(e)
        } catch let e as PostgresError where e.sqlState == "57014" {
            // query_canceled: this request's task was cancelled (client gone, or shutting down) and the pool
            // cancelled its statement. (A timeout is answered by the watchdog before it gets here.)
            logger.info("request cancelled", metadata: ["route": "\(routeName)", "error": "\(e)"])
            response = Envelope.error(.timeout)
        } catch let e as PostgresError where e.sqlState?.hasPrefix("22") == true {
            response = Envelope.error(.badRequest("invalid parameter value"))
        } catch let e as PostgresError where e.isTransient || e.code == .poolTimeout || e.code == .poolClosed {
            logger.warning("database unavailable", metadata: ["route": "\(routeName)", "error": "\(e)"])
            response = Envelope.error(.unavailable)
        } catch {
            logger.error("request failed", metadata: ["route": "\(routeName)", "error": "\(String(reflecting: error))"])
            response = Envelope.error(.internalError)
        }
        let elapsed = ContinuousClock.now - start
        metrics.record(
            route: routeName, method: request.method.rawValue, status: response.status.code,
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        return response
    }

    // MARK: Authentication

    /// The credentials of an `Authorization: Bearer <token>` header (scheme case-insensitive, blanks
    /// around either part ignored), or "" for any other scheme. Byte-level: this runs on every request.
    static func bearerToken(in header: String) -> String {
        let bytes = header.utf8
        func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end, isBlank(bytes[start]) { start = bytes.index(after: start) }
        while end > start, isBlank(bytes[bytes.index(before: end)]) { end = bytes.index(before: end) }
        var i = start
        for expected in "bearer ".utf8 {
            // ASCII letters compare case-insensitively by setting the lowercase bit; the space has it set already.
            guard i < end, bytes[i] | 0x20 == expected else { return "" }
            i = bytes.index(after: i)
        }
        while i < end, isBlank(bytes[i]) { i = bytes.index(after: i) }
        return String(header[i..<end])
    }

    /// The principal for a route's rule (nil for open routes). Every request that is not answered from the
    /// verified-token cache takes a token from its client address's bucket first (`API_ANON_RATE_LIMIT_PER_MIN`),
    /// so refusals cost no database work once an address is over its budget; a successful check gives the token
    /// back, and digests verified recently skip the bucket. Refusals are counted by ``FailedAuthAudit``.
    private func authenticate(route: Route, request: Request, context: APIRequestContext) async throws -> APIPrincipal? {
        var token: String?
        if let header = request.headers[.authorization] {
            token = Self.bearerToken(in: header)
        } else if route.rule.queryToken, let q = request.uri.queryParameters["access_token"] {
            token = String(q)
        }
        let address = context.remoteAddress
        switch route.rule.role {
        case .open: return nil
        case .metrics:
            guard let expected = config.metricsToken else { return nil }
            try await takeAnonymous(address)
            if let token, APITokens.constantTimeEquals(APITokens.hash(token), APITokens.hash(expected)) {
                anonLimiter.refund(address ?? "")
                return nil
            }
            failedAuth.record(address: address, reason: token == nil ? "missing" : "unknown")
            throw APIError.unauthorized("/metrics needs the METRICS_TOKEN bearer token")
        case .member, .admin: break
        }
        guard let token, !token.isEmpty else {
            try await takeAnonymous(address)
            failedAuth.record(address: address, reason: "missing")
            throw APIError.unauthorized("missing bearer token")
        }
        let digest = APITokens.hash(token)
        if let cached = tokenCache.lookup(digest) { return cached }
        let charged = !tokenCache.isKnown(digest)
        if charged { try await takeAnonymous(address) }
        switch try await APITokens.authenticate(pool: pool, token: token) {
        case .success(let p):
            if charged { anonLimiter.refund(address ?? "") }
            tokenCache.store(digest, p)
            return p
        case .failure(let why):
            tokenCache.forget(digest)
            switch why {
            case .missing: failedAuth.record(address: address, reason: "missing")
            case .malformed: failedAuth.record(address: address, reason: "malformed")
            case .unknown: failedAuth.record(address: address, reason: "unknown")
            case .revoked(let id):
                failedAuth.record(address: address, reason: "revoked", revokedToken: id)
                throw APIError.unauthorized("token revoked")
            }
            throw APIError.unauthorized("invalid bearer token")
        }
    }

    /// One token from the client address's bucket, or 429 (counted as a refusal, no database work) after
    /// `API_ANON_REFUSAL_DELAY_MS`: the tarpit that keeps a flood from taking the CPU authenticated calls need.
    private func takeAnonymous(_ address: String?) async throws {
        if let wait = anonLimiter.take(address ?? "") {
            failedAuth.record(address: address, reason: "rate_limited")
            if config.anonRefusalDelay > .zero { try? await Task.sleep(for: config.anonRefusalDelay) }
            throw APIError(
                status: .tooManyRequests, code: "RATE_LIMITED", message: "too many unauthenticated requests from this address",
                retryAfterSeconds: wait)
        }
    }

    /// Appends to `quarry.audit_log` (never the token itself); failures are logged, not raised.
    func audit(_ who: APIPrincipal?, action: String, target: String?, details: [String: Any] = [:], remote: String?) async {
        do {
            try await pool.query(
                """
                INSERT INTO quarry.audit_log (org_id, token_id, action, target_id, details, remote_addr)
                VALUES ($1, $2, $3, $4, $5::jsonb, $6)
                """,
                [who?.orgID, who?.tokenID, action, target, JSONText(Envelope.encode(details)), remote])
        } catch {
            logger.warning("audit write failed", metadata: ["action": "\(action)", "error": "\(error)"])
        }
    }

    func audit(_ call: Call, action: String, target: String?, details: [String: Any] = [:]) async {
        await audit(call.principal, action: action, target: target, details: details, remote: call.context.remoteAddress)
    }
}

/// Runs the request watchdog's sweeps for as long as the api runs.
struct WatchdogService: Service {
    let watchdog: RequestWatchdog

    func run() async throws {
        try await cancelWhenGracefulShutdown { await watchdog.runSweeps() }
    }
}
