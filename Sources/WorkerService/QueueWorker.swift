public import Foundation
public import Logging
import Models
public import Postgres
public import Queue
public import ServiceLifecycle
import Synchronization

/// The one job executor: claims jobs into free slots, runs their handlers under a time limit, heartbeats,
/// acts on cancels and lost leases, batches completions, and drains on graceful shutdown.
///
/// The long-running `worker` runs it as a `Service` (``run()``); the in-request trigger
/// (`POST /api/worker/process`) runs one claim of it inside a time budget (``runOnce(maxJobs:budget:)``).
/// Both paths share every rule below, so they cannot drift.
///
/// - Held runs are keyed by ``Queue/LeaseKey`` (job id and lease): a worker that reclaims its own job holds
///   the stale run and the fresh one apart; the stale one is stopped when its heartbeat answers `lost`.
/// - Heartbeats and progress go through `leaseStore`, whose pool is not shared with handlers, so a handler
///   that holds a connection or waits on a lock cannot starve them. Only running work is heartbeated.
/// - A finished run is `completing` until its completion is written; shutdown never releases it.
public final class QueueWorker: Service, Sendable {
    public let configuration: WorkerConfiguration
    let store: JobStore
    let leaseStore: JobStore
    let registry: HandlerRegistry
    let logger: Logger
    let kinds: [String]
    public let metrics: WorkerMetrics

    /// Why a running job's task was stopped.
    enum StopReason: Sendable { case cancelRequested, shutdown, leaseLost, timedOut, budgetExceeded }

    /// Where a held run is.
    enum Phase: Sendable { case running, stopped, completing }

    struct Held: Sendable {
        var job: ClaimedJob
        /// When the run's time limit (`EXTRACTION_JOB_TIMEOUT_MS`) is up; `deadlineLoop` stops it then.
        var deadline: ContinuousClock.Instant
        var task: Task<Void, Never>?
        var stop: StopReason?
        var phase: Phase = .running
    }

    struct State: Sendable {
        var held: [LeaseKey: Held] = [:]
        var running = 0
        var pending: [Completion] = []
        var shuttingDown = false
        var released = 0
    }

    let state = Mutex(State())
    let wake = Signal()
    let flushSignal = Signal()
    let idle = Signal()

    /// - Parameters:
    ///   - store: Claims, completions, failures and releases (the worker's pool).
    ///   - leaseStore: Heartbeats and progress; give it a pool of its own (one connection is enough) so they
    ///     never wait behind handlers. Defaults to `store`, for callers without handlers that hold connections.
    public init(
        configuration: WorkerConfiguration, store: JobStore, leaseStore: JobStore? = nil, registry: HandlerRegistry, logger: Logger,
        metrics: WorkerMetrics = WorkerMetrics()
    ) {
        self.configuration = configuration
        self.store = store
        self.leaseStore = leaseStore ?? store
        self.registry = registry
        var logger = logger
        logger[metadataKey: "worker_id"] = .string(configuration.workerID)
        self.logger = logger
        self.kinds = configuration.kinds ?? registry.kinds
        self.metrics = metrics
    }

    /// Connections the worker's pool needs: one per slot for kinds whose handlers hold a connection for their
    /// whole run, plus one for claims, completions and failures.
    public static func requiredPoolSize(configuration: WorkerConfiguration, registry: HandlerRegistry) -> Int {
        let kinds = configuration.kinds ?? registry.kinds
        let perRun = kinds.compactMap { registry.handlers[$0]?.connectionsPerRun }.max() ?? 0
        return configuration.concurrency * perRun + 1
    }

    /// Throws `INVALID_CONFIG` with a message naming `DB_POOL_SIZE` when the pool cannot serve the slots.
    public static func validatePool(configuration: WorkerConfiguration, registry: HandlerRegistry) throws {
        let needed = requiredPoolSize(configuration: configuration, registry: registry)
        guard configuration.poolSize >= needed else {
            throw JobError(
                .invalidConfig,
                "DB_POOL_SIZE=\(configuration.poolSize) cannot serve EXTRACTION_MAX_CONCURRENCY=\(configuration.concurrency): "
                    + "each running job of these kinds holds a connection for its whole run and claims need one more; "
                    + "set DB_POOL_SIZE to at least \(needed) (heartbeats use a connection of their own)")
        }
    }

    /// Jobs currently held (running or awaiting their completion write).
    public var heldCount: Int { state.withLock { $0.held.count } }

    public func run() async throws {
        try await store.registerWorker(
            id: configuration.workerID, host: ProcessInfo.processInfo.hostName, pid: Int(getpid()),
            version: configuration.version, kinds: kinds, concurrency: configuration.concurrency)
        logger.info(
            "worker:started",
            metadata: [
                "kinds": "\(kinds.joined(separator: ","))", "concurrency": "\(configuration.concurrency)",
                "pool": "\(configuration.poolSize)",
            ])
        let listener = PostgresListener(
            conninfo: configuration.databaseURL, channels: ["quarry_jobs", "quarry_cancel"], logger: logger,
            applicationName: "quarry-worker-listener")
        let events = listener.events()

        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.listen(events) }
            group.addTask { await self.heartbeatLoop() }
            group.addTask { await self.flushLoop() }
            group.addTask { await self.deadlineLoop() }
            await withGracefulShutdownHandler {
                await self.claimLoop()
            } onGracefulShutdown: {
                self.beginShutdown()
            }
            await self.drain()
            listener.stop()
            group.cancelAll()
        }
        try? await store.deregisterWorker(id: configuration.workerID)
        logger.info("worker:stopped")
    }

    // MARK: Claiming

    func beginShutdown() {
        state.withLock { $0.shuttingDown = true }
        logger.info("queue:shutdown", metadata: ["held": "\(heldCount)"])
        wake.fire()
    }

    var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }

    func claimLoop() async {
        var failures = 0
        var lastBackpressureLog = ContinuousClock.now - .seconds(60)
        while !isShuttingDown && !Task.isCancelled {
            // Free slots, bounded by the completion queue too: finished runs hold their jobs until their batched
            // completion is written, and claiming on while completions cannot be written would move the whole
            // backlog to `processing`. At most one slots' worth of finished runs may wait.
            let (free, running) = state.withLock { s in
                (min(configuration.concurrency - s.running, 2 * configuration.concurrency - s.held.count), s.running)
            }
            if free <= 0 {
                if ContinuousClock.now - lastBackpressureLog > .seconds(10) {
                    lastBackpressureLog = .now
                    logger.info("queue:backpressure", metadata: ["active": "\(running)", "max": "\(configuration.concurrency)"])
                }
                await wake.wait(timeout: configuration.pollInterval)
                continue
            }
            let want = min(free, configuration.claimBatch)
            let jobs: [ClaimedJob]
            let claimStart = ContinuousClock.now
            do {
                defer { metrics.claimDurations.record(ContinuousClock.now - claimStart) }
                jobs = try await store.claim(
                    workerID: configuration.workerID, kinds: kinds, limit: want, fair: configuration.fairClaim,
                    orgMaxRunning: configuration.orgMaxRunning)
                failures = 0
            } catch {
                failures += 1
                let delay = Backoff.delay(attempt: failures, base: .milliseconds(100), max: .seconds(5))
                logger.warning("claim failed", metadata: ["error": "\(error)", "retry_in_ms": "\(delay.milliseconds)"])
                await wake.wait(timeout: delay)
                continue
            }
            if isShuttingDown {
                // Claimed while shutdown began: hand them straight back.
                _ = try? await store.release(jobs.map { ($0.id, $0.leaseToken) })
                break
            }
            for job in jobs { start(job) }
            // A short batch may only mean a concurrent claim held some rows: claim again at once; an empty one
            // means nothing is runnable, so wait for a NOTIFY, a freed slot or the poll interval.
            if jobs.isEmpty { await wake.wait(timeout: configuration.pollInterval) }
        }
    }

    // MARK: Bookkeeping

    func start(_ job: ClaimedJob) {
        var jobLogger = logger
        jobLogger[metadataKey: "job_id"] = .string(job.id.lowercasedText)
        jobLogger[metadataKey: "org_id"] = .string(job.orgID.lowercasedText)
        jobLogger[metadataKey: "kind"] = .string(job.kind)
        jobLogger[metadataKey: "attempt"] = .stringConvertible(job.attempt)
        let key = job.leaseKey
        state.withLock { s in
            s.held[key] = Held(job: job, deadline: .now + configuration.jobTimeout)
            s.running += 1
        }
        metrics.claimed.add(1)
        let log = jobLogger
        let task = Task { await self.execute(job, logger: log) }
        state.withLock { s in
            if s.held[key]?.phase == .running { s.held[key]?.task = task }
        }
    }

    func stopReason(_ key: LeaseKey) -> StopReason? { state.withLock { $0.held[key]?.stop } }

    /// Forgets a run and frees its slot.
    func finishLocal(_ key: LeaseKey) {
        state.withLock { s in
            if let h = s.held.removeValue(forKey: key), h.phase == .running { s.running -= 1 }
            if s.running == 0 { idle.fire() }
        }
        wake.fire()
    }

    /// Frees the slot of a run stopped for shutdown; it stays held until drain releases it.
    func markStopped(_ key: LeaseKey) {
        state.withLock { s in
            if s.held[key]?.phase == .running {
                s.held[key]?.phase = .stopped
                s.running -= 1
            }
            if s.running == 0 { idle.fire() }
        }
        wake.fire()
    }

    /// Stops a running run's handler; false when there was nothing to stop.
    @discardableResult
    func stop(_ key: LeaseKey, reason: StopReason) -> Bool {
        let (acted, task) = state.withLock { s -> (Bool, Task<Void, Never>?) in
            guard let h = s.held[key], h.stop == nil, h.phase == .running else { return (false, nil) }
            s.held[key]?.stop = reason
            return (true, h.task)
        }
        // A run whose task is not yet recorded still sees the stop through its context's `isCancelled`.
        task?.cancel()
        return acted
    }

    /// Stops every running run of job `id` (a cancel names the job, not the lease).
    func stopAll(jobID id: UUID, reason: StopReason) {
        let keys = state.withLock { s in s.held.keys.filter { $0.id == id } }
        for key in keys { stop(key, reason: reason) }
    }
}

/// Lets one progress write through per interval (stage changes force one).
final class ProgressThrottle: Sendable {
    private let interval: Duration
    private let last = Mutex<ContinuousClock.Instant?>(nil)
    init(interval: Duration) { self.interval = interval }
    func shouldWrite(force: Bool) -> Bool {
        last.withLock { l in
            let now = ContinuousClock.now
            if force || l.map({ now - $0 >= interval }) ?? true {
                l = now
                return true
            }
            return false
        }
    }
}
