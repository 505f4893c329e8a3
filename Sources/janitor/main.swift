import Alerts
import Foundation
import JanitorService
import Logging
import OpsHTTP
import Postgres
import QuarryLog
import Queue
import ServiceLifecycle
import UnixSignals

QuarryLogging.bootstrap(service: "janitor")
let logger = Logger(label: "quarry.janitor")

do {
    let environment = ProcessInfo.processInfo.environment
    let configuration = try JanitorConfiguration.fromEnvironment(environment)
    let pool = PostgresPool(
        configuration: .init(conninfo: configuration.databaseURL, maxConnections: configuration.poolSize, applicationName: "quarry-janitor"),
        logger: logger)
    if environment["QUARRY_AUTO_MIGRATE"] == "1", let dir = MigrationRunner.locateDirectory() {
        let runner = try MigrationRunner(directory: dir)
        _ = try await pool.withConnection { try runner.apply(on: $0) }
    }
    let janitor = Janitor(
        configuration: configuration, pool: pool, notifiers: AlertNotifiers.fromEnvironment(environment), logger: logger)
    var services: [any Service] = [janitor]
    if let port = configuration.metricsPort {
        services.append(
            OpsEndpoint.make(
                port: port, logger: logger,
                ready: { (try? await pool.query("SELECT 1")) != nil },
                metrics: { janitor.metrics.prometheusText(isLeader: janitor.election.isLeader) }))
    }
    var groupConfiguration = ServiceGroupConfiguration(
        services: services.map { .init(service: $0) },
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger)
    // Bounded drain: a task mid-batch finishes its statement, then the lock is released.
    groupConfiguration.maximumGracefulShutdownDuration = .seconds(20)
    let group = ServiceGroup(configuration: groupConfiguration)
    try await group.run()
    pool.close()
} catch {
    logger.critical("janitor failed", metadata: ["error": "\(error)"])
    exit(1)
}
