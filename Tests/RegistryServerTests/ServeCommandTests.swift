import EmbeddedPostgres
import Foundation
import Logging
import PostgresClient
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif
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
            // The README's serve command loads a demo registry on first start.
            let server = try ServerProcess.start(
                Self.binary, ["serve", "--demo", "--demo-datasets", "500", "--sandbox", "--data-dir", dataDirectory, "--port", String(port)],
                log: dataDirectory + ".serve-\(run).log")
            let ready = try await HTTP.waitForStatus(200, url: "http://127.0.0.1:\(port)/readyz", timeout: .seconds(90))
            #expect(ready.contains(#""status":"ready""#), "run \(run): \(ready)")
            #expect(ServerProcess.processes(mentioning: dataDirectory + "/postgres").count >= 1, "the embedded server runs")

            let status = try await server.terminate(signal: signal, timeout: .seconds(60))
            #expect(status == 0, "serve exits cleanly on signal \(signal) (run \(run)); log: \(server.logTail())")
            #expect(ServerProcess.processes(mentioning: dataDirectory + "/postgres").isEmpty, "no PostgreSQL process is left")
            #expect(!FileManager.default.fileExists(atPath: dataDirectory + "/postgres/postmaster.pid"))
            #expect(server.logTail().contains("Stopping embedded PostgreSQL"))
            #expect(server.logTail().contains("Demo API keys") == (run == 1), "demo keys only when the demo is loaded")
            // Log lines: time, level, label, the metadata sorted by key, [module], message — the readiness
            // probe's access-log line among them, with its request id.
            let accessLine = server.logTail().split(separator: "\n").last { $0.contains("http.path=/readyz") }
            let line = try #require(accessLine, "run \(run): no access-log line for /readyz")
            #expect(line.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} info datarights: duration_ms=\S+ hb\.request\.id=\S+ http\.method=GET http\.path=\/readyz http\.status=200 request\.id=\S+ \[RegistryServer\] Request/) != nil, "\(line)")
        }

        // `migrate --status` starts the stopped cluster, reports, and stops it again.
        let migrate = try ServerProcess.start(Self.binary, ["migrate", "--status", "--data-dir", dataDirectory], log: dataDirectory + ".migrate.log")
        #expect(try await migrate.wait(timeout: .seconds(60)) == 0)
        #expect(migrate.logTail().contains("applied\t0001_foundation.sql"))
        #expect(ServerProcess.processes(mentioning: dataDirectory + "/postgres").isEmpty)
    }

    @Test func R30_restartKeepsTheCoreDigestAndATamperedPayloadIsNamedByAuditVerify() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary))
        let dataDirectory = "/tmp/datarights-test-\(getpid())/restart-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        func run(_ arguments: [String], _ name: String) async throws -> (Int32, String) {
            let process = try ServerProcess.start(Self.binary, arguments + ["--data-dir", dataDirectory], log: dataDirectory + ".\(name).log")
            let status = try await process.wait(timeout: .seconds(90))
            return (status, process.logTail())
        }

        // The first operator key comes from the CLI, before any server runs.
        let (created, keyOutput) = try await run(["keys", "create", "--operator"], "keys")
        #expect(created == 0, "\(keyOutput)")
        let token = try #require(keyOutput.split(separator: "\n").last.map(String.init), "\(keyOutput)")
        #expect(token.hasPrefix("drk_"))

        let port = FreePort.next()
        let base = "http://127.0.0.1:\(port)"
        var server = try ServerProcess.start(Self.binary, ["serve", "--data-dir", dataDirectory, "--port", String(port)], log: dataDirectory + ".serve-1.log")
        _ = try await HTTP.waitForStatus(200, url: base + "/readyz", timeout: .seconds(90))
        let party = try await HTTP.send("POST", base + "/v1/parties", token: token, body: [
            "name": "Ministry of Water", "kind": "department", "region": "CN-HB", "jurisdiction": "mainland", "creditCode": "91110108551385082Q",
        ])
        #expect(party.0 == 201, "\(party.1)")
        let partyID = try #require(HTTP.json(party.1)["id"] as? Int)
        let key = try await HTTP.send("POST", base + "/v1/parties/\(partyID)/keys", token: token, body: ["label": "ministry"])
        let ministry = try #require(HTTP.json(key.1)["token"] as? String)
        for index in 0..<3 {
            let dataset = try await HTTP.send("POST", base + "/v1/datasets", token: ministry, body: [
                "title": "River gauge readings \(index)", "grade": "important", "piLevel": "none", "individualsCovered": 0,
                "region": "CN-HB", "fingerprint": String(repeating: "a\(index)", count: 32), "format": "csv", "updateCycle": "hourly",
                "sizeBytes": 4096, "sharing": ["category": "conditional", "text": "for flood control duties"],
            ])
            #expect(dataset.0 == 201, "\(dataset.1)")
        }
        let before = HTTP.json(try await HTTP.send("GET", base + "/v1/admin/state", token: token).1)
        let digest = try #require(before["digest"] as? String)
        #expect(try await server.terminate(signal: SIGTERM, timeout: .seconds(60)) == 0)

        // The CLI rebuilds the core from PostgreSQL and reads the same digest.
        let (digested, digestOutput) = try await run(["state", "digest"], "digest")
        #expect(digested == 0)
        #expect(digestOutput.contains("digest \(digest)"), "\(digestOutput)")

        // So does the restarted server.
        server = try ServerProcess.start(Self.binary, ["serve", "--data-dir", dataDirectory, "--port", String(port)], log: dataDirectory + ".serve-2.log")
        _ = try await HTTP.waitForStatus(200, url: base + "/readyz", timeout: .seconds(90))
        let after = HTTP.json(try await HTTP.send("GET", base + "/v1/admin/state", token: token).1)
        #expect(after["digest"] as? String == digest, "the core after restart equals the core before")
        #expect(try await server.terminate(signal: SIGTERM, timeout: .seconds(60)) == 0)

        let (verified, verifyOutput) = try await run(["audit", "verify"], "verify-1")
        #expect(verified == 0)
        #expect(verifyOutput.contains("valid: "), "\(verifyOutput)")

        // By hand, as a superuser would: switch off the append-only trigger and change one payload byte.
        let cluster = try EmbeddedPostgres(configuration: .init(clusterDirectory: dataDirectory + "/postgres"), logger: Logger(label: "test.tamper"))
        try await cluster.startAsync()
        let pool = PostgresPool(configuration: .init(connection: cluster.connectionConfiguration(database: "datarights"), maxConnections: 1), logger: Logger(label: "test.tamper"))
        try await pool.withConnection { connection in
            try connection.executeScript("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
            let changed = try connection.execute("UPDATE audit_event SET payload = overlay(payload PLACING 'X' FROM 20 FOR 1) WHERE seq = 4")
            #expect(changed == 1)
        }
        await pool.shutdown()
        try await cluster.stopAsync()

        let (broken, brokenOutput) = try await run(["audit", "verify"], "verify-2")
        #expect(broken == 1)
        #expect(brokenOutput.contains("broken at sequence 4"), "\(brokenOutput)")
    }

    /// Finding 13: SIGTERM while `serve --demo` bulk-loads its registry (before the HTTP server runs)
    /// stops the embedded PostgreSQL too; nothing is left running.
    @Test func F13_sigtermDuringTheDemoLoadStopsPostgreSQL() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the datarights product first: \(Self.binary)")
        let dataDirectory = "/tmp/datarights-test-\(getpid())/demo-term-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let server = try ServerProcess.start(
            Self.binary, ["serve", "--demo", "--demo-datasets", "400000", "--data-dir", dataDirectory, "--port", String(FreePort.next())],
            log: dataDirectory + ".serve.log")
        // The last migration applied: the demo load comes next and takes seconds at this size.
        let deadline = ContinuousClock.now + .seconds(90)
        while !server.logTail().contains("0006_policy_rules"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(800))
        #expect(!server.logTail().contains("DataRights serving"), "still loading when the signal comes")
        let status = try await server.terminate(signal: SIGTERM, timeout: .seconds(60))
        #expect(status != -1, "serve exits on SIGTERM during the demo load")
        #expect(ServerProcess.processes(mentioning: dataDirectory + "/postgres").isEmpty, "no PostgreSQL process is left; log: \(server.logTail())")
        #expect(!FileManager.default.fileExists(atPath: dataDirectory + "/postgres/postmaster.pid"))
    }

    /// A service failing once start-up is done (here the HTTP server, whose port is taken) shuts the
    /// service group down in order: the process exits with the error, and the cluster it started stops.
    @Test func serveWhosePortIsTakenExitsAndStopsPostgreSQL() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the datarights product first: \(Self.binary)")
        let dataDirectory = "/tmp/datarights-test-\(getpid())/port-taken-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let (port, holder) = FreePort.held()
        defer { close(holder) }
        let server = try ServerProcess.start(Self.binary, ["serve", "--data-dir", dataDirectory, "--port", String(port)], log: dataDirectory + ".serve.log")
        let status = try await server.wait(timeout: .seconds(90))
        #expect(status != 0 && status != -1, "serve fails when it cannot listen; log: \(server.logTail())")
        #expect(server.logTail().contains("DataRights serving"), "start-up was done before the server failed")
        #expect(server.logTail().contains("Stopping embedded PostgreSQL"))
        #expect(ServerProcess.processes(mentioning: dataDirectory + "/postgres").isEmpty, "no PostgreSQL process is left")
        #expect(!FileManager.default.fileExists(atPath: dataDirectory + "/postgres/postmaster.pid"))
    }

    /// Finding 13: a request still arriving when SIGTERM comes is answered, not reset. The client sends
    /// the first bytes of its request head, the server gets SIGTERM, the client sends the rest.
    @Test func F13_aRequestStillUploadingAtSIGTERMIsAnswered() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the datarights product first: \(Self.binary)")
        let dataDirectory = "/tmp/datarights-test-\(getpid())/upload-term-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let port = FreePort.next()
        let server = try ServerProcess.start(Self.binary, ["serve", "--data-dir", dataDirectory, "--port", String(port)], log: dataDirectory + ".serve.log")
        _ = try await HTTP.waitForStatus(200, url: "http://127.0.0.1:\(port)/readyz", timeout: .seconds(90))

        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        let request = Array("GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slow-uploader\r\n\r\n".utf8)
        func send(_ bytes: ArraySlice<UInt8>) -> Int { bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
        #expect(send(request[..<12]) == 12)
        try await Task.sleep(for: .milliseconds(200))
        kill(server.process.processIdentifier, SIGTERM)
        try await Task.sleep(for: .milliseconds(300))
        let sent = send(request[12...])
        var answer = [UInt8](repeating: 0, count: 4_096)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let received = recv(socket, &answer, answer.count, 0)
        let text = received > 0 ? String(decoding: answer[..<received], as: UTF8.self) : "(nothing: \(String(cString: strerror(errno))))"
        #expect(sent == request.count - 12, "the rest of the request is taken")
        #expect(text.hasPrefix("HTTP/1.1 200") || text.hasPrefix("HTTP/1.1 503"), "answered, not reset: \(text)")
        #expect(try await server.wait(timeout: .seconds(60)) == 0)
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
        try await send("GET", url)
    }

    static func send(_ method: String, _ url: String, token: String? = nil, body: [String: Any]? = nil) async throws -> (Int, String) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        request.timeoutInterval = 10
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.checkedData(for: request)
        return (response.statusCode, String(decoding: data, as: UTF8.self))
    }

    static func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    struct HTTPWaitError: Error, CustomStringConvertible {
        var description: String
    }
}
