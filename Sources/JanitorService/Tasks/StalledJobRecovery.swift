import Foundation
public import Logging
import Models
public import Postgres
public import Queue

/// Requeues (or dead-letters) jobs whose worker stopped heartbeating, and marks silent workers stopped.
public struct StalledJobRecovery: Sendable {
    let store: JobStore
    let stalledAfter: Duration
    let logger: Logger

    public init(store: JobStore, stalledAfter: Duration, logger: Logger) {
        self.store = store
        self.stalledAfter = stalledAfter
        self.logger = logger
    }

    /// What one run did.
    public struct Outcome: Sendable, Hashable {
        public var requeued = 0
        public var deadLettered = 0
        public var workersStopped = 0
        /// Orgs dropped from `quarry.queue_orgs` (the fair claim's org set) because no job of theirs is queued.
        public var queueOrgsPruned = 0
        public var recovered: Int { requeued + deadLettered }
    }

    /// One pass. Safe to run concurrently: `recover_stalled` locks with SKIP LOCKED, and marking
    /// workers stopped is idempotent.
    public func run() async throws -> Outcome {
        var outcome = Outcome()
        let recovered = try await store.recoverStalled(stalledAfter: stalledAfter)
        if !recovered.isEmpty {
            // recover_stalled returns org_id but JobStore drops it; one lookup keeps the log line complete.
            let orgs = try await store.pool.query(
                "SELECT id, org_id FROM quarry.jobs WHERE id = ANY($1::uuid[])", [recovered.map(\.id)])
            var orgByJob: [UUID: String] = [:]
            for r in orgs { if let id = r.uuid("id") { orgByJob[id] = r.string("org_id") } }
            for job in recovered {
                if job.outcome == "dead_lettered" { outcome.deadLettered += 1 } else { outcome.requeued += 1 }
                logger.warning(
                    "job:stalled_recovered",
                    metadata: [
                        "job_id": "\(job.id.uuidString.lowercased())", "org_id": "\(orgByJob[job.id] ?? "")",
                        "worker_id": "\(job.workerID ?? "")", "outcome": "\(job.outcome)",
                    ])
            }
        }
        let stopped = try await store.pool.query(
            """
            UPDATE quarry.workers SET stopped_at = now()
            WHERE stopped_at IS NULL AND last_seen < now() - make_interval(secs => $1)
            RETURNING id, host, last_seen
            """, [stalledAfter.totalSeconds])
        for w in stopped {
            logger.warning(
                "worker:marked_stopped",
                metadata: [
                    "worker_id": "\(w.string("id") ?? "")", "host": "\(w.string("host") ?? "")",
                    "last_seen": "\(w.string("last_seen") ?? "")",
                ])
        }
        outcome.workersStopped = stopped.count
        outcome.queueOrgsPruned = try await store.pool.query("SELECT quarry.prune_queue_orgs() AS n").first?.int("n") ?? 0
        return outcome
    }

    /// Requeues at once the jobs of workers whose heartbeat session ended (crashed processes); returns how many.
    public func recoverDeadWorkers() async throws -> Int {
        let recovered = try await store.recoverDeadWorkers()
        for job in recovered {
            logger.warning(
                "job:crash_recovered",
                metadata: [
                    "job_id": "\(job.id.uuidString.lowercased())", "org_id": "\(job.orgID?.uuidString.lowercased() ?? "")",
                    "worker_id": "\(job.workerID ?? "")", "outcome": "\(job.outcome)",
                ])
        }
        for worker in Set(recovered.compactMap(\.workerID)).sorted() {
            logger.warning("worker:marked_stopped", metadata: ["worker_id": "\(worker)", "reason": "session ended"])
        }
        return recovered.count
    }
}
