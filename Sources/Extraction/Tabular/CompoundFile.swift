import Models

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A read-only OLE2 compound file (MS-CFB): the container of `.xls` workbooks and of password-protected
/// OOXML packages (`EncryptionInfo` + `EncryptedPackage`).
///
/// Problem: the container is a small FAT file system, and every number in it (sector indexes, chain links,
/// stream sizes, directory links) comes from the file. Mechanism: the header, the DIFAT, the FAT and the
/// directory are read once and every index is checked against the file's sector count before use; a chain
/// is walked with a visited set, so a cycle or a dangling link is `.malformedFile`, never a loop or a crash.
/// Cost: the FAT (4 bytes per sector, under 1 % of the file) and one `UInt32` per sector of the stream being
/// read; stream bytes are read on demand with `pread`. Example:
///
///     let cfb = try CompoundFile(path: "book.xls")
///     if let entry = cfb.rootStream(named: ["Workbook", "Book"]) { let stream = try cfb.openStream(entry) }
final class CompoundFile {
    /// A stream of the directory.
    struct Entry: Sendable {
        var name: String
        var type: UInt8
        var start: UInt32
        var size: Int64
        var left: UInt32, right: UInt32, child: UInt32
    }

    static let magic: [UInt8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]
    static let endOfChain: UInt32 = 0xFFFF_FFFE
    static let freeSector: UInt32 = 0xFFFF_FFFF
    static let noStream: UInt32 = 0xFFFF_FFFF

    let path: String
    let fileSize: Int64
    let sectorSize: Int
    let miniSectorSize: Int
    let miniCutoff: Int64
    private let fd: Int32
    private var fat: [UInt32] = []
    private var miniFat: [UInt32] = []
    private(set) var entries: [Entry] = []
    /// Sector chain of the mini stream (the root entry's stream), read lazily.
    private var miniStreamChain: [UInt32]?

    /// Opens and checks the container; `.malformedFile` when it is not one or its tables are inconsistent.
    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw JobError(.fileNotFound, "cannot open file", details: ["path": path]) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw JobError(.fileNotFound, "cannot stat file", details: ["path": path])
        }
        self.fd = fd
        fileSize = Int64(st.st_size)
        var header = [UInt8](repeating: 0, count: 512)
        guard Self.readAt(fd, &header, 0), Array(header[0..<8]) == Self.magic else {
            close(fd)
            throw Self.malformed("not an OLE2 compound file")
        }
        let shift = Int(le16(header, 30)), miniShift = Int(le16(header, 32))
        guard shift == 9 || shift == 12, miniShift == 6 else {
            close(fd)
            throw Self.malformed("unsupported sector size 2^\(shift)")
        }
        sectorSize = 1 << shift
        miniSectorSize = 1 << miniShift
        miniCutoff = Int64(le32(header, 56))
        do {
            try loadFAT(header)
            entries = try loadDirectory(firstSector: le32(header, 48))
            let miniFatStart = le32(header, 60)
            if miniFatStart != Self.endOfChain && miniFatStart != Self.freeSector {
                let chain = try chain(from: miniFatStart, bytes: nil)
                guard chain.count <= 1 << 20 else { throw Self.malformed("mini FAT too large") }
                let bytes = try read(chain: chain, count: Int64(chain.count * sectorSize))
                miniFat = (0..<bytes.count / 4).map { le32(bytes, $0 * 4) }
            }
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// Number of whole or partial sectors after the header: the bound of every sector index.
    private var sectorCount: Int { Int((fileSize - Int64(sectorSize) + Int64(sectorSize) - 1) / Int64(sectorSize)) }

    static func malformed(_ what: String) -> JobError {
        JobError(.malformedFile, "corrupt compound file: \(what)")
    }

    private static func readAt(_ fd: Int32, _ buffer: inout [UInt8], _ offset: Int64) -> Bool {
        let want = buffer.count
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(offset)) }
        return n == want
    }

    /// FAT sector indexes from the header's 109 DIFAT slots and the DIFAT chain, then the FAT itself.
    private func loadFAT(_ header: [UInt8]) throws {
        let fatSectors = Int(le32(header, 44))
        guard fatSectors <= sectorCount + 1 else { throw Self.malformed("FAT larger than the file") }
        var difat: [UInt32] = (0..<109).map { le32(header, 76 + $0 * 4) }
        var next = le32(header, 68)
        var hops = 0
        let perSector = sectorSize / 4
        while next != Self.endOfChain && next != Self.freeSector && difat.count < fatSectors + 109 {
            hops += 1
            guard Int(next) < sectorCount, hops <= sectorCount else { throw Self.malformed("DIFAT chain out of bounds or cyclic") }
            let bytes = try readSector(next)
            difat += (0..<perSector - 1).map { le32(bytes, $0 * 4) }
            next = le32(bytes, (perSector - 1) * 4)
        }
        guard difat.count >= fatSectors else { throw Self.malformed("DIFAT lists fewer FAT sectors than the header") }
        fat.reserveCapacity(fatSectors * perSector)
        for i in 0..<fatSectors {
            let sector = difat[i]
            guard Int(sector) < sectorCount else { throw Self.malformed("FAT sector \(sector) out of bounds") }
            let bytes = try readSector(sector)
            fat += (0..<perSector).map { le32(bytes, $0 * 4) }
        }
    }

    private func readSector(_ sector: UInt32) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: sectorSize)
        let offset = Int64(sectorSize) * (Int64(sector) + 1)
        let available = Int(min(Int64(sectorSize), fileSize - offset))
        guard available > 0 else { throw Self.malformed("sector \(sector) beyond the end of the file") }
        if available < sectorSize {  // a short last sector: the rest reads as zeros
            var part = [UInt8](repeating: 0, count: available)
            guard Self.readAt(fd, &part, offset) else { throw Self.malformed("short read") }
            buffer.replaceSubrange(0..<available, with: part)
        } else {
            guard Self.readAt(fd, &buffer, offset) else { throw Self.malformed("short read") }
        }
        return buffer
    }

    /// The sector chain starting at `start` through `table` (FAT, or mini FAT when `mini`): every link checked,
    /// cycles detected. With `bytes`, the chain must cover it (and is cut to the sectors it needs).
    func chain(from start: UInt32, bytes: Int64?, mini: Bool = false) throws -> [UInt32] {
        let table = mini ? miniFat : fat
        let unit = Int64(mini ? miniSectorSize : sectorSize)
        let limit = mini ? table.count : min(table.count, sectorCount)
        let needed = bytes.map { Int(($0 + unit - 1) / unit) }
        var out: [UInt32] = []
        var seen = [Bool](repeating: false, count: limit)
        var sector = start
        while sector != Self.endOfChain {
            if let needed, out.count == needed { break }
            guard Int(sector) < limit else { throw Self.malformed("sector index \(sector) out of bounds") }
            guard !seen[Int(sector)] else { throw Self.malformed("cycle in a sector chain") }
            seen[Int(sector)] = true
            out.append(sector)
            sector = table[Int(sector)]
        }
        if let needed, out.count < needed { throw Self.malformed("a stream is longer than its sector chain") }
        return out
    }

    /// Reads `count` bytes of a regular-sector chain, coalescing adjacent sectors.
    private func read(chain: [UInt32], count: Int64) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Int(count))
        for sector in chain where Int64(out.count) < count {
            let bytes = try readSector(sector)
            out += bytes.prefix(Int(min(Int64(sectorSize), count - Int64(out.count))))
        }
        return out
    }

    /// Directory entries (128 bytes each) along the directory chain.
    private func loadDirectory(firstSector: UInt32) throws -> [Entry] {
        let sectors = try chain(from: firstSector, bytes: nil)
        guard sectors.count <= 1 << 16 else { throw Self.malformed("directory too large") }
        var out: [Entry] = []
        for sector in sectors {
            let bytes = try readSector(sector)
            for i in stride(from: 0, to: sectorSize, by: 128) {
                let nameBytes = Int(le16(bytes, i + 64))
                let units = (0..<max(0, min(32, nameBytes / 2) - 1)).map { UInt16(le16(bytes, i + $0 * 2)) }
                let size = sectorSize == 512 ? Int64(le32(bytes, i + 120)) : Int64(bitPattern: le64(bytes, i + 120))
                out.append(
                    Entry(
                        name: String(decoding: units, as: UTF16.self), type: bytes[i + 66], start: le32(bytes, i + 116),
                        size: size, left: le32(bytes, i + 68), right: le32(bytes, i + 72), child: le32(bytes, i + 76)))
            }
        }
        guard let root = out.first, root.type == 5 else { throw Self.malformed("no root entry") }
        return out
    }

    /// The root storage's stream with one of `names` (case-insensitive, first name preferred), walking the
    /// directory's red-black tree with a visited set.
    func rootStream(named names: [String]) -> Entry? {
        var found: [String: Entry] = [:]
        var stack = [entries[0].child]
        var seen = Set<UInt32>()
        while let id = stack.popLast() {
            guard id != Self.noStream, Int(id) < entries.count, seen.insert(id).inserted else { continue }
            let e = entries[Int(id)]
            if e.type == 2 { found[e.name.lowercased()] = e }
            stack += [e.left, e.right]
        }
        return names.lazy.compactMap { found[$0.lowercased()] }.first
    }

    /// A sequential reader over a stream's bytes (mini-stream streams are read into memory: they are < 4 KB).
    func openStream(_ entry: Entry) throws -> CompoundStream {
        guard entry.size >= 0, entry.size <= fileSize else { throw Self.malformed("stream \(entry.name) is larger than the file") }
        if entry.size < miniCutoff {
            return CompoundStream(bytes: try readMini(entry))
        }
        return CompoundStream(file: self, chain: try chain(from: entry.start, bytes: entry.size), size: entry.size)
    }

    private func readMini(_ entry: Entry) throws -> [UInt8] {
        guard entry.size > 0 else { return [] }
        let root = entries[0]
        if miniStreamChain == nil { miniStreamChain = try chain(from: root.start, bytes: root.size) }
        let rootChain = miniStreamChain ?? []
        var out: [UInt8] = []
        for mini in try chain(from: entry.start, bytes: entry.size, mini: true) {
            let offset = Int64(mini) * Int64(miniSectorSize)
            let index = Int(offset / Int64(sectorSize))
            guard offset + Int64(miniSectorSize) <= root.size, index < rootChain.count else {
                throw Self.malformed("mini sector \(mini) beyond the mini stream")
            }
            let sector = try readSector(rootChain[index])
            let within = Int(offset % Int64(sectorSize))
            out += sector[within..<within + miniSectorSize]
        }
        return Array(out.prefix(Int(entry.size)))
    }

    /// Reads up to `maxSectors` adjacent sectors starting at `chain[index]` into `buffer`; returns sectors read.
    fileprivate func readRun(_ chain: [UInt32], from index: Int, maxSectors: Int, into buffer: inout [UInt8]) throws -> Int {
        var run = 1
        while run < maxSectors, index + run < chain.count, chain[index + run] == chain[index + run - 1] &+ 1 { run += 1 }
        let offset = Int64(sectorSize) * (Int64(chain[index]) + 1)
        let want = Int(min(Int64(run * sectorSize), fileSize - offset))
        guard want > 0 else { throw Self.malformed("sector beyond the end of the file") }
        buffer = [UInt8](repeating: 0, count: run * sectorSize)
        var part = [UInt8](repeating: 0, count: want)
        guard Self.readAt(fd, &part, offset) else { throw Self.malformed("short read") }
        buffer.replaceSubrange(0..<want, with: part)
        return run
    }
}

/// Sequential, seekable access to one stream of a ``CompoundFile``: bytes come 64 KB at a time.
struct CompoundStream {
    private let file: CompoundFile?
    private let chain: [UInt32]
    let size: Int64
    private var buffer: [UInt8]
    private var bufferStart: Int64 = 0
    /// Position of the next byte.
    private(set) var position: Int64 = 0

    init(bytes: [UInt8]) {
        file = nil
        chain = []
        size = Int64(bytes.count)
        buffer = bytes
    }

    init(file: CompoundFile, chain: [UInt32], size: Int64) {
        self.file = file
        self.chain = chain
        self.size = size
        buffer = []
    }

    /// Moves to `offset` (`.malformedFile` beyond the end).
    mutating func seek(to offset: Int64) throws {
        guard offset >= 0, offset <= size else { throw CompoundFile.malformed("offset \(offset) beyond the stream") }
        position = offset
    }

    /// Copies the next `count` bytes into `out` (replacing its contents); false at a clean end of stream,
    /// `.malformedFile` when the stream ends inside them.
    mutating func read(_ count: Int, into out: inout [UInt8]) throws -> Bool {
        out.removeAll(keepingCapacity: true)
        if position == size && count > 0 { return false }
        guard position + Int64(count) <= size else { throw CompoundFile.malformed("stream ends inside a record") }
        while out.count < count {
            if position < bufferStart || position >= bufferStart + Int64(buffer.count) { try fill() }
            let within = Int(position - bufferStart)
            let take = min(count - out.count, buffer.count - within)
            out.append(contentsOf: buffer[within..<within + take])
            position += Int64(take)
        }
        return true
    }

    /// The next two bytes as a little-endian `UInt16`, nil at a clean end of stream (no copy: for scans).
    mutating func readUInt16() throws -> UInt16? {
        if position == size { return nil }
        guard position + 2 <= size else { throw CompoundFile.malformed("stream ends inside a record") }
        let within = Int(position - bufferStart)
        if position >= bufferStart, within + 1 < buffer.count {
            position += 2
            return UInt16(buffer[within]) | UInt16(buffer[within + 1]) << 8
        }
        var two: [UInt8] = []
        _ = try read(2, into: &two)
        return le16(two, 0)
    }

    private mutating func fill() throws {
        guard let file else { throw CompoundFile.malformed("offset beyond the stream") }
        let unit = Int64(file.sectorSize)
        let index = Int(position / unit)
        guard index < chain.count else { throw CompoundFile.malformed("offset beyond the stream") }
        _ = try file.readRun(chain, from: index, maxSectors: max(1, 65536 / file.sectorSize), into: &buffer)
        bufferStart = Int64(index) * unit
        if bufferStart + Int64(buffer.count) > size { buffer.removeLast(Int(bufferStart + Int64(buffer.count) - size)) }
    }
}

@inline(__always) func le16(_ b: [UInt8], _ i: Int) -> UInt16 {
    i + 1 < b.count ? UInt16(b[i]) | UInt16(b[i + 1]) << 8 : 0
}

@inline(__always) func le32(_ b: [UInt8], _ i: Int) -> UInt32 {
    i + 3 < b.count ? UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24 : 0
}

@inline(__always) func le64(_ b: [UInt8], _ i: Int) -> UInt64 {
    UInt64(le32(b, i)) | UInt64(le32(b, i + 4)) << 32
}
