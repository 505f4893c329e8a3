import CMalloc
import Testing

/// The worker's malloc tuning (`Sources/worker/main.swift`) goes through `CMalloc`'s wrapper; on glibc it must really
/// reach `mallopt` (a wrapper compiled as the no-op branch kept the worker at 74 MB peak RSS for 10M rows).
@Suite struct MallocTuningTests {
    @Test func theMmapThresholdIsSetOnGlibc() {
        #if os(Linux)
            // glibc returns 1 when it accepts the parameter; the no-op branch returns 0.
            #expect(cmalloc_set_mmap_threshold(256 * 1024) == 1)
        #else
            #expect(cmalloc_set_mmap_threshold(256 * 1024) == 0)
        #endif
    }
}
