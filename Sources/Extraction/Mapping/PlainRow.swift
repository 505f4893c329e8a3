/// A row that needs nothing but its own cells: every mapped cell fits its column, the numbers are plain
/// (`12`, `12.50`), no transformation applies, nothing lands in `issues`, and `extra` holds at most the cells of
/// unmapped columns — the common row of a supplier file. ``RowProcessor/plainRow(_:)`` recognises it from the parser's bytes without making a
/// `String` per cell; any other row is left to ``RowProcessor/process(rowNumber:fields:)``, and both give the
/// same stored row.
///
/// The byte slices point into the parser's record: a `PlainRow` is valid only during the record's callback.
public struct PlainRow {
    /// A cell's text: its bytes when they are ASCII, else the decoded, trimmed string.
    public enum Text {
        case bytes(UnsafeBufferPointer<UInt8>)
        case string(String)

        /// The text as a `String`.
        public var string: String {
            switch self {
            case .bytes(let b): String(decoding: b, as: UTF8.self)
            case .string(let s): s
            }
        }
    }

    /// 1-based row number in the source file.
    public var rowNumber: Int
    public var sku: Text?
    public var name: Text?
    public var description: Text?
    /// Canonical decimal text (`"\(value)"`: no leading zeros, no trailing fraction zeros).
    public var price: Text?
    /// ISO 4217 code.
    public var currency: String?
    /// Canonical decimal text, like ``price``.
    public var quantity: Text?
    public var unit: Text?
    public var category: Text?
    public var brand: Text?
    public var barcode: Text?
    /// The record, for the cells of unmapped columns (``forEachExtra(_:)``).
    public var record: RawRecord
    /// The unmapped columns inside the header, sorted by key (as `extra` is written); empty when none has a value.
    public var extraColumns: [ExtraColumn] = []

    /// An unmapped column: where it is and its `extra` key.
    public struct ExtraColumn: Sendable {
        public var index: Int
        public var key: String
    }

    /// Whether `extra` has any entry.
    public var hasExtra: Bool { !extraColumns.isEmpty }

    init(record: RawRecord) {
        self.rowNumber = record.number
        self.record = record
    }

    /// Calls `body` with each `extra` entry in key order: the key and the cell as it is (not trimmed), skipping
    /// blank cells — what `RowProcessor.process` puts in `extra`.
    public func forEachExtra(_ body: (_ key: String, _ value: Text) throws -> Void) rethrows {
        for column in extraColumns where column.index < record.fieldCount {
            let cell = record.field(column.index)
            if FieldDecoding.isASCII(cell) {
                guard cell.contains(where: { !String.isASCIIWhitespace($0) }) else { continue }
                try body(column.key, .bytes(cell))
            } else {
                let value = record.decoding.decode(cell)
                guard !value.isBlankFast else { continue }
                try body(column.key, .string(value))
            }
        }
    }
}
