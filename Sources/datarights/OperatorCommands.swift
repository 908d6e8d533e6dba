import ArgumentParser
import Foundation
import Logging
import RegistryCore
import RegistryStore

/// Runs a one-off operator command's `body` on the store, migrated, and closes everything afterwards
/// (newest first), whether it succeeded or not. SIGTERM/SIGINT meanwhile stop an embedded cluster this
/// command started, whatever it is doing (a demo load), and end it.
func withStore<T>(_ database: DatabaseOptions, logLevel: String?, _ body: (RegistryDatabase, Logger) async throws -> T) async throws -> T {
    try await withOperatorStartup(database, logLevel: logLevel) { _, store, logger in try await body(store, logger) }
}

/// ``withStore(_:logLevel:_:)`` with the registry's core loaded too — one more replica for the
/// command's life, writing in its turn beside any serving replica — and closed first.
func withRegistry<T>(_ database: DatabaseOptions, logLevel: String?, _ body: (RegistryService) async throws -> T) async throws -> T {
    try await withOperatorStartup(database, logLevel: logLevel) { startup, store, logger in
        let registry = try await RegistryService.open(database: store, sandbox: false, logger: logger)
        startup.opened(RegistryCoreService(registry: registry))
        return try await body(registry)
    }
}

/// ``withStore(_:logLevel:_:)`` with the core loaded read-only (a node may be serving the same
/// database), writes refused, pending migrations applied only to an embedded cluster (a report
/// never changes an external database's schema).
func withReadOnlyRegistry<T>(
    _ database: DatabaseOptions, logLevel: String?, _ body: (RegistryService, RegistryDatabase, Logger) async throws -> T
) async throws -> T {
    try await withOperatorStartup(database, logLevel: logLevel, migrate: database.isEmbedded) { _, store, logger in
        try await body(try await RegistryService.openReadOnly(database: store, logger: logger), store, logger)
    }
}

private func withOperatorStartup<T>(
    _ database: DatabaseOptions, logLevel: String?, migrate: Bool = true, _ body: (Startup, RegistryDatabase, Logger) async throws -> T
) async throws -> T {
    let logger = LoggingSetup.bootstrap(level: try Setting.logLevel(logLevel ?? "warning"))
    var limits = Limits()
    limits.databasePoolConnections = 2
    limits.databasePoolWaiters = 8
    return try await Startup.oneOffCommand(logger: logger) { startup in
        try await body(startup, try await startup.openStore(database, limits: limits, migrate: migrate), logger)
    }
}

/// `datarights keys create`: the only way to the first operator key (no endpoint creates one unauthenticated).
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keys", abstract: "Manage API keys.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an API key and print it once.",
            discussion: "Writes to the database as one more replica would: running servers on the same database follow the new key within moments.")

        @Flag(help: "Create the key for the operator party, creating that party if there is none.")
        var `operator` = false

        @Option(help: "Create the key for this party id instead.")
        var party: Int64?

        @Option(help: "Name of the operator party when it is created.")
        var name = "Operator"

        @Option(help: "A label to recognise the key by.")
        var label = "created by datarights keys create"

        @OptionGroup var database: DatabaseOptions

        @Option(help: "Log level. (default: warning)")
        var logLevel: String?

        func validate() throws {
            guard `operator` != (party != nil) else { throw ValidationError("give exactly one of --operator or --party ID") }
        }

        func run() async throws {
            let issued = try await withRegistry(database, logLevel: logLevel) { service in
                var partyID = party.map(PartyID.init(rawValue:))
                if `operator` {
                    partyID = service.registry.read { $0.catalog.parties.all.first { $0.kind == .operator }?.id }
                    if partyID == nil {
                        let entries = try await service.execute(
                            .registerParty(NewParty(name: name, kind: .operator, region: "CN-BJ", jurisdiction: .mainland, creditCode: nil)), by: nil)
                        if case .party(let created) = entries.first?.record { partyID = created.id }
                    }
                }
                guard let partyID else { throw ValidationError("no party to create a key for") }
                return try await service.issueKey(for: partyID, label: label, by: nil)
            }
            print("API key for party \(issued.0.party.rawValue) (prefix \(issued.0.prefix)). It is shown only now; store it safely:")
            print(issued.1)
        }
    }
}

/// `datarights audit verify`: walks the audit chain (R30) and names the first entry that does not match.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "The audit chain.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Verify the audit chain end to end; exit 1 if it is broken.")

        @OptionGroup var database: DatabaseOptions

        @Option(help: "Log level. (default: warning)")
        var logLevel: String?

        func run() async throws {
            let outcome = try await withStore(database, logLevel: logLevel) { store, _ in try await AuditLog.verify(store.pool) }
            switch outcome {
            case .valid(let entries, let head):
                print("valid: \(entries) entries, head \(head.hexString)")
            case .broken(let sequence, let reason):
                print("broken at sequence \(sequence): \(reason)")
                throw ExitCode(1)
            }
        }
    }
}

/// `datarights state digest`: rebuilds the core from PostgreSQL and prints its digest, to compare with
/// a running server's `GET /v1/admin/state`.
struct StateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "state", abstract: "The core's state.", subcommands: [Digest.self])

    struct Digest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rebuild the core from PostgreSQL and print its digest and counts.")

        @OptionGroup var database: DatabaseOptions

        @Option(help: "Log level. (default: warning)")
        var logLevel: String?

        func run() async throws {
            let state = try await withStore(database, logLevel: logLevel) { store, _ in try await RegistryLoader.load(from: store) }
            print("digest \(state.digest)")
            for (name, count) in state.counts.sorted(by: { $0.key < $1.key }) { print("\(name)\t\(count)") }
        }
    }
}
