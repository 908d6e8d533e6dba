import EmbeddedPostgres
import Foundation
import Logging
import PostgresClient
import TestSupport
import Testing

/// The launcher the serve command and the test suite share: a private cluster on a Unix socket.
@Suite struct EmbeddedPostgresTests {
    let logger = Logger(label: "test.embedded")

    func scratchDirectory() -> String {
        "/tmp/datarights-test-\(getpid())/embedded-\(UInt32.random(in: 0...UInt32.max))"
    }

    @Test func aClusterIsCreatedOnASocketOnlyAndStopsCompletely() async throws {
        let directory = scratchDirectory() + "/postgres"
        let cluster = try EmbeddedPostgres(configuration: .init(clusterDirectory: directory, disposable: true), logger: logger)
        #expect(try await cluster.startAsync() == .started)
        #expect(try await cluster.startAsync() == .alreadyRunning, "a second start reuses the running server")

        let pool = PostgresPool(configuration: .init(connection: cluster.connectionConfiguration(), maxConnections: 1), logger: logger)
        let (listen, socketDirectory) = try await pool.withConnection { connection in
            (try connection.query("SHOW listen_addresses")[0].decode(String.self, column: 0),
             try connection.query("SHOW unix_socket_directories")[0].decode(String.self, column: 0))
        }
        await pool.shutdown()
        #expect(listen == "", "no TCP listener")
        #expect(socketDirectory == cluster.socketDirectory)
        let permissions = try FileManager.default.attributesOfItem(atPath: cluster.socketDirectory)[.posixPermissions] as? Int
        #expect(permissions == 0o700)
        if geteuid() == 0 {
            #expect(cluster.serverUser != nil, "as root the server runs as an unprivileged account")
            #expect(cluster.serverUser?.uid != 0)
        }

        try await cluster.stopAsync()
        #expect(try !cluster.isRunning())
        #expect(!FileManager.default.fileExists(atPath: directory + "/postmaster.pid"))
    }

    @Test func aClusterWhoseStarterDiedIsAdopted() async throws {
        let directory = scratchDirectory() + "/postgres"
        let first = try EmbeddedPostgres(configuration: .init(clusterDirectory: directory, disposable: true), logger: logger)
        try await first.startAsync()
        defer { try? first.stop(mode: .immediate) }
        // Pretend the process that started it was killed: its pid no longer exists.
        try "2147483646".write(toFile: directory + ".owner", atomically: true, encoding: .utf8)
        let second = try EmbeddedPostgres(configuration: .init(clusterDirectory: directory, disposable: true), logger: logger)
        #expect(try await second.startAsync() == .adopted)
        #expect(try String(contentsOfFile: directory + ".owner", encoding: .utf8) == String(getpid()))
    }

    @Test func missingBinariesAreExplainedWithWhatToInstall() throws {
        let error = #expect(throws: EmbeddedPostgresError.self) {
            try PostgresBinaries.locate(environment: ["PATH": "/nonexistent"], debianRoot: "/nonexistent")
        }
        #expect(String(describing: error!).contains("apt-get install -y postgresql"))
        #expect(String(describing: error!).contains("DATARIGHTS_PG_BINDIR"))
    }

    @Test(.enabled(if: geteuid() == 0, "only root has to hand the cluster to another account"))
    func aDataDirectoryTheServerAccountCannotReachIsRelocatedAndLinked() async throws {
        let locked = scratchDirectory() + "-locked"
        // Parents first with ordinary permissions: the attributes below would apply to every directory created.
        try FileManager.default.createDirectory(atPath: (locked as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let requested = locked + "/inner/postgres"
        let cluster = try EmbeddedPostgres(configuration: .init(clusterDirectory: requested, disposable: true), logger: logger)
        defer {
            try? cluster.stop(mode: .immediate)
            try? FileManager.default.removeItem(atPath: (cluster.configuration.clusterDirectory as NSString).deletingLastPathComponent)
            try? FileManager.default.removeItem(atPath: locked)
        }
        #expect(cluster.configuration.clusterDirectory.hasPrefix(EmbeddedPostgres.relocationRoot))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: requested) == cluster.configuration.clusterDirectory)
        #expect(try await cluster.startAsync() == .started)

        // A later start with the same requested path finds the same cluster through the link.
        let again = try EmbeddedPostgres(configuration: .init(clusterDirectory: requested, disposable: true), logger: logger)
        #expect(again.configuration.clusterDirectory == cluster.configuration.clusterDirectory)
        #expect(try await again.startAsync() == .alreadyRunning)
    }

    @Test(.enabled(if: geteuid() == 0, "only root has to hand the cluster to another account"))
    func anExistingClusterTheServerAccountCannotReachIsExplained() async throws {
        let locked = scratchDirectory() + "-locked"
        try FileManager.default.createDirectory(atPath: (locked as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: locked + "/postgres", withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: locked)
        defer { try? FileManager.default.removeItem(atPath: locked) }
        let error = #expect(throws: EmbeddedPostgresError.self) {
            try EmbeddedPostgres(configuration: .init(clusterDirectory: locked + "/postgres", disposable: true), logger: logger)
        }
        #expect(String(describing: error!).contains("cannot reach"))
        #expect(String(describing: error!).contains("--data-dir"))
    }

    /// Finding 13: a postmaster killed with SIGKILL leaves its pid file, and for a moment the dying
    /// process and its backends; a start right after must wait for them and start a new server, not take
    /// the dead one for a running cluster.
    @Test func F13_aStartRightAfterTheClusterWasKilledStartsItAgain() async throws {
        let directory = scratchDirectory() + "/postgres"
        let first = try EmbeddedPostgres(configuration: .init(clusterDirectory: directory, disposable: true), logger: logger)
        #expect(try await first.startAsync() == .started)
        let pool = PostgresPool(configuration: .init(connection: first.connectionConfiguration(), maxConnections: 2), logger: logger)
        _ = try await pool.query("SELECT 1") { _ in 0 }
        await pool.shutdown()
        let pidText = try String(contentsOfFile: directory + "/postmaster.pid", encoding: .utf8)
        let postmaster = try #require(pid_t(pidText.split(separator: "\n").first.map(String.init) ?? ""))
        #expect(kill(postmaster, SIGKILL) == 0)
        // At once, as a restarted `serve` would (a new process: nothing remembered of the old one).
        let second = try EmbeddedPostgres(configuration: .init(clusterDirectory: directory, disposable: true), logger: logger)
        let outcome = try await second.startAsync()
        #expect(outcome == .started, "a new postmaster, not the dead one adopted")
        let again = PostgresPool(configuration: .init(connection: second.connectionConfiguration(), maxConnections: 1), logger: logger)
        let answer = try await again.query("SELECT 41 + 1") { try $0.decode(Int32.self, column: 0) }
        await again.shutdown()
        #expect(answer == [42])
        try await second.stopAsync()
    }
}
