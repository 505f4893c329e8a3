// The job config contract (`ExtractionConfig`, `ColumnRef`, `Transformation`, `CanonicalField`, the number,
// date and currency parsers) lives in `JobConfig`, which the api shares without the readers. Re-exported so
// every module that imports `Extraction` sees it as before.
@_exported public import JobConfig
