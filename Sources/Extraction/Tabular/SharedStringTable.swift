import Foundation
import Models

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An XLSX workbook's shared strings, kept outside the heap: the UTF-8 bytes of every string back to back in
/// one unlinked temp file, each string's end offset in another, both memory-mapped read-only once written.
///
/// A workbook may hold up to `EXTRACTION_MAX_UNPACKED_MB` of shared strings; as Swift `String`s in an array
/// they cost the worker their size and more in anonymous memory (a 100 MB table is well over 200 MB of RSS),
/// several jobs at once could push a worker past its memory limit. Mapped file pages are clean page cache the
/// kernel can drop under pressure and read back, so the table no longer counts against the worker's heap.
/// The files are unlinked as soon as they are created: nothing is left behind, whatever happens.
/// `@unchecked Sendable`: immutable once built, over read-only mappings.
final class SharedStringTable: @unchecked Sendable {
    /// Number of strings.
    let count: Int
    private let text: UnsafeRawBufferPointer?
    private let ends: UnsafeBufferPointer<UInt64>?

    fileprivate init(count: Int, text: UnsafeRawBufferPointer?, ends: UnsafeBufferPointer<UInt64>?) {
        self.count = count
        self.text = text
        self.ends = ends
    }

    /// An empty table (a workbook without `xl/sharedStrings.xml`).
    static let empty = SharedStringTable(count: 0, text: nil, ends: nil)

    deinit {
        if let text, let base = text.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), text.count) }
        if let ends, let base = ends.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), ends.count * 8) }
    }

    /// The string at `index`, nil when out of range.
    subscript(index: Int) -> String? {
        guard index >= 0, index < count, let ends else { return nil }
        let start = index == 0 ? 0 : Int(ends[index - 1])
        let end = Int(ends[index])
        guard end > start, let text, end <= text.count else { return "" }
        return String(decoding: UnsafeRawBufferPointer(rebasing: text[start..<end]), as: UTF8.self)
    }
}

/// Writes a ``SharedStringTable``: strings are appended in order, then `finish()` maps them.
final class SharedStringTableWriter {
    private let text: SpillFile
    private let ends: SpillFile
    private var textBytes: UInt64 = 0
    private(set) var count = 0

    init() throws {
        text = try SpillFile()
        ends = try SpillFile()
    }

    /// Appends the next string's UTF-8 bytes.
    func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try text.add($0) }
        textBytes += UInt64(bytes.count)
        try withUnsafeBytes(of: textBytes) { try ends.add($0) }
        count += 1
    }

    /// Flushes both files and maps them read-only.
    func finish() throws -> SharedStringTable {
        guard count > 0 else { return .empty }
        let textMap = try text.map()
        guard let endsMap = try ends.map() else { return .empty }
        return SharedStringTable(
            count: count, text: textMap, ends: UnsafeBufferPointer(start: endsMap.baseAddress?.assumingMemoryBound(to: UInt64.self), count: count))
    }
}

/// An unlinked temp file written through a 256 KB buffer and mapped read-only at the end.
private final class SpillFile {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var size = 0

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/quarry-sst-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { $0.baseAddress.map { mkstemp($0) } ?? -1 }
        guard fd >= 0 else { throw JobError(.extractionError, "cannot create a temp file for shared strings") }
        template.withUnsafeBufferPointer { path in _ = path.baseAddress.map { unlink($0) } }
        self.fd = fd
        buffer.reserveCapacity(256 * 1024)
    }

    deinit { close(fd) }

    func add(_ bytes: UnsafeRawBufferPointer) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 256 * 1024 { try flush() }
    }

    private func flush() throws {
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { all in all.baseAddress.map { write(fd, $0 + offset, all.count - offset) } ?? -1 }
            guard n > 0 else { throw JobError(.extractionError, "cannot write shared strings to a temp file") }
            offset += n
        }
        size += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }

    /// The whole file, mapped read-only (nil when empty).
    func map() throws -> UnsafeRawBufferPointer? {
        try flush()
        guard size > 0 else { return nil }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw JobError(.extractionError, "cannot map the shared strings")
        }
        return UnsafeRawBufferPointer(start: base, count: size)
    }
}
