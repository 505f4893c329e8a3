import Alerts
import Foundation
import QuarryTestSupport
import Testing

@testable import JanitorService

/// The storm-control state machine, step by step with a fake clock.
struct AlertPolicyTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let policy = AlertPolicy(repeatInterval: .seconds(3600), flapChecks: 2)

    /// Feeds a sequence of observations one check (30 s) apart; returns the notifications.
    func run(
        _ holds: [Bool], eventLike: Bool = false, policy: AlertPolicy? = nil, step: TimeInterval = 30,
        from state: AlertConditionState = .init()
    ) -> (notifications: [AlertNotification?], state: AlertConditionState) {
        var s = state
        var out: [AlertNotification?] = []
        for (i, h) in holds.enumerated() {
            let (next, n) = (policy ?? self.policy).decide(s, holds: h, eventLike: eventLike, now: t0.addingTimeInterval(Double(i) * step))
            s = next
            out.append(n)
        }
        return (out, s)
    }

    @Test func triggersOnlyAfterFlapChecks() {
        let r = run([true, true, true, true])
        #expect(r.notifications == [nil, .trigger, nil, nil])
        #expect(r.state.active)
        #expect(r.state.firstSeen == t0)
    }

    @Test func singleCheckTriggersWhenFlapChecksIsOne() {
        #expect(run([true, true], policy: AlertPolicy(flapChecks: 1)).notifications == [.trigger, nil])
    }

    @Test func noRepeatBeforeIntervalThenReminder() {
        // 121 checks 30 s apart: trigger at check 2 (t=30 s), reminder once 3600 s later (t=3630 s = check 121).
        let r = run(Array(repeating: true, count: 123))
        var sent: [AlertNotification] = []
        var at: [Int] = []
        for (i, n) in r.notifications.enumerated() {
            if let n {
                sent.append(n)
                at.append(i)
            }
        }
        #expect(sent == [.trigger, .reminder])
        #expect(at == [1, 121])
    }

    @Test func oneResolveAfterClearChecks() {
        let r = run([true, true, false, false, false, false])
        #expect(r.notifications == [nil, .trigger, nil, .resolve, nil, nil])
        #expect(!r.state.active)
    }

    @Test func flappingIsSuppressed() {
        // Never two consecutive holds: never triggers.
        #expect(run([true, false, true, false, true, false]).notifications.allSatisfy { $0 == nil })
        // Once active, never two consecutive clears: never resolves, never re-triggers.
        let r = run([true, true, false, true, false, true, false, true])
        #expect(r.notifications == [nil, .trigger, nil, nil, nil, nil, nil, nil])
        #expect(r.state.active)
    }

    @Test func eventLikeTriggersAtOnceAndResolvesAfterOneQuietCheck() {
        let r = run([true, true, true, false, false, true], eventLike: true)
        #expect(r.notifications == [.trigger, nil, nil, .resolve, nil, .trigger])
    }

    @Test func stateSurvivesAHandOver() {
        // A new leader reads the stored state: an active condition that still holds is not re-triggered.
        let first = run([true, true])
        let second = run([true, true, true], from: first.state)
        #expect(second.notifications == [nil, nil, nil])
    }

    @Test func jobFailedIsOneGroupedObservation() {
        let o = AlertConditions.jobFailed(count: 7, codes: [("VALIDATION_ERROR", 4), ("STALLED", 2), ("TIMEOUT_ERROR", 1)])
        #expect(o.holds && o.eventLike)
        #expect(o.key == "alert:job_failed")
        #expect(o.details["count"] == "7")
        #expect(o.details["top_error_codes"] == "VALIDATION_ERROR×4, STALLED×2, TIMEOUT_ERROR×1")
        #expect(o.summary.hasPrefix("7 jobs dead-lettered"))
        #expect(!AlertConditions.jobFailed(count: 0, codes: []).holds)
        // Seven failures in one window → one notification.
        let (_, n) = AlertPolicy().decide(.init(), holds: o.holds, eventLike: true, now: t0)
        #expect(n == .trigger)
    }

    @Test func healthConditions() {
        let unhealthy = HealthEvaluator.evaluate(HealthMeasurements(queueSize: 5, runnable: 5), HealthThresholds())
        let obs = Dictionary(uniqueKeysWithValues: AlertConditions.fromHealth(unhealthy, thresholds: HealthThresholds()).map { ($0.key, $0) })
        #expect(obs["health:critical"]?.holds == true)
        #expect(obs["health:critical"]?.severity == .critical)
        #expect(obs["health:warning"]?.holds == false)
        #expect(obs["alert:backpressure"]?.holds == false)  // no live workers: that is "critical", not backpressure
        var t = HealthThresholds()
        t.queueSize = 3
        let busy = HealthEvaluator.evaluate(
            HealthMeasurements(queueSize: 4, runnable: 4, processing: 2, dlqSize: 10, liveWorkers: 1, freeSlots: 0), t)
        let busyObs = Dictionary(uniqueKeysWithValues: AlertConditions.fromHealth(busy, thresholds: t).map { ($0.key, $0) })
        #expect(busyObs["alert:backpressure"]?.holds == true)
        #expect(busyObs["alert:dlq"]?.holds == true)
        #expect(busyObs["health:warning"]?.holds == true)
        #expect(busyObs["health:warning"]?.severity == .warning)
    }
}
