import Synchronization

/// Process-local counters for `/metrics` (Prometheus text).
public final class JanitorMetrics: Sendable {
    private struct Counters {
        var recovered = 0
        var alertsSent = 0
        var lastHealth: HealthStatus?
        var runs: [String: Int] = [:]
        var failures: [String: Int] = [:]
    }
    private let counters = Mutex(Counters())

    public init() {}

    func addRecovered(_ n: Int) { counters.withLock { $0.recovered += n } }
    func addAlertSent() { counters.withLock { $0.alertsSent += 1 } }
    func setHealth(_ status: HealthStatus) { counters.withLock { $0.lastHealth = status } }
    func taskRan(_ name: String, ok: Bool) {
        counters.withLock {
            $0.runs[name, default: 0] += 1
            if !ok { $0.failures[name, default: 0] += 1 }
        }
    }

    /// Jobs recovered from dead workers by this process.
    public var recoveredTotal: Int { counters.withLock { $0.recovered } }
    /// Notifications sent by this process.
    public var alertsSentTotal: Int { counters.withLock { $0.alertsSent } }
    /// The last health status this process measured.
    public var lastHealth: HealthStatus? { counters.withLock { $0.lastHealth } }

    /// Prometheus text exposition.
    public func prometheusText(isLeader: Bool) -> String {
        let c = counters.withLock { $0 }
        var out = """
            # HELP quarry_janitor_is_leader 1 when this replica holds the janitor lock.
            # TYPE quarry_janitor_is_leader gauge
            quarry_janitor_is_leader \(isLeader ? 1 : 0)
            # HELP quarry_janitor_stalled_recovered_total Jobs recovered from dead workers.
            # TYPE quarry_janitor_stalled_recovered_total counter
            quarry_janitor_stalled_recovered_total \(c.recovered)
            # HELP quarry_janitor_alerts_sent_total Alert notifications sent (trigger, reminder, resolve).
            # TYPE quarry_janitor_alerts_sent_total counter
            quarry_janitor_alerts_sent_total \(c.alertsSent)
            # HELP quarry_janitor_health_status 1 for the status of the last health check.
            # TYPE quarry_janitor_health_status gauge

            """
        for s in HealthStatus.allCases {
            out += "quarry_janitor_health_status{status=\"\(s.rawValue)\"} \(c.lastHealth == s ? 1 : 0)\n"
        }
        out += "# TYPE quarry_janitor_task_runs_total counter\n"
        for (k, v) in c.runs.sorted(by: { $0.key < $1.key }) { out += "quarry_janitor_task_runs_total{task=\"\(k)\"} \(v)\n" }
        out += "# TYPE quarry_janitor_task_failures_total counter\n"
        for (k, v) in c.failures.sorted(by: { $0.key < $1.key }) { out += "quarry_janitor_task_failures_total{task=\"\(k)\"} \(v)\n" }
        return out
    }
}
