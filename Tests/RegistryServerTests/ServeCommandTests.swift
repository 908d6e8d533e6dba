import Foundation
import Testing
import TestSupport

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The README's serve command, run as a real process: it answers /readyz with no database set up by
/// hand, and leaves no PostgreSQL process behind after SIGTERM or SIGINT.
@Suite(.serialized) struct ServeCommandTests {
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("datarights").path
    }

    @Test func serveStartsEmbeddedPostgresAnswersReadyAndStopsItOnSIGTERM() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the datarights product first: \(Self.binary)")
        let dataDirectory = "/tmp/datarights-test-\(getpid())/serve-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }

        // The second run finds the cluster already created, and is stopped with SIGINT (Ctrl-C) instead.
        for (run, signal) in [(1, SIGTERM), (2, SIGINT)] {
            let port = FreePort.next()
            let server = try ServerProcess.start(Self.binary, ["serve", "--data-dir", dataDirectory, "--port", String(port)], log: dataDirectory + ".serve-\(run).log")
            let ready = try await HTTP.waitForStatus(200, url: "http://127.0.0.1:\(port)/readyz", timeout: .seconds(90))
            #expect(ready.contains(#""status":"ready""#), "run \(run): \(ready)")
            #expect(ServerProcess.processes(mentioning: dataDirectory + "/postgres").count >= 1, "the embedded server runs")

            let status = try await server.terminate(signal: signal, timeout: .seconds(60))
            #expect(status == 0, "serve exits cleanly on signal \(signal) (run \(run)); log: \(server.logTail())")
            #expect(ServerProcess.processes(mentioning: dataDirectory + "/postgres").isEmpty, "no PostgreSQL process is left")
            #expect(!FileManager.default.fileExists(atPath: dataDirectory + "/postgres/postmaster.pid"))
            #expect(server.logTail().contains("Stopping embedded PostgreSQL"))
        }

        // `migrate --status` starts the stopped cluster, reports, and stops it again.
        let migrate = try ServerProcess.start(Self.binary, ["migrate", "--status", "--data-dir", dataDirectory], log: dataDirectory + ".migrate.log")
        #expect(try await migrate.wait(timeout: .seconds(60)) == 0)
        #expect(migrate.logTail().contains("applied\t0001_foundation.sql"))
        #expect(ServerProcess.processes(mentioning: dataDirectory + "/postgres").isEmpty)
    }

    @Test func serveFailsClearlyWhenTheExternalDatabaseIsUnreachable() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary))
        let log = "/tmp/datarights-test-\(getpid())/unreachable-\(UInt32.random(in: 0...UInt32.max)).log"
        let server = try ServerProcess.start(
            Self.binary, ["serve", "--port", String(FreePort.next()), "--database-url", "postgresql:///x?host=/tmp/datarights-nothing-here&connect_timeout=2"],
            log: log)
        let status = try await server.wait(timeout: .seconds(60))
        #expect(status != 0)
        #expect(server.logTail().contains("could not connect to PostgreSQL"))
    }
}

/// A child process whose output goes to a file.
struct ServerProcess {
    let process: Process
    let logPath: String

    static func start(_ executable: String, _ arguments: [String], log: String) throws -> ServerProcess {
        try FileManager.default.createDirectory(atPath: (log as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return ServerProcess(process: process, logPath: log)
    }

    func terminate(signal: Int32, timeout: Duration) async throws -> Int32 {
        kill(process.processIdentifier, signal)
        return try await wait(timeout: timeout)
    }

    func wait(timeout: Duration) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                kill(process.processIdentifier, SIGKILL)
                Issue.record("process did not exit within \(timeout); log: \(logTail())")
                return -1
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    func logTail() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    /// Pids of processes whose command line mentions `text`.
    static func processes(mentioning text: String) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let commandLine = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return commandLine.contains(text) ? pid : nil
        }
    }
}

enum HTTP {
    /// Polls `url` until it answers `status`, and returns that body.
    static func waitForStatus(_ status: Int, url: String, timeout: Duration) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        var last = "no answer"
        while ContinuousClock.now < deadline {
            if let (code, body) = try? await get(url) {
                if code == status { return body }
                last = "\(code): \(body)"
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw HTTPWaitError(description: "\(url) did not answer \(status) within \(timeout); last: \(last)")
    }

    static func get(_ url: String) async throws -> (Int, String) {
        var request = URLRequest(url: URL(string: url)!)
        request.timeoutInterval = 5
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    struct HTTPWaitError: Error, CustomStringConvertible {
        var description: String
    }
}
