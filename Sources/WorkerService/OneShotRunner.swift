public import Foundation
public import Logging
import Models
public import Queue
import Synchronization

/// Claims and runs one batch of jobs inside a time budget, then returns — for platforms without
/// long-running workers (seed 001's cron-triggered `POST /api/worker/process`).
///
/// Jobs still running when the budget ends are cancelled and released without charging an attempt.
public struct OneShotRunner: Sendable {
    /// What one call did.
    public struct Report: Sendable, Codable {
        public var processed: Int
        public var completed: Int
        public var failed: Int
        public var released: Int
    }

    let store: JobStore
    let registry: HandlerRegistry
    let workerID: String
    let logger: Logger

    public init(store: JobStore, registry: HandlerRegistry, workerID: String, logger: Logger) {
        self.store = store
        self.registry = registry
        self.workerID = workerID
        self.logger = logger
    }

    public func run(maxJobs: Int, budget: Duration) async throws -> Report {
        let jobs = try await store.claim(workerID: workerID, kinds: registry.kinds, limit: maxJobs)
        let deadline = DeadlineFlag()
        let timer = Task {
            try? await Task.sleep(for: budget)
            deadline.expire()
        }
        defer { timer.cancel() }
        enum Result: Sendable { case done(Completion), failed, released(ClaimedJob) }
        let results = await withTaskGroup(of: Result.self) { group in
            for job in jobs {
                group.addTask {
                    var log = logger
                    log[metadataKey: "job_id"] = .string(job.id.uuidString.lowercased())
                    log[metadataKey: "org_id"] = .string(job.orgID.uuidString.lowercased())
                    log[metadataKey: "worker_id"] = .string(workerID)
                    guard let handler = registry.handlers[job.kind] else {
                        _ = try? await store.fail(job, error: JobError(.unknownKind, "no handler for kind '\(job.kind)'"))
                        return .failed
                    }
                    let context = JobContext(
                        logger: log,
                        progressSink: { p, _ in
                            if let data = try? JSONEncoder().encode(p) {
                                _ = try? await store.progress(job, json: String(decoding: data, as: UTF8.self))
                            }
                        },
                        cancelled: { deadline.expired })
                    do {
                        let outcome = try await handler.run(job, context: context)
                        log.info("job:completed")
                        return .done(
                            Completion(id: job.id, leaseToken: job.leaseToken, result: outcome.resultJSON, rowsProcessed: outcome.rowsProcessed))
                    } catch {
                        if deadline.expired { return .released(job) }
                        let e = error as? JobError ?? JobError(.extractionError, "\(error)")
                        _ = try? await store.fail(job, error: e)
                        log.warning("job:failed", metadata: ["error_code": "\(e.code)"])
                        return .failed
                    }
                }
            }
            var out: [Result] = []
            for await r in group { out.append(r) }
            return out
        }
        var completions: [Completion] = []
        var released: [(id: UUID, token: UUID)] = []
        var failed = 0
        for r in results {
            switch r {
            case .done(let c): completions.append(c)
            case .failed: failed += 1
            case .released(let j): released.append((j.id, j.leaseToken))
            }
        }
        let completed = try await store.complete(completions).count
        let releasedCount = try await store.release(released)
        return Report(processed: jobs.count, completed: completed, failed: failed, released: releasedCount)
    }
}

/// Set once the budget is spent; read by handlers as their cancellation signal.
final class DeadlineFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func expire() { flag.store(true, ordering: .relaxed) }
    var expired: Bool { flag.load(ordering: .relaxed) }
}
