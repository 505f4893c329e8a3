import QuarryTestSupport
import Testing

@testable import JanitorService

/// Each criterion at, just past and well past its boundaries.
struct HealthEvaluatorTests {
    enum Flag: Sendable, CaseIterable {
        case queueOK, dlqOK, performanceOK, workersOK
        func read(_ r: HealthReport) -> Bool {
            switch self {
            case .queueOK: r.queueOK
            case .dlqOK: r.dlqOK
            case .performanceOK: r.performanceOK
            case .workersOK: r.workersOK
            }
        }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var m: HealthMeasurements
        var status: HealthStatus
        /// The flag expected false (nil: all true).
        var failing: Flag?
        var testDescription: String { name }
    }

    /// A baseline that is healthy on every criterion (one live worker, nothing waiting).
    static func base(_ change: (inout HealthMeasurements) -> Void) -> HealthMeasurements {
        var m = HealthMeasurements(liveWorkers: 1, freeSlots: 3)
        change(&m)
        return m
    }

    static let cases: [Case] = [
        Case(name: "all clear", m: base { _ in }, status: .healthy, failing: nil),
        Case(name: "queue at threshold", m: base { $0.queueSize = 50 }, status: .healthy, failing: nil),
        Case(name: "queue over threshold", m: base { $0.queueSize = 51 }, status: .degraded, failing: .queueOK),
        Case(name: "dlq at threshold", m: base { $0.dlqSize = 10 }, status: .healthy, failing: nil),
        Case(name: "dlq over threshold", m: base { $0.dlqSize = 11 }, status: .degraded, failing: .dlqOK),
        Case(name: "no success data", m: base { $0.successRate = nil }, status: .healthy, failing: nil),
        Case(name: "success 90%", m: base { $0.successRate = 90 }, status: .healthy, failing: nil),
        Case(name: "success 89.9%", m: base { $0.successRate = 89.9 }, status: .degraded, failing: .performanceOK),
        Case(name: "success 70%", m: base { $0.successRate = 70 }, status: .degraded, failing: .performanceOK),
        Case(name: "success 69.9%", m: base { $0.successRate = 69.9 }, status: .unhealthy, failing: .performanceOK),
        Case(name: "avg duration at limit", m: base { $0.averageDurationMs = 60_000 }, status: .healthy, failing: nil),
        Case(name: "avg duration over", m: base { $0.averageDurationMs = 60_001 }, status: .degraded, failing: .performanceOK),
        Case(name: "no stalled", m: base { $0.stalledJobs = 0 }, status: .healthy, failing: nil),
        Case(name: "1 stalled", m: base { $0.stalledJobs = 1 }, status: .degraded, failing: .workersOK),
        Case(name: "5 stalled", m: base { $0.stalledJobs = 5 }, status: .degraded, failing: .workersOK),
        Case(name: "6 stalled", m: base { $0.stalledJobs = 6 }, status: .unhealthy, failing: .workersOK),
        Case(name: "oldest queued at limit", m: base { $0.oldestQueuedMs = 600_000 }, status: .healthy, failing: nil),
        Case(name: "oldest queued over", m: base { $0.oldestQueuedMs = 600_001 }, status: .degraded, failing: .queueOK),
        Case(name: "no workers, nothing runnable", m: base { $0.liveWorkers = 0 }, status: .healthy, failing: nil),
        Case(
            name: "no workers, runnable waiting",
            m: base {
                $0.liveWorkers = 0; $0.runnable = 1
            }, status: .unhealthy, failing: .workersOK),
        Case(
            name: "workers, runnable waiting",
            m: base {
                $0.runnable = 40; $0.queueSize = 40
            }, status: .healthy, failing: nil),
    ]

    @Test(arguments: cases)
    func criterion(_ c: Case) {
        let r = HealthEvaluator.evaluate(c.m, HealthThresholds())
        #expect(r.status == c.status)
        for f in Flag.allCases {
            #expect(f.read(r) == (f != c.failing), "\(f)")
        }
        #expect(r.issues.isEmpty == (c.status == .healthy))
    }

    @Test func worstCriterionWinsAndEveryIssueIsListed() {
        let m = HealthMeasurements(
            queueSize: 60, runnable: 60, dlqSize: 20, successRate: 50, averageDurationMs: 70_000, stalledJobs: 2,
            oldestQueuedMs: 700_000, liveWorkers: 1)
        let r = HealthEvaluator.evaluate(m, HealthThresholds())
        #expect(r.status == .unhealthy)
        #expect(r.issues.count == 6)
        #expect(!r.queueOK && !r.dlqOK && !r.performanceOK && !r.workersOK)
    }

    @Test func thresholdsAreConfigurable() throws {
        let c = try JanitorConfiguration.fromEnvironment([
            "DATABASE_URL": "postgres://x/y", "HEALTH_QUEUE_SIZE_THRESHOLD": "3", "HEALTH_DLQ_THRESHOLD": "1",
            "HEALTH_SUCCESS_RATE_THRESHOLD": "95", "HEALTH_AVG_DURATION_THRESHOLD_MS": "1000",
            "HEALTH_OLDEST_QUEUED_THRESHOLD_MS": "5000", "JANITOR_FAILOVER_S": "2", "ALERT_FLAP_CHECKS": "3",
            "ALERT_REPEAT_INTERVAL_S": "60", "EXTRACTION_STALLED_AFTER_MS": "1000",
        ])
        #expect(c.thresholds.queueSize == 3)
        #expect(c.failover == .seconds(2))
        #expect(c.alertPolicy.flapChecks == 3)
        #expect(c.alertPolicy.repeatInterval == .seconds(60))
        #expect(c.stalledAfter == .seconds(1))
        #expect(HealthEvaluator.evaluate(HealthMeasurements(queueSize: 4, liveWorkers: 1), c.thresholds).status == .degraded)
        #expect(HealthEvaluator.evaluate(HealthMeasurements(successRate: 94, liveWorkers: 1), c.thresholds).status == .degraded)
        #expect(throws: (any Error).self) { try JanitorConfiguration.fromEnvironment(["DATABASE_URL": "x", "ALERT_FLAP_CHECKS": "-1"]) }
        #expect(throws: (any Error).self) { try JanitorConfiguration.fromEnvironment([:]) }
    }
}
