import Extraction
import Foundation
import Models

/// A processed row on its way from the reading thread to the block writer.
struct PendingRow {
    var row: ProcessedRow
    var isValid: Bool
    /// The row's source cells, kept for the reject file (invalid rows, or every row under a price guard).
    var source: SourceCells?
}

/// Hands processed rows, in batches and in order, from the thread that reads and validates them to the thread that
/// encodes them into row blocks and writes the COPY (`TabularPipeline.stream`).
///
/// Problem: one thread read, mapped, validated, encoded and sent every row (~2.4 s of CPU per million rows), so
/// the job took as long as that one thread while a core sat idle. Mechanism: a FIFO of at most ``maxQueued``
/// batches between exactly one producer and one consumer; the producer waits while it is full, the consumer
/// while it is empty. Either side can stop the other: the writer's error reaches the reader at its next
/// ``put(_:)``, and a reader that gives up (cancel, strict-mode error) calls ``abort()``, so the writer stops
/// without finishing the COPY. Cost: at most `(maxQueued + 2) × batchSize` rows in memory (~1,500 rows, a few
/// hundred KB). Order is kept, so blocks stay sorted by row number (the block invariant).
final class RowHandoff: @unchecked Sendable {  // every field is read and written under `condition`
    /// Rows per batch: large enough that the lock is taken rarely, small enough to stay out of the RSS budget.
    static let batchSize = 256
    /// Batches waiting for the writer.
    static let maxQueued = 4

    private let condition = NSCondition()
    private var queued: [[PendingRow]] = []
    private var inputEnded = false
    private var aborted = false
    private var writerEnded = false
    private var writerError: (any Error)?

    /// Queues a batch, waiting while ``maxQueued`` are queued; throws the writer's error if it failed.
    func put(_ batch: [PendingRow]) throws {
        condition.lock()
        defer { condition.unlock() }
        while queued.count >= Self.maxQueued && !writerEnded { condition.wait() }
        if let writerError { throw writerError }
        // The writer only ends early on an error or an abort; either way no more rows are wanted.
        guard !writerEnded else { throw JobError(.extractionError, "the block writer stopped before the last row") }
        queued.append(batch)
        condition.broadcast()
    }

    /// No more rows: the writer finishes the COPY after the queued batches.
    func finishInput() {
        condition.lock()
        inputEnded = true
        condition.broadcast()
        condition.unlock()
    }

    /// The reader gave up: the writer stops at once, leaving the COPY unfinished.
    func abort() {
        condition.lock()
        aborted = true
        condition.broadcast()
        condition.unlock()
    }

    /// Whether the reader gave up (``abort()``).
    var wasAborted: Bool {
        condition.lock()
        defer { condition.unlock() }
        return aborted
    }

    /// The writer's next batch, waiting for it; nil when the input ended (after the last batch) or was aborted.
    func next() -> [PendingRow]? {
        condition.lock()
        defer { condition.unlock() }
        while queued.isEmpty && !inputEnded && !aborted { condition.wait() }
        if aborted || queued.isEmpty { return nil }
        let batch = queued.removeFirst()
        condition.broadcast()
        return batch
    }

    /// The writer is done (`error` nil: every batch was written and the COPY data finished).
    func writerFinished(_ error: (any Error)?) {
        condition.lock()
        writerEnded = true
        writerError = error
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until the writer is done; rethrows its error.
    func waitForWriter() throws {
        condition.lock()
        defer { condition.unlock() }
        while !writerEnded { condition.wait() }
        if let writerError { throw writerError }
    }

    /// Runs `body` on a thread of its own as the writer: ``writerFinished(_:)`` is called with its outcome.
    func startWriter(_ body: @escaping @Sendable () throws -> Void) {
        let thread = Thread { [self] in
            do {
                try body()
                writerFinished(nil)
            } catch {
                writerFinished(error)
            }
        }
        thread.name = "quarry-block-writer"
        thread.start()
    }
}

/// Moves values that are not `Sendable` to the writer thread. Safe because ownership passes, it is not shared:
/// the writer takes the value once, and the reading thread does not touch it between
/// ``RowHandoff/startWriter(_:)`` and ``RowHandoff/waitForWriter()``. Taking it out (rather than reading it) also
/// matters for a non-escaping closure inside: the box outlives the writer's body (its thread still holds it), the
/// closure must not.
final class HandedOver<Value>: @unchecked Sendable {
    private var value: Value?
    init(_ value: Value) { self.value = value }

    /// The value; nil after the first call.
    func take() -> Value? {
        defer { value = nil }
        return value
    }
}
