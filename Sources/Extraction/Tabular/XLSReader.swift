import Foundation
import Models

/// Streams a legacy `.xls` (BIFF) sheet through the `quarry-xls-dump` child process (libfreexl is not
/// memory-safe, so it never runs in the worker). The child runs under `prlimit --as=512M --cpu=60`
/// when available and a wall-clock timeout (`maxChildSeconds`); failures map to `.malformedFile`,
/// `.encryptedFile`, `.invalidConfig` (no such sheet) or `.timeLimitExceeded`.
///
/// The dumper is found via `QUARRY_XLS_DUMP`, else next to the running executable.
public struct XLSReader: EscapingTabularReader {
    /// Source path.
    public let path: String
    /// Options (sheet selection).
    public let options: TabularOptions

    /// Creates a reader.
    public init(path: String, options: TabularOptions = TabularOptions()) {
        self.path = path
        self.options = options
    }

    /// Where the dumper binary is looked for.
    static func dumperPath() -> String? {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["QUARRY_XLS_DUMP"], fm.isExecutableFile(atPath: env) { return env }
        var dirs: [URL] = []
        if let first = CommandLine.arguments.first { dirs.append(URL(fileURLWithPath: first).deletingLastPathComponent()) }
        if let exe = Bundle.main.executableURL { dirs.append(exe.deletingLastPathComponent()) }
        if let link = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            dirs.append(URL(fileURLWithPath: link).deletingLastPathComponent())
        }
        for dir in dirs {
            var d = dir
            for _ in 0..<4 {  // also walk up out of a test bundle (…/x.xctest/Contents/MacOS)
                let candidate = d.appendingPathComponent("quarry-xls-dump").path
                if fm.isExecutableFile(atPath: candidate) { return candidate }
                d = d.deletingLastPathComponent()
            }
        }
        return nil
    }

    func run(
        limits: ExtractionLimits,
        isCancelled: @escaping @Sendable () -> Bool,
        progress: (_ bytesRead: Int64) -> Void,
        onRow: (_ rowNumber: Int, _ fields: [String]) throws -> Void
    ) throws {
        let file = try ChunkedFile(path: path)
        try file.checkSize(limits)
        guard let dumper = Self.dumperPath() else {
            throw JobError(.extractionError, "quarry-xls-dump helper not found (set QUARRY_XLS_DUMP)")
        }
        var arguments = [dumper, path]
        switch options.sheet {
        case .index(let i): arguments += ["--sheet-index", String(i)]
        case .name(let n): arguments += ["--sheet-name", n]
        case nil: break
        }
        let process = Process()
        let prlimit = "/usr/bin/prlimit"
        if FileManager.default.isExecutableFile(atPath: prlimit) {
            process.executableURL = URL(fileURLWithPath: prlimit)
            process.arguments = ["--as=536870912", "--cpu=60", "--"] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: dumper)
            process.arguments = Array(arguments.dropFirst())
        }
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw JobError(.extractionError, "cannot start quarry-xls-dump: \(error)")
        }
        let timedOut = TimeoutFlag()
        let deadline = DispatchWorkItem { [process] in
            if process.isRunning { timedOut.set(); process.terminate() }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + limits.maxChildSeconds, execute: deadline)
        defer {
            deadline.cancel()
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }

        var gate = RowGate(limits: limits, isCancelled: isCancelled)
        var pending: [UInt8] = []
        var delivered = 0
        let reader = stdout.fileHandleForReading
        while true {
            if isCancelled() { throw JobError.cancelledExtraction }
            guard let data = try? reader.read(upToCount: 64 * 1024), !data.isEmpty else { break }
            pending.append(contentsOf: data)
            var start = 0
            while let nl = pending[start...].firstIndex(of: 0x0A) {
                let (number, fields) = Self.decodeLine(pending[start..<nl])
                start = nl + 1
                if fields.count > limits.maxColumns { throw JobError.tooManyColumns(fields.count, limit: limits.maxColumns, row: number) }
                try gate.admit(rowNumber: number)
                try onRow(number, fields)
                delivered += 1
            }
            pending.removeSubrange(0..<start)
            if pending.count > limits.maxRowBytes {
                throw JobError(.rowTooLong, "a row is longer than \(limits.maxRowBytes) bytes", details: ["limit": String(limits.maxRowBytes)])
            }
        }
        process.waitUntilExit()
        let message =
            String(decoding: (try? stderr.fileHandleForReading.readToEnd()) ?? Data(), as: UTF8.self)
            .split(separator: "\n").first.map(String.init) ?? ""
        if timedOut.value {
            throw JobError(.timeLimitExceeded, "reading the .xls took longer than \(Int(limits.maxChildSeconds)) s")
        }
        let status = process.terminationStatus
        if process.terminationReason == .uncaughtSignal {
            let reason = status == SIGXCPU || status == SIGKILL ? "its CPU limit" : "signal \(status)"
            throw JobError(.malformedFile, "the .xls reader crashed (\(reason)); the file is probably corrupt", details: ["signal": String(status)])
        }
        switch status {
        case 0: break
        case 3: throw JobError(.invalidConfig, message.isEmpty ? "no such sheet" : message)
        case 4: throw JobError(.encryptedFile, message.isEmpty ? "the workbook is password-protected" : message)
        default:
            throw JobError(
                .malformedFile, message.isEmpty ? "cannot read the .xls file (exit \(status))" : message, details: ["exit": String(status)])
        }
        progress(file.size)
    }

    /// `7\tA\tB\\tC` → (7, ["A", "B\tC"]).
    static func decodeLine(_ line: ArraySlice<UInt8>) -> (Int, [String]) {
        var parts: [[UInt8]] = [[]]
        var escape = false
        for b in line {
            if escape {
                escape = false
                switch b {
                case UInt8(ascii: "t"): parts[parts.count - 1].append(0x09)
                case UInt8(ascii: "n"): parts[parts.count - 1].append(0x0A)
                case UInt8(ascii: "r"): parts[parts.count - 1].append(0x0D)
                default: parts[parts.count - 1].append(b)
                }
            } else if b == 0x5C {
                escape = true
            } else if b == 0x09 {
                parts.append([])
            } else {
                parts[parts.count - 1].append(b)
            }
        }
        let number = Int(String(decoding: parts[0], as: UTF8.self)) ?? 0
        return (number, parts.dropFirst().map { String(decoding: $0, as: UTF8.self) })
    }
}

/// A thread-safe one-way flag.
final class TimeoutFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.lock(); flag = true; lock.unlock() }
    var value: Bool { lock.lock(); defer { lock.unlock() }; return flag }
}
