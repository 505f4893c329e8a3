import ArgumentParser
import Foundation

/// A Python reference reader timed on the bench's file: `scripts/<script> PATH` run with the python of a throwaway
/// venv, whose last output line is JSON `{"rows", "seconds"}` (the read alone, without the interpreter start).
struct PythonReferenceReader {
    /// Printed name ("python-calamine").
    let name: String
    /// The script in `scripts/`.
    let script: String
    /// The environment variable naming the venv's python, and its default.
    let pythonVariable: String
    let defaultPython: String

    /// python-calamine (`scripts/bench-calamine.py`; `QUARRY_CALAMINE_PYTHON`, default `/tmp/venv-calamine/bin/python`).
    static let calamine = PythonReferenceReader(
        name: "python-calamine", script: "bench-calamine.py", pythonVariable: "QUARRY_CALAMINE_PYTHON",
        defaultPython: "/tmp/venv-calamine/bin/python")
    /// openpyxl read-only (`scripts/bench-openpyxl.py`; `QUARRY_OPENPYXL_PYTHON`, default `/tmp/quarry-venv-openpyxl/bin/python`).
    static let openpyxl = PythonReferenceReader(
        name: "openpyxl read-only", script: "bench-openpyxl.py", pythonVariable: "QUARRY_OPENPYXL_PYTHON",
        defaultPython: "/tmp/quarry-venv-openpyxl/bin/python")

    /// Seconds the reader took for every row of `path`; nil (with the reason printed) when its venv or script is
    /// missing or it failed. Throws when it saw another number of rows than `rows` (header included).
    func seconds(path: String, rows: Int) throws -> Double? {
        let python = ProcessInfo.processInfo.environment[pythonVariable] ?? defaultPython
        guard FileManager.default.isExecutableFile(atPath: python) else {
            print("\(name): skipped (no python at \(python); set \(pythonVariable) or create the venv)")
            return nil
        }
        guard let scriptPath = Self.scriptPath(script) else {
            print("\(name): skipped (scripts/\(script) not found)")
            return nil
        }
        let p = Process()
        let pipe = Pipe()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [scriptPath, path]
        p.standardOutput = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0,
            let last = String(decoding: out, as: UTF8.self).split(separator: "\n").last,
            let object = try? JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any],
            let seen = object["rows"] as? Int, let seconds = object["seconds"] as? Double, seconds > 0
        else {
            print("\(name): failed (exit \(p.terminationStatus))")
            return nil
        }
        guard seen == rows else { throw ValidationError("\(name) saw \(seen) rows, expected \(rows)") }
        return seconds
    }

    /// `scripts/<name>` in the current directory or beside `.build` (the binary's ancestors).
    static func scriptPath(_ name: String) -> String? {
        var candidates = [FileManager.default.currentDirectoryPath + "/scripts/" + name]
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            candidates.append(dir.appendingPathComponent("scripts/" + name).path)
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }
}
