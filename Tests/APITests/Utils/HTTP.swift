import Foundation
import QuarryTestSupport

/// A response read by `/usr/bin/curl` (a real HTTP client, in its own process).
struct HTTPResult: CustomStringConvertible {
    var status: Int
    var headers: [String: String]
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    var data: [String: Any] { json["data"] as? [String: Any] ?? [:] }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    var description: String { "HTTP \(status) \(text.prefix(500))" }
}

enum HTTP {
    /// Runs one request through curl.
    static func request(
        _ method: String, _ url: String, token: String? = nil, headers: [String: String] = [:], body: Data? = nil,
        timeout: Int = 30
    ) async throws -> HTTPResult {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qapi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var args = [
            "-s", "-S", "-X", method, "-D", dir.appendingPathComponent("h").path, "-o", dir.appendingPathComponent("b").path,
            "-w", "%{http_code}", "--max-time", String(timeout), "-H", "Expect:",
        ]
        if let token { args += ["-H", "Authorization: Bearer \(token)"] }
        for (k, v) in headers { args += ["-H", "\(k): \(v)"] }
        if let body {
            let f = dir.appendingPathComponent("in")
            try body.write(to: f)
            args += ["--data-binary", "@" + f.path]
        }
        args.append(url)
        let out = try await run(args)
        let status = Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        var hdrs: [String: String] = [:]
        if let h = try? String(contentsOf: dir.appendingPathComponent("h"), encoding: .utf8) {
            for line in h.split(separator: "\r\n") {
                guard let c = line.firstIndex(of: ":") else { continue }
                hdrs[line[..<c].lowercased()] = line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)
            }
        }
        let b = (try? Data(contentsOf: dir.appendingPathComponent("b"))) ?? Data()
        return HTTPResult(status: status, headers: hdrs, body: b)
    }

    static func json(_ object: Any) -> Data { try! JSONSerialization.data(withJSONObject: object) }

    /// Runs curl with `args`; `niceness` > 0 runs it under `nice -n <niceness>` (a load generator that must not
    /// take the CPU from the server it measures).
    static func run(_ args: [String], niceness: Int = 0) async throws -> String {
        let p = Process()
        if niceness > 0 {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/nice")
            p.arguments = ["-n", String(niceness), "/usr/bin/curl"] + args
        } else {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            p.arguments = args
        }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        return try await withCheckedThrowingContinuation { cont in
            p.terminationHandler = { _ in
                let d = pipe.fileHandleForReading.readDataToEndOfFile()
                cont.resume(returning: String(decoding: d, as: UTF8.self))
            }
            do { try p.run() } catch { cont.resume(throwing: error) }
        }
    }
}

/// A long-running curl (for Server-Sent Events), capturing output as it arrives.
final class CurlStream: @unchecked Sendable {  // captured data is guarded by `lock`
    let process = Process()
    private let pipe = Pipe()
    private let lock = NSLock()
    private var captured = Data()

    init(url: String, token: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-N", "--max-time", "60", "-H", "Authorization: Bearer \(token)", url]
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        pipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self, !d.isEmpty else { return }
            self.lock.lock(); self.captured.append(d); self.lock.unlock()
        }
        try process.run()
    }

    var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: captured, as: UTF8.self) }

    deinit {
        if process.isRunning { process.terminate() }
        pipe.fileHandleForReading.readabilityHandler = nil
    }
}
