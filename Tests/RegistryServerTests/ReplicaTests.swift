import Foundation
import HTTPTypes
import Logging
import PostgresClient
import RegistryCore
import RegistryStore
import Synchronization
import Testing

/// Replicas on one database (issue 18): each follows the committed log, writes are ordered by
/// PostgreSQL and checked on the state they commit on, and every replica's core equals a rebuild.
@Suite struct ReplicaTests {
    /// Another replica of `registry`'s database: its own pool, its own core loaded from PostgreSQL.
    static func replica(of registry: RegistryService, label: String) async throws -> (RegistryDatabase, RegistryService) {
        let database = try RegistryDatabase(
            configuration: registry.database.pool.configuration.connection, limits: registry.database.limits, logger: Logger(label: label))
        return (database, try await RegistryService.open(database: database, sandbox: true, logger: Logger(label: label)))
    }

    static func head(_ service: RegistryService) -> Int64 { service.registry.read { $0.auditHead.lastSequence } }

    static func storedHead(_ service: RegistryService) async throws -> Int64 {
        try await service.database.pool.query("SELECT coalesce(max(seq), 0) FROM audit_event") { try $0.decode(Int64.self, column: 0) }[0]
    }

    /// Waits until every replica's core reached `sequence`; fails after `limit`.
    static func waitForAll(_ replicas: [RegistryService], toReach sequence: Int64, within limit: Duration = .seconds(10)) async throws {
        let started = ContinuousClock.now
        while replicas.contains(where: { head($0) < sequence }) {
            guard ContinuousClock.now - started < limit else {
                Issue.record("replicas at \(replicas.map(head)) did not reach \(sequence) within \(limit)")
                return
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    @Test func R30_everyReplicaFollowsEveryOthersWritesAndEqualsARebuild() async throws {
        try await RegistryScenarioTests.withCast { cast, first in
            let (secondDatabase, second) = try await Self.replica(of: first, label: "test.replica.b")
            let (thirdDatabase, third) = try await Self.replica(of: first, label: "test.replica.c")
            defer { Task { await second.close(); await third.close(); await secondDatabase.shutdown(); await thirdDatabase.shutdown() } }
            // The two started after the cast was made: they loaded it.
            #expect(Self.head(second) == Self.head(first) && Self.head(third) == Self.head(first))

            // Writes through the first (HTTP), reflected by the others; the time each takes is the lag.
            var lags: [Duration] = []
            for index in 0..<20 {
                let created = try await cast.as("enterprise").post("/v1/datasets", Fixture.dataset("Replicated \(index)", government: false))
                #expect(created.status == .created, "\(created.text)")
                let written = ContinuousClock.now
                try await Self.waitForAll([second, third], toReach: Self.head(first))
                lags.append(ContinuousClock.now - written)
            }
            lags.sort()
            // Each followed the first's 20 writes from the log (metrics: /metrics shows the count).
            #expect(secondDatabase.following.appliedEntries >= 20 && thirdDatabase.following.appliedEntries >= 20)
            #expect(lags[lags.count * 99 / 100] < .milliseconds(1_000), "lag p99 \(lags[lags.count * 99 / 100])")

            // A write through the second: the first and the third follow it, and the first then writes on top.
            let labID = PartyID(rawValue: try #require(cast.ids["lab"]))
            _ = try await second.issueKey(for: labID, label: "issued on replica b", by: nil)
            try await Self.waitForAll([first, third], toReach: Self.head(second))
            let dataset = try await cast.as("enterprise").post("/v1/datasets", Fixture.dataset("After b", government: false))
            #expect(dataset.status == .created, "\(dataset.text)")

            // Usage through all three.
            let (_, grant) = try await UsageScenarioTests.grant(cast, quota: 1_000_000)
            try await Self.waitForAll([second, third], toReach: Self.head(first))
            for (index, replica) in [first, second, third].enumerated() {
                let now = Timestamp(microsecondsSince1970: Int64(Date().timeIntervalSince1970 * 1_000_000))
                let events = (0..<5).map { UsageEvent(grant: grant, tokens: 1_000, usedAt: now, key: "r\(index)-\($0)") }
                let replies = try await replica.recordUsage(UsageSubmission(party: labID, events: events))
                #expect(replies.allSatisfy { $0.answer.accepted }, "\(replies)")
            }
            let stored = try await Self.storedHead(first)
            try await Self.waitForAll([first, second, third], toReach: stored)
            let rebuilt = try await RegistryLoader.load(from: first.database).digest
            for replica in [first, second, third] { #expect(replica.registry.read { $0.digest } == rebuilt) }
            #expect(first.registry.read { $0.usage.usage(of: grantID(grant, in: $0)).tokens } == 15_000)
        }
    }

    /// R27 across replicas with quota leases (issue 18): three replicas meter one grant at once, each from
    /// slices it reserved; together they never accept more than the quota, every accepted token was drawn
    /// from a lease, and what is left unused is what the replicas' slices hold — less than one event's
    /// tokens each, since every client keeps asking (a replica denies only once PostgreSQL has nothing
    /// more to reserve for it).
    @Test func R27_threeReplicasMeteringOneGrantAtOnceNeverExceedTheQuota() async throws {
        try await RegistryScenarioTests.withCast { cast, first in
            let quota: Int64 = 60_000
            let (_, grant) = try await UsageScenarioTests.grant(cast, quota: quota)
            let (secondDatabase, second) = try await Self.replica(of: first, label: "test.replica.b")
            let (thirdDatabase, third) = try await Self.replica(of: first, label: "test.replica.c")
            defer { Task { await second.close(); await third.close(); await secondDatabase.shutdown(); await thirdDatabase.shutdown() } }
            let labID = PartyID(rawValue: try #require(cast.ids["lab"]))
            let now = Timestamp(microsecondsSince1970: Int64(Date().timeIntervalSince1970 * 1_000_000))
            // 3 replicas × 4 clients × 10 requests × 10 events × 300 tokens = 360,000 asked for 60,000.
            let accepted = try await withThrowingTaskGroup(of: Int64.self) { group in
                for (r, replica) in [first, second, third].enumerated() {
                    for client in 0..<4 {
                        group.addTask {
                            var tokens: Int64 = 0
                            for request in 0..<10 {
                                let events = (0..<10).map { UsageEvent(grant: grant, tokens: 300, usedAt: now, key: "q\(r)-\(client)-\(request)-\($0)") }
                                let replies = try await replica.recordUsage(UsageSubmission(party: labID, events: events))
                                tokens += Int64(replies.filter(\.answer.accepted).count) * 300
                            }
                            return tokens
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(accepted <= quota)
            #expect(quota - accepted < 3 * 300, "under-use: each replica strands less than one event")
            let inSQL = try await first.database.pool.query("""
                SELECT coalesce(sum(tokens), 0)::int8 FROM usage_event WHERE accepted AND grant_id = (SELECT id FROM "grant" WHERE number = \(grant))
                """) { try $0.decode(Int64.self, column: 0) }[0]
            #expect(inSQL == accepted)
            let (drawn, unused, holders) = try await first.database.pool.query("""
                SELECT coalesce(sum(used), 0)::int8, coalesce(sum(size - used) FILTER (WHERE NOT ended), 0)::int8, count(DISTINCT holder)
                FROM quota_lease WHERE scope = 'grant' AND subject_id = (SELECT id FROM "grant" WHERE number = \(grant))
                """) { try $0.decode((Int64, Int64, Int64).self) }[0]
            #expect(drawn == accepted, "every accepted token was drawn from a lease")
            #expect(holders == 3, "each replica held slices of the grant")
            #expect(accepted + unused <= quota, "committed + unused slices within the quota (schema 0015's invariant)")
            let stored = try await Self.storedHead(first)
            try await Self.waitForAll([first, second, third], toReach: stored)
            let rebuilt = try await RegistryLoader.load(from: first.database).digest
            for replica in [first, second, third] { #expect(replica.registry.read { $0.digest } == rebuilt) }
        }
    }

    /// Two replicas asked at once to close a cycle from either end: the rules are checked on the state
    /// each write commits on, so exactly one edge is recorded: the lineage stays acyclic, which R12's inheritance along it needs.
    @Test func R12_twoReplicasCannotBothRecordEdgesThatCloseACycle() async throws {
        try await RegistryScenarioTests.withCast { cast, first in
            let enterprise = cast.as("enterprise")
            var ids: [DatasetID] = []
            for title in ["Left", "Right"] {
                let created = try await enterprise.post("/v1/datasets", Fixture.dataset(title, government: false))
                ids.append(DatasetID(rawValue: try #require(created.int("id"), "\(created.text)")))
            }
            let (secondDatabase, second) = try await Self.replica(of: first, label: "test.replica.b")
            defer { Task { await second.close(); await secondDatabase.shutdown() } }
            let enterpriseID = PartyID(rawValue: try #require(cast.ids["enterprise"]))
            let holder = try #require(first.registry.read { $0.party(enterpriseID) })
            for round in 0..<10 {
                // A fresh pair each round after the first: the first round's edge stays.
                var pair = ids
                if round > 0 {
                    pair = []
                    for side in ["L", "R"] {
                        let created = try await enterprise.post("/v1/datasets", Fixture.dataset("\(side) \(round)", government: false))
                        pair.append(DatasetID(rawValue: try #require(created.int("id"))))
                    }
                    try await Self.waitForAll([second], toReach: Self.head(first))
                }
                let (left, right) = (pair[0], pair[1])
                async let forward: Bool = (try? await first.execute(.recordDerivations(target: right, sources: [DerivationSource(dataset: left, kind: .aggregated)]), by: holder)) != nil
                async let backward: Bool = (try? await second.execute(.recordDerivations(target: left, sources: [DerivationSource(dataset: right, kind: .aggregated)]), by: holder)) != nil
                let outcomes = await [forward, backward]
                #expect(outcomes.filter { $0 }.count == 1, "round \(round): \(outcomes)")
            }
            let stored = try await Self.storedHead(first)
            try await Self.waitForAll([first, second], toReach: stored)
            let rebuilt = try await RegistryLoader.load(from: first.database).digest
            #expect(first.registry.read { $0.digest } == rebuilt)
            #expect(second.registry.read { $0.digest } == rebuilt)
        }
    }

    /// A replica whose command meets, inside its turn, an entry it cannot reproduce — here a usage batch
    /// without stored effects, as batches written before schema 0013 are — does not go on from a state
    /// PostgreSQL does not hold: it rebuilds its core from the tables and plans the command on that (R30).
    @Test func R30_aCommandThatMeetsAnEntryItCannotFollowRebuildsAndThenWrites() async throws {
        try await RegistryScenarioTests.withCast { cast, first in
            let (_, grant) = try await UsageScenarioTests.grant(cast, quota: 10_000)
            let (secondDatabase, second) = try await Self.replica(of: first, label: "test.replica.b")
            defer { Task { await secondDatabase.shutdown() } }
            // The second stops following (its own write will have to catch up, inside its turn).
            await second.close()
            let labID = PartyID(rawValue: try #require(cast.ids["lab"]))
            let now = Timestamp(microsecondsSince1970: Int64(Date().timeIntervalSince1970 * 1_000_000))
            let replies = try await first.recordUsage(UsageSubmission(party: labID, events: [UsageEvent(grant: grant, tokens: 700, usedAt: now, key: "unfollowable")]))
            #expect(replies.allSatisfy { $0.answer.accepted })
            try await first.database.pool.execute("UPDATE usage_batch SET effects = NULL")
            let behind = Self.head(second)
            #expect(behind < (try await Self.storedHead(first)))

            _ = try await second.issueKey(for: labID, label: "written after a rebuild", by: nil)
            let stored = try await Self.storedHead(first)
            #expect(Self.head(second) == stored)
            let rebuilt = try await RegistryLoader.load(from: first.database).digest
            #expect(second.registry.read { $0.digest } == rebuilt)
            #expect(second.registry.read { $0.usage.usage(of: grantID(grant, in: $0)).tokens } == 700)
            #expect(secondDatabase.following.rebuilds == 1)
        }
    }

    /// A replica that cannot catch up with the log (here: the chain's table is out of its reach) goes on
    /// answering reads from a core that falls behind; after a few seconds of that it says it is not
    /// ready, so HAProxy's check sends its requests to the others, and it is ready again once it follows.
    @Test func R30_aReplicaThatCannotFollowTheLogIsNotReadyUntilItFollowsAgain() async throws {
        try await RegistryScenarioTests.withCast { cast, registry in
            guard case .ready = await registry.database.readiness() else {
                Issue.record("not ready before the test")
                return
            }
            try await registry.database.pool.execute("ALTER TABLE audit_event RENAME TO audit_event_hidden")
            let started = ContinuousClock.now
            var reason: String?
            while ContinuousClock.now - started < .seconds(30) {
                if case .notReady(let why) = await registry.database.readiness() {
                    reason = why
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            let unreadyAfter = ContinuousClock.now - started
            let troubleSeconds = registry.database.following.troubleSeconds
            let readyz = try await cast.api.get("/readyz")
            try await registry.database.pool.execute("ALTER TABLE audit_event_hidden RENAME TO audit_event")
            #expect(reason?.contains("not been following the log") == true, "\(reason ?? "still ready")")
            #expect(unreadyAfter >= .seconds(Limits.followTroubleSeconds), "unready after \(unreadyAfter)")
            #expect(readyz.status == .serviceUnavailable, "\(readyz.text)")
            #expect(troubleSeconds >= Double(Limits.followTroubleSeconds), "\(troubleSeconds)")
            // Following again (the next poll), it is ready again.
            let restored = ContinuousClock.now
            var ready = false
            while !ready, ContinuousClock.now - restored < .seconds(10) {
                if case .ready = await registry.database.readiness() { ready = true } else { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(ready)
            #expect(registry.database.following.troubleSeconds == 0)
        }
    }

    /// A replica that holds the turn and does not let go (here: a session holding the lock by hand)
    /// costs the others a 503 with Retry-After once the wait limit passes — never a hang, never a 500,
    /// and nothing of the refused write is stored (R30: the chain does not move).
    @Test func R30_aWriteThatWaitsTooLongForItsTurnIs503AndWritesNothing() async throws {
        try await RegistryScenarioTests.withCast { cast, registry in
            let holder = PostgresPool(
                configuration: PostgresPool.Configuration(connection: registry.database.pool.configuration.connection, maxConnections: 1),
                logger: Logger(label: "test.turn-holder"))
            let before = try await Self.storedHead(registry)
            let (locked, release) = (TurnFlag(), TurnFlag())
            let holding = Task {
                try await holder.withConnection { connection in
                    _ = try connection.query("SELECT pg_advisory_lock(\(RegistryService.turnKey))")
                    locked.raise()
                    while !release.isRaised { usleep(10_000) }
                    _ = try connection.query("SELECT pg_advisory_unlock(\(RegistryService.turnKey))")
                }
            }
            while !locked.isRaised { try await Task.sleep(for: .milliseconds(5)) }
            let started = ContinuousClock.now
            let answer = try await cast.as("enterprise").post("/v1/datasets", Fixture.dataset("Waits for its turn", government: false))
            release.raise()
            try await holding.value
            let waited = ContinuousClock.now - started
            await holder.shutdown()
            #expect(answer.status == .serviceUnavailable, "\(answer.text)")
            #expect(answer.headers[.retryAfter] == "1")
            #expect(answer.string("detail")?.contains("another replica") == true, "\(answer.text)")
            #expect(waited >= .milliseconds(Limits.turnWaitMilliseconds), "refused after \(waited)")
            #expect(try await Self.storedHead(registry) == before)
            // The turn free again, the same write is made.
            let again = try await cast.as("enterprise").post("/v1/datasets", Fixture.dataset("Waits for its turn", government: false))
            #expect(again.status == .created, "\(again.text)")
        }
    }
}

/// A flag one thread raises and another watches.
private final class TurnFlag: Sendable {
    private let raised = Atomic(false)
    func raise() { raised.store(true, ordering: .releasing) }
    var isRaised: Bool { raised.load(ordering: .acquiring) }
}

private func grantID(_ number: String, in state: borrowing RegistryState) -> GrantID {
    state.grant(number: number)!.id
}
