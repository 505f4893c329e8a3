import Foundation
import Logging
import Models
import Postgres
import Queue
import Synchronization

extension QueueWorker {
    /// Runs one claimed job to its end: the handler under the job time limit, with cancel, lost-lease and
    /// budget stops, then exactly one of complete (batched, or already done in the handler's transaction),
    /// fail (the database decides retry, DLQ or — when a cancel was asked — cancelled), finish-cancelled,
    /// keep-for-release (shutdown) or drop (lease lost).
    func execute(_ job: ClaimedJob, logger: Logger) async {
        let key = job.leaseKey
        let started = ContinuousClock.now
        guard let handler = registry.handlers[job.kind] else {
            await finishFailed(job, JobError(.unknownKind, "no handler for kind '\(job.kind)'"), logger: logger)
            return
        }
        let progress = ProgressThrottle(interval: configuration.progressInterval)
        let context = JobContext(
            logger: logger,
            progressSink: { [leaseStore] p, force in
                guard progress.shouldWrite(force: force) else { return }
                guard let data = try? JSONEncoder().encode(p) else { return }
                logger.debug("job:progress", metadata: ["percent": "\(p.percentComplete)", "step": "\(p.currentStep)"])
                _ = try? await leaseStore.progress(job, json: String(decoding: data, as: UTF8.self))
            },
            cancelled: { [weak self] in self?.stopReason(key) != nil })
        let timeout = configuration.jobTimeout
        do {
            let outcome = try await handler.run(job, context: context)
            if outcome.completedInTransaction {
                // Already completed under the fence, together with the handler's writes.
                logCompleted(outcome, since: started, logger: logger)
                metrics.completed.add(1)
                return finishLocal(key)
            }
            // The handler finished its work even if a stop raced it; only a lost lease discards it.
            if stopReason(key) == .leaseLost { return finishLocal(key) }
            logCompleted(outcome, since: started, logger: logger)
            enqueueCompletion(Completion(id: job.id, leaseToken: job.leaseToken, result: outcome.resultJSON, rowsProcessed: outcome.rowsProcessed))
        } catch let error as JobError where error.code == .leaseLost {
            logger.warning("job:lease_lost", metadata: ["detail": "the attempt's writes were rolled back"])
            finishLocal(key)
        } catch {
            await finishStopped(job, error: error, reason: stopReason(key), timeout: timeout, logger: logger)
        }
    }

    func logCompleted(_ outcome: JobOutcome, since started: ContinuousClock.Instant, logger: Logger) {
        logger.info(
            "job:completed",
            metadata: ["duration_ms": "\((ContinuousClock.now - started).milliseconds)", "rows": "\(outcome.rowsProcessed)"])
    }

    /// A handler threw: what happens depends on why it was stopped, if it was.
    func finishStopped(_ job: ClaimedJob, error: any Error, reason: StopReason?, timeout: Duration, logger: Logger) async {
        let key = job.leaseKey
        switch reason {
        case .cancelRequested?:
            _ = try? await store.finishCancelled(job)
            logger.info("job:cancelled")
            metrics.cancelled.add(1)
            finishLocal(key)
        case .shutdown?:
            markStopped(key)  // released in bulk by drain()
        case .leaseLost?:
            logger.warning("job:lease_lost", metadata: ["detail": "stopped without an update"])
            finishLocal(key)
        case .timedOut?:
            // The job's own time limit: the file is too slow to process, so retrying will not help.
            await finishFailed(job, JobError(.timeLimitExceeded, "attempt exceeded the time limit of \(timeout)"), logger: logger)
        case .budgetExceeded?:
            // The in-request budget ran out: the attempt is charged, so an over-budget job cannot retry forever.
            await finishFailed(
                job, JobError(.timeoutError, "attempt did not finish within the request's processing budget", retryable: true),
                logger: logger)
        case nil:
            let jobError =
                (error as? JobError)
                ?? (error is CancellationError ? JobError(.cancelled, "handler cancelled") : JobError(.extractionError, "\(error)"))
            await finishFailed(job, jobError, logger: logger)
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
        case .cancelled:
            logger.info("job:cancelled", metadata: meta)
            metrics.cancelled.add(1)
        case .lost:
            logger.warning("job failure not recorded: lease gone", metadata: meta)
        }
        finishLocal(job.leaseKey)
    }

    func enqueueCompletion(_ c: Completion) {
        let key = LeaseKey(id: c.id, token: c.leaseToken)
        state.withLock { s in
            s.pending.append(c)
            if s.held[key]?.phase == .running {
                s.held[key]?.phase = .completing
                s.running -= 1
            }
            if s.running == 0 { idle.fire() }
        }
        metrics.completed.add(1)
        flushSignal.fire()
        wake.fire()
    }
}
