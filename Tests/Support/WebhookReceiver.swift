public import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A request the receiver got.
public struct ReceivedRequest: Sendable {
    public var method: String
    public var path: String
    /// Lower-cased names.
    public var headers: [String: String]
    public var body: [UInt8]

    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The body parsed as a JSON object (nil when it is not one).
    public var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1 (POSIX sockets, one background thread, one connection at a time)
/// that records requests and answers with a scripted status sequence; the last status repeats.
/// In `silent` mode it reads requests and never answers (holding the connection open).
public final class WebhookReceiver: @unchecked Sendable {
    public enum Mode {
        case respond([Int])
        case silent
    }

    public let port: Int
    private let listener: Int32
    private let mode: Mode
    private let responseBody: [UInt8]?
    private let lock = NSLock()
    private var _requests: [ReceivedRequest] = []
    private var stopped = false
    private var heldConnections: [Int32] = []
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    /// `responseBody` replaces the default small JSON body of every answer.
    public init(_ mode: Mode = .respond([200]), responseBody: [UInt8]? = nil) throws {
        self.mode = mode
        self.responseBody = responseBody
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ReceiverError.socket(errno) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let code = errno
            close(fd)
            throw ReceiverError.socket(code)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.listener = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in run() }
        thread.name = "webhook-receiver"
        self.thread = thread
        thread.start()
    }

    deinit { stop() }

    /// `http://127.0.0.1:<port><path>`
    public func url(_ path: String = "/hook") -> String { "http://127.0.0.1:\(port)\(path)" }

    public var requests: [ReceivedRequest] {
        lock.withLock { _requests }
    }

    /// Stops accepting, closes held connections and waits for the thread.
    public func stop() {
        let wasStopped = lock.withLock {
            let was = stopped
            stopped = true
            return was
        }
        guard !wasStopped else { return }
        finished.wait()
        close(listener)
        for fd in lock.withLock({ heldConnections }) { close(fd) }
    }

    // MARK: - Server loop

    private var isStopped: Bool { lock.withLock { stopped } }

    private func run() {
        defer { finished.signal() }
        while !isStopped {
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 50) > 0 else { continue }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            handle(connection)
        }
    }

    private func handle(_ connection: Int32) {
        guard let request = readRequest(connection) else {
            close(connection)
            return
        }
        let index = lock.withLock {
            _requests.append(request)
            return _requests.count - 1
        }
        switch mode {
        case .silent:
            lock.withLock { heldConnections.append(connection) }
        case .respond(let statuses):
            let status = statuses.isEmpty ? 200 : statuses[min(index, statuses.count - 1)]
            let body = responseBody ?? Array(#"{"status":"\#(status)"}"#.utf8)
            // 3xx answers point elsewhere on this server, so a followed redirect would be recorded.
            let location = (300...399).contains(status) ? "Location: /redirected\r\n" : ""
            let head =
                "HTTP/1.1 \(status) \(reason(status))\r\nContent-Type: application/json\r\n\(location)"
                + "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
            writeAll(connection, Array(head.utf8) + body)
            close(connection)
        }
    }

    /// Reads the request line, headers and a Content-Length body (5 s read deadline).
    private func readRequest(_ connection: Int32) -> ReceivedRequest? {
        var buffer: [UInt8] = []
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headerEnd: Int?
        let deadline = Date().addingTimeInterval(5)
        func readMore() -> Bool {
            var poller = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            let remaining = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            guard remaining > 0, poll(&poller, 1, remaining) > 0 else { return false }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return false }
            buffer += chunk[0..<count]
            return true
        }
        while headerEnd == nil {
            guard readMore() else { return nil }
            headerEnd = find(separator, in: buffer)
        }
        guard let headerEnd else { return nil }
        let head = String(decoding: buffer[0..<headerEnd], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return nil }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        if headers["expect"]?.lowercased() == "100-continue" {
            writeAll(connection, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        let bodyStart = headerEnd + separator.count
        while buffer.count - bodyStart < length {
            guard readMore() else { return nil }
        }
        return ReceivedRequest(
            method: String(requestLine[0]),
            path: String(requestLine[1]),
            headers: headers,
            body: Array(buffer[bodyStart..<(bodyStart + length)])
        )
    }

    private func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }

    private func writeAll(_ connection: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return }
            offset += written
        }
    }

    private func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 202: "Accepted"
        case 302: "Found"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }

    enum ReceiverError: Error {
        case socket(Int32)
    }
}

/// A 127.0.0.1 port nothing listens on (bound, then closed), for connection-refused tests.
public func closedLocalPort() throws -> Int {
    let receiver = try WebhookReceiver()
    let port = receiver.port
    receiver.stop()
    return port
}
