import Foundation
import Models
import Postgres
import QuarryTestSupport
import Queue
import Testing

/// A network partition between a worker and PostgreSQL, made for real: the worker reaches the database through a
/// TCP relay that the test can stop forwarding (bytes are held, connections stay open on both sides — what a
/// partition looks like until TCP gives up), then heal.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct NetworkPartitionTests {
    let pool: PostgresPool
    let store: JobStore

    init() async throws {
        pool = try await TestDatabase.migrated()
        store = JobStore(pool: pool)
    }

    /// The relay: `python3 - LISTEN_PORT TARGET_HOST TARGET_PORT`; SIGUSR1 stops forwarding, SIGUSR2 forwards again
    /// (what was held flows on, as TCP retransmits after a partition heals). Prints its pid once listening (`python3`
    /// may be a shim that does not exec, so the launched process is not always the relay).
    static let relay = #"""
        import asyncio, os, signal, sys
        listen, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
        signal.pthread_sigmask(signal.SIG_SETMASK, [])  # a test runner may block signals; its children inherit that
        async def main():
            flowing = asyncio.Event(); flowing.set()
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGUSR1, flowing.clear)
            loop.add_signal_handler(signal.SIGUSR2, flowing.set)
            async def pipe(r, w):
                try:
                    while True:
                        data = await r.read(65536)
                        if not data: break
                        await flowing.wait()
                        w.write(data); await w.drain()
                except Exception: pass
                finally: w.close()
            async def handle(cr, cw):
                sr, sw = await asyncio.open_connection(host, port)
                await asyncio.gather(pipe(cr, sw), pipe(sr, cw))
            server = await asyncio.start_server(handle, "127.0.0.1", listen)
            print(os.getpid(), flush=True)
            async with server: await server.serve_forever()
        asyncio.run(main())
        """#

    func status(_ id: UUID) async throws -> (status: String, worker: String?) {
        let r = try await pool.queryRetrying("SELECT status, worker_id FROM quarry.jobs WHERE id = $1", [id]).first
        return (r?.string("status") ?? "-", r?.string("worker_id"))
    }

    func completions(_ id: UUID) async throws -> Int {
        try await pool.queryRetrying(
            "SELECT count(*) AS n FROM quarry.job_metrics WHERE job_id = $1 AND status = 'completed'", [id]
        ).first?.int("n") ?? 0
    }

    /// Partitioned while it runs a job: the worker's session still looks alive to PostgreSQL, so crash detection
    /// leaves the job alone and only the stall threshold recovers it; another worker completes it; when the
    /// partition heals, the first worker's late heartbeat and completion change nothing (the fence), it reports the
    /// lost lease, and it goes on working.
    @Test func aPartitionedWorkerIsRecoveredByTheStallThresholdAndItsLateWritesAreFenced() async throws {
        let relayPort = Int.random(in: 40_000..<50_000)
        var url = try #require(URLComponents(string: TestDatabase.url))
        let host = url.host ?? "127.0.0.1"
        let dbPort = url.port ?? 5432
        url.host = "127.0.0.1"
        url.port = relayPort
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("relay-\(UUID().uuidString).py")
        try Self.relay.write(to: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: script) }
        let relay = Process()
        relay.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        relay.arguments = ["python3", script.path, String(relayPort), host, String(dbPort)]
        let out = Pipe()
        relay.standardOutput = out
        try relay.run()
        defer { relay.terminate() }
        let announced = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        let relayPID = try #require(pid_t(announced.trimmingCharacters(in: .whitespacesAndNewlines)), "relay said \(announced)")
        defer { kill(relayPID, SIGKILL) }

        let workerID = "partitioned-\(UUID().uuidString.prefix(6))"
        let id = try await store.enqueue(kind: "sleep", payload: #"{"ms":2500}"#)
        let partitioned = try ChildProcess(
            "worker",
            environment: [
                "DATABASE_URL": try #require(url.string), "WORKER_KINDS": "sleep", "WORKER_ID": workerID,
                "EXTRACTION_HEARTBEAT_INTERVAL_MS": "200",
            ])
        defer { partitioned.signal(SIGKILL) }
        #expect(try await eventually { try await status(id).status == "processing" })
        #expect(try await status(id).worker == workerID)

        kill(relayPID, SIGUSR1)  // the partition
        try await Task.sleep(for: .seconds(1.5))
        // Its session is still open on the server: crash detection must not take the job…
        let dead = try await store.recoverDeadWorkers().filter { $0.id == id }
        #expect(dead.isEmpty, "a partitioned (not crashed) worker's job was taken by crash detection")
        // …the stall threshold does.
        let stalled = try await store.recoverStalled(stalledAfter: .seconds(1)).filter { $0.id == id }
        let state = try await pool.query(
            "SELECT status, worker_id, extract(epoch FROM now() - heartbeat_at) AS age, attempt FROM quarry.jobs WHERE id = $1", [id]
        ).map { "\($0["status"] ?? "-") \($0["worker_id"] ?? "-") age \($0["age"] ?? "-") attempt \($0["attempt"] ?? "-")" }
        #expect(stalled.count == 1, "job: \(state); worker log: \(partitioned.log.suffix(1500))")
        let rescuer = try ChildProcess("worker", environment: ["WORKER_KINDS": "sleep"])
        #expect(try await eventually { try await status(id).status == "completed" })
        rescuer.signal(SIGTERM)
        #expect(await rescuer.waitForExit(timeout: .seconds(10)) == 0)

        kill(relayPID, SIGUSR2)  // healed: the partitioned worker's held writes arrive
        #expect(try await eventually(timeout: .seconds(10)) { partitioned.log.contains("lease lost") || partitioned.log.contains("lease gone") })
        try await Task.sleep(for: .seconds(1))
        #expect(try await completions(id) == 1)
        #expect(try await status(id).status == "completed")

        // It goes on working once the network is back.
        let next = try await store.enqueue(kind: "sleep", payload: #"{"ms":1000}"#)
        #expect(
            try await eventually {
                let s = try await status(next); return s.status == "processing" && s.worker == workerID
            })
        #expect(try await eventually { try await status(next).status == "completed" })
        partitioned.signal(SIGTERM)
        #expect(await partitioned.waitForExit(timeout: .seconds(10)) == 0)
    }
}
