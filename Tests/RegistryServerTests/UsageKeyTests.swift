import Foundation
import HTTPTypes
import PostgresClient
import RegistryCore
import RegistryStore
import Testing

/// Finding 12: idempotency (R26) held by PostgreSQL itself, and the core's memory of keys bounded by a
/// setting whatever the rate; keys older than the memory are still counted once.
@Suite struct UsageKeyTests {
    @Test func F12_R26_postgresRefusesASecondEventWithTheSameKey() async throws {
        try await RegistryScenarioTests.withCast { cast, registry in
            let (_, grant) = try await UsageScenarioTests.grant(cast, quota: 1_000_000)
            let first = try await cast.as("lab").post("/v1/usage", ["events": [UsageScenarioTests.event(grant, tokens: 5, key: "once")]])
            #expect(first.status == .ok, "\(first.text)")
            // Behind the core's back, as a second writer or a bug would: PostgreSQL refuses the key again.
            let refused = await #expect(throws: PostgresError.self) {
                try await registry.database.pool.execute("""
                    INSERT INTO usage_event (id, batch_id, assignee_id, idempotency_key, tokens, used_at, recorded_at, accepted, amount)
                    SELECT id + 1000, batch_id, assignee_id, idempotency_key, tokens, used_at, recorded_at, accepted, amount
                    FROM usage_event WHERE idempotency_key = 'once'
                    """)
            }
            #expect(refused?.isUniqueViolation == true, "\(String(describing: refused))")
        }
    }

    @Test func F12_R26_keysBeyondTheBoundedMemoryAreStillCountedOnce() async throws {
        var limits = Limits()
        limits.usageKeyMemory = 1_000
        try await RegistryScenarioTests.withCast(limits: limits) { cast, registry in
            let (_, grant) = try await UsageScenarioTests.grant(cast, quota: 1_000_000_000)
            let lab = cast.as("lab")
            func request(_ round: Int) -> [String: Any] {
                ["events": (0..<500).map { UsageScenarioTests.event(grant, tokens: 3, key: "r\(round)-e\($0)") }]
            }
            var firstAnswers: [String: String] = [:]
            for round in 0..<8 {
                let answer = try await lab.post("/v1/usage", request(round))
                #expect(answer.status == .ok, "\(answer.text)")
                if round == 0 {
                    for result in UsageScenarioTests.results(answer) { firstAnswers[result["key"] as? String ?? ""] = result["event"] as? String }
                }
                let remembered = registry.registry.read { $0.usage.rememberedKeys }
                #expect(remembered <= 1_000, "memory holds at most the setting (\(remembered))")
            }
            // The first round's keys were forgotten by memory long ago: the retry still counts nothing
            // and gets the first answers.
            let before = registry.registry.read { $0.digest }
            let retry = try await lab.post("/v1/usage", request(0))
            #expect(retry.status == .ok, "\(retry.text)")
            let results = UsageScenarioTests.results(retry)
            #expect(results.count == 500)
            #expect(results.allSatisfy { $0["replayed"] as? Bool == true && firstAnswers[$0["key"] as? String ?? ""] == $0["event"] as? String })
            #expect(registry.registry.read { $0.digest } == before, "nothing counted again")
            let balance = try await cast.as("regulator").get("/v1/ledger/balance")
            #expect(balance["balanced"] as? Bool == true, "\(balance.text)")
            // A rebuilt core (which reads back at most the setting's keys) agrees.
            let rebuilt = try await RegistryLoader.load(from: registry.database)
            #expect(rebuilt.digest == registry.registry.read { $0.digest })
            #expect(rebuilt.usage.rememberedKeys <= 1_000)
        }
    }

    /// Schema 0008: the unique key index is the only B-tree an event inserts into (it halves the index
    /// writes of the durable usage path); without a B-tree on id, a rebuilt core still resumes after the
    /// newest event (read from the newest batch) and reads back exactly the newest keys its memory holds.
    @Test func F12_R26_oneBTreePerEventAndARebuiltCoreResumesAfterTheNewestEvent() async throws {
        var limits = Limits()
        limits.usageKeyMemory = 300
        try await RegistryScenarioTests.withCast(limits: limits) { cast, registry in
            let (_, grant) = try await UsageScenarioTests.grant(cast, quota: 1_000_000_000)
            for round in 0..<3 {
                let events = (0..<200).map { UsageScenarioTests.event(grant, tokens: 1, key: "b\(round)-\($0)") }
                let answer = try await cast.as("lab").post("/v1/usage", ["events": events])
                #expect(answer.status == .ok, "\(answer.text)")
            }
            let btrees = try await registry.database.pool.query("""
                SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
                WHERE i.indrelid = 'usage_event'::regclass AND a.amname = 'btree'
                """) { try $0.decode(Int64.self, column: 0) }[0]
            #expect(btrees == 1, "usage_event_key only")
            let newest = try await registry.database.pool.query("SELECT max(id) FROM usage_event") { try $0.decode(Int64.self, column: 0) }[0]
            let recorded = try await registry.database.pool.query("SELECT last_event FROM usage_batch ORDER BY id DESC LIMIT 1") {
                try $0.decode(Int64.self, column: 0)
            }[0]
            #expect(recorded == newest)
            let rebuilt = try await RegistryLoader.load(from: registry.database)
            #expect(rebuilt.usage.lastEvent == newest)
            // Two generations of half the setting each: at least one full generation of the newest keys.
            #expect((150...300).contains(rebuilt.usage.rememberedKeys), "\(rebuilt.usage.rememberedKeys)")
        }
    }
}
