public import Foundation
public import Logging
import Models
public import Postgres
public import Queue
public import ServiceLifecycle
import Synchronization

/// The worker loop: claims jobs into free slots, runs their handlers, heartbeats, batches
/// completions, and drains on graceful shutdown.
///
/// One claim call fills every free slot. The loop sleeps until a NOTIFY on `quarry_jobs`,
/// a freed slot, or the poll interval. On SIGTERM it stops claiming, waits up to
/// `shutdownTimeout` for running handlers, cancels the rest and releases their jobs without
/// charging an attempt.
public final class QueueWorker: Service, Sendable {
    public let configuration: WorkerConfiguration
    let store: JobStore
    let registry: HandlerRegistry
    let logger: Logger
    let kinds: [String]
    public let metrics: WorkerMetrics

    /// Why a running job's task was stopped.
    enum StopReason: Sendable { case cancelRequested, shutdown, leaseLost, timedOut }

    struct Held: Sendable {
        var job: ClaimedJob
        var task: Task<Void, Never>?
        var stop: StopReason?
        var finished = false
    }

    struct State: Sendable {
        var held: [UUID: Held] = [:]
        var running = 0
        var pending: [Completion] = []
        var shuttingDown = false
    }

    let state = Mutex(State())
    let wake = Signal()
    let flushSignal = Signal()
    let idle = Signal()

    public init(
        configuration: WorkerConfiguration, store: JobStore, registry: HandlerRegistry, logger: Logger, metrics: WorkerMetrics = WorkerMetrics()
    ) {
        self.configuration = configuration
        self.store = store
        self.registry = registry
        var logger = logger
        logger[metadataKey: "worker_id"] = .string(configuration.workerID)
        self.logger = logger
        self.kinds = configuration.kinds ?? registry.kinds
        self.metrics = metrics
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
            ])
        let listener = PostgresListener(
            conninfo: configuration.databaseURL, channels: ["quarry_jobs", "quarry_cancel"], logger: logger,
            applicationName: "quarry-worker-listener")
        let events = listener.events()

        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.listen(events) }
            group.addTask { await self.heartbeatLoop() }
            group.addTask { await self.flushLoop() }
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
            let free = state.withLock { configuration.concurrency - $0.running }
            if free <= 0 {
                if ContinuousClock.now - lastBackpressureLog > .seconds(10) {
                    lastBackpressureLog = .now
                    logger.info("queue:backpressure", metadata: ["active": "\(configuration.concurrency)", "max": "\(configuration.concurrency)"])
                }
                await wake.wait(timeout: configuration.pollInterval)
                continue
            }
            let want = min(free, configuration.claimBatch)
            let jobs: [ClaimedJob]
            do {
                jobs = try await store.claim(workerID: configuration.workerID, kinds: kinds, limit: want)
                failures = 0
            } catch {
                failures += 1
                let delay = Backoff.delay(attempt: failures, base: .milliseconds(100), max: .seconds(5))
                logger.warning(
                    "claim failed",
                    metadata: [
                        "error": "\(error)",
                        "retry_in_ms": "\(delay.milliseconds)",
                    ])
                await wake.wait(timeout: delay)
                continue
            }
            if isShuttingDown {
                // Claimed while shutdown began: hand them straight back.
                _ = try? await store.release(jobs.map { ($0.id, $0.leaseToken) })
                break
            }
            for job in jobs { start(job) }
            if jobs.count < want { await wake.wait(timeout: configuration.pollInterval) }
        }
    }

    // MARK: Running

    func start(_ job: ClaimedJob) {
        var jobLogger = logger
        jobLogger[metadataKey: "job_id"] = .string(job.id.uuidString.lowercased())
        jobLogger[metadataKey: "org_id"] = .string(job.orgID.uuidString.lowercased())
        jobLogger[metadataKey: "kind"] = .string(job.kind)
        jobLogger[metadataKey: "attempt"] = .stringConvertible(job.attempt)
        state.withLock { s in
            s.held[job.id] = Held(job: job)
            s.running += 1
        }
        metrics.claimed.add(1)
        let log = jobLogger
        let task = Task {
            await self.execute(job, logger: log)
        }
        state.withLock { s in
            if s.held[job.id] != nil, !(s.held[job.id]?.finished ?? true) { s.held[job.id]?.task = task }
        }
    }

    func stopReason(_ id: UUID) -> StopReason? { state.withLock { $0.held[id]?.stop } }

    func execute(_ job: ClaimedJob, logger: Logger) async {
        let started = ContinuousClock.now
        guard let handler = registry.handlers[job.kind] else {
            await finishFailed(job, JobError(.unknownKind, "no handler for kind '\(job.kind)'"), logger: logger)
            return
        }
        let progress = ProgressThrottle(interval: configuration.progressInterval)
        let context = JobContext(
            logger: logger,
            progressSink: { [store] p, force in
                guard progress.shouldWrite(force: force) else { return }
                guard let data = try? JSONEncoder().encode(p) else { return }
                logger.debug("job:progress", metadata: ["percent": "\(p.percentComplete)", "step": "\(p.currentStep)"])
                _ = try? await store.progress(job, json: String(decoding: data, as: UTF8.self))
            },
            cancelled: { [weak self] in self?.stopReason(job.id) != nil })
        let timeout = configuration.jobTimeout
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            self?.stop(job.id, reason: .timedOut)
        }
        defer { timer.cancel() }
        do {
            let outcome = try await handler.run(job, context: context)
            // The handler finished its work even if a stop raced it; only a lost lease discards it.
            if stopReason(job.id) == .leaseLost { return finishLocal(job) }
            logger.info(
                "job:completed",
                metadata: ["duration_ms": "\((ContinuousClock.now - started).milliseconds)", "rows": "\(outcome.rowsProcessed)"])
            enqueueCompletion(Completion(id: job.id, leaseToken: job.leaseToken, result: outcome.resultJSON, rowsProcessed: outcome.rowsProcessed))
        } catch {
            switch stopReason(job.id) {
            case .cancelRequested?:
                _ = try? await store.finishCancelled(job)
                logger.info("job:cancelled")
                metrics.cancelled.add(1)
                finishLocal(job)
            case .shutdown?:
                // Released in bulk by drain().
                slotFreed(job, keepHeld: true)
            case .leaseLost?:
                logger.warning("job lease lost; dropping without update")
                finishLocal(job)
            case .timedOut?:
                // The job's own time limit: the file is too slow to process, so retrying will not help.
                await finishFailed(job, JobError(.timeLimitExceeded, "attempt exceeded the time limit of \(timeout)"), logger: logger)
            case nil:
                let jobError =
                    (error as? JobError)
                    ?? (error is CancellationError ? JobError(.cancelled, "handler cancelled") : JobError(.extractionError, "\(error)"))
                await finishFailed(job, jobError, logger: logger)
            }
        }
    }

    func finishFailed(_ job: ClaimedJob, _ error: JobError, logger: Logger) async {
        var outcome: FailOutcome = .lost
        for attempt in 1...5 {
            do {
                outcome = try await store.fail(job, error: error)
                break
            } catch {
                logger.warning("fail write failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: Backoff.delay(attempt: attempt, base: .milliseconds(200), max: .seconds(3)))
            }
        }
        let meta: Logger.Metadata = ["error_code": .string(error.code.rawValue), "error": .string(error.message)]
        switch outcome {
        case .retry(let runAt, _):
            logger.warning("job:retry", metadata: meta.merging(["run_at": "\(runAt.map { "\($0)" } ?? "")"]) { a, _ in a })
            metrics.retried.add(1)
        case .deadLettered:
            logger.error("job:failed", metadata: meta)
            logger.error("job:dlq", metadata: meta)
            metrics.deadLettered.add(1)
        case .lost:
            logger.warning("job failure not recorded: lease gone", metadata: meta)
        }
        finishLocal(job)
    }

    /// Forgets a job and frees its slot.
    func finishLocal(_ job: ClaimedJob) {
        state.withLock { s in
            if s.held.removeValue(forKey: job.id) != nil { s.running -= 1 }
            if s.held.isEmpty { idle.fire() }
        }
        wake.fire()
    }

    /// Frees the slot; the job stays held (for release on shutdown).
    func slotFreed(_ job: ClaimedJob, keepHeld: Bool) {
        state.withLock { s in
            if s.held[job.id] != nil, !(s.held[job.id]!.finished) {
                s.held[job.id]!.finished = true
                s.running -= 1
            }
            if s.running == 0 { idle.fire() }
        }
        wake.fire()
    }

    func enqueueCompletion(_ c: Completion) {
        state.withLock { s in
            s.pending.append(c)
            if s.held[c.id] != nil {
                s.held[c.id]!.finished = true
                s.running -= 1
            }
        }
        metrics.completed.add(1)
        flushSignal.fire()
        wake.fire()
    }

    /// Stops a running job's handler.
    func stop(_ id: UUID, reason: StopReason) {
        let task = state.withLock { s -> Task<Void, Never>? in
            guard s.held[id] != nil, s.held[id]!.stop == nil, !s.held[id]!.finished else { return nil }
            s.held[id]!.stop = reason
            return s.held[id]!.task
        }
        task?.cancel()
    }

    // MARK: Completion batching

    func flushLoop() async {
        while true {
            let batch = state.withLock { s -> [Completion] in
                let b = s.pending
                s.pending = []
                return b
            }
            if batch.isEmpty {
                if Task.isCancelled { return }
                await flushSignal.wait(timeout: .milliseconds(200))
                continue
            }
            await flush(batch)
        }
    }

    func flush(_ batch: [Completion]) async {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let done = try await store.complete(batch)
                if done.count < batch.count {
                    logger.warning("completions ignored: lease gone", metadata: ["count": "\(batch.count - done.count)"])
                }
                break
            } catch {
                // Keep the jobs held (heartbeats continue) and retry: the lease fence makes it idempotent.
                logger.warning("complete write failed", metadata: ["error": "\(error)", "jobs": "\(batch.count)"])
                try? await Task.sleep(for: Backoff.delay(attempt: attempt, base: .milliseconds(100), max: .seconds(3)))
                if attempt > 50 { break }
            }
        }
        state.withLock { s in
            for c in batch { s.held.removeValue(forKey: c.id) }
            if s.held.isEmpty { idle.fire() }
        }
    }

    // MARK: Heartbeats and notifications

    func heartbeatLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeatInterval)
            if Task.isCancelled { return }
            let held = state.withLock { s in s.held.values.map { ($0.job.id, $0.job.leaseToken) } }
            do {
                let states = try await store.heartbeat(workerID: configuration.workerID, held: held)
                for (id, s) in states {
                    switch s {
                    case .ok: break
                    case .cancel: stop(id, reason: .cancelRequested)
                    case .lost:
                        logger.warning("lease lost", metadata: ["job_id": "\(id.uuidString.lowercased())"])
                        stop(id, reason: .leaseLost)
                    }
                }
            } catch {
                logger.warning("heartbeat failed", metadata: ["error": "\(error)"])
            }
        }
    }

    func listen(_ events: AsyncStream<PostgresListener.Event>) async {
        for await event in events {
            switch event {
            case .reconnected:
                wake.fire()
            case .notification(let n) where n.channel == "quarry_cancel":
                let parts = n.payload.split(separator: ":", maxSplits: 1)
                if parts.count == 2, String(parts[1]) == configuration.workerID, let id = UUID(uuidString: String(parts[0])) {
                    stop(id, reason: .cancelRequested)
                }
            case .notification:
                wake.fire()
            }
        }
    }

    // MARK: Shutdown

    func drain() async {
        state.withLock { $0.shuttingDown = true }
        let deadline = ContinuousClock.now + configuration.shutdownTimeout
        while state.withLock({ $0.running > 0 }) && ContinuousClock.now < deadline {
            await idle.wait(timeout: .milliseconds(100))
        }
        // Cancel what is still running and hand it back.
        let running = state.withLock { s in s.held.values.filter { !$0.finished }.map(\.job.id) }
        for id in running { stop(id, reason: .shutdown) }
        let waitUntil = ContinuousClock.now + .seconds(5)
        while state.withLock({ $0.running > 0 }) && ContinuousClock.now < waitUntil {
            await idle.wait(timeout: .milliseconds(50))
        }
        // Flush completions, then release everything else still held.
        let pending = state.withLock { s -> [Completion] in
            let b = s.pending
            s.pending = []
            return b
        }
        if !pending.isEmpty { await flush(pending) }
        let leftovers = state.withLock { s in s.held.values.map { ($0.job.id, $0.job.leaseToken) } }
        if !leftovers.isEmpty {
            let n = (try? await store.release(leftovers)) ?? 0
            logger.info("released jobs on shutdown", metadata: ["count": "\(n)"])
        }
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
            if force || l == nil || now - l! >= interval {
                l = now
                return true
            }
            return false
        }
    }
}
