import Foundation

/// The refusal report (`FILE.refused.csv`), the summary, and the progress line of an import.
public enum ImportReport {
    /// The refusals as RFC 4180 CSV: a header row, one row a refused line.
    public static func refusalsCSV(_ refusals: [ImportRefusal]) -> String {
        var text = "line,record,ref,status,field,title,detail,recorded\r\n"
        for refusal in refusals {
            let cells = [
                String(refusal.line), refusal.record, refusal.ref, refusal.status == 0 ? "" : String(refusal.status), refusal.field, refusal.title,
                refusal.detail, refusal.recorded,
            ]
            text += cells.map(quoted).joined(separator: ",") + "\r\n"
        }
        return text
    }

    static func quoted(_ cell: String) -> String {
        guard cell.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return cell }
        return "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// One refusal as a line of the printed report.
    public static func describe(_ refusal: ImportRefusal) -> String {
        var text = "line \(refusal.line) (\(refusal.record.isEmpty ? "?" : refusal.record))"
        if !refusal.field.isEmpty { text += " \(refusal.field)" }
        text += ": " + (refusal.status == 0 ? "" : "\(refusal.status) ") + refusal.title
        if !refusal.detail.isEmpty { text += " — " + refusal.detail }
        if !refusal.recorded.isEmpty { text += " (recorded as \(refusal.recorded))" }
        return text
    }

    /// The summary's lines.
    public static func summary(_ summary: ImportSummary) -> String {
        let rate = summary.seconds > 0 ? Double(summary.lines) / summary.seconds : 0
        var text = """
            lines: \(summary.lines)
            imported: \(summary.imported)
            already there: \(summary.replayed + summary.journaled) (\(summary.replayed) answered as replays, \(summary.journaled) in the journal)
            refused: \(summary.refused.count)
            time: \(String(format: "%.1f", summary.seconds)) s (\(String(format: "%.0f", rate)) lines/s)
            """
        if let stopped = summary.stopped { text += "\nstopped before the end: \(stopped); run the same command again to resume" }
        return text
    }

    /// The progress line: done/total, lines a second, refused, and the time left at that rate.
    public static func progressLine(_ progress: ImportProgress, linesPerSecond: Double) -> String {
        let percent = progress.total > 0 ? Double(progress.done) * 100 / Double(progress.total) : 100
        let left = linesPerSecond > 0 ? Double(progress.total - progress.done) / linesPerSecond : 0
        let eta = linesPerSecond > 0 ? String(format: "%d:%02d", Int(left) / 60, Int(left) % 60) : "--:--"
        let width = 24
        let filled = min(width, Int(percent / 100 * Double(width)))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        return String(
            format: "[%@] %d/%d (%.1f%%)  %.0f lines/s  refused %d  ETA %@", bar, progress.done, progress.total, percent, linesPerSecond,
            progress.refused, eta)
    }
}

/// Shows an import's progress on standard error while it runs: redrawn in place on a terminal (at most
/// ten times a second), a plain line every few seconds otherwise.
public struct ImportProgressDisplay: Sendable {
    public let isTerminal: Bool

    public init() {
        isTerminal = isatty(2) == 1
    }

    /// Runs until cancelled.
    public func run(_ importRun: ImportRun) async {
        let interval: Duration = isTerminal ? .milliseconds(100) : .seconds(5)
        var last = (at: ContinuousClock.now, done: 0)
        var rate = 0.0
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            let progress = await importRun.progress()
            let now = ContinuousClock.now
            let elapsed = now - last.at
            if elapsed >= .seconds(1) {
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let instant = Double(progress.done - last.done) / seconds
                rate = rate == 0 ? instant : rate * 0.7 + instant * 0.3
                last = (now, progress.done)
            }
            let line = ImportReport.progressLine(progress, linesPerSecond: rate)
            FileHandle.standardError.write(Data((isTerminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
        }
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
