import EmbeddedPostgres
import Foundation
import Logging
import PostgresClient
import Synchronization
import Testing
import TestSupport

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Accepted means durable (R27): `datarights serve` is killed with SIGKILL while clients send batches of
/// usage; after a restart every acknowledged event is in PostgreSQL and in the core's counters, and the
/// clients' retries of what was never acknowledged count nothing twice (R26).
@Suite(.serialized) struct UsageCrashTests {
    /// One event as a client sent it.
    struct SentEvent: Sendable {
        var key: String
        var tokens: Int64
        var at: String

        func json(grant: String) -> [String: Any] { ["grant": grant, "tokens": tokens, "at": at, "key": key] }
    }

    /// What the clients saw: answers to acknowledged batches, and the batches left without an answer.
    final class Outcomes: Sendable {
        struct State {
            var acknowledged: [String: (tokens: Int64, event: String, accepted: Bool)] = [:]
            var unacknowledged: [[SentEvent]] = []
            var acknowledgedBatches = 0
        }

        let state = Mutex(State())
    }

    @Test func R26_R27_killNineWhileClientsSendLosesNoAcknowledgedEventAndCountsNoneTwice() async throws {
        let binary = ServeCommandTests.binary
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the datarights product first: \(binary)")
        let dataDirectory = "/tmp/datarights-test-\(getpid())/crash-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let keys = try ServerProcess.start(binary, ["keys", "create", "--operator", "--data-dir", dataDirectory], log: dataDirectory + ".keys.log")
        #expect(try await keys.wait(timeout: .seconds(90)) == 0, "\(keys.logTail())")
        let operatorKey = try #require(keys.logTail().split(separator: "\n").last.map(String.init))

        let port = FreePort.next()
        let base = "http://127.0.0.1:\(port)"
        let serve = ["serve", "--data-dir", dataDirectory, "--port", String(port), "--log-level", "warning"]
        var server = try ServerProcess.start(binary, serve, log: dataDirectory + ".serve-1.log")
        _ = try await HTTP.waitForStatus(200, url: base + "/readyz", timeout: .seconds(90))

        // An enterprise's dataset with a policy, and a lab's grant on it with room for everything sent.
        func party(_ body: [String: Any]) async throws -> (Int, String) {
            let created = try await HTTP.send("POST", base + "/v1/parties", token: operatorKey, body: body)
            let id = try #require(HTTP.json(created.1)["id"] as? Int, "\(created.1)")
            let key = try await HTTP.send("POST", base + "/v1/parties/\(id)/keys", token: operatorKey, body: ["label": "crash test"])
            return (id, try #require(HTTP.json(key.1)["token"] as? String))
        }
        let (_, enterprise) = try await party(Fixture.party("Grid Analytics Co.", "enterprise", code: Fixture.codes[1]))
        let (_, lab) = try await party(Fixture.party("Deep Model Lab", "model_lab", code: Fixture.codes[2]))
        let dataset = try await HTTP.send("POST", base + "/v1/datasets", token: enterprise, body: Fixture.dataset("Retail baskets", government: false))
        let datasetID = try #require(HTTP.json(dataset.1)["id"] as? Int, "\(dataset.1)")
        _ = try await HTTP.send("PUT", base + "/v1/datasets/\(datasetID)/policy", token: enterprise, body: AccessScenarioTests.policy(purposes: ["model_training"]))
        let request = try await HTTP.send("POST", base + "/v1/access-requests", token: lab, body: [
            "dataset": datasetID, "purpose": "model_training", "tokens": 1_000_000_000_000, "validUntil": "2030-01-01T00:00:00Z",
        ])
        let grant = try #require((HTTP.json(request.1)["grant"] as? [String: Any])?["number"] as? String, "\(request.1)")
        try await Task.sleep(for: .milliseconds(5))

        // Eight clients send batches of 100 events until the server dies under them.
        let outcomes = Outcomes()
        let clients = (0..<8).map { client in
            Task {
                var generator = SystemRandomNumberGenerator()
                for round in 0..<100_000 {
                    let at = UsageScenarioTests.nowText()
                    let events = (0..<100).map { index in
                        SentEvent(key: "client\(client)-round\(round)-event\(index)", tokens: Int64.random(in: 1...100, using: &generator), at: at)
                    }
                    do {
                        let (status, body) = try await HTTP.send(
                            "POST", base + "/v1/usage", token: lab, body: ["events": events.map { $0.json(grant: grant) }])
                        guard status == 200 else {
                            outcomes.state.withLock { $0.unacknowledged.append(events) }
                            return
                        }
                        let results = HTTP.json(body)["results"] as? [[String: Any]] ?? []
                        outcomes.state.withLock { state in
                            state.acknowledgedBatches += 1
                            for (event, result) in zip(events, results) {
                                state.acknowledged[event.key] = (event.tokens, result["event"] as? String ?? "", result["status"] as? String == "accepted")
                            }
                        }
                    } catch {
                        outcomes.state.withLock { $0.unacknowledged.append(events) }
                        return
                    }
                }
            }
        }
        // Let acknowledged batches pile up, then kill the server mid-flight: no shutdown, no flush.
        let deadline = ContinuousClock.now + .seconds(60)
        while outcomes.state.withLock({ $0.acknowledgedBatches }) < 40, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(server.process.processIdentifier, SIGKILL)
        for client in clients { await client.value }
        _ = try await server.wait(timeout: .seconds(30))
        let (acknowledged, unacknowledged, batches) = outcomes.state.withLock { ($0.acknowledged, $0.unacknowledged, $0.acknowledgedBatches) }
        #expect(batches >= 40, "batches were acknowledged before the kill")
        #expect(acknowledged.values.allSatisfy { $0.accepted })

        // Restart on the same data directory (the embedded PostgreSQL kept running and is adopted).
        server = try ServerProcess.start(binary, serve, log: dataDirectory + ".serve-2.log")
        _ = try await HTTP.waitForStatus(200, url: base + "/readyz", timeout: .seconds(90))
        let afterRestart = HTTP.json(try await HTTP.send("GET", base + "/v1/grants/\(grant)/usage", token: lab).1)
        let acknowledgedTokens = acknowledged.values.reduce(Int64(0)) { $0 + $1.tokens }
        let usedAfterRestart = (afterRestart["tokensUsed"] as? NSNumber)?.int64Value ?? -1
        // Every acknowledged event is counted; the unacknowledged ones may or may not have committed.
        let unacknowledgedTokens = unacknowledged.joined().reduce(Int64(0)) { $0 + $1.tokens }
        #expect(usedAfterRestart >= acknowledgedTokens && usedAfterRestart <= acknowledgedTokens + unacknowledgedTokens,
                "used \(usedAfterRestart), acknowledged \(acknowledgedTokens), in flight \(unacknowledgedTokens)")

        // The clients retry what was never answered, and (to check) a sample of what was: the same keys.
        var retriedTokens: Int64 = 0
        for events in unacknowledged {
            let (status, body) = try await HTTP.send("POST", base + "/v1/usage", token: lab, body: ["events": events.map { $0.json(grant: grant) }])
            #expect(status == 200, "\(body)")
            for (event, result) in zip(events, HTTP.json(body)["results"] as? [[String: Any]] ?? []) {
                #expect(result["status"] as? String == "accepted", "\(result)")
                retriedTokens += event.tokens
            }
        }
        let sample = Array(acknowledged.keys.sorted().prefix(200))
        let replay = try await HTTP.send("POST", base + "/v1/usage", token: lab, body: ["events": sample.map { key in
            ["grant": grant, "tokens": acknowledged[key]!.tokens, "at": UsageScenarioTests.nowText(), "key": key] as [String: Any]
        }])
        for (key, result) in zip(sample, HTTP.json(replay.1)["results"] as? [[String: Any]] ?? []) {
            #expect(result["replayed"] as? Bool == true, "\(key) was acknowledged before the crash: \(result)")
            #expect(result["event"] as? String == acknowledged[key]!.event, "the same answer as before the crash")
        }
        let final = HTTP.json(try await HTTP.send("GET", base + "/v1/grants/\(grant)/usage", token: lab).1)
        #expect((final["tokensUsed"] as? NSNumber)?.int64Value == acknowledgedTokens + retriedTokens, "each event counted exactly once")
        #expect(try await server.terminate(signal: SIGTERM, timeout: .seconds(60)) == 0)

        // PostgreSQL holds each key once, the accepted tokens equal the counters, and the ledger balances.
        let cluster = try EmbeddedPostgres(configuration: .init(clusterDirectory: dataDirectory + "/postgres"), logger: Logger(label: "test.crash"))
        try await cluster.startAsync()
        let pool = PostgresPool(configuration: .init(connection: cluster.connectionConfiguration(database: "datarights"), maxConnections: 1), logger: Logger(label: "test.crash"))
        let stored = try await pool.query("""
            SELECT count(*), count(DISTINCT idempotency_key), coalesce(sum(tokens) FILTER (WHERE accepted), 0)::int8,
                   (SELECT tokens FROM grant_usage), (SELECT debits = credits FROM ledger_balance),
                   (SELECT count(*) FROM usage_batch), (SELECT count(*) FROM audit_event WHERE kind = 'usage.batch')
            FROM usage_event
            """) { row in
            (try row.decode(Int64.self, column: 0), try row.decode(Int64.self, column: 1), try row.decode(Int64.self, column: 2),
             try row.decode(Int64.self, column: 3), try row.decode(Bool.self, column: 4), try row.decode(Int64.self, column: 5),
             try row.decode(Int64.self, column: 6))
        }[0]
        await pool.shutdown()
        try await cluster.stopAsync()
        let sent = acknowledged.count + unacknowledged.joined().count
        #expect(stored.0 == Int64(sent) && stored.1 == Int64(sent), "every key sent is recorded once: \(stored.0) rows, \(stored.1) keys, \(sent) sent")
        #expect(stored.2 == acknowledgedTokens + retriedTokens && stored.3 == stored.2)
        #expect(stored.4, "the ledger balances")
        #expect(stored.5 == stored.6, "one audit entry per committed batch")
        print("crash test: \(batches) batches acknowledged before SIGKILL, \(unacknowledged.count) in flight retried; \(stored.5) group commits")
    }
}
