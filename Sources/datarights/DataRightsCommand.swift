import ArgumentParser

/// `datarights`: the registry and market service and its operator tools, in one executable.
@main
struct DataRightsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datarights",
        abstract: "DataRights: a registry and market for data rights.",
        discussion: """
            Without --database-url (or DATABASE_URL), every command uses an embedded PostgreSQL cluster \
            under --data-dir, starting it if needed.
            """,
        subcommands: [ServeCommand.self, MigrateCommand.self, DemoCommand.self, KeysCommand.self, AuditCommand.self, StateCommand.self, ReportCommand.self, ImportCommand.self])
}
