public import Alerts
import Foundation
public import Logging
import Models
public import Postgres
public import Queue
public import ServiceLifecycle

/// The janitor: competes for leadership and, while leader, ticks each maintenance task on its
/// own interval (stalled recovery, result cache cleanup, metrics archive, health + alerts).
///
/// Every task is also safe if two replicas ever run it at once, so a brief overlap during a
/// failover does no harm. On graceful shutdown it stops ticking, then releases the lock.
///
/// ```swift
/// let janitor = Janitor(configuration: configuration, pool: pool, notifiers: AlertNotifiers.fromEnvironment(env), logger: logger)
/// try await ServiceGroup(services: [janitor], logger: logger).run()
/// ```
public final class Janitor: Service, Sendable {
    public let configuration: JanitorConfiguration
    public let election: LeaderElection
    public let metrics: JanitorMetrics
    let pool: PostgresPool
    let logger: Logger
    let dispatcher: AlertDispatcher
    let alertStore: AlertStateStore
    let stalled: StalledJobRecovery
    let cache: ResultCacheCleanup
    let archive: MetricsArchive
    let health: HealthRecorder

    public init(
        configuration: JanitorConfiguration, pool: PostgresPool, notifiers: [any AlertNotifier], logger: Logger,
        metrics: JanitorMetrics = JanitorMetrics()
    ) {
        var logger = logger
        logger[metadataKey: "instance_id"] = .string(configuration.instanceID)
        self.configuration = configuration
        self.pool = pool
        self.logger = logger
        self.metrics = metrics
        self.election = LeaderElection(
            conninfo: configuration.databaseURL, instanceID: configuration.instanceID,
            idleSessionTimeout: configuration.failover * 3 / 4, logger: logger)
        self.dispatcher = AlertDispatcher(notifiers: notifiers, logger: logger)
        self.alertStore = AlertStateStore(pool: pool, policy: configuration.alertPolicy)
        self.stalled = StalledJobRecovery(store: JobStore(pool: pool), stalledAfter: configuration.stalledAfter, logger: logger)
        self.cache = ResultCacheCleanup(pool: pool, batchSize: configuration.batchSize, logger: logger)
        self.archive = MetricsArchive(
            pool: pool,
            retention: .init(
                rawMetrics: configuration.metricsRawRetention, hourlyMetrics: configuration.metricsRetention,
                jobs: configuration.jobRetention, healthChecks: configuration.healthHistoryRetention,
                alertLog: configuration.alertLogRetention, auditLog: configuration.auditRetention),
            batchSize: configuration.batchSize, logger: logger)
        self.health = HealthRecorder(
            pool: pool, thresholds: configuration.thresholds, stalledAfter: configuration.stalledAfter, logger: logger)
    }

    public func run() async throws {
        logger.info(
            "janitor:started",
            metadata: [
                "failover_s": "\(configuration.failover.totalSeconds)", "notifiers": "\(dispatcher.notifiers.map(\.name).joined(separator: ","))",
            ])
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.leadershipLoop() }
            group.addTask { await self.tick("stalled", every: self.configuration.stalledInterval) { try await self.recoverStalled() } }
            group.addTask {
                await self.tick("crashed", every: self.configuration.crashInterval) {
                    let n = try await self.stalled.recoverDeadWorkers()
                    if n > 0 { self.metrics.addRecovered(n) }
                }
            }
            group.addTask { await self.tick("health", every: self.configuration.healthCheckInterval) { try await self.checkHealth() } }
            group.addTask { await self.tick("cache", every: self.configuration.cacheInterval) { _ = try await self.cache.run() } }
            group.addTask { await self.tick("archive", every: self.configuration.archiveInterval) { _ = try await self.archive.run() } }
            try? await gracefulShutdown()
            logger.info("janitor:shutdown")
            group.cancelAll()
            await group.waitForAll()
        }
        await election.release()
        logger.info("janitor:stopped")
    }

    // MARK: Leadership

    /// Standbys try for the lock every quarter of the failover time (at most 5 s); the leader
    /// heartbeats every quarter too, so it survives two missed beats before the server's
    /// `idle_session_timeout` (three quarters) ends a hung leader's session.
    func leadershipLoop() async {
        let retry = min(configuration.failover / 4, .seconds(5))
        let heartbeat = configuration.failover / 4
        while !Task.isCancelled {
            if election.isLeader {
                _ = await election.verify()
                try? await Task.sleep(for: heartbeat)
            } else if await election.tryAcquire() {
                continue
            } else {
                try? await Task.sleep(for: retry)
            }
        }
    }

    /// Runs `body` every `interval` while this replica leads; the first run comes right after
    /// leadership is won. The session is verified before each run.
    func tick(_ name: String, every interval: Duration, _ body: @escaping @Sendable () async throws -> Void) async {
        let clock = ContinuousClock()
        var next: ContinuousClock.Instant?
        let poll = min(interval, .milliseconds(250))
        while !Task.isCancelled {
            guard election.isLeader else {
                next = nil
                try? await Task.sleep(for: poll)
                continue
            }
            if let n = next, clock.now < n {
                try? await Task.sleep(for: min(poll, n - clock.now))
                continue
            }
            next = clock.now + interval
            guard await election.verify() else { continue }
            do {
                try await body()
                metrics.taskRan(name, ok: true)
            } catch is CancellationError {
                return
            } catch {
                metrics.taskRan(name, ok: false)
                logger.error("janitor:task_failed", metadata: ["task": "\(name)", "error": "\(error)"])
            }
        }
    }

    // MARK: Tasks

    func recoverStalled() async throws {
        let outcome = try await stalled.run()
        if outcome.recovered > 0 { metrics.addRecovered(outcome.recovered) }
    }

    /// One health check, then every alert condition.
    func checkHealth() async throws {
        let report = try await health.check()
        metrics.setHealth(report.status)
        for observation in AlertConditions.fromHealth(report, thresholds: configuration.thresholds) {
            try await evaluate(observation.key) { _, _, _ in observation }
        }
        let window = configuration.healthCheckInterval
        try await evaluate(AlertConditions.jobFailed) { c, since, now in
            let start = since ?? now.addingTimeInterval(-window.totalSeconds)
            let rows = try c.query(
                """
                SELECT coalesce(error_code, '') AS code, count(*) AS n FROM quarry.job_metrics
                WHERE status = 'dead_lettered' AND created_at > $1 AND created_at <= $2
                GROUP BY 1 ORDER BY n DESC, code
                """, [start, now])
            let codes = rows.map { (code: $0.string("code") ?? "", count: $0.int("n") ?? 0) }
            return AlertConditions.jobFailed(count: codes.reduce(0) { $0 + $1.count }, codes: codes)
        }
        try await evaluate(AlertConditions.stalledRecovered) { c, since, now in
            let start = since ?? now.addingTimeInterval(-window.totalSeconds)
            let n =
                try c.query(
                    """
                    SELECT count(*) AS n FROM quarry.job_metrics
                    WHERE error_code = 'STALLED' AND status IN ('failed', 'dead_lettered') AND created_at > $1 AND created_at <= $2
                    """, [start, now]
                ).first?.int("n") ?? 0
            return AlertConditions.stalledRecovered(count: n)
        }
    }

    /// Runs the policy for one condition and sends what it asks for.
    func evaluate(
        _ key: String, observe: @escaping @Sendable (PostgresConnection, Date?, Date) throws -> AlertObservation
    ) async throws {
        guard let decision = try await alertStore.evaluate(key: key, observe: observe) else { return }
        let o = decision.observation
        var details = o.details
        let alert: Alert
        switch decision.notification {
        case .trigger, .reminder:
            if decision.notification == .reminder { details["reminder"] = "true" }
            alert = Alert(
                key: o.key, event: o.key, action: .trigger, severity: o.severity, summary: o.summary,
                source: configuration.instanceID, component: "janitor", details: details)
        case .resolve:
            alert = Alert(
                key: o.key, event: o.key, action: .resolve, severity: o.severity,
                summary: "Resolved: " + (decision.previousSummary ?? o.key),
                source: configuration.instanceID, component: "janitor", details: details)
        }
        let outcomes = await dispatcher.dispatch(alert)
        metrics.addAlertSent()
        logger.notice(
            "alert:sent",
            metadata: [
                "key": "\(alert.key)", "notification": "\(decision.notification.rawValue)", "severity": "\(alert.severity.rawValue)",
                "summary": "\(alert.summary)", "delivered": "\(outcomes.filter(\.delivered).map(\.notifier).joined(separator: ","))",
                "failed": "\(outcomes.filter { !$0.delivered }.map(\.notifier).joined(separator: ","))",
            ])
        do {
            try await alertStore.log(alert, outcomes: outcomes)
        } catch {
            logger.warning("alert:log_failed", metadata: ["error": "\(error)"])
        }
    }
}
