import DequeModule
import Foundation
import NIOHTTP1
import RegistryCore

/// A line the registry (or the file) refused, as the refusal report writes it.
public struct ImportRefusal: Sendable, Equatable {
    public var line: Int
    public var record: String
    public var ref: String
    /// The API's status; 0 when the file's own rules refused the line and nothing was sent.
    public var status: Int
    public var field: String
    public var title: String
    public var detail: String
    /// What the registry recorded anyway: a registration refused by a rule is kept (R3) with its number.
    public var recorded: String
}

extension ImportRefusal {
    /// A line the file's own rules refused: nothing was sent for it.
    init(_ problem: ImportLineProblem) {
        self.init(
            line: problem.line, record: problem.record, ref: "", status: 0, field: problem.field, title: "Refused by the import file's rules",
            detail: "\(problem.field.isEmpty ? "line" : problem.field): \(problem.reason)", recorded: "")
    }
}

/// How an import ended.
public struct ImportSummary: Sendable {
    public var lines = 0
    /// Created by this run.
    public var imported = 0
    /// Already in the registry: answered as replays of the line's idempotency key, or found in the journal.
    public var replayed = 0
    public var journaled = 0
    public var refused: [ImportRefusal] = []
    /// Why the run stopped before every line was answered (the server unreachable, the key refused).
    public var stopped: String?
    public var seconds = 0.0

    /// 0 every line imported (or already there), 1 some refused, 2 the run could not finish.
    public var exitStatus: Int32 { stopped != nil ? 2 : (refused.isEmpty ? 0 : 1) }

    init() {}

    /// What a dry run finds: the file's lines, and those its own rules refuse (nothing is sent).
    public init(checking file: ImportFile) {
        lines = file.lines.count + file.problems.count
        refused = file.problems.values.sorted { $0.line < $1.line }.map(ImportRefusal.init)
    }
}

/// The options of one run.
public struct ImportOptions: Sendable {
    public var endpoint: ImportEndpoint
    public var concurrency: Int
    public var journalPath: String

    public init(endpoint: ImportEndpoint, concurrency: Int, journalPath: String) {
        self.endpoint = endpoint
        self.concurrency = concurrency
        self.journalPath = journalPath
    }
}

/// Counters for the progress display.
public struct ImportProgress: Sendable {
    public var total: Int
    public var done: Int
    public var refused: Int
}

/// Sends an import file's lines to the API: at most `concurrency` requests in flight, each line once its
/// datasets are known, each with the idempotency key of (file, line), answers written to the journal.
public actor ImportRun {
    let file: ImportFile
    let options: ImportOptions
    /// `imp-<first 16 bytes of the file's SHA-256 in hex>-`: a line's key is this and its number.
    let keyPrefix: String
    private var journal: ImportJournal
    private var summary = ImportSummary()

    private var resolved: [String: Int64] = [:]
    /// The lines waiting for a reference, by reference; a line's count of references not yet known.
    private var waiting: [String: [Int]] = [:]
    private var unresolved: [Int]
    /// A reference whose dataset line was refused, and that line's number.
    private var refusedReferences: [String: Int] = [:]
    private var ready = Deque<Int>()
    private var inFlight = 0
    private var idle: [CheckedContinuation<Int?, Never>] = []

    public init(file: ImportFile, options: ImportOptions) throws {
        self.file = file
        self.options = options
        let digest = file.sha256.map { String(format: "%02x", $0) }.joined()
        keyPrefix = "imp-\(digest.prefix(32))-"
        journal = try ImportJournal(path: options.journalPath, fileDigest: digest)
        unresolved = file.lines.map { $0.references.count }
    }

    /// The key of the line numbered `number`: the same for the same file, whatever run sends it.
    nonisolated func idempotencyKey(line number: Int) -> String { keyPrefix + String(number) }

    public func progress() -> ImportProgress {
        ImportProgress(
            total: summary.lines, done: summary.imported + summary.replayed + summary.journaled + summary.refused.count,
            refused: summary.refused.count)
    }

    /// Runs the import to its end (or until it must stop) and returns what happened.
    public func run() async -> ImportSummary {
        let started = ContinuousClock.now
        summary = ImportSummary(checking: file)
        for index in file.lines.indices {
            let line = file.lines[index]
            if let created = journal.created[line.number] {
                summary.journaled += 1
                finish(index, created: created)
                continue
            }
            // References are defined on earlier lines: those the journal resolved are known by now.
            let missing = line.references.filter { resolved[$0] == nil }
            unresolved[index] = missing.count
            if missing.isEmpty {
                ready.append(index)
            } else {
                for reference in missing { waiting[reference, default: []].append(index) }
            }
        }
        let workers = max(1, min(options.concurrency, Limits.maxImportConcurrency))
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<workers {
                group.addTask { await self.work() }
            }
        }
        journal.close()
        summary.refused.sort { $0.line < $1.line }
        summary.seconds = Double((ContinuousClock.now - started).components.seconds)
            + Double((ContinuousClock.now - started).components.attoseconds) / 1e18
        return summary
    }

    // MARK: Scheduling

    /// The next line to send, waiting while lines are in flight that others wait for; nil when done.
    private func next() async -> Int? {
        while true {
            if summary.stopped != nil { return nil }
            if let index = ready.popFirst() {
                inFlight += 1
                return index
            }
            if inFlight == 0 { return nil }
            // `wake` counts a line it hands over as in flight already.
            if let woken = await withCheckedContinuation({ idle.append($0) }) { return woken }
        }
    }

    /// Wakes one idle worker with a ready line, or every idle worker when nothing more can come.
    private func wake() {
        while !idle.isEmpty, let index = ready.popFirst() {
            inFlight += 1
            idle.removeFirst().resume(returning: index)
        }
        if summary.stopped != nil || (ready.isEmpty && inFlight == 0) {
            for continuation in idle { continuation.resume(returning: nil) }
            idle.removeAll()
        }
    }

    /// The line created `created` (already there or new): its dataset's id becomes known.
    private func finish(_ index: Int, created: String) {
        let line = file.lines[index]
        guard let ref = line.ref else { return }
        guard let id = Int64(created) else {
            refuseDefinition(ref, line: line.number)
            return
        }
        resolved[ref] = id
        for dependent in waiting.removeValue(forKey: ref) ?? [] {
            unresolved[dependent] -= 1
            if unresolved[dependent] == 0 { ready.append(dependent) }
        }
    }

    private func refuseDefinition(_ ref: String, line: Int) {
        refusedReferences[ref] = line
        for dependent in waiting.removeValue(forKey: ref) ?? [] where unresolved[dependent] > 0 {
            refuseDependent(dependent, reference: ref, refusedLine: line)
        }
    }

    /// A line that refers to a dataset whose line was refused is refused as such (once, whatever else it
    /// waited for).
    private func refuseDependent(_ index: Int, reference: String, refusedLine: Int) {
        let line = file.lines[index]
        unresolved[index] = -1
        for other in line.references where other != reference { waiting[other]?.removeAll { $0 == index } }
        summary.refused.append(ImportRefusal(
            line: line.number, record: line.record.rawValue, ref: line.ref ?? "", status: 0, field: ImportFile.referenceField(reference, in: line),
            title: "Refers to a refused line", detail: "the dataset line \(refusedLine) (ref \(reference)) was refused, so this line was not sent",
            recorded: ""))
    }

    private func completed(_ index: Int, outcome: LineOutcome) {
        inFlight -= 1
        let line = file.lines[index]
        switch outcome {
        case .created(let what, let replayed):
            if replayed { summary.replayed += 1 } else { summary.imported += 1 }
            journal.record(line: line.number, created: what)
            finish(index, created: what)
        case .refused(var refusal):
            refusal.ref = line.ref ?? ""
            summary.refused.append(refusal)
            if let ref = line.ref { refuseDefinition(ref, line: line.number) }
        }
        wake()
    }

    private func stop(_ reason: String, returning index: Int) {
        inFlight -= 1
        if summary.stopped == nil { summary.stopped = reason }
        wake()
    }

    private func request(for index: Int) -> (path: String, body: [UInt8]) {
        let line = file.lines[index]
        var body: [UInt8] = []
        line.requestBody(into: &body) { self.resolved[$0] }
        switch line.record {
        case .dataset: return ("/v1/datasets", body)
        case .registration: return ("/v1/registrations", body)
        case .derivation:
            var target: [UInt8] = []
            line.target?.write(into: &target) { self.resolved[$0] }
            return ("/v1/datasets/\(String(decoding: target, as: UTF8.self))/lineage", body)
        }
    }

    // MARK: Workers

    enum LineOutcome {
        case created(String, replayed: Bool)
        case refused(ImportRefusal)
    }

    /// One connection: takes ready lines and sends each until it is answered (retrying 429, 503 and
    /// broken connections), until no line is left or the run stops.
    private nonisolated func work() async {
        let connection = ImportConnection(endpoint: options.endpoint)
        await work(on: connection)
        await connection.close()
    }

    private nonisolated func work(on connection: ImportConnection) async {
        while let index = await next() {
            let (path, body) = await request(for: index)
            let line = file.lines[index]
            let key = idempotencyKey(line: line.number)
            var unreachableSince: ContinuousClock.Instant?
            var backoff = Duration.milliseconds(100)
            while true {
                do {
                    let answer = try await connection.send(method: .POST, path: path, body: body, idempotencyKey: key)
                    if answer.status == 429 || (answer.status == 409 && Self.problemType(answer.body).hasSuffix("idempotency-key-in-progress")) {
                        let seconds = min(max(answer.retryAfterSeconds ?? 1, 1), Limits.maxImportRetryAfterSeconds)
                        try? await Task.sleep(for: .seconds(seconds))
                        continue
                    }
                    if answer.status == 503 || answer.status == 502 || answer.status == 504 {
                        throw UnavailableAnswer(status: answer.status, detail: Self.problemDetail(answer.body))
                    }
                    if answer.status == 401 {
                        await stop("the API key was refused (401): \(Self.problemDetail(answer.body))", returning: index)
                        return
                    }
                    await completed(index, outcome: Self.outcome(of: answer, line: line))
                    break
                } catch {
                    let now = ContinuousClock.now
                    let since = unreachableSince ?? now
                    unreachableSince = since
                    if now - since > .seconds(Limits.importUnreachableSeconds) {
                        await stop("the server did not answer for \(Limits.importUnreachableSeconds) s: \(error)", returning: index)
                        return
                    }
                    try? await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, .seconds(5))
                }
            }
        }
    }

    struct UnavailableAnswer: Error, CustomStringConvertible {
        var status: Int
        var detail: String
        var description: String { "\(status) \(detail)" }
    }

    /// What a line's answer means: created (with what), or refused with the API's reason.
    static func outcome(of answer: HTTPAnswer, line: ImportLine) -> LineOutcome {
        let json = (try? JSONSerialization.jsonObject(with: Data(answer.body))) as? [String: Any] ?? [:]
        guard answer.status == 201 else {
            var field = ""
            if let errors = json["errors"] as? [[String: Any]], let first = errors.first?["field"] as? String { field = first }
            if field.isEmpty, let refusals = json["refusals"] as? [[String: Any]], let rule = refusals.first?["rule"] as? String { field = rule }
            return .refused(ImportRefusal(
                line: line.number, record: line.record.rawValue, ref: "", status: answer.status, field: field,
                title: json["title"] as? String ?? "HTTP \(answer.status)", detail: json["detail"] as? String ?? String(decoding: answer.body.prefix(500), as: UTF8.self),
                recorded: ""))
        }
        switch line.record {
        case .dataset:
            return .created((json["id"] as? Int).map(String.init) ?? "", replayed: answer.replayed)
        case .derivation:
            let ids = (json["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }.map(String.init)
            return .created(ids.isEmpty ? "-" : ids.joined(separator: ";"), replayed: answer.replayed)
        case .registration:
            let number = json["number"] as? String ?? ""
            if json["status"] as? String == "refused" {
                let refusals = json["refusals"] as? [[String: Any]] ?? []
                return .refused(ImportRefusal(
                    line: line.number, record: line.record.rawValue, ref: "", status: answer.status,
                    field: refusals.compactMap { $0["rule"] as? String }.joined(separator: ";"), title: "Registration refused by a domain rule",
                    detail: refusals.map { "\($0["rule"] as? String ?? ""): \($0["reason"] as? String ?? "")" }.joined(separator: "; "),
                    recorded: number))
            }
            return .created(number, replayed: answer.replayed)
        }
    }

    static func problemType(_ body: [UInt8]) -> String {
        ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any])?["type"] as? String ?? ""
    }

    static func problemDetail(_ body: [UInt8]) -> String {
        ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any])?["detail"] as? String ?? ""
    }
}
