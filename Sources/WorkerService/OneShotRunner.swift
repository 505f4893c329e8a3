public import Foundation
public import Logging
import Models
public import Queue

/// Claims and runs one batch of jobs inside a time budget, then returns — for platforms without
/// long-running workers (seed 001's cron-triggered `POST /api/worker/process`).
///
/// It is a thin shell over ``QueueWorker/runOnce(maxJobs:budget:)``: the same executor as the long-running
/// worker (time limit, heartbeats, cancel, lost lease, the configured retry policy). Jobs still running when
/// the budget ends are charged an attempt (`TIMEOUT_ERROR`, retryable), never handed back for free.
public struct OneShotRunner: Sendable {
    public typealias Report = QueueWorker.BatchReport

    let configuration: WorkerConfiguration
    let store: JobStore
    let leaseStore: JobStore
    let registry: HandlerRegistry
    let logger: Logger

    /// - Parameters:
    ///   - configuration: The worker settings (retry policy, heartbeat interval, job time limit) — build it with
    ///     ``WorkerConfiguration/fromEnvironment(_:)`` so the api follows the same environment as the workers.
    ///   - store: Claims, completions and failures; its retry policy should be `configuration.retry`.
    ///   - leaseStore: Heartbeats and progress, on a pool handlers do not use.
    public init(configuration: WorkerConfiguration, store: JobStore, leaseStore: JobStore, registry: HandlerRegistry, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.leaseStore = leaseStore
        self.registry = registry
        self.logger = logger
    }

    public func run(maxJobs: Int, budget: Duration) async throws -> Report {
        var configuration = self.configuration
        configuration.concurrency = max(configuration.concurrency, maxJobs)
        let worker = QueueWorker(configuration: configuration, store: store, leaseStore: leaseStore, registry: registry, logger: logger)
        return try await worker.runOnce(maxJobs: maxJobs, budget: budget)
    }
}
