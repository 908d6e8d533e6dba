public import EmbeddedPostgres
import Foundation
import Logging
public import PostgresClient

#if canImport(Glibc)
import Glibc
#endif

/// The one PostgreSQL cluster of a test process: a real server started by the same launcher the
/// product uses, in a temporary directory, listening on a Unix socket. Each test gets a database of its
/// own. The cluster is stopped and its directory removed when the process exits; clusters left behind
/// by a killed test run are swept at the next start.
public enum TestCluster {
    static let root = "/tmp/datarights-test"

    private static let cluster: Task<EmbeddedPostgres, any Error> = Task {
        sweepStaleClusters()
        let directory = "\(root)-\(getpid())"
        let cluster = try EmbeddedPostgres(
            // Every test of the process runs at once, each with its pool, its writer lease and a rebuild's
            // connections: at 300 tests the product's 200 were not enough ("too many clients already").
            configuration: .init(clusterDirectory: directory + "/postgres", disposable: true, settings: ["max_connections": "500"]),
            logger: quietLogger("test.embedded-postgres"))
        try await cluster.startAsync()
        clusterToStopAtExit = cluster
        atexit {
            guard let cluster = TestCluster.clusterToStopAtExit else { return }
            try? cluster.stop(mode: .immediate)
            try? FileManager.default.removeItem(atPath: (cluster.configuration.clusterDirectory as NSString).deletingLastPathComponent)
        }
        return cluster
    }

    /// Warnings and worse only: the test runner's summary should be the last thing a test run prints.
    static func quietLogger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = .warning
        return logger
    }

    /// Written once, before `atexit` is registered; read only by the exit handler.
    nonisolated(unsafe) static var clusterToStopAtExit: EmbeddedPostgres?

    /// The shared cluster, started on first use.
    public static func shared() async throws -> EmbeddedPostgres {
        try await cluster.value
    }

    /// A new, empty database on the shared cluster; returns how to connect to it.
    public static func makeDatabase(function: String = #function) async throws -> PostgresConfiguration {
        let cluster = try await shared()
        let name = "t_" + function.prefix(while: { $0.isLetter || $0.isNumber || $0 == "_" }).lowercased().prefix(30)
            + "_" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        try await cluster.createDatabaseIfNeeded(name)
        return cluster.connectionConfiguration(database: name)
    }

    /// A pool on a new database.
    public static func makePool(
        maxConnections: Int = 4, maxWaiters: Int = 1_024, acquireTimeout: Duration = .seconds(30), function: String = #function
    ) async throws -> PostgresPool {
        let configuration = try await makeDatabase(function: function)
        return PostgresPool(
            configuration: .init(
                connection: configuration, maxConnections: maxConnections, maxWaiters: maxWaiters, acquireTimeout: acquireTimeout),
            logger: quietLogger("test.pool"))
    }

    /// A second cluster of this test process, for a test that must stop or restart its server without
    /// disturbing the others. The caller stops it; its directory goes with the process's.
    public static func makePrivateCluster(name: String) async throws -> EmbeddedPostgres {
        let directory = "\(root)-\(getpid())/\(name)-\(UInt32.random(in: 0...UInt32.max))"
        let cluster = try EmbeddedPostgres(
            configuration: .init(clusterDirectory: directory, disposable: true), logger: quietLogger("test.embedded-postgres"))
        try await cluster.startAsync()
        return cluster
    }

    /// Stops clusters whose test process is gone and removes their directories.
    static func sweepStaleClusters() {
        let parent = (root as NSString).deletingLastPathComponent
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return }
        let prefix = (root as NSString).lastPathComponent + "-"
        for entry in entries where entry.hasPrefix(prefix) {
            guard let pid = pid_t(entry.dropFirst(prefix.count)), pid != getpid(), kill(pid, 0) != 0 else { continue }
            let directory = parent + "/" + entry
            if let stale = try? EmbeddedPostgres(
                // Every test of the process runs at once, each with its pool, its writer lease and a rebuild's
            // connections: at 300 tests the product's 200 were not enough ("too many clients already").
            configuration: .init(clusterDirectory: directory + "/postgres", disposable: true, settings: ["max_connections": "500"]), logger: Logger(label: "test.sweep"))
            {
                try? stale.stop(mode: .immediate)
            }
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
