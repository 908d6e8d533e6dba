import Foundation
public import Logging
public import PostgresClient

#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL cluster that DataRights creates, starts and stops itself: the default when no
/// `DATABASE_URL` is given, and what the test suite runs on.
///
/// The cluster lives in ``Configuration/clusterDirectory``, listens on a Unix socket only (no TCP port is
/// opened), and trusts local connections; the socket directory is mode 0700, so only its owner (and
/// root) can connect. As root, the server programs run as an unprivileged account (PostgreSQL refuses
/// root): `DATARIGHTS_PG_USER`, else `postgres`, else a `datarights-postgres` system account created on
/// first use.
///
/// Not for production: the systemd deployment runs against an external server.
public final class EmbeddedPostgres: Sendable {
    public struct Configuration: Sendable {
        /// The cluster's data directory (`PGDATA`), created on first start.
        public var clusterDirectory: String
        /// The number in the socket file name `.s.PGSQL.<port>`; no TCP port is opened.
        public var port: Int
        /// The superuser role `initdb` creates, and the user this client connects as.
        public var superuser: String
        /// Trade durability for speed: `fsync`, `synchronous_commit` and `full_page_writes` off, and
        /// `initdb --no-sync`. Only for test clusters that are thrown away.
        public var disposable: Bool
        /// Extra `postgresql.conf` settings.
        public var settings: [String: String]

        public init(
            clusterDirectory: String, port: Int = 5432, superuser: String = "datarights", disposable: Bool = false,
            settings: [String: String] = [:]
        ) {
            self.clusterDirectory = clusterDirectory
            self.port = port
            self.superuser = superuser
            self.disposable = disposable
            self.settings = settings
        }
    }

    /// What ``start()`` found.
    public enum StartOutcome: Sendable, Equatable {
        /// The cluster was started by this process, which should stop it.
        case started
        /// It was already running for a live process (another one, or an earlier start in this one);
        /// leave it running.
        case alreadyRunning
        /// It was running but whoever started it is gone; this process now owns it.
        case adopted
    }

    public let configuration: Configuration
    public let binaries: PostgresBinaries
    /// The account the server runs as, when this process is root.
    public let serverUser: SystemUser?
    /// The directory holding the socket (`host` for libpq).
    public let socketDirectory: String
    /// The server's log file, beside the cluster directory.
    public let logFile: String
    private let logger: Logger

    public init(configuration: Configuration, logger: Logger) throws {
        var configuration = configuration
        configuration.clusterDirectory = URL(fileURLWithPath: configuration.clusterDirectory).standardizedFileURL.path
        self.logger = logger
        self.binaries = try PostgresBinaries.locate()
        let serverUser = geteuid() == 0 ? try Self.unprivilegedUser(logger: logger) : nil
        self.serverUser = serverUser
        if let serverUser {
            configuration.clusterDirectory = try Self.reachableClusterDirectory(
                for: configuration.clusterDirectory, user: serverUser, logger: logger)
        }
        self.configuration = configuration
        self.logFile = configuration.clusterDirectory + ".log"
        // A socket path must fit in sun_path (108 bytes); fall back to /tmp for deep directories.
        let preferred = configuration.clusterDirectory + ".run"
        if (preferred + "/.s.PGSQL.\(configuration.port)").utf8.count < 100 {
            socketDirectory = preferred
        } else {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in configuration.clusterDirectory.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            socketDirectory = "/tmp/datarights-pg-" + String(hash, radix: 16)
        }
    }

    /// The libpq settings for a database of this cluster.
    public func connectionConfiguration(database: String = "postgres") -> PostgresConfiguration {
        PostgresConfiguration(host: socketDirectory, port: configuration.port, user: configuration.superuser, database: database)
    }

    /// A libpq URI for a database of this cluster, for tools such as psql.
    public func connectionURL(database: String = "postgres") -> String {
        let host = socketDirectory.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? socketDirectory
        return "postgresql://\(configuration.superuser)@/\(database)?host=\(host)&port=\(configuration.port)"
    }

    // MARK: Lifecycle

    /// Creates the cluster if it does not exist, and starts it unless it is running. Blocks until the
    /// server accepts connections (call from a thread you own, or through ``startAsync()``).
    @discardableResult
    public func start() throws -> StartOutcome {
        try prepareDirectories()
        if !FileManager.default.fileExists(atPath: configuration.clusterDirectory + "/PG_VERSION") {
            try initialize()
        }
        try writeSettings()
        if try isRunning() {
            if let owner = recordedOwner(), owner == getpid() || kill(owner, 0) == 0 {
                logger.info("Using the running embedded PostgreSQL", metadata: ["owner.pid": "\(owner)"])
                return .alreadyRunning
            }
            recordOwner()
            logger.notice("Adopted an embedded PostgreSQL whose starter is gone", metadata: ["cluster": "\(configuration.clusterDirectory)"])
            return .adopted
        }
        logger.info("Starting embedded PostgreSQL", metadata: [
            "cluster": "\(configuration.clusterDirectory)", "socket": "\(socketDirectory)",
        ])
        try waitForDeadPostmaster()
        // A postmaster killed a moment ago leaves backends that still hold its shared memory until they
        // notice; PostgreSQL then refuses to start ("pre-existing shared memory block is still in use").
        // They are gone within a second or two: try again for a while before giving up.
        var attempt = 1
        while true {
            do {
                try runTool(binaries.pgCtl, ["start", "-D", configuration.clusterDirectory, "-w", "-t", "60", "-s"], what: "pg_ctl start")
                break
            } catch EmbeddedPostgresError.commandFailed(_, let status, _) where attempt < Self.startAttempts {
                logger.notice("PostgreSQL did not start; trying again", metadata: ["attempt": "\(attempt)", "status": "\(status)"])
                attempt += 1
                usleep(500_000)
            }
        }
        recordOwner()
        return .started
    }

    /// How ``stop(mode:)`` ends the server.
    public enum StopMode: String, Sendable {
        /// End sessions, roll back open work, checkpoint: a clean shutdown.
        case fast
        /// Kill everything at once; the next start runs crash recovery. For throwaway clusters.
        case immediate
    }

    /// Stops the server and waits until it has exited.
    public func stop(mode: StopMode = .fast) throws {
        guard try isRunning() else { return }
        logger.info("Stopping embedded PostgreSQL", metadata: ["cluster": "\(configuration.clusterDirectory)"])
        try runTool(
            binaries.pgCtl, ["stop", "-D", configuration.clusterDirectory, "-m", mode.rawValue, "-w", "-t", "60", "-s"],
            what: "pg_ctl stop")
        try? FileManager.default.removeItem(atPath: ownerFile)
    }

    /// ``start()`` on a thread of its own, so that no cooperative thread blocks on it.
    @discardableResult
    public func startAsync() async throws -> StartOutcome {
        try await Self.onOwnThread { try self.start() }
    }

    /// ``stop()`` on a thread of its own.
    public func stopAsync() async throws {
        try await Self.onOwnThread { try self.stop() }
    }

    /// True when a postmaster is serving this cluster: its pid file names a live `postgres` process (a
    /// killed one that is not reaped yet, a zombie, does not count) and `pg_ctl status` agrees.
    public func isRunning() throws -> Bool {
        guard FileManager.default.fileExists(atPath: configuration.clusterDirectory + "/PG_VERSION") else { return false }
        guard case .live = postmaster() else { return false }
        // pg_ctl status: 0 running, 3 not running, 4 no accessible data directory.
        let status = try ChildProcess.run(
            binaries.pgCtl, ["status", "-D", configuration.clusterDirectory], workingDirectory: configuration.clusterDirectory,
            as: serverUser)
        return status == 0
    }

    /// Creates `database` if it does not exist.
    public func createDatabaseIfNeeded(_ database: String) async throws {
        let pool = PostgresPool(configuration: .init(connection: connectionConfiguration(), maxConnections: 1), logger: logger)
        do {
            let created = try await pool.withConnection { connection -> Bool in
                let exists = try connection.query("SELECT 1 FROM pg_database WHERE datname = \(database)").count > 0
                if exists { return false }
                do {
                    try connection.executeScript("CREATE DATABASE \(PostgresIdentifier.quote(database))")
                    return true
                } catch let error as PostgresError where error.sqlState == "42P04" {
                    return false  // created concurrently by another process: fine
                }
            }
            if created { logger.info("Created database", metadata: ["database": "\(database)"]) }
        } catch {
            await pool.shutdown()
            throw error
        }
        await pool.shutdown()
    }

    // MARK: Internals

    /// How often a start is tried while a killed server's processes are still going away.
    static let startAttempts = 20

    /// What the cluster's `postmaster.pid` names.
    enum PostmasterProcess: Equatable {
        /// No pid file, or its process is gone (or is not PostgreSQL: the pid was reused).
        case none
        /// A PostgreSQL process that is running.
        case live(pid_t)
        /// Killed and not yet reaped (a zombie) or exiting.
        case dying(pid_t)
    }

    func postmaster() -> PostmasterProcess {
        guard let text = try? String(contentsOfFile: configuration.clusterDirectory + "/postmaster.pid", encoding: .utf8),
            let first = text.split(separator: "\n").first, let pid = pid_t(first.trimmingCharacters(in: .whitespaces)), pid > 0
        else { return .none }
        // /proc/<pid>/stat: "pid (comm) state …"; the name may hold spaces or parentheses, so read after the last ')'.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
        else { return .none }
        let name = stat[stat.index(after: open)..<close]
        guard name == "postgres" || name == "postmaster" else { return .none }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state == "Z" || state == "X" ? .dying(pid) : .live(pid)
    }

    /// Waits (up to 15 s) for a killed postmaster named by the pid file to be reaped, and removes a pid
    /// file whose process is not PostgreSQL (PostgreSQL would take the reused pid for itself running).
    private func waitForDeadPostmaster() throws {
        var waited = 0
        while case .dying(let pid) = postmaster(), waited < 150 {
            if waited == 0 { logger.notice("Waiting for a killed PostgreSQL to be gone", metadata: ["pid": "\(pid)"]) }
            usleep(100_000)
            waited += 1
        }
        let pidFile = configuration.clusterDirectory + "/postmaster.pid"
        if postmaster() == .none, let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = text.split(separator: "\n").first.flatMap({ pid_t($0) }), kill(pid, 0) == 0
        {
            logger.notice("Removing a stale postmaster.pid whose pid belongs to another program", metadata: ["pid": "\(pid)"])
            try? FileManager.default.removeItem(atPath: pidFile)
        }
    }

    private var ownerFile: String { configuration.clusterDirectory + ".owner" }

    private func recordOwner() {
        try? String(getpid()).write(toFile: ownerFile, atomically: true, encoding: .utf8)
    }

    private func recordedOwner() -> pid_t? {
        guard let text = try? String(contentsOfFile: ownerFile, encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private func prepareDirectories() throws {
        let fileManager = FileManager.default
        let parent = (configuration.clusterDirectory as NSString).deletingLastPathComponent
        try fileManager.createDirectory(atPath: parent, withIntermediateDirectories: true)
        for directory in [configuration.clusterDirectory, socketDirectory] {
            if !fileManager.fileExists(atPath: directory) {
                try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            }
            if let user = serverUser {
                guard chown(directory, user.uid, user.gid) == 0 else {
                    throw EmbeddedPostgresError.commandFailed(command: "chown \(directory)", status: errno, logTail: String(cString: strerror(errno)))
                }
            }
        }
        if let user = serverUser {
            // The server account must be able to reach the cluster directory through every parent.
            let status = try ChildProcess.run("/bin/sh", ["-c", "cd \"$0\"", configuration.clusterDirectory], as: user)
            if status != 0 { throw EmbeddedPostgresError.directoryUnreachable(path: configuration.clusterDirectory, user: user.name) }
        }
    }

    private func initialize() throws {
        logger.notice("Creating embedded PostgreSQL cluster", metadata: [
            "cluster": "\(configuration.clusterDirectory)", "run_as": "\(serverUser?.name ?? "current user")",
        ])
        var arguments = [
            "-D", configuration.clusterDirectory, "-U", configuration.superuser, "--auth=trust", "--encoding=UTF8",
            "--locale=C",
        ]
        if configuration.disposable { arguments.append("--no-sync") }
        try runTool(binaries.initdb, arguments, what: "initdb")
        let main = configuration.clusterDirectory + "/postgresql.conf"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: main))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("\n# Settings DataRights manages; rewritten at every start.\ninclude_if_exists = 'datarights.conf'\n".utf8))
    }

    private func writeSettings() throws {
        var settings: [String: String] = [
            "listen_addresses": "''",
            "unix_socket_directories": "'\(socketDirectory)'",
            "unix_socket_permissions": "0700",
            "port": String(configuration.port),
            "max_connections": "200",
            "shared_buffers": "'256MB'",
            "log_min_messages": "warning",
            "log_line_prefix": "'%m [%p] '",
        ]
        if configuration.disposable {
            settings["fsync"] = "off"
            settings["synchronous_commit"] = "off"
            settings["full_page_writes"] = "off"
            settings["shared_buffers"] = "'128MB'"
        }
        for (key, value) in configuration.settings { settings[key] = value }
        let text = settings.keys.sorted().map { "\($0) = \(settings[$0]!)" }.joined(separator: "\n") + "\n"
        let path = configuration.clusterDirectory + "/datarights.conf"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        if let user = serverUser { _ = chown(path, user.uid, user.gid) }
    }

    private func runTool(_ executable: String, _ arguments: [String], what: String) throws {
        let status = try ChildProcess.run(
            executable, arguments, workingDirectory: configuration.clusterDirectory, appendingOutputTo: logFile, as: serverUser)
        guard status == 0 else {
            throw EmbeddedPostgresError.commandFailed(command: what, status: status, logTail: logTail())
        }
    }

    private func logTail(lines: Int = 20) -> String {
        guard let text = try? String(contentsOfFile: logFile, encoding: .utf8) else { return "(no log at \(logFile))" }
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    private static func unprivilegedUser(logger: Logger) throws -> SystemUser {
        let environment = ProcessInfo.processInfo.environment
        var name = environment["DATARIGHTS_PG_USER"].flatMap { $0.isEmpty ? nil : $0 }
        if name == nil {
            name = SystemUser.named("postgres") != nil ? "postgres" : "datarights-postgres"
        }
        let chosen = name!
        if SystemUser.named(chosen) == nil {
            let status = try ChildProcess.run(
                "/usr/sbin/useradd", ["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", chosen])
            guard status == 0 else { throw EmbeddedPostgresError.noUnprivilegedUser("useradd \(chosen) exited with \(status)") }
        }
        guard let user = SystemUser.named(chosen), user.uid != 0 else {
            throw EmbeddedPostgresError.noUnprivilegedUser("\(chosen) is not an unprivileged account")
        }
        logger.notice(
            "Running as root: the embedded PostgreSQL runs as an unprivileged account",
            metadata: ["user": "\(user.name)", "uid": "\(user.uid)"])
        return user
    }

    /// Where the cluster of `path` actually lives when the server account must reach it.
    ///
    /// A data directory under a directory the account cannot enter (root's home is mode 0700) would make
    /// PostgreSQL fail. Then the cluster is kept under ``relocationRoot`` instead and `path` becomes a
    /// symbolic link to it, so that people still find it where they asked for it.
    static func reachableClusterDirectory(for path: String, user: SystemUser, logger: Logger) throws -> String {
        let fileManager = FileManager.default
        if let destination = try? fileManager.destinationOfSymbolicLink(atPath: path) {
            return destination  // relocated by an earlier start
        }
        var existing = path
        while !fileManager.fileExists(atPath: existing) && existing != "/" {
            existing = (existing as NSString).deletingLastPathComponent
        }
        if try ChildProcess.run("/bin/sh", ["-c", "cd \"$0\"", existing], as: user) == 0 { return path }
        guard !fileManager.fileExists(atPath: path) else {
            throw EmbeddedPostgresError.directoryUnreachable(path: path, user: user.name)
        }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in path.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let relocated = "\(relocationRoot)/\(String(hash, radix: 16))/postgres"
        try fileManager.createDirectory(
            atPath: (relocated as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755])
        try fileManager.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try fileManager.createSymbolicLink(atPath: path, withDestinationPath: relocated)
        logger.notice(
            "The PostgreSQL account cannot reach the data directory; the cluster lives elsewhere, linked from it",
            metadata: ["requested": "\(path)", "cluster": "\(relocated)", "user": "\(user.name)"])
        return relocated
    }

    /// Where clusters whose data directory the server account cannot reach are kept.
    public static let relocationRoot = "/var/lib/datarights/embedded"

    static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.name = "datarights-embedded-postgres"
            thread.start()
        }
    }
}
