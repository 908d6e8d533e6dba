import Foundation
import HTTPTypes
import HummingbirdTesting
import PostgresClient
import RegistryCore
import RegistryImport
import RegistryStore
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `datarights import` (issue 17) run as a real process against a live server on a port and a real
/// PostgreSQL: every line is the API call a person would make, refused lines carry the API's reason,
/// an interrupted import resumed creates each line once (counted by SQL), and a dry run writes nothing.
/// And the API's `Idempotency-Key` on the creating routes it relies on.
@Suite(.serialized) struct ImportCommandTests {
    static let fingerprint = String(repeating: "5e", count: 32)
    static let contract = String(repeating: "c0", count: 32)

    /// Runs `datarights import` and returns its exit status and output.
    static func runImport(_ arguments: [String], directory: String, name: String) async throws -> (Int32, String) {
        let process = try ServerProcess.start(ServeCommandTests.binary, ["import"] + arguments, log: "\(directory)/\(name).log")
        let status = try await process.wait(timeout: .seconds(300))
        return (status, process.logTail())
    }

    static func directory() throws -> String {
        let directory = "/tmp/datarights-test-\(getpid())/import-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    static func count(_ sql: String, _ registry: RegistryService) async throws -> Int64 {
        try await registry.database.pool.query(PostgresQuery(unsafeSQL: sql)) { try $0.decode(Int64.self, column: 0) }.first ?? -1
    }

    @Test func R6_R10_importOfAMixedCSVLandsAsTheAPICallsWouldAndRefusesBadLinesWithTheAPIsReason() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: ServeCommandTests.binary), "build the datarights product first")
        try await RegistryScenarioTests.withCast { cast, registry in
            let enterprise = try #require(cast.ids["enterprise"])
            let port = try #require(cast.api.client.port)
            let directory = try Self.directory()
            let file = directory + "/mixed.csv"
            let header = "record,ref,title,description,grade,piLevel,individualsCovered,region,fingerprint,format,updateCycle,sizeBytes,tags,targetRef,sourceRef,kind,datasetRef,right,sourceType,evidence,truthfulnessCommitment"
            let fp = Self.fingerprint
            let rows = [
                "dataset,bus,\"Bus ridership, Beijing\",\"Taps per stop\nand hour\",important,none,0,CN-BJ,\(fp),parquet,daily,4096,transport;bus,,,,,,,,",
                "dataset,routes,Bus routes,,general,none,0,CN-BJ,\(fp),csv,monthly,100,transport,,,,,,,,",
                "dataset,load,Route load,,general,none,0,CN-BJ,\(fp),csv,daily,200,,,,,,,,,",
                "derivation,,,,,,,,,,,,,load,bus,aggregated,,,,,",
                "derivation,,,,,,,,,,,,,load,routes,joined,,,,,",
                // Line 8 (the first record spans lines 2–3): load derives from bus; bus from load would close a
                // cycle (the lineage rule). Sent one at a time, so that the file's order decides which edge closes it.
                "derivation,,,,,,,,,,,,,bus,load,derived,,,,,",
                // Line 9: a grade the API does not know (400 naming the field); line 10 refers to it.
                "dataset,bad,Bad grade,,platinum,none,0,CN-BJ,\(fp),csv,daily,1,,,,,,,,,",
                "derivation,,,,,,,,,,,,,bad,bus,derived,,,,,",
                "registration,,,,,,,,,,,,,,,initial,bus,hold,original_collection,contract:\(Self.contract),true",
                // Line 12: a hold claim with no source evidence: recorded, and refused under R6.
                "registration,,,,,,,,,,,,,,,initial,routes,hold,original_collection,,true",
            ]
            try (([header] + rows).joined(separator: "\r\n") + "\r\n").write(toFile: file, atomically: true, encoding: .utf8)
            let auditBefore = try await Self.count("SELECT count(*) FROM audit_event", registry)

            let (status, output) = try await Self.runImport(
                [file, "--url", "http://127.0.0.1:\(port)", "--key", try #require(cast.keys["enterprise"]), "--concurrency", "1"], directory: directory,
                name: "mixed")
            #expect(status == 1, "some lines refused: \(output)")

            // In the registry, as the API calls would have made them.
            #expect(try await Self.count("SELECT count(*) FROM dataset WHERE holder_id = \(enterprise)", registry) == 3)
            #expect(try await Self.count("SELECT count(*) FROM derivation", registry) == 2)
            #expect(try await Self.count("SELECT count(*) FROM registration WHERE applicant_id = \(enterprise)", registry) == 2)
            #expect(try await Self.count("SELECT count(*) FROM registration WHERE status = 'refused'", registry) == 1)
            #expect(try await Self.count("SELECT count(*) FROM idempotency_key", registry) == 7, "every line that created something keeps its key")
            let edges = try await registry.database.pool.query(
                "SELECT s.title, t.title, d.kind FROM derivation d JOIN dataset s ON s.id = d.source_id JOIN dataset t ON t.id = d.target_id ORDER BY d.id"
            ) { "\(try $0.decode(String.self, column: 0)) → \(try $0.decode(String.self, column: 1)) (\(try $0.decode(String.self, column: 2)))" }
            #expect(edges == ["Bus ridership, Beijing → Route load (aggregated)", "Bus routes → Route load (joined)"])
            let search = try await cast.as("enterprise").get("/v1/datasets?holder=\(enterprise)&q=ridership")
            let bus = try #require(search.items.first)
            #expect(bus["description"] as? String == "Taps per stop\nand hour")
            #expect(bus["tags"] as? [String] == ["transport", "bus"])
            #expect(bus["grade"] as? String == "important")
            #expect(bus["sizeBytes"] as? Int == 4096)
            // 3 datasets, 2 edges, 2 registrations: one audit entry each (R30), nothing else.
            #expect(try await Self.count("SELECT count(*) FROM audit_event", registry) == auditBefore + 7)

            // The refusal report: each line with the API's reason, the others imported.
            let report = try await StandardCSV.parse(String(contentsOfFile: file + ".refused.csv", encoding: .utf8))
            #expect(report.first == ["line", "record", "ref", "status", "field", "title", "detail", "recorded"])
            let byLine = Dictionary(uniqueKeysWithValues: report.dropFirst().map { ($0[0], $0) })
            #expect(byLine.keys.sorted() == ["10", "12", "8", "9"], "\(report)")
            #expect(byLine["8"]?[3] == "422" && byLine["8"]?[4] == "lineage" && byLine["8"]?[6].contains("cycle") == true, "\(byLine["8"] ?? [])")
            #expect(byLine["9"]?[3] == "400" && byLine["9"]?[4] == "grade", "\(byLine["9"] ?? [])")
            #expect(byLine["10"]?[3] == "" && byLine["10"]?[4] == "targetRef" && byLine["10"]?[6].contains("line 9") == true, "\(byLine["10"] ?? [])")
            #expect(byLine["12"]?[4] == "R6" && byLine["12"]?[7].hasPrefix("REG-") == true, "\(byLine["12"] ?? [])")
            // Six created (three datasets, two edges, a claim); the refused claim is recorded but counted as refused.
            #expect(output.contains("imported: 6") && output.contains("refused: 4"), "\(output)")
        }
    }

    @Test func R26_anInterruptedImportResumedCreatesEachLineOnceAlsoWithoutItsJournal() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: ServeCommandTests.binary), "build the datarights product first")
        try await RegistryScenarioTests.withCast { cast, registry in
            let enterprise = try #require(cast.ids["enterprise"])
            let port = try #require(cast.api.client.port)
            let directory = try Self.directory()
            let file = directory + "/many.jsonl"
            // 400 datasets and 300 derivations, each derivation between two datasets defined before it.
            var lines: [String] = []
            for index in 0..<400 {
                lines.append(#"{"record":"dataset","ref":"d\#(index)","title":"Dataset \#(index)","grade":"general","piLevel":"none","individualsCovered":0,"region":"CN-BJ","fingerprint":"\#(Self.fingerprint)","format":"csv","updateCycle":"daily","sizeBytes":\#(index),"tags":["t\#(index % 7)"]}"#)
                if index >= 2, index % 4 != 0 {
                    lines.append(#"{"record":"derivation","targetRef":"d\#(index)","sourceRef":"d\#(index / 2)","kind":"derived"}"#)
                }
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            let derivations = Int64(lines.count - 400)
            let arguments = [file, "--url", "http://127.0.0.1:\(port)", "--key", try #require(cast.keys["enterprise"]), "--concurrency", "4"]

            // kill -9 midway.
            let first = try ServerProcess.start(ServeCommandTests.binary, ["import"] + arguments, log: directory + "/first.log")
            let deadline = ContinuousClock.now + .seconds(60)
            while try await Self.count("SELECT count(*) FROM dataset WHERE holder_id = \(enterprise)", registry) < 150, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            kill(first.process.processIdentifier, SIGKILL)
            _ = try await first.wait(timeout: .seconds(10))
            let atKill = try await Self.count("SELECT count(*) FROM dataset WHERE holder_id = \(enterprise)", registry)
            #expect(atKill >= 150 && atKill < 400, "killed midway: \(atKill) datasets")

            let (resumed, resumedOutput) = try await Self.runImport(arguments, directory: directory, name: "resumed")
            #expect(resumed == 0, "\(resumedOutput)")
            #expect(try await Self.count("SELECT count(*) FROM dataset WHERE holder_id = \(enterprise)", registry) == 400)
            #expect(try await Self.count("SELECT count(*) FROM derivation", registry) == derivations)
            #expect(try await Self.count("SELECT count(*) FROM (SELECT title FROM dataset GROUP BY title HAVING count(*) > 1) t", registry) == 0)

            // The journal gone: every line is sent again and answered as a replay; nothing is created.
            try FileManager.default.removeItem(atPath: file + ".import-journal")
            let (again, againOutput) = try await Self.runImport(arguments, directory: directory, name: "again")
            #expect(again == 0, "\(againOutput)")
            #expect(againOutput.contains("imported: 0") && againOutput.contains("(\(lines.count) answered as replays"), "\(againOutput)")
            #expect(try await Self.count("SELECT count(*) FROM dataset WHERE holder_id = \(enterprise)", registry) == 400)
            #expect(try await Self.count("SELECT count(*) FROM derivation", registry) == derivations)
            #expect(try await Self.count("SELECT count(*) FROM idempotency_key", registry) == Int64(lines.count))
        }
    }

    @Test func dryRunChecksTheFileAndWritesNothing() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: ServeCommandTests.binary), "build the datarights product first")
        try await RegistryScenarioTests.withCast { cast, registry in
            let port = try #require(cast.api.client.port)
            let directory = try Self.directory()
            let file = directory + "/dry.jsonl"
            try """
                {"record":"dataset","ref":"a","title":"A","grade":"general","piLevel":"none","individualsCovered":0,"region":"CN-BJ","fingerprint":"\(Self.fingerprint)","format":"csv","updateCycle":"daily","sizeBytes":1}
                {"record":"derivation","targetRef":"a","sourceRef":"nowhere","kind":"derived"}
                {"record":"dataset","title":"B","colour":"red"}

                """.write(toFile: file, atomically: true, encoding: .utf8)
            let auditBefore = try await Self.count("SELECT count(*) FROM audit_event", registry)
            let (status, output) = try await Self.runImport(
                [file, "--dry-run", "--url", "http://127.0.0.1:\(port)", "--key", try #require(cast.keys["enterprise"])], directory: directory,
                name: "dry")
            #expect(status == 1, "\(output)")
            #expect(output.contains("line 2 (derivation) sourceRef") && output.contains("no dataset line before this one has ref nowhere"), "\(output)")
            #expect(output.contains("line 3 (dataset) colour"), "\(output)")
            #expect(try await Self.count("SELECT count(*) FROM audit_event", registry) == auditBefore)
            #expect(try await Self.count("SELECT count(*) FROM idempotency_key", registry) == 0)
            #expect(!FileManager.default.fileExists(atPath: file + ".import-journal"))
        }
    }

    @Test func idempotencyKeyReplaysTheFirstAnswerAndRefusesAnotherRequest() async throws {
        try await RegistryScenarioTests.withCast { cast, registry in
            let api = cast.as("enterprise")
            let body = Fixture.dataset("Rail freight", government: false)
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "line-1"]
            let first = try await api.call(.post, "/v1/datasets", body, headers: key)
            #expect(first.status == .created)
            #expect(first.headers[HTTPField.Name("Idempotency-Replayed")!] == nil)
            let again = try await api.call(.post, "/v1/datasets", body, headers: key)
            #expect(again.status == .created && again.text == first.text, "the same status and body")
            #expect(again.headers[HTTPField.Name("Idempotency-Replayed")!] == "true")
            #expect(again.headers[.location] == first.headers[.location])
            // The same key for another body: 422 naming the header, nothing created.
            let other = try await api.call(.post, "/v1/datasets", Fixture.dataset("Rail passengers", government: false), headers: key)
            #expect(other.status == .unprocessableContent)
            #expect((other["errors"] as? [[String: Any]])?.first?["field"] as? String == "Idempotency-Key")
            // Another party's key of the same name is its own.
            let lab = try await cast.as("lab").call(.post, "/v1/datasets", body, headers: key)
            #expect(lab.status == .created && lab.int("id") != first.int("id"))
            #expect(try await Self.count("SELECT count(*) FROM dataset WHERE title = 'Rail freight'", registry) == 2)

            // Derivations and registrations replay too, and a retried claim is not refused as its own duplicate (R2).
            let source = try #require(try await api.post("/v1/datasets", Fixture.dataset("Rail stations", government: false)).int("id"))
            let target = try #require(first.int("id"))
            let edgeKey: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "\"edge-1\""]
            let edge = try await api.call(.post, "/v1/datasets/\(target)/lineage", ["sources": [["dataset": source, "kind": "derived"]]], headers: edgeKey)
            let edgeAgain = try await api.call(.post, "/v1/datasets/\(target)/lineage", ["sources": [["dataset": source, "kind": "derived"]]], headers: edgeKey)
            #expect(edge.status == .created && edgeAgain.text == edge.text && edge.items.count == 1)
            let claimKey: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "claim-1"]
            let claim = try await api.call(.post, "/v1/registrations", Fixture.claim(target), headers: claimKey)
            let claimAgain = try await api.call(.post, "/v1/registrations", Fixture.claim(target), headers: claimKey)
            #expect(claim.status == .created && claim.string("status") == "submitted")
            #expect(claimAgain.text == claim.text && claimAgain.headers[HTTPField.Name("Idempotency-Replayed")!] == "true")
            #expect(try await Self.count("SELECT count(*) FROM registration WHERE dataset_id = \(target)", registry) == 1)

            // A key that is not one: 400 naming the header.
            let bad = try await api.call(.post, "/v1/datasets", body, headers: [HTTPField.Name("Idempotency-Key")!: "two words"])
            #expect(bad.status == .badRequest)
            #expect((bad["errors"] as? [[String: Any]])?.first?["field"] as? String == "Idempotency-Key")

            // The table is bounded by age: the clock's pruning deletes keys past the retention, and only those.
            let keys = try await Self.count("SELECT count(*) FROM idempotency_key", registry)
            try await registry.database.pool.execute(
                "UPDATE idempotency_key SET created_at = now() - interval '31 days' WHERE key = 'line-1'")
            #expect(try await registry.pruneIdempotencyKeys() == 2, "the enterprise's and the lab's line-1")
            #expect(try await Self.count("SELECT count(*) FROM idempotency_key", registry) == keys - 2)
            let afterRetention = try await api.call(.post, "/v1/datasets", body, headers: key)
            #expect(afterRetention.status == .created && afterRetention.headers[HTTPField.Name("Idempotency-Replayed")!] == nil, "a new request")
        }
    }

    @Test func importFileReadsCSVAndJSONLinesAlike() throws {
        let csv = """
            record,ref,title,tags,sharing.category,sharing.text,targetRef,source,kind,datasetRef,evidence,derivedFrom,truthfulnessCommitment
            dataset,a,"A, quoted",x; y,conditional,"On request",,,,,,,
            derivation,,,,,,a,17,joined,,,,
            registration,,,,,,,,initial,a,contract:\(Self.contract),derived:a;aggregated:#5,true

            """
        let jsonl = """
            {"record":"dataset","ref":"a","title":"A, quoted","tags":["x","y"],"sharing":{"category":"conditional","text":"On request"}}
            {"record":"derivation","targetRef":"a","source":17,"kind":"joined"}
            {"record":"registration","kind":"initial","datasetRef":"a","evidence":[{"kind":"contract","sha256":"\(Self.contract)"}],"derivedFrom":[{"datasetRef":"a","kind":"derived"},{"dataset":5,"kind":"aggregated"}],"truthfulnessCommitment":true}

            """
        let fromCSV = try ImportFile.parse(Array(csv.utf8), format: .csv)
        let fromJSON = try ImportFile.parse(Array(jsonl.utf8), format: .jsonl)
        #expect(fromCSV.problems.isEmpty && fromJSON.problems.isEmpty, "\(fromCSV.problems) \(fromJSON.problems)")
        #expect(fromCSV.lines.map(\.number) == [2, 3, 4])
        #expect(fromJSON.lines.map(\.number) == [1, 2, 3])
        #expect(fromCSV.lines.map(\.references) == [[], ["a"], ["a"]])
        for (csvLine, jsonLine) in zip(fromCSV.lines, fromJSON.lines) {
            #expect(csvLine.record == jsonLine.record && csvLine.ref == jsonLine.ref)
            var csvBody: [UInt8] = []
            var jsonBody: [UInt8] = []
            csvLine.requestBody(into: &csvBody) { $0 == "a" ? 42 : nil }
            jsonLine.requestBody(into: &jsonBody) { $0 == "a" ? 42 : nil }
            #expect(String(decoding: csvBody, as: UTF8.self) == String(decoding: jsonBody, as: UTF8.self))
        }
        var registration: [UInt8] = []
        fromCSV.lines[2].requestBody(into: &registration) { $0 == "a" ? 42 : nil }
        #expect(String(decoding: registration, as: UTF8.self).contains(#""derivedFrom":[{"dataset":42,"kind":"derived"},{"dataset":5,"kind":"aggregated"}]"#))
    }
}
