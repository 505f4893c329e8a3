import Foundation

/// Finds rows whose SKU repeats an earlier row's, exactly, in bounded memory whatever the file size.
///
/// Each SKU is kept as a 64-bit hash with its row number (16 bytes). Up to `runCapacity` pairs are held in
/// memory (4 MB by default); a full buffer is sorted and appended to a spill file as a sorted run. `finish`
/// merges the runs and reports every row whose SKU hash was already seen in an earlier row — the first
/// occurrence is never reported. A file that fits in one run never touches the disk. The spill file is
/// removed by `finish`, or when the finder is released (a failed job).
///
/// Two distinct SKUs with the same 64-bit hash would be reported as duplicates (a warning only; the row stays
/// valid); for n distinct SKUs the chance of any such collision is about n² / 2⁶⁵ — ~3 × 10⁻⁸ for a million rows.
public final class DuplicateFinder {
    struct Entry: Comparable {
        var hash: UInt64
        var row: Int64
        static func < (a: Entry, b: Entry) -> Bool { a.hash != b.hash ? a.hash < b.hash : a.row < b.row }
    }

    public let runCapacity: Int
    private let spillPath: String
    private var buffer: [Entry] = []
    /// The radix sort's second buffer (as large as `buffer`, allocated on first use).
    private var scratch: [Entry] = []
    private var spill: FileHandle?
    /// Entries in each run written to the spill file, in order.
    private var runLengths: [Int] = []

    /// - Parameters:
    ///   - spillPath: Where sorted runs go when the file has more than `runCapacity` SKUs (removed by `finish`).
    ///   - runCapacity: Pairs held in memory (16 bytes each).
    public init(spillPath: String, runCapacity: Int = 262_144) {
        self.spillPath = spillPath
        self.runCapacity = max(2, runCapacity)
    }

    deinit {
        try? spill?.close()
        try? FileManager.default.removeItem(atPath: spillPath)
    }

    /// Records that `row` has `sku` (compared case-sensitively, as given). Empty SKUs are ignored.
    public func add(sku: String, row: Int) throws {
        guard !sku.isEmpty else { return }
        buffer.append(Entry(hash: Self.hash(sku), row: Int64(row)))
        if buffer.count >= runCapacity { try spillBuffer() }
    }

    /// Reports the duplicate rows in chunks of at most `chunkSize` row numbers (in no particular order), and
    /// returns how many there were. Removes the spill file.
    public func finish(chunkSize: Int = 10_000, _ report: ([Int]) throws -> Void) throws -> Int {
        defer {
            try? spill?.close()
            spill = nil
            try? FileManager.default.removeItem(atPath: spillPath)
        }
        var found = 0
        var chunk: [Int] = []
        var previous: UInt64?
        func visit(_ e: Entry) throws {
            if e.hash == previous {
                chunk.append(Int(e.row))
                found += 1
                if chunk.count >= chunkSize {
                    try report(chunk)
                    chunk.removeAll(keepingCapacity: true)
                }
            }
            previous = e.hash
        }
        if runLengths.isEmpty {
            sortBuffer()
            for e in buffer { try visit(e) }
        } else {
            if !buffer.isEmpty { try spillBuffer() }
            try spill?.synchronize()
            var merger = try RunMerger(path: spillPath, runLengths: runLengths)
            while let e = try merger.next() { try visit(e) }
        }
        if !chunk.isEmpty { try report(chunk) }
        return found
    }

    private func spillBuffer() throws {
        sortBuffer()
        if spill == nil {
            FileManager.default.createFile(atPath: spillPath, contents: nil)
            guard let h = FileHandle(forWritingAtPath: spillPath) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: spillPath])
            }
            spill = h
        }
        let data = buffer.withUnsafeBufferPointer { Data(buffer: $0) }
        try spill?.write(contentsOf: data)
        runLengths.append(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Sorts `buffer` by (hash, row): a least-significant-digit radix sort on the hash, 16 bits a pass.
    /// Entries are appended in row order and each pass is stable, so equal hashes stay in row order.
    /// (The comparison sort it replaces was ~6 % of the worker's CPU.)
    func sortBuffer() {
        let n = buffer.count
        guard n > 1 else { return }
        if scratch.count < n { scratch = [Entry](repeating: Entry(hash: 0, row: 0), count: max(n, runCapacity)) }
        var offsets = [Int](repeating: 0, count: 1 << 16)
        buffer.withUnsafeMutableBufferPointer { a in
            scratch.withUnsafeMutableBufferPointer { b in
                offsets.withUnsafeMutableBufferPointer { offsets in
                    guard let aBase = a.baseAddress, let bBase = b.baseAddress, let counts = offsets.baseAddress else { return }
                    var from = aBase, to = bBase
                    for pass in 0..<4 {
                        let shift = UInt64(16 * pass)
                        counts.update(repeating: 0, count: 1 << 16)
                        for i in 0..<n { counts[Int(truncatingIfNeeded: (from[i].hash >> shift) & 0xFFFF)] += 1 }
                        var total = 0
                        for d in 0..<(1 << 16) {
                            let c = counts[d]
                            counts[d] = total
                            total += c
                        }
                        for i in 0..<n {
                            let e = from[i]
                            let d = Int(truncatingIfNeeded: (e.hash >> shift) & 0xFFFF)
                            to[counts[d]] = e
                            counts[d] += 1
                        }
                        swap(&from, &to)
                    }
                    // Four passes: the sorted entries are back in `buffer`.
                }
            }
        }
    }

    /// ASCII SKUs: FNV-1a over the bytes, finished with the MurmurHash3 64-bit mixer. Other SKUs use Swift's
    /// `String` hash, which — like `String ==` — treats canonically equivalent spellings ("é" vs "e\u{301}")
    /// as the same SKU. Only compared within one process.
    static func hash(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var s = s
        let isASCII = s.withUTF8 { bytes -> Bool in
            for b in bytes {
                if b >= 0x80 { return false }
                h ^= UInt64(b)
                h = h &* 0x0000_0100_0000_01B3
            }
            return true
        }
        if !isASCII { h = UInt64(bitPattern: Int64(s.hashValue)) }
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h = h &* 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }
}

/// K-way merge of sorted runs in one spill file, with a small read buffer per run and a binary heap.
private struct RunMerger {
    typealias Entry = DuplicateFinder.Entry
    private struct Cursor {
        var offset: UInt64  // next unread byte of this run
        var remaining: Int  // entries not yet read from disk
        var buffered: [Entry] = []
        var index = 0
    }

    private let file: FileHandle
    private var cursors: [Cursor]
    /// Min-heap of (entry, run index).
    private var heap: [(Entry, Int)] = []
    private let readEntries = 4096

    init(path: String, runLengths: [Int]) throws {
        guard let f = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        file = f
        var offset: UInt64 = 0
        cursors = runLengths.map { n in
            defer { offset += UInt64(n * MemoryLayout<Entry>.stride) }
            return Cursor(offset: offset, remaining: n)
        }
        for i in cursors.indices {
            if let e = try pop(run: i) { push((e, i)) }
        }
    }

    mutating func next() throws -> Entry? {
        guard let (top, run) = heap.first else {
            try? file.close()
            return nil
        }
        if let e = try pop(run: run) {
            heap[0] = (e, run)
            siftDown(0)
        } else {
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                siftDown(0)
            }
        }
        return top
    }

    private mutating func pop(run i: Int) throws -> Entry? {
        if cursors[i].index == cursors[i].buffered.count {
            guard cursors[i].remaining > 0 else { return nil }
            let n = min(readEntries, cursors[i].remaining)
            try file.seek(toOffset: cursors[i].offset)
            let bytes = n * MemoryLayout<Entry>.stride
            guard let data = try file.read(upToCount: bytes), data.count == bytes else {
                throw CocoaError(.fileReadCorruptFile)
            }
            var entries = [Entry](repeating: Entry(hash: 0, row: 0), count: n)
            entries.withUnsafeMutableBytes { destination in _ = data.copyBytes(to: destination) }
            cursors[i].buffered = entries
            cursors[i].index = 0
            cursors[i].offset += UInt64(bytes)
            cursors[i].remaining -= n
        }
        defer { cursors[i].index += 1 }
        return cursors[i].buffered[cursors[i].index]
    }

    private mutating func push(_ item: (Entry, Int)) {
        heap.append(item)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].0 < heap[parent].0 else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var smallest = i
            if l < heap.count && heap[l].0 < heap[smallest].0 { smallest = l }
            if r < heap.count && heap[r].0 < heap[smallest].0 { smallest = r }
            if smallest == i { return }
            heap.swapAt(i, smallest)
            i = smallest
        }
    }
}
