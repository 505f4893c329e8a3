import Foundation
import Models

/// Extracts PDF text with poppler's `pdfinfo` and `pdftotext` run as limited child processes.
/// Sections are pages; `pdftotext` output is split on form feeds as it streams, reporting progress per page.
enum PDFDocumentExtractor {
    static let pdfinfoPath = "/usr/bin/pdfinfo"
    static let pdftotextPath = "/usr/bin/pdftotext"

    /// What `pdfinfo` reports that matters here.
    struct Info {
        var pages: Int
        var encrypted: Bool
    }

    static func extract(
        path: String, maxOutputBytes: Int64, timeout: Duration,
        isCancelled: @escaping @Sendable () -> Bool,
        progress: (_ done: Int, _ total: Int?, _ step: String) -> Void
    ) throws -> DocumentResult {
        let start = ContinuousClock.now
        progress(0, nil, "reading PDF info")
        let info = try readInfo(path: path, timeout: timeout, isCancelled: isCancelled)
        if info.encrypted {
            throw JobError(.encryptedFile, "the PDF is encrypted", details: ["reason": "pdfinfo reports Encrypted: yes"])
        }
        let remaining = timeout - (ContinuousClock.now - start)
        guard remaining > .zero else {
            throw JobError(.timeLimitExceeded, "PDF extraction exceeded its time limit of \(timeout)")
        }

        var builder = DocumentBuilder()
        var pending = Data()
        var pagesDone = 0
        let total = info.pages
        progress(0, total, "extracting text")
        let runner = LimitedChildProcess(
            executable: pdftotextPath,
            arguments: ["-layout", "-enc", "UTF-8", path, "-"],
            timeout: remaining, isCancelled: isCancelled, maxStdoutBytes: maxOutputBytes)
        let outcome = try runner.run { chunk in
            pending.append(chunk)
            while let formFeed = pending.firstIndex(of: 0x0C) {
                let page = pending[pending.startIndex..<formFeed]
                addPage(Data(page), to: &builder)
                pending.removeSubrange(pending.startIndex...formFeed)
                pagesDone += 1
                progress(pagesDone, total, "page \(pagesDone) of \(total)")
            }
        }
        if outcome.exitStatus != 0 {
            throw malformed(outcome, tool: "pdftotext")
        }
        if !pending.isEmpty, pending.contains(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }) {
            addPage(pending, to: &builder)
            pagesDone += 1
            progress(pagesDone, total, "page \(pagesDone) of \(total)")
        }
        return builder.finish(pageCount: max(total, pagesDone))
    }

    /// Adds one page: lines are the paragraphs view, the page is one section.
    private static func addPage(_ data: Data, to builder: inout DocumentBuilder) {
        let text = String(decoding: data, as: UTF8.self)
        for line in text.split(whereSeparator: \.isNewline) {
            builder.addParagraph(collapseLayoutSpaces(line))
        }
        builder.closePage()
    }

    /// `-layout` pads columns with runs of spaces; keep at most two so columns stay visible but lines stay short.
    private static func collapseLayoutSpaces(_ line: Substring) -> String {
        var out = ""
        out.reserveCapacity(line.count)
        var spaces = 0
        for character in line {
            if character == " " {
                spaces += 1
                if spaces <= 2 { out.append(character) }
            } else {
                spaces = 0
                out.append(character)
            }
        }
        return out
    }

    /// Runs `pdfinfo`, mapping encryption and corruption to `JobError`s.
    static func readInfo(path: String, timeout: Duration, isCancelled: @escaping @Sendable () -> Bool) throws -> Info {
        var output = Data()
        let runner = LimitedChildProcess(
            executable: pdfinfoPath, arguments: [path], timeout: timeout,
            isCancelled: isCancelled, maxStdoutBytes: 1 << 20)
        let outcome = try runner.run { output.append($0) }
        let text = String(decoding: output, as: UTF8.self)
        if outcome.exitStatus != 0 {
            let lower = outcome.stderr.lowercased()
            if lower.contains("incorrect password") || lower.contains("encrypted") {
                throw JobError(
                    .encryptedFile, "the PDF is password-protected",
                    details: ["reason": outcome.firstStderrLine ?? "incorrect password"])
            }
            throw malformed(outcome, tool: "pdfinfo")
        }
        var info = Info(pages: 0, encrypted: false)
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingWhitespace()
            let value = parts[1].trimmingWhitespace()
            switch key {
            case "Pages": info.pages = Int(value) ?? 0
            case "Encrypted": info.encrypted = value.lowercased().hasPrefix("yes")
            default: break
            }
        }
        if info.pages == 0 {
            throw JobError(
                .malformedFile, "the PDF has no readable pages",
                details: ["reason": outcome.firstStderrLine ?? "pdfinfo reported 0 pages"])
        }
        return info
    }

    private static func malformed(_ outcome: LimitedChildProcess.Outcome, tool: String) -> JobError {
        let reason = outcome.firstStderrLine ?? "\(tool) exited with status \(outcome.exitStatus)"
        return JobError(
            .malformedFile, "the PDF could not be read: \(reason)",
            details: ["reason": reason, "tool": tool, "exit_status": "\(outcome.exitStatus)"])
    }
}
