import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresClient
import RegistryCore
import RegistryServer
import RegistryStore
import Testing
import TestSupport

/// The compliance queries about use (R29, issue 16) on a generated registry with usage over three days:
/// each answer equals an independent SQL query over the raw tables (usage_event, "grant", derivation,
/// dataset — never the rollup tables or the code under test), page after page.
@Suite struct ComplianceUseTests {
    @Test func R29_datasetUseQuotaDenialsAndAnnualReportEqualSQLOverTheRawEvents() async throws {
        let start = Timestamp(microsecondsSince1970: 1_795_399_200 * 1_000_000)
        let configuration = try await TestCluster.makeDatabase()
        let logger = Logger(label: "test.compliance-use")
        let database = try RegistryDatabase(configuration: configuration, limits: Limits(), logger: logger)
        try await database.migrate()
        let synthetic = SyntheticRegistry.generate(datasets: 10_000, seed: 29, now: start)
        _ = try await BulkLoader.load(synthetic, into: database, at: start, chainAudit: false)
        // A pinned wall clock: the days pass by the sandbox clock only.
        let registry = try await RegistryService.open(database: database, sandbox: true, logger: logger, wallClock: { start })
        let app = buildApplication(
            configuration: ServerConfiguration(port: 0, sandbox: true), database: database, registry: registry, metrics: TestApp.metrics, logger: logger)
        var existingOperator = registry.registry.read { $0.catalog.parties.all.first { $0.kind == .operator } }
        if existingOperator == nil {
            let entries = try await registry.execute(
                .registerParty(NewParty(name: "Operator", kind: .operator, region: "CN-BJ", jurisdiction: .mainland, creditCode: nil)), by: nil)
            if case .party(let party) = entries[0].record { existingOperator = party }
        }
        let operatorParty = try #require(existingOperator)
        let regulatorEntries = try await registry.execute(
            .registerParty(NewParty(name: "Data Administration", kind: .regulator, region: "CN-BJ", jurisdiction: .mainland, creditCode: nil)), by: operatorParty)
        guard case .party(let regulator) = regulatorEntries[0].record else { throw Problem.internalError }
        let regulatorKey = try await registry.issueKey(for: regulator.id, label: "regulator", by: nil).token

        // Usage: every grant in force, one to three events a day for three days; two assignees with a low
        // daily cap so that R27 denies some.
        let grants = registry.registry.read { state in
            (1...Int64(state.market.grants.count)).compactMap { state.market.grants[$0] }.filter { $0.isInForce(at: registry.now()) }
        }
        #expect(grants.count > 100, "grants in force: \(grants.count)")
        let assignees = Array(Set(grants.map(\.assignee))).sorted()
        for party in assignees.prefix(2) {
            try await registry.execute(.setAssigneeDailyCap(party: party, dailyTokens: 30_000), by: operatorParty)
        }
        var random = SplitMix64(state: 29)
        for day in 0..<3 {
            if day > 0 { try await registry.execute(.advanceClock(seconds: 86_400), by: operatorParty) }
            let now = registry.now()
            var byAssignee: [PartyID: [UsageEvent]] = [:]
            for grant in grants.prefix(400) {
                for index in 0..<Int.random(in: 1...3, using: &random) {
                    byAssignee[grant.assignee, default: []].append(UsageEvent(
                        grant: grant.number, tokens: Int64.random(in: 1...9_000, using: &random), usedAt: now, key: "d\(day)-\(grant.id.rawValue)-\(index)"))
                }
            }
            for (party, events) in byAssignee.sorted(by: { $0.key < $1.key }) {
                for chunk in stride(from: 0, to: events.count, by: 500) {
                    _ = try await registry.recordUsage(UsageSubmission(party: party, events: Array(events[chunk..<min(chunk + 500, events.count)])))
                }
            }
        }
        let (offset, today) = registry.registry.read { ($0.settings.calendar.utcOffsetSeconds, $0.today(at: registry.now())) }
        let first = today.adding(days: -2)
        let pool = database.pool
        let offset32 = Int32(offset)

        // The dataset with the most used descendants, and a period of the last two days.
        let used = Set(try await pool.query("SELECT DISTINCT dataset_id FROM usage_event WHERE accepted") { try $0.decode(Int64.self, column: 0) })
        let target = registry.registry.read { state -> Int64 in
            var best: (Int64, Int) = (0, -1)
            for id in 1...Int64(state.catalog.datasets.count) {
                let nodes = ScratchPool.withScratch { state.lineage.graph.collect(from: Int32(id), .descendants, budget: 100_000, scratch: &$0).nodes }
                let count = nodes.filter { used.contains(Int64($0)) }.count
                if count > best.1 { best = (id, count) }
            }
            return best.0
        }

        try await app.test(.router) { client in
            let api = APIClient(client: client, token: regulatorKey)
            func all(_ path: String) async throws -> (items: [[String: Any]], totals: [String: Any]?, asOf: Int64?) {
                var items: [[String: Any]] = []
                var cursor: String?
                var totals: [String: Any]?
                var asOf: Int64?
                repeat {
                    let page = try await api.get(path + "&limit=7" + (cursor.map { "&cursor=\($0)" } ?? ""))
                    #expect(page.status == .ok, "\(path): \(page.text)")
                    items += page["items"] as? [[String: Any]] ?? []
                    totals = page["totals"] as? [String: Any]
                    asOf = page.int("asOf")
                    cursor = page.string("nextCursor")
                } while cursor != nil
                return (items, totals, asOf)
            }
            func text(_ value: Any?) -> String { value.map { "\($0)" } ?? "" }

            // Use of the dataset through its descendants, the last two days.
            let use = try await all("/v1/compliance/dataset-use?dataset=\(target)&from=\(today.adding(days: -1))&to=\(today)")
            let expectedUse = try await pool.query("""
                WITH RECURSIVE d(id) AS (SELECT \(target)::int8 UNION SELECT x.target_id FROM derivation x JOIN d ON x.source_id = d.id)
                SELECT u.assignee_id::text, g.purpose, u.dataset_id::text, count(*)::text, sum(u.tokens)::text, sum(u.amount)::text
                FROM usage_event u JOIN "grant" g ON g.id = u.grant_id
                WHERE u.accepted AND u.dataset_id IN (SELECT id FROM d) AND ((u.recorded_at AT TIME ZONE 'UTC') + make_interval(secs => \(offset32)))::date BETWEEN \(today.adding(days: -1).description)::date AND \(today.description)::date
                GROUP BY 1, 2, 3
                """, decode: UsageRollupStoreTests.textRow(6)).sortedRows
            #expect(Set(expectedUse.map { $0[2] }).count >= 2, "the case has use of the dataset through a descendant: \(expectedUse)")
            // Use elsewhere in the registry (other branches, other datasets) that the answer must leave out.
            let allUse = try await pool.query("SELECT count(*) FROM usage_event WHERE accepted") { try $0.decode(Int64.self, column: 0) }
            #expect(allUse[0] > expectedUse.reduce(Int64(0)) { $0 + Int64($1[3])! })
            #expect(use.items.map { [text($0["party"]), text($0["purpose"]), text($0["dataset"]), text($0["events"]), text($0["tokens"]), text($0["charge"])] }
                .sortedRows == expectedUse)
            #expect(use.items.contains { $0["relation"] as? String == "descendant" })
            #expect(text(use.totals?["tokens"]) == text(expectedUse.reduce(Int64(0)) { $0 + Int64($1[4])! }))
            #expect(use.totals?["complete"] as? Bool == true)
            #expect(use.asOf == registry.registry.read { $0.auditHead.lastSequence })
            // Without descendants: the dataset's own use only.
            let own = try await all("/v1/compliance/dataset-use?dataset=\(target)&from=\(first)&to=\(today)&descendants=false")
            #expect(own.items.allSatisfy { text($0["dataset"]) == "\(target)" && $0["relation"] as? String == "self" })

            // Quota denials by lab and dataset, over the three days.
            let denials = try await all("/v1/compliance/quota-denials?from=\(first)&to=\(today)&by=pair")
            let expectedDenials = try await pool.query("""
                SELECT u.assignee_id::text, u.dataset_id::text, u.quota, count(*)::text, sum(u.tokens)::text
                FROM usage_event u WHERE NOT u.accepted AND u.quota IS NOT NULL AND ((u.recorded_at AT TIME ZONE 'UTC') + make_interval(secs => \(offset32)))::date BETWEEN \(first.description)::date AND \(today.description)::date
                GROUP BY 1, 2, 3
                """, decode: UsageRollupStoreTests.textRow(5)).sortedRows
            #expect(!expectedDenials.isEmpty, "the low daily caps denied something")
            #expect(denials.items.map { [text($0["lab"]), text($0["dataset"]), text($0["quota"]), text($0["events"]), text($0["tokens"])] }.sortedRows
                == expectedDenials)
            let byLab = try await all("/v1/compliance/quota-denials?from=\(first)&to=\(today)&by=lab&quota=assignee_daily")
            let expectedByLab = try await pool.query("""
                SELECT u.assignee_id::text, u.quota, count(*)::text, sum(u.tokens)::text
                FROM usage_event u WHERE NOT u.accepted AND u.quota = 'assignee_daily' AND ((u.recorded_at AT TIME ZONE 'UTC') + make_interval(secs => \(offset32)))::date BETWEEN \(first.description)::date AND \(today.description)::date
                GROUP BY 1, 2
                """, decode: UsageRollupStoreTests.textRow(4)).sortedRows
            #expect(byLab.items.map { [text($0["lab"]), text($0["quota"]), text($0["events"]), text($0["tokens"])] }.sortedRows == expectedByLab)

            // The annual report: every processor's total, purposes, regions and data types for the year.
            let year = today.components.year
            let report = try await all("/v1/compliance/annual-report?year=\(year)")
            func section(_ name: String) -> [[String]] {
                report.items.filter { $0["section"] as? String == name }
                    .filter { text($0["events"]) != "0" }
                    .map { [text($0["processor"]), text($0["key"]), text($0["events"]), text($0["tokens"]), text($0["charge"])] }.sortedRows
            }
            let year32 = Int32(year)
            #expect(section("total") == (try await pool.query("""
                SELECT u.assignee_id::text, 'total', count(*)::text, sum(u.tokens)::text, sum(u.amount)::text
                FROM usage_event u WHERE u.accepted AND extract(year FROM ((u.recorded_at AT TIME ZONE 'UTC') + make_interval(secs => \(offset32)))::date) = \(year32) GROUP BY 1
                """, decode: UsageRollupStoreTests.textRow(5)).sortedRows))
            #expect(section("purpose") == (try await pool.query("""
                SELECT u.assignee_id::text, g.purpose, count(*)::text, sum(u.tokens)::text, sum(u.amount)::text
                FROM usage_event u JOIN "grant" g ON g.id = u.grant_id WHERE u.accepted AND extract(year FROM ((u.recorded_at AT TIME ZONE 'UTC') + make_interval(secs => \(offset32)))::date) = \(year32) GROUP BY 1, 2
                """, decode: UsageRollupStoreTests.textRow(5)).sortedRows))
            #expect(section("region") == (try await pool.query("""
                SELECT u.assignee_id::text, g.use_region, count(*)::text, sum(u.tokens)::text, sum(u.amount)::text
                FROM usage_event u JOIN "grant" g ON g.id = u.grant_id WHERE u.accepted AND extract(year FROM ((u.recorded_at AT TIME ZONE 'UTC') + make_interval(secs => \(offset32)))::date) = \(year32) GROUP BY 1, 2
                """, decode: UsageRollupStoreTests.textRow(5)).sortedRows))
            #expect(section("domain") == (try await pool.query("""
                SELECT u.assignee_id::text, coalesce(t.tag, 'untagged'), count(*)::text, sum(u.tokens)::text, sum(u.amount)::text
                FROM usage_event u JOIN dataset ds ON ds.id = u.dataset_id
                LEFT JOIN LATERAL (SELECT DISTINCT unnest(ds.tags) AS tag) t ON true
                WHERE u.accepted AND extract(year FROM ((u.recorded_at AT TIME ZONE 'UTC') + make_interval(secs => \(offset32)))::date) = \(year32) GROUP BY 1, 2
                """, decode: UsageRollupStoreTests.textRow(5)).sortedRows))
            // Distinct datasets used and the individuals they cover, per processor.
            let totals = report.items.filter { $0["section"] as? String == "total" && text($0["events"]) != "0" }
                .map { [text($0["processor"]), text($0["datasets"]), text($0["individuals"])] }.sortedRows
            #expect(totals == (try await pool.query("""
                SELECT p.assignee_id::text, count(*)::text, sum(ds.individuals_covered)::text
                FROM (SELECT DISTINCT u.assignee_id, u.dataset_id FROM usage_event u WHERE u.accepted AND extract(year FROM ((u.recorded_at AT TIME ZONE 'UTC') + make_interval(secs => \(offset32)))::date) = \(year32)) p JOIN dataset ds ON ds.id = p.dataset_id
                GROUP BY 1
                """, decode: UsageRollupStoreTests.textRow(3)).sortedRows))

            // Bad input is a 400 naming the field; a missing dataset a 404; a lab is refused.
            #expect(try await api.get("/v1/compliance/dataset-use?dataset=\(target)&from=\(today)&to=\(first)").status == .badRequest)
            #expect(try await api.get("/v1/compliance/dataset-use?dataset=\(target)&from=2020-01-01&to=2022-01-01").text.contains("to"))
            #expect(try await api.get("/v1/compliance/dataset-use?dataset=999999&from=\(first)&to=\(today)").status == .notFound)
            #expect(try await api.get("/v1/compliance/quota-denials?from=\(first)&to=\(today)&by=region").text.contains("by"))
            #expect(try await api.get("/v1/compliance/annual-report?year=1999").status == .badRequest)
            let labKey = try await registry.issueKey(for: assignees[0], label: "lab", by: nil).token
            let lab = APIClient(client: client, token: labKey)
            for path in ["/v1/compliance/dataset-use?dataset=\(target)&from=\(first)&to=\(today)", "/v1/compliance/quota-denials?from=\(first)&to=\(today)",
                         "/v1/compliance/annual-report?year=\(year)"] {
                #expect(try await lab.get(path).status == .forbidden, "\(path)")
            }
        }
        await registry.close()
        await database.shutdown()
    }
}
