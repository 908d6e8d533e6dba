import ArgumentParser
import Logging
import RegistryCore
import RegistryStore

/// `datarights migrate`: applies the schema migrations built into this binary, or reports them.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Apply pending schema migrations (Schema/NNNN_name.sql, built in).")

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "Report applied and pending migrations without changing anything.")
    var status = false

    @Option(help: "trace, debug, info, notice, warning, error or critical. (env: DATARIGHTS_LOG_LEVEL, default: info)")
    var logLevel: String?

    func run() async throws {
        let logger = LoggingSetup.bootstrap(level: try Setting.logLevel(logLevel))
        var limits = Limits()
        limits.databasePoolConnections = 1
        limits.databasePoolWaiters = 1
        try await Startup.oneOffCommand(logger: logger) { startup in
            let store = try await startup.openStore(database, limits: limits, migrate: false)
            if status {
                let report = try await store.migrations.status(store.pool)
                for migration in store.migrations.migrations {
                    let state = report.applied.contains(migration.version) ? "applied" : "pending"
                    print("\(state)\t\(migration.fileName)\t\(migration.checksum.prefix(12))")
                }
            } else {
                let applied = try await store.migrate()
                if applied.isEmpty {
                    print("Schema is current: \(store.migrations.migrations.count) migration(s) applied.")
                } else {
                    for migration in applied { print("applied\t\(migration.fileName)") }
                }
            }
        }
    }
}
