import Foundation
import Logging
import Models
import Postgres
import Queue
import Synchronization

extension QueueWorker {
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
                // Keep the runs held and retry: the lease fence makes it idempotent. They are not heartbeated
                // meanwhile, so if the database stays away past the stall threshold the janitor requeues them.
                logger.warning("complete write failed", metadata: ["error": "\(error)", "jobs": "\(batch.count)"])
                if attempt >= 50 { break }
                try? await Task.sleep(for: Backoff.delay(attempt: attempt, base: .milliseconds(100), max: .seconds(3)))
            }
        }
        state.withLock { s in
            for c in batch { s.held.removeValue(forKey: LeaseKey(id: c.id, token: c.leaseToken)) }
            if s.running == 0 { idle.fire() }
        }
        wake.fire()  // the claim loop may be waiting for the completion queue to drain
    }

    /// Runs whose completion is waiting or being written.
    var completingCount: Int { state.withLock { s in s.held.values.filter { $0.phase == .completing }.count } }

    // MARK: Heartbeats and notifications

    /// Stops the runs whose time limit is up. One sweep for all runs instead of a timer task per job (at 20,000
    /// jobs a second the timer tasks were a visible share of the worker's CPU); a run overstays its limit by at
    /// most one sweep interval (a tenth of the limit, between 10 ms and 1 s).
    func deadlineLoop() async {
        let sweep = min(.seconds(1), max(.milliseconds(10), configuration.jobTimeout / 10))
        while !Task.isCancelled {
            try? await Task.sleep(for: sweep)
            let now = ContinuousClock.now
            let due = state.withLock { s in
                s.held.compactMap { key, h in h.phase == .running && h.stop == nil && h.deadline <= now ? key : nil }
            }
            for key in due { stop(key, reason: .timedOut) }
        }
    }

    func heartbeatLoop() async {
        // Attach the heartbeat session at once: from then on a crash of this process is detected in seconds.
        await heartbeatOnce()
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeatInterval)
            if Task.isCancelled { return }
            await heartbeatOnce()
        }
    }

    /// Renews the lease of every run that is still working (running, or stopped and awaiting release); runs
    /// whose completion is being written are left out, so their completion is never reported as a lost lease.
    func heartbeatOnce() async {
        let keys = state.withLock { s in s.held.filter { $0.value.phase != .completing }.map(\.key) }
        do {
            let states = try await leaseStore.heartbeat(workerID: configuration.workerID, held: keys)
            for (key, s) in states {
                switch s {
                case .ok: break
                case .cancel: stop(key, reason: .cancelRequested)
                case .lost:
                    // Only a run that is still working has really lost its job.
                    if stop(key, reason: .leaseLost) {
                        logger.warning("lease lost", metadata: ["job_id": "\(key.id.uuidString.lowercased())", "lease": "\(key)"])
                    }
                }
            }
        } catch {
            logger.warning("heartbeat failed", metadata: ["error": "\(error)"])
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
                    stopAll(jobID: id, reason: .cancelRequested)
                }
            case .notification:
                wake.fire()
            }
        }
    }

    // MARK: Shutdown

    /// Waits up to `shutdownTimeout` for running handlers, stops the rest, waits for every completion to be
    /// written, then releases what is left. A run whose completion is in flight is never released: releasing
    /// it could win the race against its completion and run finished work again.
    func drain() async {
        state.withLock { $0.shuttingDown = true }
        await waitUntilIdle(deadline: .now + configuration.shutdownTimeout)
        await stopRunning(reason: .shutdown, wait: .seconds(5))
        await waitForCompletions(deadline: .now + .seconds(15))
        await releaseLeftovers()
    }

    func waitUntilIdle(deadline: ContinuousClock.Instant) async {
        while state.withLock({ $0.running > 0 }) && ContinuousClock.now < deadline {
            await idle.wait(timeout: .milliseconds(100))
        }
    }

    /// Stops every running run and waits up to `wait` for their handlers to return.
    func stopRunning(reason: StopReason, wait: Duration) async {
        let running = state.withLock { s in s.held.filter { $0.value.phase == .running }.map(\.key) }
        for key in running { stop(key, reason: reason) }
        await waitUntilIdle(deadline: .now + wait)
    }

    func waitForCompletions(deadline: ContinuousClock.Instant) async {
        while completingCount > 0 && ContinuousClock.now < deadline {
            flushSignal.fire()
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Releases every held run that is not completing, without charging its attempt.
    func releaseLeftovers() async {
        let leftovers = state.withLock { s in s.held.filter { $0.value.phase != .completing }.map(\.key) }
        guard !leftovers.isEmpty else { return }
        let n = (try? await store.release(leftovers.map { ($0.id, $0.token) })) ?? 0
        state.withLock { s in
            for key in leftovers { s.held.removeValue(forKey: key) }
            s.released += n
        }
        logger.info("released jobs on shutdown", metadata: ["count": "\(n)"])
    }

    // MARK: One batch inside a budget (the in-request trigger)

    /// What one in-request batch did.
    public struct BatchReport: Sendable, Codable {
        public var processed: Int
        public var completed: Int
        public var failed: Int
        public var cancelled: Int
        public var released: Int
    }

    /// Claims up to `maxJobs` once and runs them with every rule of ``run()`` — time limit, heartbeats,
    /// cancel, lost lease, the configured retry policy — inside `budget`. Runs still going when the budget
    /// ends are stopped and failed as retryable `TIMEOUT_ERROR`: the attempt is charged, so a job that never
    /// fits the budget ends in the DLQ instead of being retried for free forever.
    public func runOnce(maxJobs: Int, budget: Duration) async throws -> BatchReport {
        let before = (metrics.completed.current, metrics.retried.current + metrics.deadLettered.current, metrics.cancelled.current)
        let jobs = try await store.claim(
            workerID: configuration.workerID, kinds: kinds, limit: maxJobs, fair: configuration.fairClaim,
            orgMaxRunning: configuration.orgMaxRunning)
        let deadline = ContinuousClock.now + budget
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.heartbeatLoop() }
            group.addTask { await self.flushLoop() }
            for job in jobs { start(job) }
            await waitUntilIdle(deadline: deadline)
            await stopRunning(reason: .budgetExceeded, wait: .seconds(5))
            await waitForCompletions(deadline: .now + .seconds(15))
            await releaseLeftovers()
            group.cancelAll()
        }
        return BatchReport(
            processed: jobs.count, completed: metrics.completed.current - before.0,
            failed: metrics.retried.current + metrics.deadLettered.current - before.1, cancelled: metrics.cancelled.current - before.2,
            released: state.withLock { $0.released })
    }
}
