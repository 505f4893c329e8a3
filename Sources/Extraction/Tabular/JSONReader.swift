struct JSONReader: TabularReader {
    let path: String
    let lineDelimited: Bool
    func read(limits: ExtractionLimits, isCancelled: @Sendable () -> Bool, progress: (Int64) -> Void, onRow: (Int, [String]) throws -> Void) throws {}
}
