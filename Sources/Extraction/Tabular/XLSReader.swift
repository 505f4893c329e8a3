struct XLSReader: TabularReader {
    let path: String
    let options: TabularOptions
    func read(limits: ExtractionLimits, isCancelled: @Sendable () -> Bool, progress: (Int64) -> Void, onRow: (Int, [String]) throws -> Void) throws {}
}
