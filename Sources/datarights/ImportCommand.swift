import ArgumentParser
import Foundation
import RegistryCore
import RegistryImport

/// `datarights import FILE --url http://HOST:PORT --key drk_…`: datasets, derivations and registrations
/// from a CSV or JSON Lines file, each line the API call a person would make (issue 17).
///
/// The importer is a client of the HTTP API, not of the database: a department brings its datasets
/// with its own key to a registry it has no database access to, and every rule, limit and authorization
/// applies because every line is the same `POST` as by hand. Each line carries the idempotency key of
/// (the file's SHA-256, its line number), so a run resumed after any interruption creates nothing twice.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import datasets, derivations and registrations from a CSV or JSON Lines file through the API.",
        discussion: """
            Each line is one request with the caller's key: a dataset (POST /v1/datasets), a derivation \
            (POST /v1/datasets/{id}/lineage) or a registration (POST /v1/registrations); README.md \
            describes the columns. Lines refer to datasets created earlier in the file by their ref. \
            Run the same command again after an interruption: lines already imported are not created \
            again. Exit status: 0 every line imported, 1 some refused (see FILE.refused.csv), 2 the run \
            could not finish (the server unreachable, the key refused, the file unreadable).
            """)

    @Argument(help: "The file: .csv (header row, RFC 4180) or .jsonl (one object a line).")
    var file: String

    @Option(help: "csv or jsonl (default: from the file's extension).")
    var format: String?

    @Option(help: "The registry's address, http://HOST:PORT. (env: DATARIGHTS_URL)")
    var url: String?

    @Option(help: "The API key lines are imported with. (env: DATARIGHTS_KEY)")
    var key: String?

    @Option(help: "Requests in flight at once (1–\(Limits.maxImportConcurrency)).")
    var concurrency: Int = Limits.defaultImportConcurrency

    @Option(help: "The journal of lines imported. (default: FILE.import-journal)")
    var journal: String?

    @Option(help: "Where the refused lines are written as CSV. (default: FILE.refused.csv)")
    var refusals: String?

    @Flag(help: "Check the file only (fields, references); send nothing, write nothing to the registry.")
    var dryRun = false

    func validate() throws {
        guard (1...Limits.maxImportConcurrency).contains(concurrency) else {
            throw ValidationError("--concurrency must be 1 to \(Limits.maxImportConcurrency)")
        }
        if let format, ImportFormat(rawValue: format) == nil { throw ValidationError("--format must be csv or jsonl") }
        if format == nil, ImportFormat(fileName: file) == nil {
            throw ValidationError("say the format with --format csv|jsonl (the file name ends neither in .csv nor .jsonl)")
        }
    }

    func run() async throws {
        let format = self.format.flatMap(ImportFormat.init(rawValue:)) ?? ImportFormat(fileName: file)!
        let parsed: ImportFile
        do {
            guard let data = FileManager.default.contents(atPath: file) else { throw ImportFileError(description: "cannot read \(file)") }
            parsed = try ImportFile.parse(Array(data), format: format)
        } catch {
            printError("datarights import: \(error)")
            throw ExitCode(2)
        }
        let refusalsPath = refusals ?? file + ".refused.csv"

        if dryRun {
            let summary = ImportSummary(checking: parsed)
            let kinds = Dictionary(grouping: parsed.lines, by: \.record).mapValues(\.count)
            print("dry run: \(summary.lines) lines (\(ImportRecordKind.allCases.map { "\(kinds[$0] ?? 0) \($0.rawValue)s" }.joined(separator: ", "))); nothing was sent")
            print("checked: the columns, each field's type, and that every ref names a dataset line before it; not checked: what the registry decides (values, rules, authorization)")
            try report(summary, refusalsPath: refusalsPath)
            throw ExitCode(summary.refused.isEmpty ? 0 : 1)
        }

        guard let url = Setting.optionalString(url, env: "DATARIGHTS_URL") else {
            printError("datarights import: give the registry's address with --url or DATARIGHTS_URL")
            throw ExitCode(2)
        }
        guard let key = Setting.optionalString(key, env: "DATARIGHTS_KEY") else {
            printError("datarights import: give the API key with --key or DATARIGHTS_KEY")
            throw ExitCode(2)
        }
        guard let endpoint = ImportEndpoint(url: url, key: key) else {
            printError("datarights import: --url must be http://HOST:PORT")
            throw ExitCode(2)
        }
        let importRun: ImportRun
        do {
            importRun = try ImportRun(
                file: parsed, options: ImportOptions(endpoint: endpoint, concurrency: concurrency, journalPath: journal ?? file + ".import-journal"))
        } catch {
            printError("datarights import: cannot open the journal: \(error)")
            throw ExitCode(2)
        }
        let display = Task { await ImportProgressDisplay().run(importRun) }
        let summary = await importRun.run()
        display.cancel()
        await display.value
        try report(summary, refusalsPath: refusalsPath)
        throw ExitCode(summary.exitStatus)
    }

    /// Prints the refusals (the first hundred) and the summary, and writes every refusal to the report.
    func report(_ summary: ImportSummary, refusalsPath: String) throws {
        let shown = 100
        for refusal in summary.refused.prefix(shown) { print(ImportReport.describe(refusal)) }
        if summary.refused.count > shown { print("… and \(summary.refused.count - shown) more") }
        if !summary.refused.isEmpty {
            try ImportReport.refusalsCSV(summary.refused).write(toFile: refusalsPath, atomically: true, encoding: .utf8)
            print("refused lines: \(refusalsPath)")
        } else {
            try? FileManager.default.removeItem(atPath: refusalsPath)
        }
        print(ImportReport.summary(summary))
    }

    func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}
