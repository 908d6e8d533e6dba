import HTTPTypes
import Logging
import PostgresClient
import RegistryCore
import RegistryStore
import Testing

/// The usage rollups (issue 16, for R29) through the real service and PostgreSQL: what the core keeps,
/// what the group commits wrote, what a cold start reads back and what migration 0009 back-fills all
/// equal a GROUP BY over the raw usage events.
@Suite struct UsageRollupStoreTests {
    /// Random usage by one lab on three grants (two datasets, two purposes; a dataset daily cap and a
    /// small quota for denials) over three days of the sandbox clock, in concurrent requests so that
    /// batches share cells; then the four views of the rollup are compared with the events.
    @Test func R29_rollupsEqualTheEventsInTheCoreInPostgreSQLAfterARestartAndFromTheBackFill() async throws {
        try await RegistryScenarioTests.withCast { cast, registry in
            let (_, small) = try await UsageScenarioTests.grant(cast, quota: 40_000, price: 2_000, dailyCap: 30_000, title: "Retail baskets")
            let (dataset, large) = try await UsageScenarioTests.grant(cast, quota: 10_000_000, price: 0, title: "Road sensors")
            var both = AccessScenarioTests.policy(purposes: ["model_training", "model_evaluation"])
            both["pricePerMillionTokens"] = 300
            let set = try await cast.as("enterprise").call(.put, "/v1/datasets/\(dataset)/policy", both)
            #expect(set.status == .ok, "\(set.text)")
            let evaluation = try await cast.as("lab").post(
                "/v1/access-requests", ["dataset": dataset, "purpose": "model_evaluation", "tokens": 1_000_000, "validUntil": "2030-01-01T00:00:00Z"])
            let third = try #require((evaluation["grant"] as? [String: Any])?["number"] as? String, "\(evaluation.text)")
            try await Task.sleep(for: .milliseconds(5))
            let lab = PartyID(rawValue: try #require(cast.ids["lab"]))
            let grants = [small, large, third]
            var random = SplitMix64(state: 16)
            for day in 0..<3 {
                if day > 0 {
                    let moved = try await cast.api.as_(cast.operatorKey).post("/v1/sandbox/clock", ["days": 1])
                    #expect(moved.status == .ok, "\(moved.text)")
                }
                let now = registry.now()
                let requests = (0..<12).map { request in
                    (0..<Int.random(in: 1...40, using: &random)).map { index in
                        UsageEvent(
                            grant: grants.randomElement(using: &random)!, tokens: Int64.random(in: 1...1_500, using: &random), usedAt: now,
                            key: "d\(day)-r\(request)-e\(index)")
                    }
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for events in requests {
                        group.addTask { _ = try await registry.recordUsage(UsageSubmission(party: lab, events: events)) }
                    }
                    try await group.waitForAll()
                }
            }
            let offset = Int32(registry.registry.read { $0.settings.calendar.utcOffsetSeconds })
            let pool = registry.database.pool
            let fromEvents = try await Self.cellsFromEvents(pool, offset: offset)
            let deniedFromEvents = try await Self.denialsFromEvents(pool, offset: offset)
            #expect(Set(fromEvents.map { $0[0] }).count == 3, "accepted use on each of three days")
            #expect(Set(deniedFromEvents.map { $0[3] }).isSuperset(of: ["grant", "dataset_daily"]), "\(deniedFromEvents)")

            let core = registry.registry.read { $0.usage.rollup }
            #expect(Self.rows(core) == fromEvents)
            #expect(Self.denialRows(core) == deniedFromEvents)
            #expect(try await Self.storedCells(pool) == fromEvents)
            #expect(try await Self.storedDenials(pool) == deniedFromEvents)

            // A cold start reads the same cells back (and the whole state's digest, which covers them, agrees).
            let rebuilt = try await RegistryLoader.load(from: registry.database)
            #expect(Self.rows(rebuilt.usage.rollup) == fromEvents)
            #expect(Self.denialRows(rebuilt.usage.rollup) == deniedFromEvents)
            #expect(rebuilt.digest == registry.registry.read { $0.digest })

            // The same database as if it had been metered before 0009: its tables dropped and 0009's own
            // SQL run again (not through the runner: later migrations are applied, and it refuses a
            // version below them).
            let migration = try #require(Migration.bundled.first { $0.version == 9 })
            try await pool.withConnection { connection in
                try connection.executeScript("DROP TABLE usage_rollup, usage_denial_rollup;")
                try connection.executeScript(migration.sql)
            }
            #expect(try await Self.storedCells(pool) == fromEvents)
            #expect(try await Self.storedDenials(pool) == deniedFromEvents)
        }
    }

    /// A cell as comparable text: day (days since 1970), ids, labels, then the totals; rows in one order
    /// whatever their source's.
    static func rows(_ rollup: UsageRollup) -> [[String]] {
        rollup.allCells.map { cell, totals in
            ["\(cell.day.daysSince1970)", "\(cell.dataset.rawValue)", "\(cell.assignee.rawValue)", cell.purpose, cell.useRegion,
             "\(totals.events)", "\(totals.tokens)", "\(totals.amount)"]
        }.sortedRows
    }

    static func denialRows(_ rollup: UsageRollup) -> [[String]] {
        rollup.allDenials.map { cell, totals in
            ["\(cell.day.daysSince1970)", "\(cell.assignee.rawValue)", "\(cell.dataset.rawValue)", cell.quota.rawValue, "\(totals.events)", "\(totals.tokens)"]
        }.sortedRows
    }

    /// The rollup computed from the raw events.
    static func cellsFromEvents(_ pool: PostgresPool, offset: Int32) async throws -> [[String]] {
        try await pool.query("""
            SELECT (((e.recorded_at AT TIME ZONE 'UTC') + make_interval(secs => \(offset)))::date - DATE '1970-01-01')::text,
                   e.dataset_id::text, e.assignee_id::text, g.purpose, g.use_region, count(*)::text, sum(e.tokens)::text, sum(e.amount)::text
            FROM usage_event e JOIN "grant" g ON g.id = e.grant_id
            WHERE e.accepted
            GROUP BY 1, 2, 3, 4, 5
            """, decode: Self.textRow(8)).sortedRows
    }

    static func denialsFromEvents(_ pool: PostgresPool, offset: Int32) async throws -> [[String]] {
        try await pool.query("""
            SELECT (((e.recorded_at AT TIME ZONE 'UTC') + make_interval(secs => \(offset)))::date - DATE '1970-01-01')::text,
                   e.assignee_id::text, e.dataset_id::text, e.quota, count(*)::text, sum(e.tokens)::text
            FROM usage_event e
            WHERE NOT e.accepted AND e.quota IS NOT NULL
            GROUP BY 1, 2, 3, 4
            """, decode: Self.textRow(6)).sortedRows
    }

    static func storedCells(_ pool: PostgresPool) async throws -> [[String]] {
        try await pool.query("""
            SELECT (day - DATE '1970-01-01')::text, dataset_id::text, assignee_id::text, purpose, use_region, events::text, tokens::text, amount::text
            FROM usage_rollup
            """, decode: Self.textRow(8)).sortedRows
    }

    static func storedDenials(_ pool: PostgresPool) async throws -> [[String]] {
        try await pool.query("""
            SELECT (day - DATE '1970-01-01')::text, assignee_id::text, dataset_id::text, quota, events::text, tokens::text
            FROM usage_denial_rollup
            """, decode: Self.textRow(6)).sortedRows
    }

    static func textRow(_ columns: Int) -> @Sendable (PostgresRow) throws -> [String] {
        { row in try (0..<columns).map { try row.decode(String.self, column: $0) } }
    }
}

extension [[String]] {
    var sortedRows: [[String]] { sorted { $0.lexicographicallyPrecedes($1) } }
}
