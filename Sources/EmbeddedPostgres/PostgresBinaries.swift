import Foundation

/// Where PostgreSQL's server programs are.
public struct PostgresBinaries: Sendable {
    public var directory: String
    public var initdb: String { directory + "/initdb" }
    public var pgCtl: String { directory + "/pg_ctl" }
    public var postgres: String { directory + "/postgres" }

    /// What to tell a person whose machine lacks the server.
    public static let installAdvice =
        "PostgreSQL server programs (initdb, pg_ctl, postgres) were not found. Install them — on Debian or Ubuntu: `apt-get install -y postgresql` — or point DATARIGHTS_PG_BINDIR at their directory, or run against an existing server with --database-url."

    /// Finds the server programs: `DATARIGHTS_PG_BINDIR`, then `pg_config --bindir`, then the Debian
    /// layout `/usr/lib/postgresql/<major>/bin` (newest first), then `PATH`.
    public static func locate(environment: [String: String]? = nil, debianRoot: String = "/usr/lib/postgresql") throws -> PostgresBinaries {
        let environment = environment ?? ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let explicit = environment["DATARIGHTS_PG_BINDIR"], !explicit.isEmpty { candidates.append(explicit) }
        if let bindir = pgConfigBindir(environment: environment) { candidates.append(bindir) }
        if let majors = try? FileManager.default.contentsOfDirectory(atPath: debianRoot) {
            let sorted = majors.compactMap { Int($0) }.sorted(by: >)
            candidates += sorted.map { "\(debianRoot)/\($0)/bin" }
        }
        candidates += (environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for directory in candidates {
            let binaries = PostgresBinaries(directory: directory)
            let fileManager = FileManager.default
            if fileManager.isExecutableFile(atPath: binaries.initdb) && fileManager.isExecutableFile(atPath: binaries.pgCtl)
                && fileManager.isExecutableFile(atPath: binaries.postgres)
            {
                return binaries
            }
        }
        throw EmbeddedPostgresError.binariesNotFound(searched: candidates)
    }

    private static func pgConfigBindir(environment: [String: String]) -> String? {
        let path = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map { "\($0)/pg_config" }
        guard let pgConfig = path.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("datarights-pg_config-\(getpid()).txt").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        guard (try? ChildProcess.run(pgConfig, ["--bindir"], appendingOutputTo: output)) == 0,
            let text = try? String(contentsOfFile: output, encoding: .utf8)
        else { return nil }
        let bindir = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return bindir.isEmpty ? nil : bindir
    }
}

/// Why the embedded cluster could not be set up or started.
public enum EmbeddedPostgresError: Error, CustomStringConvertible, Sendable {
    case binariesNotFound(searched: [String])
    case noUnprivilegedUser(String)
    case directoryUnreachable(path: String, user: String)
    case commandFailed(command: String, status: Int32, logTail: String)

    public var description: String {
        switch self {
        case .binariesNotFound(let searched):
            PostgresBinaries.installAdvice + " Searched: " + searched.joined(separator: ", ")
        case .noUnprivilegedUser(let reason):
            "PostgreSQL refuses to run as root and no unprivileged user could be used: \(reason). Create one (`useradd --system postgres`) or set DATARIGHTS_PG_USER."
        case .directoryUnreachable(let path, let user):
            "PostgreSQL runs as user \(user), which cannot reach the existing cluster at \(path) (a parent directory is not searchable by it, as /root usually is not). Move it, or choose a --data-dir that \(user) can reach, such as /var/lib/datarights or a directory under /tmp."
        case .commandFailed(let command, let status, let logTail):
            "\(command) failed with status \(status). Last lines of the PostgreSQL log:\n\(logTail)"
        }
    }
}
