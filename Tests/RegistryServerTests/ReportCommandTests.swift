import Foundation
import RegistryCore
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `datarights report` (issue 16, R29) run as a real process next to a serving node on the same
/// embedded database: it reads without the writer lease, follows every page, and writes the API's own
/// answer to the file; a party that may not ask gets the API's refusal and no file.
@Suite(.serialized) struct ReportCommandTests {
    @Test func R29_reportWritesEveryPageOfTheAPIsAnswerWhileTheServerRuns() async throws {
        let binary = ServeCommandTests.binary
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the datarights product first: \(binary)")
        let dataDirectory = "/tmp/datarights-test-\(getpid())/report-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        func run(_ arguments: [String], _ name: String) async throws -> (Int32, String) {
            let process = try ServerProcess.start(binary, arguments + ["--data-dir", dataDirectory], log: dataDirectory + ".\(name).log")
            let status = try await process.wait(timeout: .seconds(120))
            return (status, process.logTail())
        }

        let (created, keyOutput) = try await run(["keys", "create", "--operator"], "keys")
        #expect(created == 0, "\(keyOutput)")
        let operatorToken = try #require(keyOutput.split(separator: "\n").last.map(String.init))
        let port = FreePort.next()
        let base = "http://127.0.0.1:\(port)"
        let server = try ServerProcess.start(binary, ["serve", "--data-dir", dataDirectory, "--port", String(port)], log: dataDirectory + ".serve.log")
        // A failed requirement ends the test early: the server (and with it its PostgreSQL) still stops.
        defer { if server.process.isRunning { kill(server.process.processIdentifier, SIGTERM) } }
        _ = try await HTTP.waitForStatus(200, url: base + "/readyz", timeout: .seconds(90))

        var organisations: Int64 = 700
        func party(_ name: String, _ kind: String) async throws -> (Int, String) {
            organisations += 1
            let created = try await HTTP.send("POST", base + "/v1/parties", token: operatorToken, body: [
                "name": name, "kind": kind, "region": "CN-BJ", "jurisdiction": "mainland", "creditCode": CreditCode.make(organisation: organisations),
            ])
            #expect(created.0 == 201, "\(created.1)")
            let id = try #require(HTTP.json(created.1)["id"] as? Int)
            let key = try await HTTP.send("POST", base + "/v1/parties/\(id)/keys", token: operatorToken, body: ["label": name])
            return (id, try #require(HTTP.json(key.1)["token"] as? String))
        }
        let (_, regulator) = try await party("Data Administration", "regulator")
        let (_, lab) = try await party("Lab, \"Quoted\" & Co", "model_lab")
        for index in 0..<4 { _ = try await party("Bureau \(index)", "department") }

        // What the API answers, page by page.
        var expected: [[String: AnyHashable]] = []
        var cursor: String?
        repeat {
            let page = HTTP.json(try await HTTP.send("GET", base + "/v1/parties?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), token: regulator).1)
            expected += (page["items"] as? [[String: AnyHashable]]) ?? []
            cursor = page["nextCursor"] as? String
        } while cursor != nil
        #expect(expected.count == 7, "operator, regulator, lab and four departments")

        // The report, while the server holds the writer lease on the same database: every page, one file.
        let file = dataDirectory + ".parties.json"
        let (reported, reportLog) = try await run(["report", "parties", "limit=2", "--format", "json", "--out", file, "--key", regulator], "report")
        #expect(reported == 0, "\(reportLog)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        #expect((document["items"] as? [[String: AnyHashable]]) == expected)
        #expect(document["nextCursor"] is NSNull)

        // CSV: the header once and every page's rows, as Python's csv module reads it; the same entries
        // as the JSON report of the same query.
        let csvFile = dataDirectory + ".audit.csv"
        let jsonFile = dataDirectory + ".audit.json"
        let (csvReported, csvLog) = try await run(["report", "audit/events", "limit=3", "--format", "csv", "--out", csvFile, "--key", regulator], "report-csv")
        #expect(csvReported == 0, "\(csvLog)")
        let (jsonReported, jsonLog) = try await run(["report", "audit/events", "limit=3", "--format", "json", "--out", jsonFile, "--key", regulator], "report-json")
        #expect(jsonReported == 0, "\(jsonLog)")
        let records = try await StandardCSV.parse(String(contentsOfFile: csvFile, encoding: .utf8))
        let audit = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: jsonFile))) as? [String: Any])
        let entries = try #require(audit["items"] as? [[String: Any]])
        #expect(entries.count > 6, "more than two pages of three")
        #expect(records.first?.first == "sequence")
        #expect(records.dropFirst().map { $0.first ?? "" } == entries.map { "\($0["sequence"] ?? "")" })

        // A party that may not ask gets the API's refusal, and no file is left (not even a partial one).
        let refusedFile = dataDirectory + ".refused.json"
        let (refused, refusedLog) = try await run(["report", "audit/events", "--format", "json", "--out", refusedFile, "--key", lab], "refused")
        #expect(refused != 0)
        #expect(refusedLog.contains("403"), "\(refusedLog)")
        #expect(!FileManager.default.fileExists(atPath: refusedFile))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: (dataDirectory as NSString).deletingLastPathComponent).filter { $0.contains(".partial-") }
        #expect(leftovers.isEmpty, "\(leftovers)")

        // A wrong key is the API's 401; an unknown filter its 400 naming it.
        let (unauthenticated, unauthenticatedLog) = try await run(["report", "parties", "--format", "json", "--out", "-", "--key", "drk_nope_nope"], "unauthenticated")
        #expect(unauthenticated != 0 && unauthenticatedLog.contains("401"), "\(unauthenticatedLog)")
        let (unknown, unknownLog) = try await run(["report", "parties", "colour=red", "--format", "json", "--out", "-", "--key", regulator], "unknown")
        #expect(unknown != 0 && unknownLog.contains("colour"), "\(unknownLog)")

        // The server was never disturbed: it still answers, and still holds the lease.
        #expect(try await HTTP.get(base + "/readyz").0 == 200)
        #expect(try await server.terminate(signal: SIGTERM, timeout: .seconds(60)) == 0)
    }
}
