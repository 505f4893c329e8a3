import Foundation

/// Many requests through one curl process (`-K` config, optionally `--parallel`): a flood without a process per
/// request. Each line of the answer is `<status> <seconds>` for one request, in completion order.
enum CurlBatch {
    struct Sample {
        var status: Int
        var seconds: Double
    }

    /// `niceness` > 0 runs the curl process under `nice` (see `HTTP.run`).
    static func run(urls: [String], header: String? = nil, parallel: Int = 0, niceness: Int = 0) async throws -> [Sample] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qbatch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var config = ""
        for u in urls { config += "url = \"\(u)\"\noutput = \"/dev/null\"\n" }
        let file = dir.appendingPathComponent("k")
        try config.write(to: file, atomically: true, encoding: .utf8)
        var args = ["-s", "-K", file.path, "-w", "%{http_code} %{time_total}\\n", "--max-time", "30"]
        if let header { args += ["-H", header] }
        if parallel > 0 { args += ["--parallel", "--parallel-max", String(parallel)] }
        let out = try await HTTP.run(args, niceness: niceness)
        return out.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count == 2, let s = Int(f[0]), let t = Double(f[1]) else { return nil }
            return Sample(status: s, seconds: t)
        }
    }

    /// The q-quantile of the samples' durations, in milliseconds.
    static func quantileMs(_ samples: [Sample], _ q: Double) -> Double {
        let sorted = samples.map(\.seconds).sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)] * 1000
    }
}

/// Resident memory of a process, from `/proc/<pid>/status`, in kB.
func residentKB(_ pid: Int32) -> Int {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return -1 }
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
}
