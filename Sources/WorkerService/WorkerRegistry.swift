/// The handlers a `worker` process runs: the built-in kinds plus the product's.
public enum WorkerRegistry {
    public static func make() -> HandlerRegistry {
        let registry = HandlerRegistry.builtIn()
        return registry
    }
}
