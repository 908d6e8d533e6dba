import Foundation
import HTTPTypes
import PostgresClient
import RegistryCore
import RegistryStore
import Testing

/// Quota leases (issue 18, schema 0015): a replica meters from slices of R27's quotas it reserved in
/// PostgreSQL. What a crashed replica held comes back when its leases expire, a stopping or idle replica
/// gives its slices back, a draw against a reclaimed lease is planned again, a lowered cap holds at once,
/// and R28's charges stay exact on one replica across slices.
@Suite struct QuotaLeaseTests {
    static func grantID(_ registry: RegistryService, _ number: String) async throws -> Int64 {
        try await registry.database.pool.query("SELECT id FROM \"grant\" WHERE number = \(number)") { try $0.decode(Int64.self, column: 0) }[0]
    }

    /// Live leases of the grant and the tokens they hold unused.
    static func liveLeases(_ registry: RegistryService, grant: Int64) async throws -> (count: Int64, unused: Int64) {
        try await registry.database.pool.query("""
            SELECT count(*), coalesce(sum(size - used), 0)::int8 FROM quota_lease WHERE scope = 'grant' AND subject_id = \(grant) AND NOT ended
            """) { try $0.decode((Int64, Int64).self) }[0]
    }

    static func meter(_ cast: RegistryScenarioTests.Cast, _ grant: String, tokens: Int64, key: String) async throws -> [String: Any] {
        let answer = try await cast.as("lab").post("/v1/usage", ["events": [UsageScenarioTests.event(grant, tokens: tokens, key: key)]])
        #expect(answer.status == .ok, "\(answer.text)")
        return try #require(UsageScenarioTests.results(answer).first, "\(answer.text)")
    }

    @Test func R27_aCrashedReplicasSliceIsNotSpentByOthersAndComesBackWhenItExpires() async throws {
        try await RegistryScenarioTests.withCast { cast, registry in
            let (_, grant) = try await UsageScenarioTests.grant(cast, quota: 10_000)
            let id = try await Self.grantID(registry, grant)
            // A replica that reserved 6,000 tokens and died. Its lease is made to outlive any test run under
            // load (a 1.5 s lease once expired before the first request was answered in CI) and is expired
            // below by moving its expiry into the past — what time does to a dead replica's lease.
            let crashed = try await registry.database.pool.query("""
                SELECT granted FROM datarights_reserve_quota('crashed/1', ARRAY['grant'], ARRAY[\(id)::int8], ARRAY[0], ARRAY[10000::int8],
                                                             ARRAY[6000::int8], ARRAY[0::int8], 600000)
                """) { try $0.decode(Int64.self, column: 0) }
            #expect(crashed == [6_000])
            let early = try await Self.meter(cast, grant, tokens: 5_000, key: "early")
            #expect(early["status"] as? String == "denied", "only 4,000 are not held by the crashed replica: \(early)")
            #expect((early["reason"] as? String ?? "").contains("4000 remaining"), "\(early)")
            try await registry.database.pool.execute("UPDATE quota_lease SET expires_at = now() - interval '1 second' WHERE holder = 'crashed/1'")
            let later = try await Self.meter(cast, grant, tokens: 5_000, key: "later")
            #expect(later["status"] as? String == "accepted", "the expired lease was reclaimed: \(later)")
            let ended = try await registry.database.pool.query("SELECT ended FROM quota_lease WHERE holder = 'crashed/1'") { try $0.decode(Bool.self, column: 0) }
            #expect(ended == [true])
        }
    }

    @Test func R27_aStoppingReplicaGivesBackItsSlices() async throws {
        try await RegistryScenarioTests.withCast { cast, first in
            let quota: Int64 = 5_000
            let (_, grant) = try await UsageScenarioTests.grant(cast, quota: quota)
            let id = try await Self.grantID(first, grant)
            let (secondDatabase, second) = try await ReplicaTests.replica(of: first, label: "test.replica.b")
            let lab = PartyID(rawValue: try #require(cast.ids["lab"]))
            let now = Timestamp(microsecondsSince1970: Int64(Date().timeIntervalSince1970 * 1_000_000))
            let replies = try await second.recordUsage(UsageSubmission(party: lab, events: [UsageEvent(grant: grant, tokens: 100, usedAt: now, key: "on-b")]))
            #expect(replies.first?.answer.accepted == true)
            let held = try await Self.liveLeases(first, grant: id)
            #expect(held.count == 1 && held.unused > 0, "the second replica holds a slice beyond its use: \(held)")
            await second.drain()
            await second.close()
            await secondDatabase.shutdown()
            #expect(try await Self.liveLeases(first, grant: id).count == 0, "given back as it stopped")
            // Everything not used is available to the replica that remains, to the token.
            let rest = try await Self.meter(cast, grant, tokens: quota - 100, key: "on-a")
            #expect(rest["status"] as? String == "accepted", "\(rest)")
        }
    }

    /// R28 on one replica: each event is charged by its position in the grant's cumulative tokens; slices
    /// given back idle move the grant's next position back, so the charge stays ⌊tokens × price ÷ 10⁶⌋.
    @Test func R28_idleSlicesAreGivenBackAndOneReplicasChargesStayExact() async throws {
        var limits = Limits()
        limits.quotaLeaseIdleMilliseconds = 200
        try await RegistryScenarioTests.withCast(limits: limits) { cast, registry in
            let price: Int64 = 333_333
            let (_, grant) = try await UsageScenarioTests.grant(cast, quota: 1_000_000, price: price)
            let id = try await Self.grantID(registry, grant)
            var total: Int64 = 0
            for (round, sizes) in [[7, 13, 999], [1, 2_501], [77, 5]].enumerated() {
                for (index, tokens) in sizes.enumerated() {
                    let result = try await Self.meter(cast, grant, tokens: Int64(tokens), key: "r\(round)-\(index)")
                    #expect(result["status"] as? String == "accepted", "\(result)")
                    total += Int64(tokens)
                }
                // Idle: the sweep gives the slice back (within a few sweeps).
                var live: Int64 = 1
                for _ in 0..<100 where live > 0 {
                    try await Task.sleep(for: .milliseconds(100))
                    live = try await Self.liveLeases(registry, grant: id).count
                }
                #expect(live == 0, "an idle grant holds nothing")
                let given = try await registry.database.pool.query(
                    "SELECT count(*) FROM quota_lease WHERE scope = 'grant' AND subject_id = \(id) AND ended") { try $0.decode(Int64.self, column: 0) }[0]
                #expect(given >= Int64(round + 1), "a slice was reserved and given back in each round")
            }
            let (tokens, charged) = try await registry.database.pool.query("SELECT tokens, charged FROM grant_usage WHERE grant_id = \(id)") {
                try $0.decode((Int64, Int64).self)
            }[0]
            #expect(tokens == total)
            #expect(charged == total * price / 1_000_000, "charged \(charged) for \(total) tokens at \(price) per million")
            let cursor = try await registry.database.pool.query("SELECT cursor FROM quota_subject WHERE scope = 'grant' AND subject_id = \(id)") {
                try $0.decode(Int64.self, column: 0)
            }[0]
            #expect(cursor == total, "the next position is right after the last token used")
        }
    }

    @Test func R27_aBatchDrawingOnAReclaimedLeaseIsPlannedAgainOnANewSlice() async throws {
        var limits = Limits()
        limits.quotaLeaseIdleMilliseconds = 600_000
        try await RegistryScenarioTests.withCast(limits: limits) { cast, registry in
            let (_, grant) = try await UsageScenarioTests.grant(cast, quota: 100_000)
            let id = try await Self.grantID(registry, grant)
            #expect(try await Self.meter(cast, grant, tokens: 10, key: "first")["status"] as? String == "accepted")
            // As if the lease had expired and another replica's reservation had ended it.
            let reclaimed = try await registry.database.pool.execute("UPDATE quota_lease SET ended = true WHERE scope = 'grant' AND subject_id = \(id) AND NOT ended")
            #expect(reclaimed == 1)
            let second = try await Self.meter(cast, grant, tokens: 20, key: "second")
            #expect(second["status"] as? String == "accepted", "\(second)")
            let (drawn, counted) = try await registry.database.pool.query("""
                SELECT (SELECT sum(used) FROM quota_lease WHERE scope = 'grant' AND subject_id = \(id))::int8,
                       (SELECT tokens FROM grant_usage WHERE grant_id = \(id))
                """) { try $0.decode((Int64, Int64).self) }[0]
            #expect(drawn == 30 && counted == 30, "nothing drawn on the reclaimed lease: \(drawn), \(counted)")
        }
    }

    @Test func R27_aCapLoweredWhileASliceIsHeldHoldsAtOnce() async throws {
        var limits = Limits()
        limits.quotaLeaseIdleMilliseconds = 600_000
        try await RegistryScenarioTests.withCast(limits: limits) { cast, registry in
            let (dataset, grant) = try await UsageScenarioTests.grant(cast, quota: 100_000, dailyCap: 50_000)
            #expect(try await Self.meter(cast, grant, tokens: 100, key: "before")["status"] as? String == "accepted")
            let held = try await registry.database.pool.query("""
                SELECT coalesce(sum(size - used), 0)::int8 FROM quota_lease WHERE scope = 'dataset' AND subject_id = \(dataset) AND NOT ended
                """) { try $0.decode(Int64.self, column: 0) }[0]
            #expect(held >= 1_000, "the replica holds a slice of the dataset's day: \(held)")
            var policy = AccessScenarioTests.policy(purposes: ["model_training"])
            policy["pricePerMillionTokens"] = 800
            policy["dailyTokenCap"] = 150
            let set = try await cast.as("enterprise").call(.put, "/v1/datasets/\(dataset)/policy", policy)
            #expect(set.status == .ok, "\(set.text)")
            let after = try await Self.meter(cast, grant, tokens: 100, key: "after")
            #expect(after["status"] as? String == "denied" && after["quota"] as? String == "dataset_daily", "100 + 100 > 150: \(after)")
            let fits = try await Self.meter(cast, grant, tokens: 50, key: "fits")
            #expect(fits["status"] as? String == "accepted", "\(fits)")
        }
    }
}
