import EmbeddedPostgres
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import PostgresClient
import RegistryCore
import RegistryStore
import Testing
import TestSupport

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Finding 11: a COMMIT whose answer is lost is resolved from PostgreSQL, never guessed. The cluster is
/// told to wait for a synchronous standby that does not exist, so COMMIT flushes locally and then waits;
/// the cluster is stopped with `-m immediate` under it (the connection breaks, the commit is durable)
/// and started again without the standby.
@Suite(.serialized) struct LostCommitTests {
    /// A private cluster with synchronous commits (test clusters turn them off), on its own database.
    static func phantomReadyCluster() async throws -> (EmbeddedPostgres, PostgresConfiguration) {
        let directory = "/tmp/datarights-test-\(getpid())/phantom-\(UInt32.random(in: 0...UInt32.max))"
        let cluster = try EmbeddedPostgres(
            configuration: .init(clusterDirectory: directory, disposable: true, settings: ["synchronous_commit": "on"]),
            logger: Logger(label: "test.phantom"))
        try await cluster.startAsync()
        try await cluster.createDatabaseIfNeeded("f11")
        return (cluster, cluster.connectionConfiguration(database: "f11"))
    }

    static func superuser(_ cluster: EmbeddedPostgres) -> PostgresPool {
        PostgresPool(configuration: .init(connection: cluster.connectionConfiguration(), maxConnections: 1), logger: Logger(label: "test.phantom"))
    }

    /// Sends `body` to `path` as `token` from its own HTTP client (the request hangs while its COMMIT waits).
    static func send(port: Int, token: String, path: String, body: [String: Any]) -> Task<(Int, Data), any Error> {
        let data = try? JSONSerialization.data(withJSONObject: body)
        return Task {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.httpMethod = "POST"
            request.timeoutInterval = 120
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = data
            let (answer, response) = try await URLSession(configuration: .ephemeral).checkedData(for: request)
            return (response.statusCode, answer)
        }
    }

    /// Makes the next COMMIT wait for a phantom standby, runs `start` (which sends a write), waits until
    /// that COMMIT waits, kills the cluster with `-m immediate`, starts it again without the standby.
    static func loseTheNextCommitAnswer(
        _ cluster: EmbeddedPostgres, whileDown: () async throws -> Void = {}, while start: () -> Void
    ) async throws {
        let admin = superuser(cluster)
        try await admin.execute("ALTER SYSTEM SET synchronous_standby_names = 'phantom'")
        _ = try await admin.query("SELECT pg_reload_conf()") { _ in 0 }
        try await Task.sleep(for: .milliseconds(200))
        start()
        var waiting = 0
        for _ in 0..<200 where waiting == 0 {
            try await Task.sleep(for: .milliseconds(50))
            waiting = try await admin.query("SELECT count(*)::int8 FROM pg_stat_activity WHERE wait_event = 'SyncRep'") {
                try $0.decode(Int64.self, column: 0)
            }[0] > 0 ? 1 : 0
        }
        #expect(waiting == 1, "a COMMIT waits for the phantom standby")
        await admin.shutdown()
        try cluster.stop(mode: .immediate)
        try await whileDown()
        try await cluster.startAsync()
        let again = superuser(cluster)
        try await again.execute("ALTER SYSTEM RESET synchronous_standby_names")
        _ = try await again.query("SELECT pg_reload_conf()") { _ in 0 }
        await again.shutdown()
    }

    /// The replica reserves its quota slice first (a commit of its own, issue 18), and keeps it across
    /// the pause: so the COMMIT whose answer is lost is the usage batch's.
    static func reserveASlice(_ cast: RegistryScenarioTests.Cast, grant: String) async throws {
        let warm = try await cast.as("lab").post("/v1/usage", ["events": [UsageScenarioTests.event(grant, tokens: 1, key: "slice-\(grant)")]])
        #expect(UsageScenarioTests.results(warm).first?["status"] as? String == "accepted", "\(warm.text)")
    }

    static var keepingSlices: Limits {
        var limits = Limits()
        limits.quotaLeaseIdleMilliseconds = 600_000
        return limits
    }

    @Test func F11_unknownCommitIsResolvedNotGuessed() async throws {
        let (cluster, connection) = try await Self.phantomReadyCluster()
        defer { try? cluster.stop(mode: .immediate) }
        try await RegistryScenarioTests.withCast(connection: connection, limits: Self.keepingSlices) { cast, registry in
            let (_, grant) = try await UsageScenarioTests.grant(cast, quota: 1_000_000)
            try await Self.reserveASlice(cast, grant: grant)
            let port = try #require(cast.api.client.port)
            let lab = try #require(cast.keys["lab"])
            let event = UsageScenarioTests.event(grant, tokens: 700, key: "lost-commit-1")
            var sent: Task<(Int, Data), any Error>?
            try await Self.loseTheNextCommitAnswer(cluster) {
                sent = Self.send(port: port, token: lab, path: "/v1/usage", body: ["events": [event]])
            }
            // PostgreSQL committed the group: the client is told so, and the core counts it.
            let (status, body) = try await #require(sent).value
            let json = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:]
            #expect(status == 200, "\(json)")
            let results = json["results"] as? [[String: Any]] ?? []
            #expect(results.first?["status"] as? String == "accepted", "\(json)")
            let balance = try await cast.as("regulator").get("/v1/ledger/balance")
            #expect(balance["balanced"] as? Bool == true, "\(balance.text)")
            // The same key again counts once and gets the same answer (R26).
            let retry = try await cast.as("lab").post("/v1/usage", ["events": [event]])
            #expect((UsageScenarioTests.results(retry).first?["event"] as? String) == (results.first?["event"] as? String), "\(retry.text)")
            // Audited writes go on (no 23505 on the audit chain), and the node is ready.
            let dataset = try await cast.as("enterprise").post("/v1/datasets", Fixture.dataset("After the lost commit", government: false))
            #expect(dataset.status == .created, "\(dataset.text)")
            #expect(try await cast.api.get("/readyz").status == .ok)
            // The core equals one rebuilt from PostgreSQL.
            let rebuilt = try await RegistryLoader.load(from: registry.database)
            #expect(rebuilt.digest == registry.registry.read { $0.digest })
        }
    }

    @Test func F11_unknownCommandCommitIsResolvedNotGuessed() async throws {
        let (cluster, connection) = try await Self.phantomReadyCluster()
        defer { try? cluster.stop(mode: .immediate) }
        try await RegistryScenarioTests.withCast(connection: connection) { cast, registry in
            let port = try #require(cast.api.client.port)
            let enterprise = try #require(cast.keys["enterprise"])
            var sent: Task<(Int, Data), any Error>?
            try await Self.loseTheNextCommitAnswer(cluster) {
                sent = Self.send(port: port, token: enterprise, path: "/v1/datasets", body: Fixture.dataset("Committed in the dark", government: false))
            }
            let (status, body) = try await #require(sent).value
            let json = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:]
            #expect(status == 201, "\(json)")
            let id = try #require((json["id"] as? NSNumber)?.int64Value, "\(json)")
            #expect(try await cast.as("enterprise").get("/v1/datasets/\(id)").status == .ok)
            let next = try await cast.as("enterprise").post("/v1/datasets", Fixture.dataset("The next write", government: false))
            #expect(next.status == .created, "\(next.text)")
            let verified = try await registry.verifyAudit()
            if case .valid = verified {} else { Issue.record("the audit chain verifies: \(verified)") }
            let rebuilt = try await RegistryLoader.load(from: registry.database)
            #expect(rebuilt.digest == registry.registry.read { $0.digest })
        }
    }

    @Test func F11_unresolvedCommitFencesTheNodeUntilPostgreSQLAnswers() async throws {
        let (cluster, connection) = try await Self.phantomReadyCluster()
        defer { try? cluster.stop(mode: .immediate) }
        var limits = Self.keepingSlices
        limits.lostCommitAnswerWaitMilliseconds = 300
        try await RegistryScenarioTests.withCast(connection: connection, limits: limits) { cast, registry in
            let (_, grant) = try await UsageScenarioTests.grant(cast, quota: 1_000_000)
            try await Self.reserveASlice(cast, grant: grant)
            let port = try #require(cast.api.client.port)
            let lab = try #require(cast.keys["lab"])
            let event = UsageScenarioTests.event(grant, tokens: 900, key: "fenced-1")
            var sent: Task<(Int, Data), any Error>?
            try await Self.loseTheNextCommitAnswer(cluster, whileDown: {
                // PostgreSQL is down: the client is told the outcome is not known, and the node refuses
                // writes and is not ready until it knows.
                let (status, body) = try await #require(sent).value
                #expect(status == 503, "\(String(decoding: body, as: UTF8.self))")
                #expect(String(decoding: body, as: UTF8.self).contains("not known"))
                let write = try await cast.as("enterprise").post("/v1/datasets", Fixture.dataset("While fenced", government: false))
                #expect(write.status == .serviceUnavailable, "\(write.text)")
                #expect(write.text.contains("paused"), "\(write.text)")
                #expect(try await cast.api.get("/readyz").status == .serviceUnavailable)
            }) {
                sent = Self.send(port: port, token: lab, path: "/v1/usage", body: ["events": [event]])
            }
            // Back up: the background resolution applies the commit and lifts the fence.
            var ready = false
            for _ in 0..<100 where !ready {
                try await Task.sleep(for: .milliseconds(100))
                ready = try await cast.api.get("/readyz").status == .ok
            }
            #expect(ready)
            let retry = try await cast.as("lab").post("/v1/usage", ["events": [event]])
            let result = UsageScenarioTests.results(retry).first
            #expect(result?["status"] as? String == "accepted" && result?["replayed"] as? Bool == true, "\(retry.text)")
            let rebuilt = try await RegistryLoader.load(from: registry.database)
            #expect(rebuilt.digest == registry.registry.read { $0.digest })
        }
    }
}

/// A replica survives a PostgreSQL restart: it writes again by itself, and a replica started afterwards
/// loads what it wrote and follows it (issue 18: the single writer's lease is gone).
@Suite(.serialized) struct ReplicaRestartTests {
    @Test func F11_aReplicaWritesAgainAfterPostgreSQLRestartsAndAnotherFollowsIt() async throws {
        let (cluster, connection) = try await LostCommitTests.phantomReadyCluster()
        defer { try? cluster.stop(mode: .immediate) }
        try await RegistryScenarioTests.withCast(connection: connection) { cast, registry in
            try cluster.stop(mode: .immediate)
            try await cluster.startAsync()
            try await Task.sleep(for: .seconds(1))
            let dataset = try await cast.as("enterprise").post("/v1/datasets", Fixture.dataset("After the restart", government: false))
            #expect(dataset.status == .created, "\(dataset.text)")
            let (database, other) = try await ReplicaTests.replica(of: registry, label: "test.second")
            #expect(other.registry.read { $0.digest } == registry.registry.read { $0.digest })
            let again = try await cast.as("enterprise").post("/v1/datasets", Fixture.dataset("Followed", government: false))
            #expect(again.status == .created, "\(again.text)")
            try await ReplicaTests.waitForAll([other], toReach: ReplicaTests.head(registry))
            #expect(other.registry.read { $0.digest } == registry.registry.read { $0.digest })
            await other.close()
            await database.shutdown()
        }
    }
}
