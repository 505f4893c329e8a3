public import Foundation

/// Settings for the `api` process, read from the environment in one place.
public struct APIConfiguration: Sendable {
    /// `DATABASE_URL`.
    public var databaseURL: String
    /// `HOST` (default 0.0.0.0).
    public var host: String
    /// `PORT` (default 8080).
    public var port: Int
    /// `DB_POOL_SIZE` (default 8).
    public var poolSize: Int
    /// `EXTRACTION_MAX_FILE_SIZE_MB` (default 100): the largest upload.
    public var maxFileBytes: Int64
    /// The largest JSON request body (1 MiB).
    public var maxJSONBytes: Int
    /// `API_RATE_LIMIT_PER_MIN` (default 600): requests per token per minute.
    public var rateLimitPerMinute: Int
    /// `API_REQUEST_TIMEOUT_MS` (default 30 s): JSON routes give up with 503 after this.
    public var requestTimeout: Duration
    /// `API_SSE_HEARTBEAT_MS` (default 15 s): comment lines that keep event streams alive.
    public var sseHeartbeat: Duration
    /// `API_TOKEN_CACHE_MS` (default 5 s; 0 disables): how long a verified token is trusted without a database
    /// lookup. A revoked token keeps working for at most this long on a replica that has just seen it.
    public var tokenCacheTTL: Duration
    /// Average job duration assumed for wait estimates when there is no history.
    public var defaultJobDuration: Duration
    /// `API_MAX_MEMBER_PRIORITY` (default 10): the highest `priority` a member (non-admin) token may ask for;
    /// above it the request is refused with 403 `FORBIDDEN`. Admin tokens may use the whole range (-1000...1000).
    public var maxMemberPriority: Int
    /// `API_ANON_RATE_LIMIT_PER_MIN` (default 60): failed or unverifiable authentications per client address per
    /// minute, checked before any database lookup (429 + `Retry-After` beyond). Tokens verified recently skip it.
    public var anonRateLimitPerMinute: Int
    /// `API_ANON_REFUSAL_DELAY_MS` (default 50, 0 disables): how long a request refused by the per-address bucket
    /// waits before its 429 is sent. A tarpit: a flooding client gets at most one refusal per connection per
    /// delay, so the flood costs the api a sleeping task per connection instead of its CPU.
    public var anonRefusalDelay: Duration
    /// `API_METRICS_REFRESH_MS` (default 5000, at least 500): how often the `/metrics` gauges are re-read from the
    /// database, by one background query per process whatever the scrape rate.
    public var metricsRefresh: Duration
    /// `METRICS_TOKEN` (unset = `/metrics` is open, for in-cluster Prometheus): when set, `/metrics` needs
    /// `Authorization: Bearer <METRICS_TOKEN>`.
    public var metricsToken: String?
    /// `API_SSE_MAX_STREAMS_PER_TOKEN` (default 20): open event streams per token per replica (429 beyond).
    public var sseMaxStreamsPerToken: Int

    public init(
        databaseURL: String, host: String = "0.0.0.0", port: Int = 8080, poolSize: Int = 8, maxFileBytes: Int64 = 100 << 20,
        maxJSONBytes: Int = 1 << 20, rateLimitPerMinute: Int = 600, requestTimeout: Duration = .seconds(30),
        sseHeartbeat: Duration = .seconds(15), defaultJobDuration: Duration = .seconds(15), tokenCacheTTL: Duration = .seconds(5),
        maxMemberPriority: Int = 10, anonRateLimitPerMinute: Int = 60, metricsRefresh: Duration = .seconds(5),
        metricsToken: String? = nil, sseMaxStreamsPerToken: Int = 20, anonRefusalDelay: Duration = .milliseconds(50)
    ) {
        self.anonRefusalDelay = anonRefusalDelay
        self.maxMemberPriority = maxMemberPriority
        self.anonRateLimitPerMinute = anonRateLimitPerMinute
        self.metricsRefresh = metricsRefresh
        self.metricsToken = metricsToken
        self.sseMaxStreamsPerToken = sseMaxStreamsPerToken
        self.tokenCacheTTL = tokenCacheTTL
        self.databaseURL = databaseURL
        self.host = host
        self.port = port
        self.poolSize = poolSize
        self.maxFileBytes = maxFileBytes
        self.maxJSONBytes = maxJSONBytes
        self.rateLimitPerMinute = rateLimitPerMinute
        self.requestTimeout = requestTimeout
        self.sseHeartbeat = sseHeartbeat
        self.defaultJobDuration = defaultJobDuration
    }

    /// Reads the configuration from environment variables.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> APIConfiguration {
        guard let url = env["DATABASE_URL"], !url.isEmpty else {
            throw ConfigurationError(message: "DATABASE_URL is not set")
        }
        func int(_ key: String, _ def: Int) throws -> Int {
            guard let raw = env[key], !raw.isEmpty else { return def }
            guard let v = Int(raw), v >= 0 else { throw ConfigurationError(message: "\(key) must be a non-negative integer") }
            return v
        }
        return APIConfiguration(
            databaseURL: url, host: env["HOST"] ?? "0.0.0.0", port: try int("PORT", 8080),
            poolSize: max(2, try int("DB_POOL_SIZE", 8)),
            maxFileBytes: Int64(try int("EXTRACTION_MAX_FILE_SIZE_MB", 100)) << 20,
            rateLimitPerMinute: max(1, try int("API_RATE_LIMIT_PER_MIN", 600)),
            requestTimeout: .milliseconds(try int("API_REQUEST_TIMEOUT_MS", 30_000)),
            sseHeartbeat: .milliseconds(max(100, try int("API_SSE_HEARTBEAT_MS", 15_000))),
            tokenCacheTTL: .milliseconds(try int("API_TOKEN_CACHE_MS", 5_000)),
            maxMemberPriority: min(1000, try int("API_MAX_MEMBER_PRIORITY", 10)),
            anonRateLimitPerMinute: max(1, try int("API_ANON_RATE_LIMIT_PER_MIN", 60)),
            metricsRefresh: .milliseconds(max(500, try int("API_METRICS_REFRESH_MS", 5_000))),
            metricsToken: env["METRICS_TOKEN"].flatMap { $0.isEmpty ? nil : $0 },
            sseMaxStreamsPerToken: max(1, try int("API_SSE_MAX_STREAMS_PER_TOKEN", 20)),
            anonRefusalDelay: .milliseconds(min(5_000, max(0, try int("API_ANON_REFUSAL_DELAY_MS", 50)))))
    }
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
