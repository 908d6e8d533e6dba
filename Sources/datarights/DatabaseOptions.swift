import ArgumentParser
import EmbeddedPostgres
import Foundation
import Logging
import PostgresClient

/// The options every database-touching command shares: an external server, or the embedded cluster
/// under the data directory.
struct DatabaseOptions: ParsableArguments {
    @Option(help: "Directory for local state; the embedded PostgreSQL cluster lives in <dir>/postgres. (env: DATARIGHTS_DATA_DIR, default: ./.datarights)")
    var dataDir: String?

    @Option(help: "libpq URI of an external PostgreSQL; when given, no embedded cluster is used. (env: DATABASE_URL)")
    var databaseURL: String?

    /// True when no external server is given: the embedded cluster is used.
    var isEmbedded: Bool { Setting.optionalString(databaseURL, env: "DATABASE_URL") == nil }

    /// The database name used on the embedded cluster.
    static let embeddedDatabaseName = "datarights"

    /// Connects to the external server, or starts (if needed) the embedded cluster and creates its
    /// database. Call ``OpenedDatabase/close()`` when done: it stops a cluster this process started.
    func open(logger: Logger) async throws -> OpenedDatabase {
        if let url = Setting.optionalString(databaseURL, env: "DATABASE_URL") {
            let configuration = PostgresConfiguration(url: url)
            logger.info("Using external PostgreSQL", metadata: ["database": "\(configuration)"])
            return OpenedDatabase(configuration: configuration, embedded: nil, stopOnClose: false)
        }
        let dataDirectory = Setting.string(dataDir, env: "DATARIGHTS_DATA_DIR", default: "./.datarights")
        let cluster = try EmbeddedPostgres(
            configuration: .init(clusterDirectory: dataDirectory + "/postgres"), logger: logger)
        let outcome = try await cluster.startAsync()
        do {
            try await cluster.createDatabaseIfNeeded(Self.embeddedDatabaseName)
        } catch {
            if outcome != .alreadyRunning { try? await cluster.stopAsync() }
            throw error
        }
        return OpenedDatabase(
            configuration: cluster.connectionConfiguration(database: Self.embeddedDatabaseName), embedded: cluster,
            stopOnClose: outcome != .alreadyRunning)
    }
}

/// A database ready to connect to, and what to do when done with it.
struct OpenedDatabase: Sendable {
    let configuration: PostgresConfiguration
    let embedded: EmbeddedPostgres?
    let stopOnClose: Bool

    /// Stops the embedded cluster if this process started (or adopted) it.
    func close() async {
        guard stopOnClose, let embedded else { return }
        do {
            try await embedded.stopAsync()
        } catch {
            FileHandle.standardError.write(Data("warning: stopping the embedded PostgreSQL failed: \(error)\n".utf8))
        }
    }
}
