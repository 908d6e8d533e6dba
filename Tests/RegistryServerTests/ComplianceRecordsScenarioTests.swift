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

/// The state-based compliance queries (R29) over HTTP on a generated registry in PostgreSQL: each answer,
/// followed page by page, equals an independent SQL query written here over the registry's tables.
///
/// The generated registry is bulk loaded as data migrated from an earlier system arrives: its rows were
/// never checked by the API (its grants of derived data carry the risk assessments only their own grade
/// asked for, its use and operate rights over derived datasets were registered without R10), so it holds
/// the gaps that data predating a rule leaves. The situations a live registry drifts into — a grade raised
/// or a source recorded after a grant, a count raised, a right revoked, a grant ended, a reply overdue —
/// are then made through the API.
@Suite struct ComplianceRecordsScenarioTests {
    /// Monday 2026-11-23, 10:00 in UTC+8: the generated registry's moment and the registry's pinned clock.
    static let now = Timestamp(microsecondsSince1970: 1_795_399_200 * 1_000_000)
    static let digest = String(repeating: "a7", count: 32)

    struct Generated: Sendable {
        let synthetic: SyntheticRegistry
        let registry: RegistryService
        let api: APIClient
        let keys: [PartyID: String]

        func as_(_ party: Party) -> APIClient { api.as_(keys[party.id]) }
        func parties(_ kind: PartyKind) -> [Party] { synthetic.parties.filter { $0.kind == kind } }
        var regulator: APIClient { as_(parties(.regulator)[0]) }
        var registrar: APIClient { as_(parties(.registrar)[0]) }
        var admin: APIClient { as_(synthetic.parties[0]) }
        var pool: PostgresPool { registry.database.pool }

        /// The registry's calendar day now (the sandbox clock moves it), as `YYYY-MM-DD`.
        var today: String { registry.registry.read { $0.today(at: registry.now()) }.description }

        /// A new party through the API, with a key.
        func newParty(_ body: [String: Any]) async throws -> (id: Int64, api: APIClient) {
            let created = try await admin.post("/v1/parties", body)
            let id = try #require(created.int("id"), "\(created.text)")
            let token = try #require(try await admin.post("/v1/parties/\(id)/keys", ["label": "compliance"]).string("token"))
            return (id, api.as_(token))
        }

        func advance(days: Int) async throws {
            let moved = try await admin.post("/v1/sandbox/clock", ["days": days])
            #expect(moved.status == .ok, "\(moved.text)")
        }
    }

    /// Runs `test` against a generated registry of 3,000 datasets (with 400 grants), loaded in bulk and
    /// served with the clock pinned to its moment; every party of it has a key.
    static func withGenerated(seed: UInt64, function: String = #function, _ test: @escaping @Sendable (Generated) async throws -> Void) async throws {
        let configuration = try await TestCluster.makeDatabase(function: function)
        let logger = Logger(label: "test.compliance")
        let database = try RegistryDatabase(configuration: configuration, limits: Limits(), logger: logger)
        try await database.migrate()
        let synthetic = SyntheticRegistry.generate(datasets: 3_000, seed: seed, now: now, grants: 400)
        _ = try await BulkLoader.load(synthetic, into: database, at: now)
        let registry = try await RegistryService.open(database: database, sandbox: true, logger: logger, wallClock: { now })
        var keys: [PartyID: String] = [:]
        for party in synthetic.parties {
            keys[party.id] = try await registry.issueKey(for: party.id, label: "compliance", by: nil).token
        }
        let app = buildApplication(
            configuration: ServerConfiguration(port: 0, sandbox: true), database: database, registry: registry, metrics: TestApp.metrics,
            logger: logger)
        let issued = keys
        do {
            try await app.test(.router) { client in
                try await ContractCheck.deferringChecks {
                    try await test(Generated(synthetic: synthetic, registry: registry, api: APIClient(client: client, token: nil), keys: issued))
                }
            }
        } catch {
            await registry.close()
            await database.shutdown()
            throw error
        }
        await registry.close()
        await database.shutdown()
    }

    /// Every page of a compliance answer, `limit` rows at a time: the rows, the totals of the first page
    /// (every page's must be the same), and how many pages.
    static func everyPage(
        _ api: APIClient, _ path: String, limit: Int = 7, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> (items: [[String: Any]], totals: [String: Any]?, pages: Int) {
        var items: [[String: Any]] = []
        var totals: [String: Any]?
        var cursor: String?
        var pages = 0
        repeat {
            let separator = path.contains("?") ? "&" : "?"
            let page = try await api.get(path + separator + "limit=\(limit)" + (cursor.map { "&cursor=\($0)" } ?? ""), sourceLocation: sourceLocation)
            #expect(page.status == .ok, "\(path): \(page.text)", sourceLocation: sourceLocation)
            guard page.status == .ok else { break }
            #expect(page.int("asOf") ?? 0 > 0, sourceLocation: sourceLocation)
            #expect(page.items.count <= limit, sourceLocation: sourceLocation)
            items += page.items
            let pageTotals = page["totals"] as? [String: Any]
            if pages == 0 {
                totals = pageTotals
            } else {
                #expect(pageTotals.map { NSDictionary(dictionary: $0) } == totals.map { NSDictionary(dictionary: $0) }, sourceLocation: sourceLocation)
            }
            cursor = page.string("nextCursor")
            pages += 1
        } while cursor != nil && pages < 10_000
        return (items, totals, pages)
    }

    static func text(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: ""
        // JSON's true and false arrive as NSNumbers of type `c` (char).
        case let number as NSNumber: String(cString: number.objCType) == "c" ? (number.boolValue ? "true" : "false") : number.stringValue
        case let list as [Any]: list.map { text($0) }.joined(separator: ",")
        case let other?: "\(other)"
        }
    }

    static func rows(_ items: [[String: Any]], _ columns: [String]) -> [[String]] {
        items.map { item in columns.map { text(item[$0]) } }
    }

    static func textRow(_ columns: Int) -> @Sendable (PostgresRow) throws -> [String] {
        { row in try (0..<columns).map { try row.decode(String?.self, column: $0) ?? "" } }
    }

    static func status(of answer: APIClient.Answer) -> Int { Int(answer.status.code) }

    // MARK: R14–R16: grants lacking their records

    /// Every live grant of the generated registry and of the API is judged by its dataset's grade and PI level
    /// in effect now; the SQL works them out from the lineage with a recursive query, the individuals by
    /// iterating to a fixed point, R16's counts with a window over the earlier grants — and applies R14–R16
    /// as the rules state them.
    @Test func R14_R15_R16_R29_missingRecordsEqualSQLOverTheRegistrysTables() async throws {
        try await Self.withGenerated(seed: 16) { generated in
            let enterprise = generated.parties(.enterprise)[0]
            let owner = generated.as_(enterprise)
            let lab = generated.as_(generated.parties(.modelLab)[0])
            let overseas = try await generated.newParty(["name": "Overseas Lab", "kind": "model_lab", "region": "SG", "jurisdiction": "outside"])
            func dataset(_ title: String, pi: String = "none", individuals: Int64 = 0) async throws -> Int64 {
                var body = Fixture.dataset(title, government: false)
                body["piLevel"] = pi
                body["individualsCovered"] = individuals
                let created = try await owner.post("/v1/datasets", body)
                let id = try #require(created.int("id"), "\(created.text)")
                let policy = try await owner.call(.put, "/v1/datasets/\(id)/policy", AccessScenarioTests.policy(purposes: ["model_training"]))
                #expect(policy.status == .ok, "\(policy.text)")
                return id
            }
            func grant(_ dataset: Int64, by client: APIClient, records: [String: String] = [:]) async throws -> String {
                let answer = try await client.post("/v1/access-requests", [
                    "dataset": dataset, "purpose": "model_training", "tokens": 1_000_000, "validUntil": "2030-01-01T00:00:00Z", "records": records,
                ])
                return try #require((answer["grant"] as? [String: Any])?["number"] as? String, "\(answer.text)")
            }
            let general = try await dataset("Parcel volumes")
            let derived = try await dataset("Delivery routes")
            let sensitive = try await dataset("Patient transfers", pi: "sensitive", individuals: 500)
            let first = try await dataset("Travellers A", pi: "personal", individuals: 60_000)
            let second = try await dataset("Travellers B", pi: "personal", individuals: 60_000)
            let made = [
                try await grant(general, by: lab), try await grant(derived, by: lab), try await grant(first, by: overseas.api),
                try await grant(second, by: overseas.api, records: ["standardContract": Self.digest]),
            ]
            let before = try await Self.everyPage(generated.regulator, "/v1/compliance/missing-records")
            #expect(!before.items.contains { made.contains(Self.text($0["grant"])) }, "grants made through the API lack nothing")

            // After the grants: a grade raised, a sensitive source recorded, a count raised.
            #expect(try await owner.call(.patch, "/v1/datasets/\(general)", ["grade": "important"]).status == .ok)
            let edge = try await owner.post("/v1/datasets/\(derived)/lineage", ["sources": [["dataset": sensitive, "kind": "joined"]]])
            #expect(edge.status == .created, "\(edge.text)")
            #expect(try await owner.call(.patch, "/v1/datasets/\(first)", ["individualsCovered": 2_000_000]).status == .ok)

            let columns = ["grant", "record", "rules", "grade", "piLevel", "individualsCovered", "holder", "assignee", "grantState"]
            let answer = try await Self.everyPage(generated.regulator, "/v1/compliance/missing-records")
            let api = Self.rows(answer.items, columns).map { row in [row[0], row[1], row[2].split(separator: ",").first.map(String.init) ?? ""] + row[3...] }
            let sql = try await Self.missingRecordsSQL(generated)
            #expect(api == sql)
            #expect(api.count > 20, "the generated registry's inherited grades leave grants lacking their records: \(api.count)")
            let mine = api.filter { made.contains($0[0]) }.map { "\($0[0]) \($0[1]) \($0[2])" }
            // The lab uses the data in its own region: outside the dataset's (CN-BJ), important data needs a security assessment too (R14).
            let elsewhere = generated.parties(.modelLab)[0].region != "CN-BJ"
            #expect(mine == ["\(made[0]) riskAssessment R14"] + (elsewhere ? ["\(made[0]) securityAssessment R14"] : []) + [
                "\(made[1]) consentEvidence R15", "\(made[1]) impactAssessment R15", "\(made[2]) securityAssessment R16",
            ])
            let totals = try #require(answer.totals)
            #expect(Self.text(totals["rows"]) == String(sql.count))
            #expect(Self.text(totals["grants"]) == String(Set(sql.map { $0[0] }).count))
            #expect(Self.text(totals["riskAssessment"]) == String(sql.filter { $0[1] == "riskAssessment" }.count))
            #expect(answer.pages == (sql.count + 6) / 7 || answer.pages == (sql.count + 6) / 7 + 1)
            // Issue 16: the same rows as CSV, read by Python's csv module, page by page.
            #expect(try await CSVCheck.allItems(generated.regulator, "/v1/compliance/missing-records?limit=200").count == sql.count)

            // Filters: each equals the SQL rows it keeps.
            let filtered: [(String, ([String]) -> Bool)] = [
                ("record=consentEvidence", { $0[1] == "consentEvidence" }), ("assignee=\(overseas.id)", { $0[7] == String(overseas.id) }),
                ("holder=\(enterprise.id.rawValue)", { $0[6] == String(enterprise.id.rawValue) }), ("state=suspended", { $0[8] == "suspended" }),
            ]
            for (query, keeps) in filtered {
                let page = try await Self.everyPage(generated.regulator, "/v1/compliance/missing-records?\(query)", limit: 50)
                let rows = Self.rows(page.items, columns).map { row in [row[0], row[1], row[2].split(separator: ",").first.map(String.init) ?? ""] + row[3...] }
                #expect(rows == sql.filter(keeps), "\(query)")
            }
            #expect(sql.contains { $0[8] == "suspended" }, "the generated registry has suspended grants to filter")
            // A value the query does not know is a 400 naming the parameter.
            for (query, field) in [("record=approval", "record"), ("state=revoked", "state"), ("holder=x", "holder"), ("colour=red", "colour"), ("format=xml", "format")] {
                let refused = try await generated.regulator.get("/v1/compliance/missing-records?\(query)")
                #expect(refused.status == .badRequest && refused.text.contains(field), "\(query): \(refused.text)")
            }
        }
    }

    /// R14–R16 in SQL: effective grade and PI level from every ancestor (PI not through an approved
    /// anonymisation), individuals as the larger of a dataset's own count and the sum over its sources
    /// (iterated to a fixed point, capped at 2^32 − 1 as the core stores it), R16's count from the earlier
    /// cross-border grants of the processor that calendar year; the records each rule needs, less those the
    /// request carried. Rows: grant, record, first rule, grade, PI level, individuals, holder, assignee, state.
    static func missingRecordsSQL(_ generated: Generated) async throws -> [[String]] {
        let offset = Int64(generated.registry.registry.read { $0.settings.calendar.utcOffsetSeconds })
        return try await generated.pool.withConnection { connection in
            try Self.prepareLineageTables(connection)
            return try connection.query("""
                WITH live AS (
                    SELECT g.*, extract(year FROM (g.created_at AT TIME ZONE 'UTC') + make_interval(secs => \(offset))) AS year
                    FROM "grant" g WHERE g.state IN ('agreed', 'active', 'suspended')
                ), earlier AS (
                    SELECT g.id, coalesce(sum(e.individuals_covered), 0) AS individuals,
                           coalesce(sum(e.individuals_covered) FILTER (WHERE e.sensitive), 0) AS sensitive
                    FROM live g LEFT JOIN "grant" e ON e.assignee_id = g.assignee_id AND e.cross_border AND e.individuals_covered > 0
                        AND e.id < g.id
                        AND extract(year FROM (e.created_at AT TIME ZONE 'UTC') + make_interval(secs => \(offset))) = g.year
                    GROUP BY g.id
                ), judged AS (
                    SELECT g.id, g.number, g.state, g.assignee_id, g.cross_border, g.use_region <> d.region AS elsewhere, d.holder_id,
                           e.grade, e.pi, r.records,
                           CASE WHEN e.pi > 0 THEN greatest(d.individuals_covered, reach.n) ELSE 0 END AS individuals
                    FROM live g JOIN dataset d ON d.id = g.dataset_id JOIN effective e ON e.dataset_id = g.dataset_id
                    JOIN reach ON reach.id = g.dataset_id JOIN access_request r ON r.id = g.request_id
                ), counted AS (
                    SELECT j.*, w.individuals + j.individuals AS abroad,
                           w.sensitive + CASE WHEN j.pi = 2 THEN j.individuals ELSE 0 END AS abroad_sensitive
                    FROM judged j JOIN earlier w ON w.id = j.id
                ), needs AS (
                    SELECT id, 0 AS place, 'riskAssessment' AS record, 'R14' AS rule FROM counted WHERE grade = 1
                    UNION ALL
                    SELECT id, 1, 'securityAssessment', CASE WHEN grade = 1 AND elsewhere THEN 'R14' ELSE 'R16' END FROM counted
                    WHERE (grade = 1 AND (elsewhere OR cross_border))
                       OR (cross_border AND pi > 0 AND (abroad >= 1000000 OR abroad_sensitive >= 10000))
                    UNION ALL
                    SELECT id, 2, 'consentEvidence', 'R15' FROM counted WHERE pi = 2
                    UNION ALL
                    SELECT id, 3, 'impactAssessment', 'R15' FROM counted WHERE pi = 2
                    UNION ALL
                    SELECT id, 4, 'standardContract', 'R16' FROM counted
                    WHERE cross_border AND pi > 0 AND abroad < 1000000 AND abroad_sensitive < 10000 AND abroad >= 100000
                )
                SELECT c.number, n.record, n.rule, (ARRAY['general', 'important', 'core'])[c.grade + 1],
                       (ARRAY['none', 'personal', 'sensitive'])[c.pi + 1], c.individuals::text, c.holder_id::text, c.assignee_id::text, c.state
                FROM needs n JOIN counted c ON c.id = n.id
                WHERE c.records ->> n.record IS NULL
                ORDER BY c.id, n.place
                """).map(Self.textRow(9))
        }
    }

    // MARK: R16: cross-border grants and processors

    /// Overseas labs take personal information through the API: one past the standard contract's threshold
    /// with the contract, one near it; a mainland lab uses general data abroad. Grants by processor and year,
    /// and processors against the thresholds, equal SQL sums over the grants and their requests' records.
    /// Three overseas labs and five cross-border grants made through the API (the generated registry has
    /// none): A over the standard contract's threshold (one grant with the contract), B near it, C near the
    /// sensitive assessment's; the fifth, of data without personal information, to a mainland lab using it in
    /// the US.
    struct CrossBorderCase {
        var contracted: (id: Int64, api: APIClient)
        var nearing: (id: Int64, api: APIClient)
        var sensitiveLab: (id: Int64, api: APIClient)
        /// The grants' numbers, in the order made.
        var made: [String]
    }

    static func makeCrossBorderGrants(_ generated: Generated) async throws -> CrossBorderCase {
        let owner = generated.as_(generated.parties(.enterprise)[0])
        let contracted = try await generated.newParty(["name": "Overseas Lab A", "kind": "model_lab", "region": "SG", "jurisdiction": "outside"])
        let nearing = try await generated.newParty(["name": "Overseas Lab B", "kind": "model_lab", "region": "US", "jurisdiction": "outside"])
        let sensitiveLab = try await generated.newParty(["name": "Overseas Lab C", "kind": "model_lab", "region": "JP", "jurisdiction": "outside"])
        func dataset(_ title: String, pi: String, individuals: Int64) async throws -> Int64 {
            var body = Fixture.dataset(title, government: false)
            body["piLevel"] = pi
            body["individualsCovered"] = individuals
            let id = try #require(try await owner.post("/v1/datasets", body).int("id"))
            #expect(try await owner.call(.put, "/v1/datasets/\(id)/policy", AccessScenarioTests.policy(purposes: ["model_training"])).status == .ok)
            return id
        }
        func request(_ dataset: Int64, by client: APIClient, records: [String: String] = [:], region: String? = nil) async throws -> String {
            var body: [String: Any] = [
                "dataset": dataset, "purpose": "model_training", "tokens": 1_000_000, "validUntil": "2030-01-01T00:00:00Z", "records": records,
            ]
            if let region { body["useRegion"] = region }
            let answer = try await client.post("/v1/access-requests", body)
            return try #require((answer["grant"] as? [String: Any])?["number"] as? String, "\(answer.text)")
        }
        let made = [
            try await request(try await dataset("A1", pi: "personal", individuals: 60_000), by: contracted.api),
            try await request(
                try await dataset("A2", pi: "personal", individuals: 60_000), by: contracted.api, records: ["standardContract": Self.digest]),
            try await request(try await dataset("B1", pi: "personal", individuals: 85_000), by: nearing.api),
            try await request(
                try await dataset("C1", pi: "sensitive", individuals: 9_000), by: sensitiveLab.api,
                records: ["consentEvidence": Self.digest, "impactAssessment": Self.digest]),
            try await request(try await dataset("D1", pi: "none", individuals: 0), by: generated.as_(generated.parties(.modelLab)[0]), region: "US"),
        ]
        return CrossBorderCase(contracted: contracted, nearing: nearing, sensitiveLab: sensitiveLab, made: made)
    }

    @Test func R16_R29_crossBorderGrantsAndProcessorsEqualSQLOverTheGrants() async throws {
        try await Self.withGenerated(seed: 17) { generated in
            let crossing = try await Self.makeCrossBorderGrants(generated)
            let (contracted, nearing, sensitiveLab, made) = (crossing.contracted, crossing.nearing, crossing.sensitiveLab, crossing.made)

            // Grants: all, by processor, by year.
            let grantColumns = ["grant", "processor", "year", "individualsCovered", "sensitive", "recordsHeld", "grantState", "piLevel"]
            for (query, processor, year) in [("", nil, nil), ("?processor=\(contracted.id)", contracted.id, nil), ("?year=2026", nil, 2026), ("?year=2025", nil, 2025)]
                as [(String, Int64?, Int64?)]
            {
                let answer = try await Self.everyPage(generated.regulator, "/v1/compliance/cross-border/grants\(query)", limit: 2)
                let sql = try await Self.crossBorderGrantsSQL(generated, processor: processor, year: year)
                #expect(Self.rows(answer.items, grantColumns) == sql, "\(query)")
                #expect(Self.text(answer.totals?["grants"]) == String(sql.count))
                #expect(Self.text(answer.totals?["individuals"]) == String(sql.reduce(0) { $0 + (Int64($1[3]) ?? 0) }))
            }
            let all = try await Self.crossBorderGrantsSQL(generated, processor: nil, year: nil)
            #expect(all.map { $0[0] } == made, "the generated registry has no cross-border grants; the API's are all")
            #expect(try await CSVCheck.allItems(generated.regulator, "/v1/compliance/cross-border/grants?limit=2").count == all.count)

            // Processors: every one with personal information abroad this year, and by status.
            let processorColumns = [
                "processor", "year", "individuals", "sensitiveIndividuals", "grants", "securityAssessment", "sensitiveSecurityAssessment",
                "standardContract", "status", "securityAssessmentHeld", "standardContractHeld",
            ]
            let sql = try await Self.crossBorderProcessorsSQL(generated, year: 2026)
            for status in [nil, "over", "near", "under"] as [String?] {
                let answer = try await Self.everyPage(
                    generated.regulator, "/v1/compliance/cross-border/processors?year=2026" + (status.map { "&status=\($0)" } ?? ""), limit: 1)
                let expected = sql.filter { status == nil || $0[8] == status }
                #expect(Self.rows(answer.items, processorColumns) == expected, "\(status ?? "all")")
                #expect(Self.text(answer.totals?["processors"]) == String(expected.count))
                #expect(Self.text(answer.totals?["nearFromPercent"]) == "80")
            }
            #expect(sql.map { "\($0[0]) \($0[8])" } == ["\(contracted.id) over", "\(nearing.id) near", "\(sensitiveLab.id) near"])
            #expect(try await CSVCheck.allItems(generated.regulator, "/v1/compliance/cross-border/processors?year=2026&limit=1").count == sql.count)
            #expect(try await Self.everyPage(generated.regulator, "/v1/compliance/cross-border/processors").items.count == sql.count,
                "the year defaults to the registry's current one")
            #expect(try await Self.everyPage(generated.regulator, "/v1/compliance/cross-border/processors?year=2027").items.isEmpty)
            let bad = try await generated.regulator.get("/v1/compliance/cross-border/processors?status=alarming")
            #expect(bad.status == .badRequest && bad.text.contains("status"))
            #expect(try await generated.regulator.get("/v1/compliance/cross-border/grants?year=99999").status == .badRequest)
        }
    }

    /// R29's annual report, the sections the use rollup does not give: storage (the retention each grant in
    /// force in the year obliges its processor to) and outbound transfers (per dataset sent abroad: the
    /// cross-border grants, the individuals they cover, and the processor's use of that dataset in the year),
    /// each equal to SQL over "grant" and usage_event (not usage_rollup, not the code under test).
    @Test func R29_annualReportStorageAndOutboundEqualSQLOverTheGrantsAndTheRawEvents() async throws {
        try await Self.withGenerated(seed: 23) { generated in
            let crossing = try await Self.makeCrossBorderGrants(generated)
            // Use under three of the cross-border grants: two by lab A, one by lab B, at the pinned clock.
            let at = "2026-11-23T02:00:00Z"
            for (client, grant, tokens) in [(crossing.contracted.api, crossing.made[0], 5_000), (crossing.contracted.api, crossing.made[1], 2_000),
                                             (crossing.nearing.api, crossing.made[2], 3_000)] as [(APIClient, String, Int64)] {
                let used = try await client.post("/v1/usage", ["events": [UsageScenarioTests.event(grant, tokens: tokens, key: "annual-\(grant)", at: at)]])
                #expect(used.int("accepted") == 1, "\(used.text)")
            }
            let report = try await Self.everyPage(generated.regulator, "/v1/compliance/annual-report?year=2026", limit: 50).items
            func section(_ name: String, _ columns: [String]) -> [[String]] {
                Self.rows(report.filter { $0["section"] as? String == name }, columns).sorted { $0.lexicographicallyPrecedes($1) }
            }
            let offset = Int64(generated.registry.registry.read { $0.settings.calendar.utcOffsetSeconds })
            func day(_ column: String) -> String { "((\(column) AT TIME ZONE 'UTC') + make_interval(secs => \(offset)))::date" }
            let inYear = "\(day("g.valid_from")) <= '2026-12-31' AND \(day("g.valid_until")) >= '2026-01-01' AND \(day("g.created_at")) <= '2026-12-31'"
            // Assembled as text: the period's SQL is the test's own, not a value.
            let storage = try await generated.pool.query(PostgresQuery(unsafeSQL: """
                SELECT g.assignee_id::text, coalesce(g.retention_days::text || ' days', 'not limited'), count(*)::text, count(DISTINCT g.dataset_id)::text
                FROM "grant" g WHERE \(inYear) GROUP BY 1, 2
                """), decode: Self.textRow(4)).sorted { $0.lexicographicallyPrecedes($1) }
            #expect(storage.count > 5, "storage lines: \(storage.count)")
            #expect(section("storage", ["processor", "key", "grants", "datasets"]) == storage)
            let outbound = try await generated.pool.query(PostgresQuery(unsafeSQL: """
                SELECT g.assignee_id::text, g.dataset_id::text, count(*)::text, '1', sum(g.individuals_covered)::text,
                       coalesce((SELECT count(*) FROM usage_event u WHERE u.accepted AND u.assignee_id = g.assignee_id AND u.dataset_id = g.dataset_id
                                   AND extract(year FROM \(day("u.recorded_at"))) = 2026), 0)::text,
                       coalesce((SELECT sum(u.tokens) FROM usage_event u WHERE u.accepted AND u.assignee_id = g.assignee_id AND u.dataset_id = g.dataset_id
                                   AND extract(year FROM \(day("u.recorded_at"))) = 2026), 0)::text
                FROM "grant" g WHERE g.cross_border AND \(inYear) GROUP BY g.assignee_id, g.dataset_id
                """), decode: Self.textRow(7)).sorted { $0.lexicographicallyPrecedes($1) }
            #expect(outbound.count == crossing.made.count, "\(outbound)")
            #expect(outbound.filter { $0[6] != "0" }.count == 3, "three outbound lines carry use: \(outbound)")
            #expect(section("outbound", ["processor", "key", "grants", "datasets", "individuals", "events", "tokens"]) == outbound)
            // The processor filter keeps one processor's lines, these sections included.
            let one = try await Self.everyPage(generated.regulator, "/v1/compliance/annual-report?year=2026&processor=\(crossing.contracted.id)", limit: 50)
            #expect(Set(one.items.map { Self.text($0["processor"]) }) == ["\(crossing.contracted.id)"])
            #expect(Self.rows(one.items.filter { $0["section"] as? String == "outbound" }, ["key", "tokens"]).sorted { $0.lexicographicallyPrecedes($1) }
                == outbound.filter { $0[0] == "\(crossing.contracted.id)" }.map { [$0[1], $0[6]] })
        }
    }

    static func crossBorderGrantsSQL(_ generated: Generated, processor: Int64?, year: Int64?) async throws -> [[String]] {
        let offset = Int64(generated.registry.registry.read { $0.settings.calendar.utcOffsetSeconds })
        return try await generated.pool.withConnection { connection in
            try Self.prepareLineageTables(connection)
            return try connection.query("""
                WITH crossing AS (
                    SELECT g.*, extract(year FROM (g.created_at AT TIME ZONE 'UTC') + make_interval(secs => \(offset)))::int8 AS year
                    FROM "grant" g WHERE g.cross_border
                )
                SELECT g.number, g.assignee_id::text, g.year::text, g.individuals_covered::text, g.sensitive::text,
                       concat_ws(',', CASE WHEN r.records ->> 'riskAssessment' IS NOT NULL THEN 'riskAssessment' END,
                                      CASE WHEN r.records ->> 'securityAssessment' IS NOT NULL THEN 'securityAssessment' END,
                                      CASE WHEN r.records ->> 'consentEvidence' IS NOT NULL THEN 'consentEvidence' END,
                                      CASE WHEN r.records ->> 'impactAssessment' IS NOT NULL THEN 'impactAssessment' END,
                                      CASE WHEN r.records ->> 'standardContract' IS NOT NULL THEN 'standardContract' END),
                       g.state, (ARRAY['none', 'personal', 'sensitive'])[e.pi + 1]
                FROM crossing g JOIN access_request r ON r.id = g.request_id JOIN effective e ON e.dataset_id = g.dataset_id
                WHERE (\(processor)::int8 IS NULL OR g.assignee_id = \(processor)) AND (\(year)::int8 IS NULL OR g.year = \(year))
                ORDER BY g.id
                """).map(Self.textRow(8))
        }
    }

    /// R12 in SQL, for every dataset with a grant, as temporary tables of the connection: `effective` — the
    /// highest grade of the dataset and every ancestor, and the highest PI level of those reached without
    /// crossing an approved anonymisation (ranks 0–2) — and `reach`, every dataset's individuals: the larger
    /// of its own count and the sum over its sources across edges that are not approved anonymisations,
    /// iterated to a fixed point and capped at 2^32 − 1 as the core stores it.
    static func prepareLineageTables(_ connection: PostgresConnection) throws {
        try connection.executeScript("""
            DROP TABLE IF EXISTS pg_temp.reach, pg_temp.effective;
            CREATE TEMP TABLE effective AS
                WITH RECURSIVE ancestry(target, ancestor, carries_pi) AS (
                    SELECT DISTINCT dataset_id, dataset_id, true FROM "grant"
                    UNION
                    SELECT a.target, d.source_id, a.carries_pi AND d.kind <> 'approved_anonymisation'
                    FROM ancestry a JOIN derivation d ON d.target_id = a.ancestor
                )
                SELECT a.target AS dataset_id,
                       max(CASE s.grade WHEN 'general' THEN 0 WHEN 'important' THEN 1 ELSE 2 END) AS grade,
                       coalesce(max(CASE s.pi_level WHEN 'none' THEN 0 WHEN 'personal' THEN 1 ELSE 2 END) FILTER (WHERE a.carries_pi), 0) AS pi
                FROM ancestry a JOIN dataset s ON s.id = a.ancestor GROUP BY a.target;
            CREATE TEMP TABLE reach AS SELECT id, least(individuals_covered, 4294967295) AS n FROM dataset;
            DO $$ BEGIN
                LOOP
                    UPDATE reach r SET n = s.n FROM (
                        SELECT d.target_id AS id, greatest(least(own.individuals_covered, 4294967295), least(sum(p.n), 4294967295)) AS n
                        FROM derivation d JOIN reach p ON p.id = d.source_id JOIN dataset own ON own.id = d.target_id
                        WHERE d.kind <> 'approved_anonymisation'
                        GROUP BY d.target_id, own.individuals_covered) s
                    WHERE r.id = s.id AND r.n <> s.n;
                    EXIT WHEN NOT FOUND;
                END LOOP;
            END $$;
            """)
    }

    /// R16's thresholds as the rule states them: a security assessment from 1,000,000 individuals (10,000
    /// with sensitive information), the standard contract from 100,000; near from 80 % of each.
    static func crossBorderProcessorsSQL(_ generated: Generated, year: Int64) async throws -> [[String]] {
        let offset = Int64(generated.registry.registry.read { $0.settings.calendar.utcOffsetSeconds })
        return try await generated.pool.query("""
            WITH counted AS (
                SELECT g.assignee_id, sum(g.individuals_covered) AS individuals,
                       coalesce(sum(g.individuals_covered) FILTER (WHERE g.sensitive), 0) AS sensitive, count(*) AS grants,
                       bool_or(r.records ->> 'securityAssessment' IS NOT NULL) AS assessed, bool_or(r.records ->> 'standardContract' IS NOT NULL) AS contracted
                FROM "grant" g JOIN access_request r ON r.id = g.request_id
                WHERE g.cross_border AND g.individuals_covered > 0
                  AND extract(year FROM (g.created_at AT TIME ZONE 'UTC') + make_interval(secs => \(offset))) = \(year)
                GROUP BY g.assignee_id
            ), rated AS (
                SELECT *,
                    CASE WHEN individuals >= 1000000 THEN 2 WHEN individuals >= 800000 THEN 1 ELSE 0 END AS assessment,
                    CASE WHEN sensitive >= 10000 THEN 2 WHEN sensitive >= 8000 THEN 1 ELSE 0 END AS sensitive_assessment,
                    CASE WHEN individuals >= 100000 THEN 2 WHEN individuals >= 80000 THEN 1 ELSE 0 END AS contract
                FROM counted
            )
            SELECT assignee_id::text, \(year)::text, individuals::text, sensitive::text, grants::text,
                   (ARRAY['under', 'near', 'over'])[assessment + 1], (ARRAY['under', 'near', 'over'])[sensitive_assessment + 1],
                   (ARRAY['under', 'near', 'over'])[contract + 1],
                   (ARRAY['under', 'near', 'over'])[greatest(assessment, sensitive_assessment, contract) + 1], assessed::text, contracted::text
            FROM rated ORDER BY assignee_id
            """, decode: Self.textRow(11))
    }

    // MARK: R10: lineage gaps

    /// The generated registry's use and operate rights over derived datasets were registered without R10;
    /// through the API a derived dataset's use right is registered properly, then one source's use right is
    /// revoked and a source is recorded after the registration. Every (dataset, holder, source) lacking a
    /// valid use certificate or a derivation grant in force equals the SQL's.
    @Test func R10_R29_lineageGapsEqualSQLOverRightsGrantsAndEdges() async throws {
        try await Self.withGenerated(seed: 10) { generated in
            let enterprise = generated.parties(.enterprise)[1]
            let owner = generated.as_(enterprise)
            let registrar = generated.registrar
            func dataset(_ title: String) async throws -> Int64 {
                try #require(try await owner.post("/v1/datasets", Fixture.dataset(title, government: false)).int("id"))
            }
            func register(_ dataset: Int64) async throws -> String {
                let claim = try await owner.post("/v1/registrations", Fixture.claim(dataset, right: "use"))
                let number = try #require(claim.string("number"), "\(claim.text)")
                #expect(claim.string("status") == "submitted", "\(claim.text)")
                #expect(try await registrar.post("/v1/registrations/\(number)/review").status == .ok)
                #expect(try await registrar.post("/v1/registrations/\(number)/decision", ["decision": "accept"]).status == .ok)
                return number
            }
            let a = try await dataset("Source A")
            let b = try await dataset("Source B")
            let c = try await dataset("Source C")
            let x = try await dataset("Derived X")
            #expect(try await owner.post("/v1/datasets/\(x)/lineage", ["sources": [["dataset": a, "kind": "joined"], ["dataset": b, "kind": "joined"]]]).status == .created)
            _ = try await register(a)
            let useB = try await register(b)
            try await generated.advance(days: 20)
            _ = try await register(x)
            try await generated.advance(days: 20)
            let certificateB = try #require(try await owner.get("/v1/registrations/\(useB)").string("issuedCertificate"))
            let before = try await Self.everyPage(generated.regulator, "/v1/compliance/lineage-gaps?holder=\(enterprise.id.rawValue)", limit: 50)
            #expect(!before.items.contains { Self.text($0["dataset"]) == String(x) }, "X's use right rests on rights over both sources")

            // The use right over B is revoked; C is recorded as a source of X after X's right was registered.
            var revocation = Fixture.claim(b, right: "use")
            revocation["kind"] = "revocation"
            revocation["certificate"] = certificateB
            revocation["statement"] = "the contract behind it was void"
            revocation.removeValue(forKey: "sourceType")
            let revoke = try await registrar.post("/v1/registrations", revocation)
            let revokeNumber = try #require(revoke.string("number"), "\(revoke.text)")
            #expect(try await registrar.post("/v1/registrations/\(revokeNumber)/review").status == .ok)
            #expect(try await registrar.post("/v1/registrations/\(revokeNumber)/decision", ["decision": "accept"]).status == .ok)
            #expect(try await owner.post("/v1/datasets/\(x)/lineage", ["sources": [["dataset": c, "kind": "filtered"]]]).status == .created)

            let columns = ["dataset", "holder", "source", "rights", "basis", "sourceHolder", "edgeKind"]
            let answer = try await Self.everyPage(generated.regulator, "/v1/compliance/lineage-gaps", limit: 9)
            let sql = try await Self.lineageGapsSQL(generated)
            #expect(Self.rows(answer.items, columns) == sql)
            #expect(answer.totals == nil)
            #expect(sql.count > 20, "the generated registry's rights over derived data predate R10: \(sql.count)")
            #expect(sql.filter { $0[0] == String(x) }.map { "\($0[2]) \($0[3]) \($0[4])" } == ["\(b) use certificate", "\(c) use certificate"])
            let revoked = try #require(answer.items.first { Self.text($0["dataset"]) == String(x) })
            #expect(Self.text(revoked["lastUseCertificate"]) == certificateB && Self.text(revoked["lastUseCertificateStatus"]) == "revoked")
            #expect(try await CSVCheck.allItems(generated.regulator, "/v1/compliance/lineage-gaps?limit=200").count == sql.count)

            let holder = String(enterprise.id.rawValue)
            let filtered = try await Self.everyPage(generated.regulator, "/v1/compliance/lineage-gaps?holder=\(holder)", limit: 50)
            #expect(Self.rows(filtered.items, columns) == sql.filter { $0[1] == holder })
        }
    }

    /// R10 in SQL: holders of valid use or operate certificates over a derived dataset, and claimants of
    /// undecided initial claims to them; each source of the dataset over which the party holds neither a valid
    /// use certificate nor a grant in force that permits derivation.
    static func lineageGapsSQL(_ generated: Generated) async throws -> [[String]] {
        let now = generated.registry.now()
        let at = PostgresTimestamp(microsecondsSince1970: now.rawValue)
        let today = generated.today
        return try await generated.pool.query("""
            WITH rights AS (
                SELECT c.dataset_id, h AS party, c.right_kind, true AS certified
                FROM certificate c, unnest(c.holder_ids) h
                WHERE c.right_kind IN ('use', 'operate') AND c.state = 'active' AND c.expires_on >= \(today)::date
                UNION ALL
                SELECT r.dataset_id, r.applicant_id, r.right_kind, false FROM registration r
                WHERE r.right_kind IN ('use', 'operate') AND r.kind = 'initial' AND r.status NOT IN ('issued', 'recorded', 'refused')
            ), holders AS (
                SELECT dataset_id, party, bool_or(certified) AS certified,
                       string_agg(DISTINCT right_kind, ',' ORDER BY right_kind DESC) AS rights
                FROM rights GROUP BY dataset_id, party
            )
            SELECT h.dataset_id::text, h.party::text, d.source_id::text, h.rights, CASE WHEN h.certified THEN 'certificate' ELSE 'claim' END,
                   s.holder_id::text, d.kind
            FROM holders h JOIN derivation d ON d.target_id = h.dataset_id JOIN dataset s ON s.id = d.source_id
            WHERE NOT EXISTS (
                    SELECT 1 FROM certificate c WHERE c.dataset_id = d.source_id AND c.right_kind = 'use' AND h.party = ANY (c.holder_ids)
                    AND c.state = 'active' AND c.expires_on >= \(today)::date)
              AND NOT EXISTS (
                    SELECT 1 FROM "grant" g WHERE g.dataset_id = d.source_id AND g.assignee_id = h.party AND g.action = 'derive'
                    AND g.state IN ('agreed', 'active') AND g.valid_from <= \(at) AND \(at) < g.valid_until)
            ORDER BY h.dataset_id, h.party, d.source_id
            """, decode: Self.textRow(7))
    }

    // MARK: R19: overdue sharing requests

    /// Departments ask other departments for conditional government data through the API; eight days on
    /// (five working days and more) the replies are overdue. Rows and per-holder totals equal SQL over the
    /// requests awaiting their holder, working days counted from the calendar's weekdays.
    @Test func R19_R29_overdueSharingRequestsEqualSQLByHolder() async throws {
        try await Self.withGenerated(seed: 19) { generated in
            let ministries = generated.parties(.department)
            let (first, second, asking) = (generated.as_(ministries[0]), generated.as_(ministries[1]), generated.as_(ministries[2]))
            func conditional(_ holder: APIClient, _ title: String) async throws -> Int64 {
                var body = Fixture.dataset(title)
                body["sharing"] = ["category": "conditional", "text": "aggregated use only"]
                return try #require(try await holder.post("/v1/datasets", body).int("id"))
            }
            func ask(_ dataset: Int64) async throws -> String {
                let answer = try await asking.post("/v1/access-requests", [
                    "dataset": dataset, "purpose": "public_governance", "tokens": 1_000, "validUntil": "2030-01-01T00:00:00Z", "duty": "census",
                ])
                #expect(answer.string("state") == "awaiting_holder", "\(answer.text)")
                return try #require(answer.string("number"))
            }
            let one = try await conditional(first, "Hospital beds")
            let two = try await conditional(second, "School places")
            let asked = [try await ask(one), try await ask(one), try await ask(two)]
            #expect(try await Self.everyPage(generated.regulator, "/v1/compliance/overdue-sharing").items.isEmpty, "not yet due")
            try await generated.advance(days: 8)
            let onTime = try await ask(two)
            // One reply comes late: it leaves the list.
            #expect(try await first.post("/v1/access-requests/\(asked[1])/reply", ["agree": false, "reason": "identifiable"]).status == .ok)

            let columns = ["request", "holder", "requester", "dataset", "dueOn", "daysOverdue", "workingDaysOverdue"]
            let answer = try await Self.everyPage(generated.regulator, "/v1/compliance/overdue-sharing", limit: 1)
            let sql = try await Self.overdueSQL(generated)
            #expect(Self.rows(answer.items, columns) == sql)
            #expect(sql.map { $0[0] } == [asked[0], asked[2]] && !sql.contains { $0[0] == onTime })
            #expect(sql.allSatisfy { $0[4] == "2026-11-30" && $0[5] == "1" && $0[6] == "1" }, "due Monday 30 November, seen Tuesday 1 December: \(sql)")
            let byHolder = (answer.totals?["byHolder"] as? [[String: Any]] ?? []).map { "\(Self.text($0["holder"])):\(Self.text($0["requests"]))" }
            let counts = Dictionary(grouping: sql, by: { $0[1] }).map { "\($0.key):\($0.value.count)" }
            #expect(byHolder == counts.sorted { Int64($0.split(separator: ":")[0])! < Int64($1.split(separator: ":")[0])! })
            #expect(Self.text(answer.totals?["requests"]) == "2")
            #expect(try await CSVCheck.allItems(generated.regulator, "/v1/compliance/overdue-sharing?limit=1").count == 2)
            let holder = String(ministries[1].id.rawValue)
            let filtered = try await Self.everyPage(generated.regulator, "/v1/compliance/overdue-sharing?holder=\(holder)")
            #expect(Self.rows(filtered.items, columns) == sql.filter { $0[1] == holder })
        }
    }

    static func overdueSQL(_ generated: Generated) async throws -> [[String]] {
        let today = generated.today
        return try await generated.pool.query("""
            SELECT r.number, d.holder_id::text, r.requester_id::text, r.dataset_id::text, r.reply_due_on::text,
                   (\(today)::date - r.reply_due_on)::text,
                   (SELECT count(*) FROM generate_series(r.reply_due_on + 1, \(today)::date, interval '1 day') day
                    WHERE extract(isodow FROM day) < 6)::text
            FROM access_request r JOIN dataset d ON d.id = r.dataset_id
            WHERE r.state = 'awaiting_holder' AND r.reply_due_on < \(today)::date
            ORDER BY r.id
            """, decode: Self.textRow(7))
    }

    // MARK: R3: rights history

    /// A generated dataset whose claim waits on an objection: through the API the registrar dismisses it,
    /// the notice ends, the holder transfers the right and the registrar revokes the new certificate. The
    /// dataset's history equals SQL over its registrations, objections and certificates in time order.
    @Test func R3_R29_rightsHistoryEqualsSQLOverRegistrationsObjectionsAndCertificates() async throws {
        try await Self.withGenerated(seed: 3) { generated in
            let synthetic = generated.synthetic
            let objection = try #require(synthetic.objections.first { objection in
                let registration = synthetic.registrations[Int(objection.registration.rawValue - 1)]
                return synthetic.parties[Int(registration.applicant.rawValue - 1)].kind != .department
            })
            let claim = synthetic.registrations[Int(objection.registration.rawValue - 1)]
            let dataset = claim.dataset
            let holder = synthetic.parties[Int(claim.applicant.rawValue - 1)]
            let registrar = generated.registrar
            let ruled = try await registrar.post("/v1/objections/\(objection.id.rawValue)/ruling", ["ruling": "dismissed", "reason": "contract shown"])
            #expect(ruled.status == .ok, "\(ruled.text)")
            try await generated.advance(days: 20)
            let issued = try await generated.as_(holder).get("/v1/registrations/\(claim.number)")
            let certificate = try #require(issued.string("issuedCertificate"), "\(issued.text)")
            var transfer = Fixture.claim(dataset.rawValue, right: claim.right.rawValue)
            transfer["kind"] = "transfer"
            transfer["sourceType"] = "transferred"
            transfer["certificate"] = certificate
            transfer["transferee"] = generated.parties(.modelLab)[0].id.rawValue
            let moved = try await generated.as_(holder).post("/v1/registrations", transfer)
            let movedNumber = try #require(moved.string("number"), "\(moved.text)")
            #expect(try await registrar.post("/v1/registrations/\(movedNumber)/review").status == .ok)
            #expect(try await registrar.post("/v1/registrations/\(movedNumber)/decision", ["decision": "accept"]).status == .ok)
            try await generated.advance(days: 20)
            let second = try #require(try await registrar.get("/v1/registrations/\(movedNumber)").string("issuedCertificate"))
            var revocation = Fixture.claim(dataset.rawValue, right: claim.right.rawValue)
            revocation["kind"] = "revocation"
            revocation["certificate"] = second
            revocation["statement"] = "transfer contract forged"
            revocation.removeValue(forKey: "sourceType")
            let revoke = try #require(try await registrar.post("/v1/registrations", revocation).string("number"))
            #expect(try await registrar.post("/v1/registrations/\(revoke)/review").status == .ok)
            #expect(try await registrar.post("/v1/registrations/\(revoke)/decision", ["decision": "accept"]).status == .ok)

            let columns = ["at", "event", "number", "parties", "right", "outcome"]
            let answer = try await Self.everyPage(generated.regulator, "/v1/compliance/rights-history?dataset=\(dataset.rawValue)", limit: 3)
            let sql = try await Self.rightsHistorySQL(generated, dataset: dataset.rawValue)
            #expect(Self.rows(answer.items, columns) == sql)
            #expect(Self.text(answer.totals?["events"]) == String(sql.count))
            #expect(try await CSVCheck.allItems(generated.regulator, "/v1/compliance/rights-history?dataset=\(dataset.rawValue)&limit=3").count == sql.count)
            let events = sql.map { $0[1] }
            for kind in ["registration.submitted", "objection.lodged", "objection.ruled", "certificate.issued", "right.transferred",
                "certificate.superseded", "registration.recorded", "certificate.revoked"] {
                #expect(events.contains(kind), "\(kind) in \(events)")
            }
            // Every generated dataset with registrations reads the same as its SQL.
            for other in Set(synthetic.registrations.prefix(40).map(\.dataset.rawValue)).sorted() {
                let page = try await Self.everyPage(generated.regulator, "/v1/compliance/rights-history?dataset=\(other)", limit: 50)
                #expect(Self.rows(page.items, columns) == (try await Self.rightsHistorySQL(generated, dataset: other)), "dataset \(other)")
            }
            let missing = try await generated.regulator.get("/v1/compliance/rights-history?dataset=99999999")
            #expect(missing.status == .notFound)
            let unnamed = try await generated.regulator.get("/v1/compliance/rights-history")
            #expect(unnamed.status == .badRequest && unnamed.text.contains("dataset"))
        }
    }

    /// The history in SQL: one row per event, dated by its record (a certificate by its registration's
    /// completion, else the start of its issue day), in time order and, at one instant, in the order events
    /// cause each other. Times as the API writes them.
    static func rightsHistorySQL(_ generated: Generated, dataset: Int64) async throws -> [[String]] {
        let offset = Int64(generated.registry.registry.read { $0.settings.calendar.utcOffsetSeconds })
        let today = generated.today
        let rows = try await generated.pool.query("""
            WITH registrations AS (SELECT * FROM registration WHERE dataset_id = \(dataset)),
            certificates AS (
                SELECT c.*, coalesce(r.updated_at, (c.issued_on::timestamp - make_interval(secs => \(offset))) AT TIME ZONE 'UTC') AS issued_at,
                       CASE WHEN c.state <> 'active' THEN c.state WHEN c.expires_on < \(today)::date THEN 'expired' ELSE 'valid' END AS status
                FROM certificate c LEFT JOIN registration r ON r.id = c.registration_id AND r.status = 'issued' AND r.certificate_id = c.id
                WHERE c.dataset_id = \(dataset)
            ), events AS (
                SELECT submitted_at AS at, 0 AS place, id, 'registration.submitted' AS event, number, applicant_id::text AS parties, right_kind, status AS outcome
                FROM registrations
                UNION ALL
                SELECT o.lodged_at, 1, o.id, 'objection.lodged', o.id::text, o.objector_id::text, r.right_kind, coalesce(o.ruling, 'pending')
                FROM objection o JOIN registrations r ON r.id = o.registration_id
                UNION ALL
                SELECT o.ruled_at, 2, o.id, 'objection.ruled', o.id::text, coalesce(o.ruled_by::text, ''), r.right_kind, o.ruling
                FROM objection o JOIN registrations r ON r.id = o.registration_id WHERE o.ruling IS NOT NULL AND o.ruled_at IS NOT NULL
                UNION ALL
                SELECT updated_at, 3, id, 'registration.refused', number, applicant_id::text, right_kind, status FROM registrations WHERE status = 'refused'
                UNION ALL
                SELECT updated_at, 4, id, 'registration.recorded', number, applicant_id::text, right_kind, status FROM registrations WHERE status = 'recorded'
                UNION ALL
                SELECT issued_at, 5, id, 'certificate.issued', number, array_to_string(holder_ids, ','), right_kind, status FROM certificates
                UNION ALL
                SELECT c.issued_at, 6, c.id, 'right.transferred', r.number, r.transferee_id::text, c.right_kind, c.status
                FROM certificates c JOIN registration r ON r.id = c.registration_id AND r.kind = 'transfer' AND r.transferee_id IS NOT NULL
                UNION ALL
                SELECT state_changed_at, 7, id, 'certificate.superseded', number, array_to_string(holder_ids, ','), right_kind, state
                FROM certificates WHERE state = 'superseded'
                UNION ALL
                SELECT state_changed_at, 8, id, 'certificate.revoked', number, array_to_string(holder_ids, ','), right_kind, state
                FROM certificates WHERE state = 'revoked'
            )
            SELECT ((extract(epoch FROM at) * 1000000)::int8)::text, event, number, parties, right_kind, outcome
            FROM events ORDER BY at, place, id
            """, decode: Self.textRow(6))
        return rows.map { row in [Timestamp(microsecondsSince1970: Int64(row[0])!).description] + row[1...] }
    }

    // MARK: Who may ask

    /// Labs, departments, enterprises and registrars are refused before anything is read; regulators and
    /// operators are answered.
    @Test func R29_onlyRegulatorsAndOperatorsAskTheComplianceQueries() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let dataset = try #require(try await cast.as("ministry").post("/v1/datasets", Fixture.dataset("Counts")).int("id"))
            let paths = [
                "/v1/compliance/missing-records", "/v1/compliance/cross-border/grants", "/v1/compliance/cross-border/processors",
                "/v1/compliance/lineage-gaps", "/v1/compliance/overdue-sharing", "/v1/compliance/rights-history?dataset=\(dataset)",
            ]
            for path in paths {
                for name in ["lab", "ministry", "enterprise", "registrar"] {
                    let refused = try await cast.as(name).get(path)
                    #expect(refused.status == .forbidden, "\(name) \(path): \(refused.text)")
                }
                #expect(try await cast.as("regulator").get(path).status == .ok, "\(path)")
                #expect(try await cast.api.as_(cast.operatorKey).get(path).status == .ok, "\(path)")
                #expect(try await cast.api.get(path).status == .unauthorized)
            }
            // Refused before the query is read: a lab's bad parameter is still 403.
            #expect(try await cast.as("lab").get("/v1/compliance/missing-records?record=nonsense").status == .forbidden)
        }
    }
}
