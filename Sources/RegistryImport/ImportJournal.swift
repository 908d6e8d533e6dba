import Foundation

/// The lines an import has seen created, kept beside the file (`FILE.import-journal`): a resumed run
/// sends them no more and resolves references to the datasets they created without asking the server.
///
/// The journal is a convenience, never what makes a line count once: a line is appended after its
/// answer, so a run killed in between leaves it a line (or a few) behind the server, and those lines are
/// sent again with the same idempotency key and answered as replays. A journal of another file (its
/// SHA-256 differs) is started afresh; a torn last line is ignored.
struct ImportJournal {
    static let magic = "datarights-import-journal 1"

    /// What the journal says each line created: a dataset's id, the derivations' ids, a registration's number.
    private(set) var created: [Int: String] = [:]
    private let handle: FileHandle

    /// Opens (or starts) the journal at `path` for the file whose SHA-256 is `fileDigest`.
    init(path: String, fileDigest: String) throws {
        let header = "\(Self.magic) sha256=\(fileDigest)\n"
        if let text = try? String(contentsOfFile: path, encoding: .utf8), text.hasPrefix(header) {
            for entry in text.dropFirst(header.count).split(separator: "\n", omittingEmptySubsequences: true) {
                let parts = entry.split(separator: "\t", omittingEmptySubsequences: false)
                guard parts.count == 2, let line = Int(parts[0]) else { continue }
                created[line] = String(parts[1])
            }
            // A torn last entry (no newline) is dropped, and a newline starts the next one cleanly.
            if !text.hasSuffix("\n"), let lastBreak = text.lastIndex(of: "\n") {
                let torn = text[text.index(after: lastBreak)...]
                if let line = torn.split(separator: "\t").first.flatMap({ Int($0) }) { created[line] = nil }
                try Data("\n".utf8).append(to: path)
            }
        } else {
            try Data(header.utf8).write(to: URL(fileURLWithPath: path))
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw CocoaError(.fileWriteUnknown) }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    /// Records that `line` created `what` (one write, no fsync: a crash may lose the last entries, which
    /// the idempotency keys make harmless).
    mutating func record(line: Int, created what: String) {
        created[line] = what
        handle.write(Data("\(line)\t\(what)\n".utf8))
    }

    func close() {
        try? handle.close()
    }
}

extension Data {
    func append(to path: String) throws {
        guard let handle = FileHandle(forWritingAtPath: path) else { throw CocoaError(.fileWriteUnknown) }
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        handle.write(self)
    }
}
