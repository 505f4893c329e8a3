import Foundation
import Synchronization

/// Request counts and a duration histogram per route, for `/metrics`.
final class RequestMetrics: Sendable {
    static let buckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    private struct Series {
        var counts: [String: Int] = [:]  // status -> count
        var bucketCounts = [Int](repeating: 0, count: RequestMetrics.buckets.count)
        var sum = 0.0
        var total = 0

        mutating func record(status: Int, seconds: Double) {
            counts[String(status), default: 0] += 1
            for (i, b) in RequestMetrics.buckets.enumerated() where seconds <= b { bucketCounts[i] += 1 }
            sum += seconds
            total += 1
        }
    }

    private let series = Mutex<[String: Series]>([:])

    func record(route: String, method: String, status: Int, seconds: Double) {
        let key = "\(method) \(route)"
        series.withLock { s in
            s[key, default: Series()].record(status: status, seconds: seconds)
        }
    }

    func render() -> String {
        let snapshot = series.withLock { $0 }
        var out = "# HELP quarry_api_requests_total HTTP requests by route and status.\n# TYPE quarry_api_requests_total counter\n"
        for (key, s) in snapshot.sorted(by: { $0.key < $1.key }) {
            let (m, r) = split(key)
            for (status, n) in s.counts.sorted(by: { $0.key < $1.key }) {
                out += "quarry_api_requests_total{method=\"\(m)\",route=\"\(r)\",status=\"\(status)\"} \(n)\n"
            }
        }
        out += "# HELP quarry_api_request_duration_seconds Request latency by route.\n# TYPE quarry_api_request_duration_seconds histogram\n"
        for (key, s) in snapshot.sorted(by: { $0.key < $1.key }) {
            let (m, r) = split(key)
            let labels = "method=\"\(m)\",route=\"\(r)\""
            for (i, b) in Self.buckets.enumerated() {
                out += "quarry_api_request_duration_seconds_bucket{\(labels),le=\"\(b)\"} \(s.bucketCounts[i])\n"
            }
            out += "quarry_api_request_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(s.total)\n"
            out += "quarry_api_request_duration_seconds_sum{\(labels)} \(s.sum)\n"
            out += "quarry_api_request_duration_seconds_count{\(labels)} \(s.total)\n"
        }
        return out
    }

    private func split(_ key: String) -> (String, String) {
        let parts = key.split(separator: " ", maxSplits: 1)
        return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
    }
}
