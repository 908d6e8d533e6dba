import Foundation
import HTTPTypes
import PostgresClient
import RegistryCore
@testable import RegistryServer
import RegistryStore
import Testing

/// Market statistics (issue 16, for R29) through the API on a real PostgreSQL: usage by three labs (one
/// abroad) of three holders' datasets over four days of the sandbox clock, then every dimension's answer
/// — regulators' and public, daily and over the period, every page — against a query written here over
/// the raw `usage_event` joined with `grant`, `dataset` and `party` (not the rollup, not the code under
/// test).
@Suite(.serialized) struct StatisticsScenarioTests {
    /// The cast, two more holders with sectors (the cast's enterprise has none), two more labs (one
    /// outside the mainland), a dataset per holder with tags, a grant per lab and dataset in Beijing or
    /// Shanghai, and one more grant in Tibet (CN-XZ) that only the first lab uses.
    struct Market {
        var labs: [PartyID] = []
        var grants: [(lab: PartyID, number: String)] = []
        var tibet = ""
    }

    static func setUp(_ cast: RegistryScenarioTests.Cast) async throws -> (RegistryScenarioTests.Cast, Market) {
        var cast = cast
        var market = Market()
        let admin = cast.api.as_(cast.operatorKey)
        let newcomers: [(String, [String: Any])] = [
            ("bank", ["name": "Bank Data Co.", "kind": "enterprise", "region": "CN-SH", "jurisdiction": "mainland",
                      "creditCode": CreditCode.make(organisation: 61), "sector": "J"]),
            ("software", ["name": "Soft Data Co.", "kind": "enterprise", "region": "CN-GD", "jurisdiction": "mainland",
                          "creditCode": CreditCode.make(organisation: 62), "sector": "I"]),
            ("lab2", ["name": "Second Lab", "kind": "model_lab", "region": "CN-ZJ", "jurisdiction": "mainland",
                      "creditCode": CreditCode.make(organisation: 63), "sector": "M"]),
            ("foreignLab", ["name": "Harbour Lab", "kind": "model_lab", "region": "SG", "jurisdiction": "outside"]),
        ]
        for (name, body) in newcomers {
            let created = try await admin.post("/v1/parties", body)
            #expect(created.status == .created, "\(name): \(created.text)")
            #expect(created.string("sector") == body["sector"] as? String, "the party view shows its sector")
            let id = try #require(created.int("id"))
            cast.ids[name] = id
            let key = try await admin.post("/v1/parties/\(id)/keys", ["label": name])
            let token: String = try #require(key.string("token"), "\(key.text)")
            cast.keys[name] = token
        }
        let tags = ["enterprise": ["transport"], "bank": ["finance", "retail"], "software": ["transport", "code"]]
        var datasets: [Int64] = []
        for holder in ["enterprise", "bank", "software"] {
            var body = Fixture.dataset("Data of \(holder)", government: false)
            body["tags"] = tags[holder]
            let created = try await cast.as(holder).post("/v1/datasets", body)
            let dataset = try #require(created.int("id"), "\(created.text)")
            let policy = AccessScenarioTests.policy(purposes: ["model_training", "model_evaluation"])
            #expect(try await cast.as(holder).call(.put, "/v1/datasets/\(dataset)/policy", policy).status == .ok)
            datasets.append(dataset)
        }
        for (index, lab) in ["lab", "lab2", "foreignLab"].enumerated() {
            market.labs.append(PartyID(rawValue: try #require(cast.ids[lab])))
            for dataset in datasets {
                let request = try await cast.as(lab).post("/v1/access-requests", [
                    "dataset": dataset, "purpose": "model_training", "tokens": 100_000_000, "validUntil": "2030-01-01T00:00:00Z",
                    "useRegion": index == 1 ? "CN-SH" : "CN-BJ",
                ])
                let grant = try #require(request["grant"] as? [String: Any], "\(request.text)")
                market.grants.append((market.labs[index], try #require(grant["number"] as? String)))
            }
        }
        let tibet = try await cast.as("lab").post("/v1/access-requests", [
            "dataset": datasets[0], "purpose": "model_evaluation", "tokens": 100_000_000, "validUntil": "2030-01-01T00:00:00Z", "useRegion": "CN-XZ",
        ])
        market.tibet = try #require((tibet["grant"] as? [String: Any])?["number"] as? String, "\(tibet.text)")
        try await Task.sleep(for: .milliseconds(5))
        return (cast, market)
    }

    /// Usage on each of four days: random events on every grant (some days skip some), and the Tibet grant.
    static func meter(_ cast: RegistryScenarioTests.Cast, _ market: Market, _ registry: RegistryService) async throws -> [CivilDate] {
        var random = SplitMix64(state: 16)
        var days: [CivilDate] = []
        for day in 0..<4 {
            if day > 0 {
                let moved = try await cast.api.as_(cast.operatorKey).post("/v1/sandbox/clock", ["days": 1])
                #expect(moved.status == .ok, "\(moved.text)")
            }
            let now = registry.now()
            days.append(registry.registry.read { $0.today(at: now) })
            for lab in market.labs {
                var events: [UsageEvent] = []
                for (index, grant) in market.grants.enumerated() where grant.lab == lab && (day + index) % 5 != 0 {
                    for event in 0..<(1 + random.below(4)) {
                        events.append(UsageEvent(grant: grant.number, tokens: Int64(1 + random.below(20_000)), usedAt: now, key: "d\(day)-g\(index)-\(event)"))
                    }
                }
                if lab == market.labs[0] { events.append(UsageEvent(grant: market.tibet, tokens: 777, usedAt: now, key: "tibet-\(day)")) }
                let replies = try await registry.recordUsage(UsageSubmission(party: lab, events: events))
                let refused = replies.filter { !$0.answer.accepted }
                #expect(refused.isEmpty, "\(refused)")
            }
        }
        return days
    }

    /// The cast with the market set up and metered over four days, for a test.
    struct Metered: Sendable {
        let cast: RegistryScenarioTests.Cast
        let days: [CivilDate]
        let registry: RegistryService
        var offset: Int32 { Int32(registry.registry.read { $0.settings.calendar.utcOffsetSeconds }) }
        var pool: PostgresPool { registry.database.pool }
    }

    static func withMeteredMarket(function: String = #function, _ test: @escaping @Sendable (Metered) async throws -> Void) async throws {
        try await RegistryScenarioTests.withCast({ cast, registry in
            let (cast, market) = try await Self.setUp(cast)
            let days = try await Self.meter(cast, market, registry)
            try await test(Metered(cast: cast, days: days, registry: registry))
        }, function: function)
    }

    /// The value of a use in each dimension, as SQL over the raw events and the records they name.
    static func valueSQL(_ dimension: StatisticsDimension) -> String {
        switch dimension {
        case .national: "'national'"
        case .region: "g.use_region"
        case .sector: "coalesce(h.sector, 'unclassified')"
        case .lab: "e.assignee_id::text"
        case .origin: "CASE a.jurisdiction WHEN 'mainland' THEN 'domestic' ELSE 'foreign' END"
        case .domain: "t.tag"
        }
    }

    /// value, day (or empty), events, tokens, distinct assignees, distinct holders — from usage_event.
    static func fromEvents(
        _ pool: PostgresPool, _ dimension: StatisticsDimension, offset: Int32, from: CivilDate, to: CivilDate, daily: Bool
    ) async throws -> [String: [String]] {
        let day = "((e.recorded_at AT TIME ZONE 'UTC') + make_interval(secs => $1))::date"
        let tags = dimension == .domain
            ? "CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(CASE WHEN cardinality(d.tags) = 0 THEN ARRAY['untagged'] ELSE d.tags END) x) t(tag)"
            : ""
        let sql = """
            SELECT \(valueSQL(dimension)), \(daily ? "\(day)::text" : "''"), count(*)::text, sum(e.tokens)::text,
                   count(DISTINCT e.assignee_id)::text, count(DISTINCT d.holder_id)::text
            FROM usage_event e
            JOIN "grant" g ON g.id = e.grant_id
            JOIN dataset d ON d.id = e.dataset_id
            JOIN party h ON h.id = d.holder_id
            JOIN party a ON a.id = e.assignee_id
            \(tags)
            WHERE e.accepted AND \(day) BETWEEN $2::date AND $3::date
            GROUP BY 1, 2
            """
        let rows = try await pool.query(
            PostgresQuery(unsafeSQL: sql, binds: PostgresBindings(offset, from.description, to.description)), decode: UsageRollupStoreTests.textRow(6))
        return Dictionary(uniqueKeysWithValues: rows.map { ("\($0[0])@\($0[1])", $0) })
    }

    /// Every page of an answer, followed by `nextCursor`.
    static func allPages(_ client: APIClient, _ path: String) async throws -> (items: [[String: Any]], totals: [String: Any]) {
        var items: [[String: Any]] = []
        var cursor: String?
        var totals: [String: Any] = [:]
        repeat {
            let answer = try await client.get(path + "&limit=7" + (cursor.map { "&cursor=\($0)" } ?? ""))
            #expect(answer.status == .ok, "\(path): \(answer.text)")
            items += answer["items"] as? [[String: Any]] ?? []
            totals = answer["totals"] as? [String: Any] ?? [:]
            #expect(answer.int("asOf") ?? 0 > 0)
            cursor = answer.string("nextCursor")
        } while cursor != nil
        return (items, totals)
    }

    static func number(_ value: Any?) -> Int64? { (value as? NSNumber)?.int64Value }

    /// Every dimension, daily and over the period, for regulators and the public, against SQL over the
    /// raw events: regulators get every cell with its figures; the public gets the same cells in the same
    /// order, those with fewer than three labs or three holders (labs: holders) present with null figures.
    @Test func R29_statisticsEqualAQueryOverTheRawUsageEvents() async throws {
        try await Self.withMeteredMarket { metered in
            let (cast, days, offset, pool) = (metered.cast, metered.days, metered.offset, metered.pool)
            let regulator = cast.as("regulator")
            let from = days[0], to = days[3]
            for dimension in StatisticsDimension.allCases {
                for daily in [true, false] {
                    let query = "?dimension=\(dimension.rawValue)&from=\(from)&to=\(to)&interval=\(daily ? "day" : "total")"
                    let expected = try await Self.fromEvents(pool, dimension, offset: offset, from: from, to: to, daily: daily)
                    #expect(expected.count >= (daily ? 4 : 1), "\(dimension): use on every day")
                    let full = try await Self.allPages(regulator, "/v1/statistics/usage" + query)
                    let open = try await Self.allPages(cast.api, "/v1/public/statistics/usage" + query)
                    #expect(full.items.count == expected.count, "\(dimension) daily \(daily): \(full.items.count) rows, SQL has \(expected.count)")
                    #expect(open.items.map { "\($0["value"]!)@\($0["day"]!)" } == full.items.map { "\($0["value"]!)@\($0["day"]!)" })
                    for (row, publicRow) in zip(full.items, open.items) {
                        let key = "\(row["value"] as? String ?? "")@\(row["day"] as? String ?? "")"
                        let want = try #require(expected[key], "\(dimension): \(key) is not in the events")
                        #expect(Self.number(row["events"]) == Int64(want[2]) && Self.number(row["tokens"]) == Int64(want[3]), "\(dimension) \(key)")
                        #expect(row["suppressed"] as? Bool == false)
                        let small = Int(want[5])! < 3 || (dimension != .lab && Int(want[4])! < 3)
                        #expect(publicRow["suppressed"] as? Bool == small, "\(dimension) \(key): \(want)")
                        #expect(small ? publicRow["tokens"] is NSNull : Self.number(publicRow["tokens"]) == Int64(want[3]), "\(dimension) \(key)")
                    }
                    let national = try await Self.fromEvents(pool, .national, offset: offset, from: from, to: to, daily: false).values.first
                    #expect(Self.number(full.totals["tokens"]) == national.flatMap { Int64($0[3]) })
                }
            }
            // The smallest case by name: one lab alone used Tibet. Hidden publicly, shown to the regulator.
            let query = "?dimension=region&from=\(from)&to=\(to)&interval=total"
            let shown = try await regulator.get("/v1/statistics/usage" + query)
            let tibet = try #require((shown["items"] as? [[String: Any]])?.first { $0["value"] as? String == "CN-XZ" })
            #expect(Self.number(tibet["tokens"]) == 4 * 777 && tibet["label"] as? String == "Tibet")
            let hidden = try await cast.api.get("/v1/public/statistics/usage" + query)
            let tibetPublic = try #require((hidden["items"] as? [[String: Any]])?.first { $0["value"] as? String == "CN-XZ" })
            #expect(tibetPublic["suppressed"] as? Bool == true && tibetPublic["tokens"] is NSNull && tibetPublic["events"] is NSNull)
            let beijing = try #require((hidden["items"] as? [[String: Any]])?.first { $0["value"] as? String == "CN-BJ" })
            #expect(beijing["suppressed"] as? Bool == true, "two labs (of three holders' data) in Beijing: small")
            #expect((hidden["totals"] as? [String: Any])?["suppressed"] as? Bool == false, "three labs and three holders in all")
        }
    }

    /// Rankings: by tokens, share of the national tokens in the period and change against the period of
    /// equal length before, each checked against the same SQL over the raw events; publicly, small rows
    /// come last without a rank or figures.
    @Test func R29_rankingsShareAndChangeEqualTheRawUsageEvents() async throws {
        try await Self.withMeteredMarket { metered in
            let (cast, days, offset, pool) = (metered.cast, metered.days, metered.offset, metered.pool)
            for dimension in [StatisticsDimension.region, .lab, .domain, .sector, .origin] {
                let path = "/v1/statistics/rankings?dimension=\(dimension.rawValue)&from=\(days[2])&to=\(days[3])"
                let answer = try await cast.as("regulator").get(path)
                #expect(answer.status == .ok, "\(answer.text)")
                let rows = try #require(answer["items"] as? [[String: Any]])
                let totals = try #require(answer["totals"] as? [String: Any])
                #expect(totals["previousFrom"] as? String == days[0].description && totals["previousTo"] as? String == days[1].description)
                let now = try await Self.fromEvents(pool, dimension, offset: offset, from: days[2], to: days[3], daily: false)
                let before = try await Self.fromEvents(pool, dimension, offset: offset, from: days[0], to: days[1], daily: false)
                let national = try #require(try await Self.fromEvents(pool, .national, offset: offset, from: days[2], to: days[3], daily: false).values.first)
                let total = Double(national[3])!
                #expect(rows.count == now.count)
                #expect(rows.map { Self.number($0["rank"]) } == (1...rows.count).map { Int64($0) })
                let tokens = rows.map { Self.number($0["tokens"]) ?? -1 }
                #expect(tokens == tokens.sorted(by: >), "ranked by tokens")
                for row in rows {
                    let value = try #require(row["value"] as? String)
                    let want = try #require(now["\(value)@"])
                    let previous = before["\(value)@"].map { Int64($0[3])! } ?? 0
                    #expect(Self.number(row["tokens"]) == Int64(want[3]))
                    #expect(Self.number(row["previousTokens"]) == previous)
                    let share = try #require(row["sharePercent"] as? Double)
                    #expect(abs(share - Double(want[3])! / total * 100) < 0.0001, "\(dimension) \(value)")
                    if previous == 0 {
                        #expect(row["changePercent"] is NSNull)
                    } else {
                        let change = try #require(row["changePercent"] as? Double)
                        #expect(abs(change - (Double(want[3])! - Double(previous)) / Double(previous) * 100) < 0.0001, "\(dimension) \(value)")
                    }
                }
                let open = try await cast.api.get(path.replacingOccurrences(of: "/v1/statistics", with: "/v1/public/statistics"))
                let publicRows = try #require(open["items"] as? [[String: Any]])
                let suppressed = publicRows.filter { $0["suppressed"] as? Bool == true }
                #expect(publicRows.suffix(suppressed.count).allSatisfy { $0["suppressed"] as? Bool == true && $0["rank"] is NSNull && $0["tokens"] is NSNull },
                    "small rows last, unranked")
                let ranked = publicRows.prefix(publicRows.count - suppressed.count)
                #expect(ranked.map { Self.number($0["rank"]) } == (0..<ranked.count).map { Int64($0 + 1) })
                for row in ranked {
                    let want = try #require(now["\(row["value"] as? String ?? "")@"])
                    #expect(Int(want[5])! >= 3 && (dimension == .lab || Int(want[4])! >= 3), "a ranked public row is not small")
                }
            }
        }
    }

    /// Who may read what, and bad parameters named: the cell-by-cell view is for regulators and
    /// operators; an unknown dimension, a period backwards or over 366 days are 400s naming the field.
    @Test func R29_statisticsAreForRegulatorsAndBadParametersAreNamed() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            #expect(try await cast.as("lab").get("/v1/statistics/usage?dimension=lab").status == .forbidden)
            #expect(try await cast.as("regulator").get("/v1/statistics/usage").status == .ok)
            #expect(try await cast.api.get("/v1/public/statistics/rankings").status == .ok)
            let empty = try await cast.api.get("/v1/public/statistics/usage?dimension=region")
            #expect((empty["items"] as? [Any])?.isEmpty == true)
            #expect((empty["totals"] as? [String: Any])?["suppressed"] as? Bool == true, "no use at all: the national cell is small")
            for (query, field) in [
                ("dimension=province", "dimension"), ("interval=week", "interval"), ("from=2026-12-10&to=2026-12-01", "to"),
                ("from=2025-01-01&to=2026-01-02", "to"), ("to=2026-13-01", "to"), ("limit=0", "limit"),
            ] {
                let answer = try await cast.api.get("/v1/public/statistics/usage?\(query)")
                #expect(answer.status == .badRequest, "\(query): \(answer.text)")
                #expect(answer.text.contains("\"\(field)\""), "\(query): \(answer.text)")
            }
        }
    }

    /// CSV (`format=csv`, and `Accept: text/csv`): read back by Python's csv module, the same rows as the
    /// JSON answer flattened as documented (CSVCheck) — a suppressed cell's figures empty where JSON has
    /// null — for regulators and the public, every page, usage daily and over the period, and rankings.
    @Test func R29_statisticsAsCSVAreTheirJSONRows() async throws {
        try await Self.withMeteredMarket { metered in
            let (cast, days) = (metered.cast, metered.days)
            for (client, base) in [(cast.as("regulator"), "/v1/statistics"), (cast.api, "/v1/public/statistics")] {
                for (operation, query) in [
                    ("usage", "dimension=region&interval=day"), ("usage", "dimension=lab&interval=total"), ("rankings", "dimension=domain"),
                    ("rankings", "dimension=region"),
                ] {
                    let items = try await CSVCheck.allItems(client, "\(base)/\(operation)?\(query)&from=\(days[0])&to=\(days[3])&limit=4")
                    #expect(!items.isEmpty, "\(base)/\(operation)?\(query)")
                }
            }
        }
    }

    /// Public statistics need no key, so no key's limit bounds them: the gate computes at most
    /// `Limits.maxPublicStatisticsInFlight` at once and refuses the next with 429 at once (not queued).
    @Test func publicStatisticsAreComputedAtMostTwoAtOnce() throws {
        let gate = PublicGate(limit: Limits.maxPublicStatisticsInFlight, answers: "public statistics answers")
        var innermost: (any Error)?
        let answer = try gate.run {
            try gate.run {
                do { _ = try gate.run { 3 } } catch { innermost = error }
                return 2
            }
        }
        #expect(answer == 2 && Limits.maxPublicStatisticsInFlight == 2)
        let problem = try #require(innermost as? Problem)
        #expect(problem.status == .tooManyRequests)
        #expect(try gate.run { 1 } == 1, "the gate is free again")
    }
}
