/// A self-contained CSV parsing micro benchmark (for `quarry bench`).
public enum CSVBenchmark {
    /// Generates an in-memory 10-column CSV of `rows` rows (some quoted fields) and parses it
    /// in 256 KB chunks, building every field `String`. Returns the rows seen, seconds and MB/s.
    public static func run(rows: Int) -> (rows: Int, seconds: Double, mbPerSecond: Double) {
        var data: [UInt8] = []
        data.reserveCapacity(rows * 80 + 128)
        data.append(contentsOf: Array("id,name,city,amount,date,flag,code,note,qty,price\n".utf8))
        for r in 0..<rows {
            let line =
                "\(r),name \(r % 977),\"Town, \(r % 31)\",\(r % 10_000).25,2024-01-\(10 + r % 18),true,C\(r % 4099),\"say \"\"hi\"\"\",\(r % 50),\(r % 1000).5\n"
            data.append(contentsOf: Array(line.utf8))
        }
        var parser = CSVParser(delimiter: UInt8(ascii: ","), maxRecordBytes: 1 << 20, maxFields: 1000)
        var seen = 0
        var checksum = 0
        let clock = ContinuousClock()
        let start = clock.now
        data.withUnsafeBufferPointer { all in
            var offset = 0
            let chunk = 256 * 1024
            while offset < all.count {
                let end = min(offset + chunk, all.count)
                try? parser.feed(UnsafeBufferPointer(rebasing: all[offset..<end])) { _, f in
                    seen += 1
                    checksum &+= f.count
                }
                offset = end
            }
            try? parser.finish { _, f in
                seen += 1; checksum &+= f.count
            }
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let mb = Double(data.count) / 1_000_000
        _ = checksum
        return (max(0, seen - 1), seconds, seconds > 0 ? mb / seconds : 0)
    }
}
