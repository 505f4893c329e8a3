public import Foundation
public import Logging
import Synchronization

/// A swift-log handler that writes one JSON object per line to standard error.
///
/// Fields: `ts` (ISO 8601, UTC), `level`, `service`, `msg`, then metadata flattened
/// (`job_id`, `org_id`, `worker_id`, …).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public let service: String

    private static let lock = Mutex(())

    public init(service: String, level: Logger.Level) {
        self.service = service
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: Any] = [
            "ts": Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
            "level": event.level.rawValue,
            "service": service,
            "msg": event.message.description,
        ]
        for (k, v) in metadata { fields[k] = Self.plain(v) }
        for (k, v) in event.metadata ?? [:] { fields[k] = Self.plain(v) }
        guard var data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return
        }
        data.append(0x0A)
        Self.lock.withLock { _ in FileHandle.standardError.write(data) }
    }

    static func plain(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let s): return s
        case .stringConvertible(let s): return s.description
        case .array(let a): return a.map(plain)
        case .dictionary(let d): return d.mapValues(plain)
        }
    }
}

/// Process-wide logging set-up shared by every executable.
public enum QuarryLogging {
    /// Installs the JSON handler; level from `LOG_LEVEL` (trace…critical, default info).
    public static func bootstrap(service: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        let level = environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
        LoggingSystem.bootstrap { _ in JSONLogHandler(service: service, level: level) }
    }
}
