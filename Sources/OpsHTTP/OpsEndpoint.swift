public import Hummingbird
public import Logging
import NIOCore
public import ServiceLifecycle

/// The `/healthz`, `/readyz` and `/metrics` listener that `worker` and `janitor` expose
/// (the `api` serves the same routes on its main port).
public enum OpsEndpoint {
    /// Builds the HTTP service.
    /// - Parameters:
    ///   - port: `METRICS_PORT`.
    ///   - ready: Whether the process can do its job (database reachable, migrations current).
    ///   - metrics: Prometheus text exposition.
    public static func make(
        host: String = "0.0.0.0", port: Int, logger: Logger,
        ready: @escaping @Sendable () async -> Bool,
        metrics: @escaping @Sendable () async -> String
    ) -> some Service {
        let router = Router()
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            let ok = await ready()
            return Response(
                status: ok ? .ok : .serviceUnavailable,
                body: .init(byteBuffer: ByteBuffer(string: ok ? "ready\n" : "not ready\n")))
        }
        router.get("/metrics") { _, _ -> Response in
            let text = await metrics()
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port)), logger: logger)
    }
}
