import CCurl
import Foundation
import Synchronization

/// An outgoing webhook call.
public struct WebhookRequest: Sendable {
    public var url: String
    /// HTTP method; `POST` unless told otherwise.
    public var method: String
    /// Header name/value pairs, sent in order. Must not contain CR or LF.
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(url: String, method: String = "POST", headers: [(String, String)] = [], body: [UInt8] = []) {
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
    }
}

/// What a receiver answered.
public struct WebhookResponse: Sendable, Hashable {
    public var status: Int
    /// At most ``HTTPClientConfiguration/maxResponseBodyBytes`` of the response body.
    public var body: [UInt8]

    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }
}

/// Sends webhook requests. ``CurlHTTPClient`` is the real one; tests may substitute a fake.
public protocol HTTPClient: Sendable {
    /// Sends a request and returns the response whatever its status. Throws ``AlertError`` with
    /// `NETWORK_ERROR` or `TIMEOUT_ERROR` when no response arrived.
    func send(_ request: WebhookRequest) async throws -> WebhookResponse
}

/// Settings of ``CurlHTTPClient``.
///
/// TLS verification (`CURLOPT_SSL_VERIFYPEER` 1, `CURLOPT_SSL_VERIFYHOST` 2) is always on, redirects
/// are never followed and only `http`/`https` URLs are allowed; none of these can be turned off.
public struct HTTPClientConfiguration: Sendable, Hashable {
    /// Time allowed to establish the connection (TCP + TLS). Default 5 s.
    public var connectTimeout: Duration
    /// Time allowed for the whole transfer, connect included. Default 10 s.
    public var totalTimeout: Duration
    /// Response bytes kept; the transfer stops once more arrive. Default 64 KiB.
    public var maxResponseBodyBytes: Int
    /// `User-Agent` header. Default `quarry-alerts/1`.
    public var userAgent: String

    public init(
        connectTimeout: Duration = .seconds(5),
        totalTimeout: Duration = .seconds(10),
        maxResponseBodyBytes: Int = 64 * 1024,
        userAgent: String = "quarry-alerts/1"
    ) {
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.maxResponseBodyBytes = maxResponseBodyBytes
        self.userAgent = userAgent
    }

    public static let `default` = HTTPClientConfiguration()
}

/// An ``HTTPClient`` over libcurl easy handles.
///
/// Every request gets its own easy handle, and the blocking `curl_easy_perform` runs on a dedicated
/// thread — never on Swift's cooperative pool — bridged back with a checked continuation. Cancelling
/// the calling task aborts the transfer (through the progress callback) and throws `CancellationError`.
public final class CurlHTTPClient: HTTPClient {
    public let configuration: HTTPClientConfiguration

    public init(configuration: HTTPClientConfiguration = .default) {
        self.configuration = configuration
    }

    /// `curl_global_init` runs exactly once, lazily and thread-safely (Swift globals/static lets are
    /// initialised with `swift_once`).
    private static let globalInit: CURLcode = CCurl_global_init_default()

    public func send(_ request: WebhookRequest) async throws -> WebhookResponse {
        try Task.checkCancellation()
        let initCode = Self.globalInit
        guard initCode == CURLE_OK else {
            throw AlertError(.networkError, "curl_global_init failed (\(initCode.rawValue))", retryable: false)
        }
        let state = TransferState(limit: configuration.maxResponseBodyBytes)
        let configuration = self.configuration
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<WebhookResponse, any Error>) in
                let thread = Thread {
                    let result = Result { try Self.perform(request, configuration: configuration, state: state) }
                    continuation.resume(with: result)
                }
                thread.name = "quarry-alerts-curl"
                thread.start()
            }
        } onCancel: {
            state.cancelled.store(true, ordering: .relaxed)
        }
    }

    // MARK: - Blocking part (runs on the dedicated thread)

    private static func perform(
        _ request: WebhookRequest,
        configuration: HTTPClientConfiguration,
        state: TransferState
    ) throws -> WebhookResponse {
        let redacted = Redaction.url(request.url)
        func invalid(_ what: String) -> AlertError {
            AlertError(.networkError, "invalid request to \(redacted): \(what)", retryable: false)
        }
        guard isToken(request.method) else { throw invalid("bad method") }
        for (name, value) in request.headers {
            guard isToken(name), !hasControlBreak(value) else {
                throw invalid("bad header")
            }
        }
        guard !hasControlBreak(request.url) else { throw invalid("bad url") }

        guard let handle = curl_easy_init() else {
            throw AlertError(.networkError, "curl_easy_init failed", retryable: true)
        }
        defer { curl_easy_cleanup(handle) }

        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        // An empty `Expect:` stops curl from waiting for `100 Continue` before sending larger bodies.
        for line in request.headers.map({ "\($0.0): \($0.1)" }) + ["Expect:"] {
            guard let appended = curl_slist_append(headerList, line) else {
                throw AlertError(.networkError, "curl_slist_append failed", retryable: true)
            }
            headerList = appended
        }

        var setupFailure: CURLcode?
        func check(_ code: CURLcode) {
            if code != CURLE_OK, setupFailure == nil { setupFailure = code }
        }
        check(CCurl_setopt_string(handle, CURLOPT_URL, request.url))
        check(CCurl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
        check(CCurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        check(CCurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
        check(CCurl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1))
        check(CCurl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2))
        check(CCurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, milliseconds(configuration.connectTimeout)))
        check(CCurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, milliseconds(configuration.totalTimeout)))
        check(CCurl_setopt_string(handle, CURLOPT_USERAGENT, configuration.userAgent))
        check(CCurl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))

        let method = request.method.uppercased()
        if method == "GET" && request.body.isEmpty {
            check(CCurl_setopt_long(handle, CURLOPT_HTTPGET, 1))
        } else {
            check(CCurl_setopt_long(handle, CURLOPT_POST, 1))
            check(CCurl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, request.body.count))
            // COPYPOSTFIELDS copies `POSTFIELDSIZE` bytes, so the Swift array need not outlive this call.
            // An empty body still needs a valid pointer; curl copies 0 bytes from it.
            let payload = request.body.isEmpty ? [UInt8(0)] : request.body
            payload.withUnsafeBytes { raw in
                check(CCurl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress)))
            }
            if method != "POST" {
                check(CCurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method))
            }
        }

        let context = Unmanaged.passUnretained(state).toOpaque()
        check(
            CCurl_setopt_write_function(handle) { data, size, count, userData in
                let state = Unmanaged<TransferState>.fromOpaque(userData!).takeUnretainedValue()
                let total = size * count
                let room = state.limit - state.body.count
                if total > room {
                    if room > 0, let data {
                        state.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: room))
                    }
                    state.truncated = true
                    return 0  // aborts the transfer with CURLE_WRITE_ERROR; the status is already known
                }
                if total > 0, let data {
                    state.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: total))
                }
                return total
            })
        check(CCurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
        check(CCurl_setopt_long(handle, CURLOPT_NOPROGRESS, 0))
        check(
            CCurl_setopt_xferinfo_function(handle) { userData, _, _, _, _ in
                let state = Unmanaged<TransferState>.fromOpaque(userData!).takeUnretainedValue()
                return state.cancelled.load(ordering: .relaxed) ? 1 : 0
            })
        check(CCurl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context))

        if let setupFailure {
            throw AlertError(
                .networkError,
                "cannot configure request to \(redacted): \(describe(setupFailure))",
                retryable: false
            )
        }

        let code = withExtendedLifetime(state) { curl_easy_perform(handle) }
        var status = 0
        _ = CCurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)

        switch code {
        case CURLE_OK:
            return WebhookResponse(status: status, body: state.body)
        case CURLE_WRITE_ERROR where state.truncated && status > 0:
            return WebhookResponse(status: status, body: state.body)
        case CURLE_ABORTED_BY_CALLBACK where state.cancelled.load(ordering: .relaxed):
            throw CancellationError()
        case CURLE_OPERATION_TIMEDOUT:
            throw AlertError(.timeoutError, "request to \(redacted) timed out: \(describe(code))", retryable: true)
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
            throw AlertError(.networkError, "request to \(redacted) failed: \(describe(code))", retryable: false)
        default:
            throw AlertError(.networkError, "request to \(redacted) failed: \(describe(code))", retryable: true)
        }
    }

    private static func describe(_ code: CURLcode) -> String {
        "\(String(cString: curl_easy_strerror(code))) (curl \(code.rawValue))"
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }

    /// CR, LF or NUL anywhere (checked on bytes: `"\r\n"` is a single `Character`).
    private static func hasControlBreak(_ string: String) -> Bool {
        string.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }
    }

    /// RFC 9110 token characters (method and header names).
    private static func isToken(_ string: String) -> Bool {
        !string.isEmpty
            && string.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"):
                    true
                default:
                    "!#$%&'*+-.^_`|~".utf8.contains(byte)
                }
            }
    }
}

/// Per-transfer state shared with the C callbacks. `body`/`truncated` are touched only by the
/// transfer thread; `cancelled` is atomic because the cancellation handler sets it from elsewhere.
private final class TransferState: @unchecked Sendable {
    let limit: Int
    var body: [UInt8] = []
    var truncated = false
    let cancelled = Atomic<Bool>(false)

    init(limit: Int) {
        self.limit = max(0, limit)
    }
}
