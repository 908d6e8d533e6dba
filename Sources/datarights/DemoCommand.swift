import ArgumentParser
import Foundation
import Logging
import RegistryCore
import RegistryStore

/// `datarights demo`: fills an empty database with a synthetic national-scale registry.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Load a synthetic registry (parties in 34 regions, datasets, lineage, registrations in every state) into an empty database.",
        discussion: "Deterministic: the same --seed and --datasets give the same registry. The server must not be running.")

    @Option(help: "Number of datasets.")
    var datasets = 5_000

    @Option(help: "Seed of the generator.")
    var seed: UInt64 = 2_026

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Log level. (default: warning)")
    var logLevel: String?

    func validate() throws {
        guard (1...10_000_000).contains(datasets) else { throw ValidationError("--datasets must be 1 to 10,000,000") }
    }

    func run() async throws {
        try await withStore(database, logLevel: logLevel) { store, logger in
            let report = try await DemoLoad.load(datasets: datasets, seed: seed, into: store, logger: logger)
            print(report)
        }
    }
}

enum DemoLoad {
    /// Generates and bulk-loads a synthetic registry; returns a summary for people.
    static func load(datasets: Int, seed: UInt64, into store: RegistryDatabase, logger: Logger) async throws -> String {
        let started = ContinuousClock.now
        let now = Timestamp(microsecondsSince1970: Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()))
        let registry = SyntheticRegistry.generate(datasets: datasets, seed: seed, now: now)
        let generated = ContinuousClock.now
        let report = try await BulkLoader.load(registry, into: store, at: now)
        let loaded = ContinuousClock.now
        logger.notice("Demo registry loaded", metadata: ["records": "\(report.records)", "elapsed": "\(loaded - started)"])
        return """
            Loaded a synthetic registry (seed \(seed)): \(registry.parties.count) parties, \(registry.datasets.count) datasets, \
            \(registry.derivations.count) derivations, \(registry.registrations.count) registrations, \(registry.objections.count) objections, \
            \(registry.certificates.count) certificates; \(report.auditEntries) audit entries.
            Generated in \(generated - started), loaded with COPY in \(loaded - generated).
            """
    }

    /// Keys for the demo's first operator, department, registrar, regulator and lab, printed once.
    static func issueKeys(_ service: RegistryService) async throws -> String {
        var lines = ["Demo API keys (shown once; demo data only):"]
        for kind in [PartyKind.operator, .department, .registrar, .regulator, .modelLab] {
            guard let party = service.registry.read({ $0.catalog.parties.all.first { $0.kind == kind } }) else { continue }
            let token = try await service.issueKey(for: party.id, label: "demo", by: nil).token
            lines.append("  \(kind.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)) \(party.name): \(token)")
        }
        return lines.joined(separator: "\n")
    }
}
