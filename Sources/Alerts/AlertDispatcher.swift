public import Logging

/// How one notifier fared with one alert.
public struct NotifierOutcome: Sendable, Hashable {
    public var notifier: String
    /// Attempts made (1 when the first try succeeded or failed for good).
    public var attempts: Int
    /// `nil` when delivered.
    public var error: AlertError?

    public var delivered: Bool { error == nil }

    public init(notifier: String, attempts: Int, error: AlertError?) {
        self.notifier = notifier
        self.attempts = attempts
        self.error = error
    }
}

/// Retry schedule of ``AlertDispatcher``: `maxAttempts` tries, waiting `initialDelay`, then ×`multiplier`
/// each time, each wait scaled by a random factor in `1 ± jitter`.
public struct AlertRetryPolicy: Sendable, Hashable {
    public var maxAttempts: Int
    public var initialDelay: Duration
    public var multiplier: Double
    /// Fraction in 0...1.
    public var jitter: Double

    public init(maxAttempts: Int = 3, initialDelay: Duration = .milliseconds(200), multiplier: Double = 2, jitter: Double = 0.2) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialDelay = initialDelay
        self.multiplier = multiplier
        self.jitter = min(max(jitter, 0), 1)
    }

    public static let `default` = AlertRetryPolicy()

    /// The wait before attempt `attempt + 1` (`attempt` ≥ 1), jitter included.
    public func delay(afterAttempt attempt: Int) -> Duration {
        var factor = 1.0
        for _ in 1..<max(1, attempt) { factor *= multiplier }
        if jitter > 0 { factor *= Double.random(in: (1 - jitter)...(1 + jitter)) }
        return initialDelay * factor
    }
}

/// Sends an alert to every notifier concurrently, retrying retryable failures, and reports each
/// notifier's outcome. One notifier's failure never affects the others and is never thrown.
public struct AlertDispatcher: Sendable {
    public let notifiers: [any AlertNotifier]
    public let retryPolicy: AlertRetryPolicy
    private let logger: Logger

    public init(
        notifiers: [any AlertNotifier],
        retryPolicy: AlertRetryPolicy = .default,
        logger: Logger = Logger(label: "quarry.alerts")
    ) {
        self.notifiers = notifiers
        self.retryPolicy = retryPolicy
        self.logger = logger
    }

    /// Outcomes in the order of ``notifiers``.
    public func dispatch(_ alert: Alert) async -> [NotifierOutcome] {
        await withTaskGroup(of: (Int, NotifierOutcome).self) { group in
            for (index, notifier) in notifiers.enumerated() {
                group.addTask { (index, await deliver(alert, to: notifier)) }
            }
            var outcomes = [NotifierOutcome?](repeating: nil, count: notifiers.count)
            for await (index, outcome) in group { outcomes[index] = outcome }
            return outcomes.compactMap { $0 }
        }
    }

    private func deliver(_ alert: Alert, to notifier: any AlertNotifier) async -> NotifierOutcome {
        var attempt = 0
        while true {
            attempt += 1
            let failure: AlertError
            do {
                try await notifier.send(alert)
                logger.debug(
                    "alert delivered",
                    metadata: [
                        "notifier": "\(notifier.name)", "alert": "\(alert.key)", "action": "\(alert.action.rawValue)", "attempts": "\(attempt)",
                    ]
                )
                return NotifierOutcome(notifier: notifier.name, attempts: attempt, error: nil)
            } catch let error as AlertError {
                failure = error
            } catch is CancellationError {
                return NotifierOutcome(
                    notifier: notifier.name, attempts: attempt,
                    error: AlertError(.networkError, "\(notifier.name): cancelled", retryable: true)
                )
            } catch {
                // Foreign errors are described by type only: their text may carry secrets.
                failure = AlertError(.networkError, "\(notifier.name): \(type(of: error))", retryable: true)
            }

            let willRetry = failure.retryable && attempt < retryPolicy.maxAttempts && !Task.isCancelled
            logger.warning(
                "alert delivery failed",
                metadata: [
                    "notifier": "\(notifier.name)", "alert": "\(alert.key)", "action": "\(alert.action.rawValue)",
                    "attempt": "\(attempt)", "error": "\(failure)", "retry": "\(willRetry)",
                ]
            )
            guard willRetry else {
                return NotifierOutcome(notifier: notifier.name, attempts: attempt, error: failure)
            }
            do {
                try await Task.sleep(for: retryPolicy.delay(afterAttempt: attempt))
            } catch {
                return NotifierOutcome(notifier: notifier.name, attempts: attempt, error: failure)
            }
        }
    }
}
