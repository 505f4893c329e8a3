import Foundation
import Models

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs a helper program (pdftotext, pdfinfo) under resource limits: through `prlimit` (address space
/// 512 MiB, 60 s CPU) when available, with a wall-clock timeout and cancellation watchdog that SIGKILLs
/// the child, and with bounded stdout/stderr capture.
struct LimitedChildProcess {
    /// How the child finished.
    struct Outcome {
        var exitStatus: Int32
        var stderr: String
        /// Stderr's first non-empty line, for error messages.
        var firstStderrLine: String? {
            stderr.split(whereSeparator: \.isNewline).map { $0.trimmingWhitespace() }.first { !$0.isEmpty }
        }
    }

    static let prlimitPath = "/usr/bin/prlimit"
    static let maxStderrBytes = 64 << 10

    var executable: String
    var arguments: [String]
    var timeout: Duration
    var isCancelled: @Sendable () -> Bool
    /// Stdout bytes accepted before the child is killed and `.fileTooLarge` thrown.
    var maxStdoutBytes: Int64

    /// Launches the child, hands each stdout chunk to `onStdout`, waits for exit.
    func run(onStdout: (Data) throws -> Void) throws -> Outcome {
        let process = Process()
        if FileManager.default.isExecutableFile(atPath: Self.prlimitPath) {
            process.executableURL = URL(fileURLWithPath: Self.prlimitPath)
            process.arguments = ["--as=536870912", "--cpu=60", "--", executable] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        }
        let stdoutPipe = Pipe()
        let stderrPipe = Pipe()
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw JobError(.extractionError, "could not launch \(executable): \(error)")
        }
        let pid = process.processIdentifier
        let state = WatchdogState()

        // Watchdog: kills the child on timeout or cancellation.
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let cancelled = isCancelled
        let watchdog = Thread {
            while !state.isFinished {
                if cancelled() {
                    state.setReason(.cancelled)
                    kill(pid, SIGKILL)
                    return
                }
                if ContinuousClock.now >= deadline {
                    state.setReason(.timeout)
                    kill(pid, SIGKILL)
                    return
                }
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
        watchdog.start()

        // Stderr is drained on its own thread so a chatty child cannot block on a full pipe.
        let stderrHandle = stderrPipe.fileHandleForReading
        let stderrDone = DispatchSemaphore(value: 0)
        let stderrThread = Thread {
            while let chunk = try? stderrHandle.read(upToCount: 16 << 10), !chunk.isEmpty {
                state.appendStderr(chunk, limit: Self.maxStderrBytes)
            }
            stderrDone.signal()
        }
        stderrThread.start()

        var stdoutBytes: Int64 = 0
        var pendingError: (any Error)?
        let stdoutHandle = stdoutPipe.fileHandleForReading
        while let chunk = try? stdoutHandle.read(upToCount: 64 << 10), !chunk.isEmpty {
            stdoutBytes += Int64(chunk.count)
            if stdoutBytes > maxStdoutBytes {
                state.setReason(.outputTooLarge)
                kill(pid, SIGKILL)
                break
            }
            do {
                try onStdout(chunk)
            } catch {
                pendingError = error
                kill(pid, SIGKILL)
                break
            }
        }
        process.waitUntilExit()
        state.finish()
        stderrDone.wait()

        switch state.reason {
        case .cancelled?:
            throw JobError(.cancelled, "extraction cancelled while \(URL(fileURLWithPath: executable).lastPathComponent) was running")
        case .timeout?:
            throw JobError(
                .timeLimitExceeded,
                "\(URL(fileURLWithPath: executable).lastPathComponent) exceeded its time limit of \(timeout)",
                details: ["limit": "\(timeout)"])
        case .outputTooLarge?:
            throw JobError(
                .fileTooLarge, "extracted text exceeds the limit of \(maxStdoutBytes) bytes",
                details: ["limit": "\(maxStdoutBytes)"])
        case nil:
            break
        }
        if let pendingError { throw pendingError }
        let stderr = String(decoding: state.stderrData, as: UTF8.self)
        if process.terminationReason == .uncaughtSignal {
            // Killed by prlimit's CPU/memory limits (SIGKILL/SIGXCPU/SIGSEGV on allocation failure).
            throw JobError(
                .malformedFile,
                "\(URL(fileURLWithPath: executable).lastPathComponent) was killed by signal \(process.terminationStatus) (resource limits exceeded?)",
                details: ["signal": "\(process.terminationStatus)"])
        }
        return Outcome(exitStatus: process.terminationStatus, stderr: stderr)
    }
}

/// State shared between the reading thread and the watchdog/stderr threads.
private final class WatchdogState: @unchecked Sendable {
    enum Reason { case timeout, cancelled, outputTooLarge }
    private let lock = NSLock()
    private var _finished = false
    private var _reason: Reason?
    private var _stderr = Data()

    var isFinished: Bool { lock.withLock { _finished } }
    var reason: Reason? { lock.withLock { _reason } }
    var stderrData: Data { lock.withLock { _stderr } }
    func finish() { lock.withLock { _finished = true } }
    func setReason(_ reason: Reason) { lock.withLock { if _reason == nil { _reason = reason } } }
    func appendStderr(_ chunk: Data, limit: Int) {
        lock.withLock {
            let room = limit - _stderr.count
            if room > 0 { _stderr.append(chunk.prefix(room)) }
        }
    }
}
