import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import RegistryCore
import RegistryServer
import RegistryStore
import Testing

/// Issue 14 over HTTP on a live server: requests that crashed, bricked or half-wrote the registry
/// (findings 4, 6, 7, 8) now get a clear 4xx and change nothing, and the server stays up.
@Suite struct HardeningScenarioTests {
    static func sources(of dataset: Int64, in registry: RegistryService) -> Set<Int64> {
        registry.registry.read { Set($0.lineage.graph.parents(of: Int32(dataset)).map { Int64($0.source) }) }
    }

    static func event(inputs: [Int64], outputs: [Int64]) -> [String: Any] {
        [
            "eventType": "COMPLETE", "eventTime": "2026-12-03T08:00:00Z", "run": ["runId": UUID().uuidString],
            "job": ["namespace": "pipelines", "name": "job"],
            "inputs": inputs.map { ["namespace": "datarights", "name": "\($0)"] },
            "outputs": outputs.map { ["namespace": "datarights", "name": "datasets/\($0)"] },
        ]
    }

    @Test func F4_aRefusedOpenLineageEventIsOneWriteAllOrNothing() async throws {
        try await RegistryScenarioTests.withCast { cast, registry in
            let ministry = cast.as("ministry")
            func dataset(_ title: String, by api: APIClient) async throws -> Int64 {
                try #require(try await api.post("/v1/datasets", Fixture.dataset(title, government: api.token == cast.keys["ministry"])).int("id"))
            }
            let source = try await dataset("Source", by: ministry)
            let own = try await dataset("Own output", by: ministry)
            let foreign = try await dataset("Someone else's output", by: cast.as("enterprise"))
            // Outputs [own, foreign]: the caller may not record what `foreign` derives from; `own` gets nothing either.
            let refused = try await ministry.post("/v1/lineage/openlineage", Self.event(inputs: [source], outputs: [own, foreign]))
            #expect(refused.status == .forbidden, "\(refused.text)")
            #expect(Self.sources(of: own, in: registry).isEmpty)

            // Outputs [own2, x] where y → x would close a cycle (x → y exists): 422, and own2 gets nothing.
            let x = try await dataset("X", by: ministry)
            let y = try await dataset("Y", by: ministry)
            let own2 = try await dataset("Own output 2", by: ministry)
            let edge = try await ministry.post("/v1/datasets/\(y)/lineage", ["sources": [["dataset": x, "kind": "derived"]]])
            #expect(edge.status == .created, "\(edge.text)")
            let cycle = try await ministry.post("/v1/lineage/openlineage", Self.event(inputs: [y], outputs: [own2, x]))
            #expect(cycle.status == .unprocessableContent, "\(cycle.text)")
            #expect(Self.sources(of: own2, in: registry).isEmpty)
            #expect(Self.sources(of: x, in: registry).isEmpty)
            #expect(registry.registry.read { $0.lineage.derivations.all.count } == 1)

            // The same event without the offending output records every edge at once.
            let accepted = try await ministry.post("/v1/lineage/openlineage", Self.event(inputs: [source, y], outputs: [own, own2]))
            #expect(accepted.status == .ok, "\(accepted.text)")
            #expect((accepted["recorded"] as? [Any])?.count == 4)
            #expect(Self.sources(of: own, in: registry) == [source, y])
            #expect(Self.sources(of: own2, in: registry) == [source, y])
        }
    }

    @Test func F4_aDatasetReadAndWrittenByOneRunIsReportedAsSkippedAndTheAPIRefusesASelfEdge() async throws {
        try await RegistryScenarioTests.withCast { cast, registry in
            let ministry = cast.as("ministry")
            let a = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("A")).int("id"))
            let b = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("B")).int("id"))
            // A run that reads A and B and writes B: A → B is recorded; B is updated in place, said so.
            let answer = try await ministry.post("/v1/lineage/openlineage", Self.event(inputs: [a, b], outputs: [b]))
            #expect(answer.status == .ok, "\(answer.text)")
            #expect((answer["recorded"] as? [Any])?.count == 1)
            let skipped = answer["skipped"] as? [[String: Any]] ?? []
            #expect(skipped.compactMap { ($0["dataset"] as? NSNumber)?.int64Value } == [b])
            #expect(Self.sources(of: b, in: registry) == [a])
            // A run that only rewrites B records nothing and says why.
            let alone = try await ministry.post("/v1/lineage/openlineage", Self.event(inputs: [b], outputs: [b]))
            #expect(alone.status == .ok)
            #expect((alone["recorded"] as? [Any])?.count == 0)
            #expect((alone["skipped"] as? [Any])?.count == 1)
            // Two datasets each read and written by one run would derive from each other: refused whole.
            let mutual = try await ministry.post("/v1/lineage/openlineage", Self.event(inputs: [a, b], outputs: [a, b]))
            #expect(mutual.status == .unprocessableContent, "\(mutual.text)")
            #expect(Self.sources(of: a, in: registry).isEmpty)
            // The REST endpoint, where the client names the edge itself, refuses a self-edge naming the field.
            let selfEdge = try await ministry.post("/v1/datasets/\(a)/lineage", ["sources": [["dataset": a, "kind": "derived"]]])
            #expect(selfEdge.status == .badRequest, "\(selfEdge.text)")
            #expect(((selfEdge["errors"] as? [[String: Any]])?.first?["field"] as? String) == "sources[0].dataset")
        }
    }

    /// A gzip body written by Python's own gzip module.
    static func gzip(_ text: String) async throws -> [UInt8] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("datarights-\(UUID().uuidString).gz").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try await OpenAPIDocumentTests.python(
            "import gzip, sys; open(sys.argv[1], 'wb').write(gzip.compress(open(sys.argv[2], 'rb').read()))",
            [path, try Self.file(text)])
        #expect(result.status == 0, "\(result.output)")
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("datarights-\(UUID().uuidString).json").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func F4_gzipBodiesAreInflatedWithinTheBodyLimit() async throws {
        try await RegistryScenarioTests.withCast { cast, registry in
            let ministry = cast.as("ministry")
            let a = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("A")).int("id"))
            let b = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("B")).int("id"))
            func send(_ body: [UInt8], encoding: String) async throws -> (HTTPResponse.Status, String) {
                let headers: HTTPFields = [
                    .contentType: "application/json", .contentEncoding: encoding, .authorization: "Bearer \(cast.keys["ministry"]!)",
                ]
                return try await cast.api.client.execute(
                    uri: "/v1/lineage/openlineage", method: .post, headers: headers, body: ByteBuffer(bytes: body)
                ) { ($0.status, String(buffer: $0.body)) }
            }
            let json = String(decoding: try JSONSerialization.data(withJSONObject: Self.event(inputs: [a], outputs: [b])), as: UTF8.self)
            let (status, text) = try await send(try await Self.gzip(json), encoding: "gzip")
            #expect(status == .ok, "\(text)")
            #expect(Self.sources(of: b, in: registry) == [a])
            // 4 MiB of spaces inflate past the 1 MiB limit from a few kilobytes: 413, not inflated whole.
            let bomb = try await Self.gzip("{" + String(repeating: " ", count: 4 << 20) + "}")
            #expect(bomb.count < 64 * 1024)
            let (bombStatus, bombText) = try await send(bomb, encoding: "gzip")
            #expect(bombStatus == .contentTooLarge, "\(bombText)")
            // Not gzip at all, or a coding the server does not speak: 400 and 415, each naming the header.
            let (corrupt, corruptText) = try await send(Array("not gzip".utf8), encoding: "gzip")
            #expect(corrupt == .badRequest)
            #expect(corruptText.contains("Content-Encoding"))
            let (unsupported, _) = try await send(Array(json.utf8), encoding: "br")
            #expect(unsupported == .unsupportedMediaType)
        }
    }

    @Test func F6_anyKeyMovingTheSandboxClockByAnAbsurdAmountIsRefusedAndTheServerStaysUp() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            // A lab's key: refused for who it is, before the number is even read.
            let lab = try await cast.as("lab").post("/v1/sandbox/clock", ["days": 106_751_991_167_301])
            #expect(lab.status == .forbidden, "\(lab.text)")
            let admin = cast.api.as_(cast.operatorKey)
            for body: [String: Any] in [["days": 106_751_991_167_301], ["seconds": Int64.max], ["days": -1], ["days": 3_661]] {
                let answer = try await admin.post("/v1/sandbox/clock", body)
                #expect(answer.status == .badRequest, "\(body): \(answer.text)")
                #expect(((answer["errors"] as? [[String: Any]])?.first?["field"] as? String) == body.keys.first)
            }
            #expect(try await admin.get("/v1/sandbox/clock").status == .ok)
        }
    }

    @Test func F7_F8_settingsRefuseDatesAndOffsetsThatWouldBrickTheNextStart() async throws {
        let (app, database, registry) = try await TestApp.makeWithRegistry()
        let entries = try await registry.execute(
            .registerParty(NewParty(name: "Operator", kind: .operator, region: "CN-BJ", jurisdiction: .mainland, creditCode: nil)), by: nil)
        guard case .party(let operatorParty) = entries[0].record else { throw Problem.internalError }
        let key = try await registry.issueKey(for: operatorParty.id, label: "bootstrap", by: nil).token
        try await app.test(.router) { client in
            let admin = APIClient(client: client, token: key)
            for (calendar, field) in [
                (["holidays": ["0999-01-01"]], "calendar.holidays"), (["holidays": ["0000-01-01"]], "calendar.holidays"),
                (["holidays": ["2026-02-30"]], "calendar.holidays"),
                (["holidays": [], "utcOffsetSeconds": 4_611_686_018_427_387_904] as [String: Any], "calendar.utcOffsetSeconds"),
                (["holidays": [], "utcOffsetSeconds": 864_000] as [String: Any], "calendar.utcOffsetSeconds"),
            ] as [([String: Any], String)] {
                let answer = try await admin.call(.put, "/v1/settings", ["calendar": calendar])
                #expect(answer.status == .badRequest, "\(calendar): \(answer.text)")
                let named = (answer["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String }
                #expect(named.contains { $0.hasPrefix(field) }, "\(calendar): \(answer.text)")
            }
            let good = try await admin.call(.put, "/v1/settings", ["calendar": ["holidays": ["2027-01-01"], "utcOffsetSeconds": 28_800]])
            #expect(good.status == .ok, "\(good.text)")
            // Statements over a date range far outside the calendar's are refused, not computed.
            let statement = try await admin.get("/v1/statements?party=\(operatorParty.id.rawValue)&from=0000-01-01&to=2026-12-31")
            #expect(statement.status == .badRequest, "\(statement.text)")
            #expect(!statement.text.contains("0-01-01\""))
        }
        await registry.close()
        // The settings read back on the next start.
        // (The closed lease's backend may take a moment to exit and release the advisory lock.)
        var opened: RegistryService?
        for _ in 0..<50 where opened == nil {
            opened = try? await RegistryService.open(database: database, sandbox: true, logger: Logger(label: "test.reopen"))
            if opened == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let reopened = try #require(opened)
        #expect(reopened.registry.read { $0.settings.calendar.holidays } == [CivilDate("2027-01-01")!])
        await reopened.close()
        await database.shutdown()
    }
}
