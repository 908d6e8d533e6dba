private import CProcess
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An unprivileged system account that PostgreSQL's tools run as when this process is root.
public struct SystemUser: Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    /// Supplementary groups, looked up here because nothing may be looked up between fork and exec.
    var groups: [UInt32]

    /// The account called `name`, or nil when there is none.
    public static func named(_ name: String) -> SystemUser? {
        guard let entry = getpwnam(name) else { return nil }
        let uid = entry.pointee.pw_uid
        let gid = entry.pointee.pw_gid
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(name, gid, &groups, &count)
        }
        return SystemUser(name: name, uid: uid, gid: gid, groups: Array(groups.prefix(Int(max(count, 0)))))
    }
}

/// Runs external programs (PostgreSQL's `initdb` and `pg_ctl`) and waits for them.
///
/// Foundation's `Process` would hang on `pg_ctl start`: the postmaster it forks inherits the pipe
/// `Process` watches. Children here get /dev/null for input, a log file for output, no other inherited
/// descriptor, and their own process group.
enum ChildProcess {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `executable` with `arguments` to completion and returns its exit status (or 128 + signal).
    static func run(
        _ executable: String, _ arguments: [String], workingDirectory: String? = nil, appendingOutputTo logPath: String? = nil,
        as user: SystemUser? = nil, environment: [String: String] = [:]
    ) throws -> Int32 {
        var outputDescriptor: Int32 = -1
        if let logPath {
            outputDescriptor = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            guard outputDescriptor >= 0 else {
                throw Failure(description: "cannot open \(logPath) for writing: \(String(cString: strerror(errno)))")
            }
            if let user { _ = fchown(outputDescriptor, user.uid, user.gid) }
        }
        defer { if outputDescriptor >= 0 { close(outputDescriptor) } }

        var environmentPairs = ProcessInfo.processInfo.environment
        environmentPairs["LC_ALL"] = "C"
        for (key, value) in environment { environmentPairs[key] = value }
        if let user {
            environmentPairs["USER"] = user.name
            environmentPairs["LOGNAME"] = user.name
            environmentPairs["HOME"] = workingDirectory ?? "/"
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environmentPairs.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        let groups = user?.groups ?? []
        let pid = groups.withUnsafeBufferPointer { groupPointer in
            cprocess_spawn(
                executable, argv, envp, workingDirectory, outputDescriptor,
                user?.uid ?? uid_t.max, user?.gid ?? gid_t.max, groupPointer.baseAddress, Int32(groups.count))
        }
        guard pid > 0 else {
            throw Failure(description: "cannot start \(executable): \(String(cString: strerror(-pid)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else {
                throw Failure(description: "waiting for \(executable) failed: \(String(cString: strerror(errno)))")
            }
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
