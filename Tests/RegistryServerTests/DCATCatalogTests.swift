import Foundation
import HTTPTypes
import HummingbirdTesting
import PostgresClient
import RegistryCore
import RegistryStore
import TestSupport
import Testing

/// The public catalog as DCAT-AP 3 JSON-LD (issue 17) through the API on a real PostgreSQL: a registry
/// holding datasets of every kind the export must leave out — core grade, derived from core data, not
/// shared, flagged, derived from flagged data (R13, R12, R17, R25) — beside ones it lists, read without a
/// key page by page, then parsed by rdflib (Tests/dcat/check_dcat.py) and held to a query written here
/// over the registry's tables (recursive lineage for the grade and flag in effect), not to the code under test.
@Suite(.serialized) struct DCATCatalogTests {
    /// The test's own reading of the vocabularies for the values it uses (not the server's tables).
    static let frequencies = ["daily": "DAILY", "weekly": "WEEKLY", "hourly": "HOURLY", "Real-time": "UPDATE_CONT", "irregular": "IRREG"]
    static let formats: [String: (String, String)] = [
        "parquet": ("PARQUET", "application/vnd.apache.parquet"), "csv": ("CSV", "text/csv"), "CSV": ("CSV", "text/csv"),
        "json": ("JSON", "application/json"),
    ]
    static let regionNames = ["CN-BJ": "Beijing", "CN-SH": "Shanghai", "CN-XZ": "Tibet", "CN-GD": "Guangdong", "CN-HK": "Hong Kong"]

    static func dataset(
        _ title: String, _ description: String, grade: String = "general", region: String = "CN-BJ", cycle: String = "daily",
        format: String = "parquet", tags: [String] = ["transport"], sharing: [String: Any]? = nil
    ) -> [String: Any] {
        var body = Fixture.dataset(title, grade: grade, government: false)
        body["description"] = description
        body["region"] = region
        body["updateCycle"] = cycle
        body["format"] = format
        body["tags"] = tags
        if let sharing { body["sharing"] = sharing }
        return body
    }

    /// Creates the registry's datasets; returns their ids by title.
    static func populate(_ cast: RegistryScenarioTests.Cast) async throws -> [String: Int64] {
        var ids: [String: Int64] = [:]
        func create(_ who: String, _ body: [String: Any]) async throws {
            let created = try await cast.as(who).post("/v1/datasets", body)
            #expect(created.status == .created, "\(body["title"]!): \(created.text)")
            let id = try #require(created.int("id"))
            ids[body["title"] as! String] = id
        }
        try await create("ministry", dataset("Highway traffic counts", "Vehicles per road segment per hour", sharing: ["category": "unconditional"]))
        try await create("ministry", dataset(
            "Border crossing logs", "Entries and exits by checkpoint, secret", sharing: ["category": "not_shared", "text": "State Secrets Law, art. 9"]))
        try await create("ministry", dataset("National grid topology", "Substations and lines of the core grid", grade: "core", tags: ["energy"],
            sharing: ["category": "unconditional"]))
        try await create("enterprise", dataset(
            "Retail card payments", "Card payments by merchant category", grade: "important", region: "CN-SH", cycle: "weekly", format: "csv",
            tags: ["finance", "retail"]))
        try await create("enterprise", dataset("Payment fraud features", "Features derived from card payments", region: "CN-SH", tags: ["finance"]))
        try await create("enterprise", dataset("Grid load forecasts", "Forecasts computed over the grid topology", tags: ["energy"]))
        try await create("enterprise", dataset("Scraped contact lists", "Contacts gathered without consent", tags: ["marketing"]))
        try await create("enterprise", dataset("Contact list enrichments", "Contacts joined with addresses", tags: ["marketing"]))
        try await create("lab", dataset("Evaluation prompts", "Prompts for model evaluation", region: "CN-HK", cycle: "irregular", format: "wav", tags: []))
        try await create("ministry", dataset(
            "Bus ridership by line", "Boardings per bus line per day", region: "CN-XZ", cycle: "Real-time", format: "CSV",
            tags: ["transport", "public transit"], sharing: ["category": "conditional", "text": "For transport planning duties only"]))
        try await create("enterprise", dataset("Weather station readings", "Hourly readings of 2,000 stations", region: "CN-GD", cycle: "hourly",
            format: "json", tags: ["weather"]))

        let derive: [(String, String)] = [
            ("Payment fraud features", "Retail card payments"), ("Grid load forecasts", "National grid topology"),
            ("Contact list enrichments", "Scraped contact lists"),
        ]
        for (target, source) in derive {
            let derived = try await cast.as("enterprise").post("/v1/datasets/\(ids[target]!)/lineage", ["sources": [["dataset": ids[source]!, "kind": "derived"]]])
            #expect(derived.status == .created, "\(target) from \(source): \(derived.text)")
        }
        let flagged = try await cast.as("regulator").post("/v1/datasets/\(ids["Scraped contact lists"]!)/flag", ["reason": "collected unlawfully"])
        #expect(flagged.status == .ok || flagged.status == .created, "\(flagged.text)")
        let policy = try await cast.as("ministry").call(
            .put, "/v1/datasets/\(ids["Highway traffic counts"]!)/policy", AccessScenarioTests.policy(purposes: ["model_training"]))
        #expect(policy.status == .ok, "\(policy.text)")
        return ids
    }

    /// What the catalog must hold, from the registry's tables: the grade and flag in effect over the
    /// recorded lineage (recursive), the sharing entry, the holder's name, the policy's presence.
    static func expected(_ pool: PostgresPool) async throws -> (listed: [String: [String: Any]], hidden: [[String: String]], modified: String?) {
        let sql = """
            WITH RECURSIVE up(dataset_id, ancestor_id) AS (
                SELECT id, id FROM dataset
                UNION
                SELECT up.dataset_id, d.source_id FROM up JOIN derivation d ON d.target_id = up.ancestor_id
            ), effective AS (
                SELECT up.dataset_id, bool_or(a.grade = 'core') AS core, bool_or(a.grade = 'important') AS important,
                       bool_or(a.flagged) AS flagged
                FROM up JOIN dataset a ON a.id = up.ancestor_id GROUP BY up.dataset_id
            )
            SELECT d.id::text, d.title, d.description, p.name, d.region, d.update_cycle, array_to_string(d.tags, '|'),
                   CASE WHEN e.important THEN 'important' ELSE 'general' END, d.format, d.size_bytes::text,
                   (EXISTS (SELECT 1 FROM dataset_policy dp WHERE dp.dataset_id = d.id))::text,
                   to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   to_char(d.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   (NOT e.core AND NOT e.flagged AND d.sharing_category IS DISTINCT FROM 'not_shared')::text
            FROM dataset d JOIN party p ON p.id = d.holder_id JOIN effective e ON e.dataset_id = d.id
            ORDER BY d.id
            """
        let rows = try await pool.query(PostgresQuery(unsafeSQL: sql, binds: PostgresBindings()), decode: UsageRollupStoreTests.textRow(14))
        var listed: [String: [String: Any]] = [:]
        var hidden: [[String: String]] = []
        var modified: String?
        for row in rows {
            guard row[13] == "true" else {
                hidden.append(["id": row[0], "title": row[1], "description": row[2]])
                continue
            }
            let fileType = formats[row[8]]
            listed[row[0]] = [
                "title": row[1], "description": row[2], "publisher": row[3], "region": row[4], "regionName": Self.orNull(regionNames[row[4]]),
                "frequency": try #require(frequencies[row[5]], "the test's table lacks \(row[5])"),
                "themes": row[6].isEmpty ? [] : row[6].split(separator: "|").map(String.init), "grade": row[7],
                "fileType": Self.orNull(fileType?.0), "mediaType": Self.orNull(fileType?.1), "byteSize": Int64(row[9])!, "hasPolicy": row[10] == "true",
                "issued": row[11], "modified": row[12],
            ]
            modified = max(modified ?? "", row[12])
        }
        return (listed, hidden, modified)
    }

    /// A value for JSONSerialization: nil as JSON's null.
    static func orNull(_ value: String?) -> Any { value.map { $0 as Any } ?? NSNull() }

    /// Every page from `path` without a key, following `hydra:next` (and checking `Link` and
    /// `DataRights-Next-Cursor` agree with it).
    static func walk(_ client: APIClient, _ path: String) async throws -> [String] {
        var pages: [String] = []
        var next: String? = path
        while let target = next, pages.count < 50 {
            let answer = try await client.get(target)
            #expect(answer.status == .ok, "\(target): \(answer.text)")
            pages.append(answer.text)
            let graph = answer["@graph"] as? [[String: Any]] ?? []
            let view = graph.first { $0["@type"] as? String == "hydra:PartialCollectionView" }
            next = ((view?["hydra:next"] as? [String: Any])?["@id"] as? String).map { url in
                String(url[url.range(of: "/v1/catalog/dcat")!.lowerBound...])
            }
        }
        return pages
    }

    static func catalogModified(_ answer: APIClient.Answer) -> String? {
        let catalog = (answer["@graph"] as? [[String: Any]] ?? []).first { $0["@type"] as? String == "dcat:Catalog" }
        return (catalog?["dcterms:modified"] as? [String: Any])?["@value"] as? String
    }

    static func datasetTitles(_ answer: APIClient.Answer) -> [String] {
        (answer["@graph"] as? [[String: Any]] ?? []).filter { $0["@type"] as? String == "dcat:Dataset" }.compactMap { $0["dcterms:title"] as? String }
    }

    /// Runs Tests/dcat/check_dcat.py over the pages; fails the test with its output unless it passes.
    /// Without python3 or rdflib the check fails, as CI installs both (.ci/install-deps).
    static func checkWithRDFLib(pages: [String], expected: [String: Any], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dcat-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let expectedFile = directory.appendingPathComponent("expected.json")
        try JSONSerialization.data(withJSONObject: expected, options: [.sortedKeys]).write(to: expectedFile)
        var files: [String] = []
        for (index, page) in pages.enumerated() {
            let file = directory.appendingPathComponent("page-\(index + 1).jsonld")
            try Data(page.utf8).write(to: file)
            files.append(file.path)
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("dcat/check_dcat.py")
        let result: PythonProcess.Result
        do {
            result = try await PythonProcess.run([script.path, expectedFile.path] + files)
        } catch {
            Issue.record("python3 could not be started (.ci/install-deps installs it): \(error)", sourceLocation: sourceLocation)
            return
        }
        let text = result.outputText + result.errorText
        #expect(result.status == 0, "check_dcat.py exited \(result.status):\n\(text)", sourceLocation: sourceLocation)
        #expect(text.hasPrefix("check_dcat: "), "\(text)", sourceLocation: sourceLocation)
    }

    /// R13, R17, R25 (issue 17): the whole catalog, read without a key in pages of 3, holds exactly the
    /// datasets that SQL over the tables finds public — not core in effect, not flagged in effect, not
    /// not-shared — each with its title, holder, themes, region, periodicity, grade in effect, format and
    /// policy, and nothing of the others (rdflib over the JSON-LD).
    @Test func R13_R17_R25_publicCatalogListsExactlyThePublicDatasetsAndNothingOfTheOthers() async throws {
        try await RegistryScenarioTests.withCast { cast, registry in
            let ids = try await Self.populate(cast)
            let (listed, hidden, modified) = try await Self.expected(registry.database.pool)
            #expect(listed.count == 6 && hidden.count == 5, "listed \(listed.keys.sorted()), hidden \(hidden.map { $0["title"]! })")
            #expect(Set(hidden.map { $0["title"]! }) == [
                "Border crossing logs", "National grid topology", "Grid load forecasts", "Scraped contact lists", "Contact list enrichments",
            ])
            #expect(listed[String(ids["Payment fraud features"]!)]?["grade"] as? String == "important", "derived from important data (R12)")

            let pages = try await Self.walk(cast.api, "/v1/catalog/dcat?limit=3")
            #expect(pages.count >= 2)
            let expected: [String: Any] = [
                "catalogPublisher": "Operator", "catalogModified": Self.orNull(modified), "datasets": listed, "hidden": hidden,
            ]
            try await Self.checkWithRDFLib(pages: pages, expected: expected)
        }
    }

    /// The filters of `GET /v1/datasets` that make sense publicly, the grade being the one in effect; a
    /// filter naming a hidden dataset's title, holder or grade finds nothing, as it would for none; an
    /// unknown parameter or a bad value is a 400 naming it; the answer is JSON-LD with the paging headers.
    @Test func R13_R17_catalogFiltersFindNothingHidden() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let ids = try await Self.populate(cast)
            let open = cast.api
            // A change to a listed dataset shows on the next page read, the catalog's date with it.
            let before = try await open.get("/v1/catalog/dcat")
            let highway = try #require(ids["Highway traffic counts"])
            let renamed = try await cast.as("ministry").call(.patch, "/v1/datasets/\(highway)", ["title": "Highway traffic counts, hourly"])
            #expect(renamed.status == .ok, "\(renamed.text)")
            let after = try await open.get("/v1/catalog/dcat")
            #expect(Self.datasetTitles(after).contains("Highway traffic counts, hourly"))
            #expect(Self.catalogModified(after) != nil && Self.catalogModified(after) != Self.catalogModified(before), "the catalog's date moved")
            let first = try await open.get("/v1/catalog/dcat?limit=2")
            #expect(first.status == .ok)
            let response = try await cast.api.client.execute(uri: "/v1/catalog/dcat?limit=2", method: .get) { $0 }
            #expect(response.headers[.contentType] == "application/ld+json; charset=utf-8")
            #expect(response.headers[HTTPField.Name("DataRights-Next-Cursor")!] != nil)
            #expect(response.headers[HTTPField.Name("Link")!]?.contains("rel=\"next\"") == true)

            #expect(Set(Self.datasetTitles(try await open.get("/v1/catalog/dcat?grade=important"))) == ["Retail card payments", "Payment fraud features"])
            #expect(Self.datasetTitles(try await open.get("/v1/catalog/dcat?grade=core")).isEmpty)
            let ministry = try #require(cast.ids["ministry"])
            #expect(Self.datasetTitles(try await open.get("/v1/catalog/dcat?holder=\(ministry)")) == ["Highway traffic counts, hourly", "Bus ridership by line"])
            #expect(Self.datasetTitles(try await open.get("/v1/catalog/dcat?tag=transport")) == ["Highway traffic counts, hourly", "Bus ridership by line"])
            #expect(Self.datasetTitles(try await open.get("/v1/catalog/dcat?tag=energy")).isEmpty, "both energy datasets are core in effect")
            #expect(Self.datasetTitles(try await open.get("/v1/catalog/dcat?q=border")).isEmpty)
            #expect(Self.datasetTitles(try await open.get("/v1/catalog/dcat?q=HOURLY%20readings")) == ["Weather station readings"])
            #expect(Self.datasetTitles(try await open.get("/v1/catalog/dcat?region=CN-XZ")) == ["Bus ridership by line"])
            let last = try await open.get("/v1/catalog/dcat?cursor=9223372036854775807")
            #expect(last.status == .ok && Self.datasetTitles(last).isEmpty, "the largest cursor is an empty last page")

            for (query, field) in [("flagged=true", "flagged"), ("piLevel=none", "piLevel"), ("limit=0", "limit"), ("limit=201", "limit"),
                                   ("cursor=-1", "cursor"), ("grade=secret", "grade"), ("holder=x", "holder")] {
                let refused = try await open.get("/v1/catalog/dcat?" + query)
                #expect(refused.status == .badRequest, "\(query): \(refused.text)")
                #expect(refused.text.contains(field), "\(query): \(refused.text)")
            }
        }
    }
}
