import Foundation
import HTTPTypes
import RegistryCore
import Testing
import TestSupport

/// The listings of issue 16 over HTTP on a real PostgreSQL: each filter on real data, who sees what (a
/// hidden object answers exactly as a missing one), and each list's CSV, read by Python's `csv` module,
/// equal to its JSON. Titles, keys and metadata hold commas, quotes and line breaks, so that quoting is
/// exercised. One test at a time, each with a small pool: the suite's clusters share PostgreSQL's 200
/// connections with every other test running.
@Suite(.serialized) struct ListingScenarioTests {
    static let limits: Limits = {
        var limits = Limits()
        limits.databasePoolConnections = 3
        return limits
    }()

    static let awkwardTitle = "Counts, \"north\"\r\nand south"

    static func numbers(_ items: [JSONValue], _ key: String = "number") -> [String] { items.compactMap { $0[key]?.string } }
    static func ids(_ items: [JSONValue], _ key: String = "id") -> [Int64] {
        items.compactMap { if case .integer(let id) = $0[key] { id } else { nil } }
    }

    /// A dataset registered by `client` (a government one), by id.
    static func dataset(_ client: APIClient, _ title: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Int64 {
        let created = try await client.post("/v1/datasets", Fixture.dataset(title), sourceLocation: sourceLocation)
        return try #require(created.int("id"), "\(created.text)", sourceLocation: sourceLocation)
    }

    /// Each query of `path` is a 400 naming its field.
    static func expectRefused(_ client: APIClient, _ path: String, _ cases: [(query: String, field: String)], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for (query, field) in cases {
            let refused = try await client.get(path + "?" + query, sourceLocation: sourceLocation)
            #expect(refused.status == .badRequest, "\(query)", sourceLocation: sourceLocation)
            #expect((refused["errors"] as? [[String: Any]])?.first?["field"] as? String == field, "\(query): \(refused.text)", sourceLocation: sourceLocation)
        }
    }

    /// Issues a hold certificate over `dataset` to its holder: claim, review, acceptance, notice.
    static func certify(_ cast: RegistryScenarioTests.Cast, _ dataset: Int64, by holder: String) async throws -> String {
        let claim = try await cast.as(holder).post("/v1/registrations", Fixture.claim(dataset))
        let number = try #require(claim.string("number"), "\(claim.text)")
        let registrar = cast.as("registrar")
        #expect(try await registrar.post("/v1/registrations/\(number)/review").status == .ok)
        #expect(try await registrar.post("/v1/registrations/\(number)/decision", ["decision": "accept"]).status == .ok)
        _ = try await cast.api.as_(cast.operatorKey).post("/v1/sandbox/clock", ["days": 20])
        return try #require(try await cast.as(holder).get("/v1/registrations/\(number)").string("issuedCertificate"))
    }

    @Test func F16_anUnknownQueryParameterIsA400NamingIt() async throws {
        try await RegistryScenarioTests.withCast(limits: Self.limits) { cast, _ in
            try await Self.expectRefused(cast.as("ministry"), "/v1/datasets", [("bogus=1", "bogus"), ("format=xml", "format")])
        }
    }

    /// R9: certificates by dataset, holder and status; public record, so every party sees the same list.
    @Test func R9_certificatesByDatasetHolderAndStatusAreTheSameForEveryPartyAndTheirCSVEqualsTheJSON() async throws {
        try await RegistryScenarioTests.withCast(limits: Self.limits) { cast, _ in
            let ministry = cast.as("ministry")
            let awkward = try await Self.dataset(ministry, Self.awkwardTitle)
            let plain = try await Self.dataset(ministry, "Bus timetables")
            let first = try await Self.certify(cast, awkward, by: "ministry")
            let other = try await Self.certify(cast, plain, by: "ministry")
            // A transfer to the enterprise: the first certificate is superseded by one the enterprise holds.
            var transfer = Fixture.claim(awkward)
            transfer["kind"] = "transfer"
            transfer["sourceType"] = "transferred"
            transfer["certificate"] = first
            transfer["transferee"] = cast.ids["enterprise"]!
            let move = try #require(try await ministry.post("/v1/registrations", transfer).string("number"))
            _ = try await cast.as("registrar").post("/v1/registrations/\(move)/review")
            _ = try await cast.as("registrar").post("/v1/registrations/\(move)/decision", ["decision": "accept"])
            _ = try await cast.api.as_(cast.operatorKey).post("/v1/sandbox/clock", ["days": 20])
            let successor = try #require(try await cast.api.get("/v1/certificates/\(first)").string("supersededBy"))

            let regulator = cast.as("regulator")
            #expect(Self.numbers(try await CSVCheck.allItems(regulator, "/v1/certificates")) == [first, other, successor])
            #expect(Self.numbers(try await CSVCheck.allItems(regulator, "/v1/certificates?dataset=\(awkward)")) == [first, successor])
            #expect(Self.numbers(try await CSVCheck.allItems(regulator, "/v1/certificates?holder=\(cast.ids["enterprise"]!)")) == [successor])
            #expect(Self.numbers(try await CSVCheck.allItems(regulator, "/v1/certificates?status=superseded")) == [first])
            #expect(Self.numbers(try await CSVCheck.allItems(regulator, "/v1/certificates?status=valid&holder=\(cast.ids["ministry"]!)")) == [other])
            #expect(Self.numbers(try await CSVCheck.allItems(regulator, "/v1/certificates?dataset=\(awkward)&status=valid")) == [successor])
            #expect(try await CSVCheck.allItems(regulator, "/v1/certificates?status=revoked").isEmpty)
            // One at a time: the cursor leads through the same three, in JSON and in CSV.
            #expect(Self.numbers(try await CSVCheck.allItems(regulator, "/v1/certificates?limit=1")) == [first, other, successor])
            #expect(Self.numbers(try await CSVCheck.allItems(regulator, "/v1/certificates?dataset=\(awkward)&limit=1")) == [first, successor])
            // The item is what verification says, and the awkward title survives the CSV.
            let records = try await CSVCheck.expectCSVEqualsJSON(regulator, "/v1/certificates?dataset=\(awkward)")
            let title = try #require(records.first?.firstIndex(of: "dataset.title"))
            #expect(records.dropFirst().map { $0[title] } == [Self.awkwardTitle, Self.awkwardTitle])
            // Public record: a lab and another department see exactly what the regulator sees.
            let all = try await regulator.get("/v1/certificates").text
            #expect(try await cast.as("lab").get("/v1/certificates").text == all)
            #expect(try await cast.as("enterprise").get("/v1/certificates").text == all)
            // Bounded inputs: a 400 naming the parameter.
            try await Self.expectRefused(regulator, "/v1/certificates", [
                ("status=active", "status"), ("dataset=01", "dataset"), ("holder=x", "holder"), ("limit=201", "limit"), ("cursor=-1", "cursor"),
            ])
        }
    }

    /// R12: derivation edges by dataset and by approval state; anonymisations awaiting approval listed
    /// until a registrar approves them.
    @Test func R12_derivationsByDatasetAndApprovalStateAndTheirCSVEqualsTheJSON() async throws {
        try await RegistryScenarioTests.withCast(limits: Self.limits) { cast, _ in
            let ministry = cast.as("ministry")
            let base = try await Self.dataset(ministry, Self.awkwardTitle)
            let derived = try await Self.dataset(ministry, "Counts by district")
            let pending = try await Self.dataset(ministry, "Counts, anonymised")
            let approved = try await Self.dataset(ministry, "Counts, anonymised and approved")
            func edge(from source: Int64, to target: Int64, _ kind: String) async throws -> Int64 {
                let recorded = try await ministry.post("/v1/datasets/\(target)/lineage", ["sources": [["dataset": source, "kind": kind]]])
                let items = JSONValue(parsing: Data(recorded.text.utf8))?["items"]?.array ?? []
                return try #require(Self.ids(items).first, "\(recorded.text)")
            }
            let plainEdge = try await edge(from: base, to: derived, "aggregated")
            let pendingEdge = try await edge(from: base, to: pending, "anonymisation")
            let approvedEdge = try await edge(from: base, to: approved, "anonymisation")
            let onward = try await edge(from: derived, to: approved, "joined")
            #expect(try await cast.as("registrar").post("/v1/derivations/\(approvedEdge)/approval").status == .ok)

            let lab = cast.as("lab")
            #expect(Self.ids(try await CSVCheck.allItems(lab, "/v1/derivations")) == [plainEdge, pendingEdge, approvedEdge, onward])
            #expect(Self.ids(try await CSVCheck.allItems(lab, "/v1/derivations?state=awaiting_approval")) == [pendingEdge])
            #expect(Self.ids(try await CSVCheck.allItems(lab, "/v1/derivations?state=approved")) == [approvedEdge])
            #expect(Self.ids(try await CSVCheck.allItems(lab, "/v1/derivations?state=not_required")) == [plainEdge, onward])
            #expect(Self.ids(try await CSVCheck.allItems(lab, "/v1/derivations?dataset=\(base)")) == [plainEdge, pendingEdge, approvedEdge])
            #expect(Self.ids(try await CSVCheck.allItems(lab, "/v1/derivations?dataset=\(derived)")) == [plainEdge, onward])
            #expect(Self.ids(try await CSVCheck.allItems(lab, "/v1/derivations?dataset=\(approved)&state=approved")) == [approvedEdge])
            #expect(Self.ids(try await CSVCheck.allItems(lab, "/v1/derivations?limit=3")) == [plainEdge, pendingEdge, approvedEdge, onward])
            // Approving the pending one moves it from one state to the other.
            #expect(try await cast.as("regulator").post("/v1/derivations/\(pendingEdge)/approval").status == .ok)
            #expect(try await CSVCheck.allItems(lab, "/v1/derivations?state=awaiting_approval").isEmpty)
            // Every party sees the lineage alike.
            #expect(try await cast.as("enterprise").get("/v1/derivations").text == (try await lab.get("/v1/derivations").text))
            try await Self.expectRefused(lab, "/v1/derivations", [("state=pending", "state")])
        }
    }

    /// R25: flagged datasets — the one marked unlawful and everything derived from it, in effect.
    @Test func R25_flaggedDatasetsInEffectAndTheCatalogsCSVEqualsItsJSON() async throws {
        try await RegistryScenarioTests.withCast(limits: Self.limits) { cast, _ in
            let ministry = cast.as("ministry")
            let unlawful = try await Self.dataset(ministry, Self.awkwardTitle)
            let child = try await Self.dataset(ministry, "Derived, \"quoted\"")
            let clean = try await Self.dataset(ministry, "Clean data")
            _ = try await ministry.post("/v1/datasets/\(child)/lineage", ["sources": [["dataset": unlawful, "kind": "derived"]]])
            let flag = try await cast.as("registrar").post("/v1/datasets/\(unlawful)/flag", ["reason": "collected, it says, \"without consent\"\nsee file"])
            #expect(flag.status == .ok, "\(flag.text)")

            let lab = cast.as("lab")
            #expect(Self.ids(try await CSVCheck.allItems(lab, "/v1/datasets?flagged=true")) == [unlawful, child])
            #expect(Self.ids(try await CSVCheck.allItems(lab, "/v1/datasets?flagged=false")) == [clean])
            #expect(Self.ids(try await CSVCheck.allItems(lab, "/v1/datasets")) == [unlawful, child, clean])
            #expect(Self.ids(try await CSVCheck.allItems(lab, "/v1/datasets?limit=2")) == [unlawful, child, clean])
            #expect(Self.ids(try await CSVCheck.allItems(lab, "/v1/datasets?flagged=true&q=derived")) == [child])
            // An empty page still has its header.
            let empty = try await CSVCheck.expectCSVEqualsJSON(lab, "/v1/datasets?q=nothing-matches")
            #expect(empty.count == 1 && empty[0].contains("sharing.category") && empty[0].contains("tags"))
            // The cascade is in the audit chain of every dataset it reached.
            let cascade = "/v1/audit/events?kind=lineage.flag_cascade&dataset="
            #expect(try await CSVCheck.allItems(cast.as("regulator"), cascade + "\(child)").count == 1)
            #expect(try await CSVCheck.allItems(cast.as("regulator"), cascade + "\(clean)").isEmpty)
            try await Self.expectRefused(lab, "/v1/datasets", [("flagged=yes", "flagged")])
        }
    }

    /// R30: audit entries by kind, actor, dataset and period; for regulators and operators only.
    @Test func R30_auditEntriesByKindActorDatasetAndPeriodAndTheirCSVEqualsTheJSON() async throws {
        try await RegistryScenarioTests.withCast(limits: Self.limits) { cast, _ in
            let ministry = cast.as("ministry")
            let ministryID = try #require(cast.ids["ministry"])
            let first = try await Self.dataset(ministry, Self.awkwardTitle)
            let second = try #require(try await cast.as("enterprise").post("/v1/datasets", Fixture.dataset("Grid load", government: false)).int("id"))
            let claim = try #require(try await ministry.post("/v1/registrations", Fixture.claim(first)).string("number"))
            _ = try await cast.as("enterprise").post("/v1/datasets/\(second)/lineage", ["sources": [["dataset": first, "kind": "derived"]]])
            let regulator = cast.as("regulator")

            let everything = try await CSVCheck.allItems(regulator, "/v1/audit/events?limit=7")
            #expect(everything.count >= 12)
            let registered = try await CSVCheck.allItems(regulator, "/v1/audit/events?kind=dataset.registered")
            #expect(registered.count == 2 && registered.allSatisfy { $0["kind"]?.string == "dataset.registered" })
            let byMinistry = try await CSVCheck.allItems(regulator, "/v1/audit/events?actor=party:\(ministryID)")
            #expect(!byMinistry.isEmpty && byMinistry.allSatisfy { $0["actor"]?.string == "party:\(ministryID)" })
            #expect(byMinistry.contains { $0["kind"]?.string == "registration.submitted" })
            // The dataset's entries: its registration, the derivation from it, and the derived dataset's edge.
            let aboutFirst = try await CSVCheck.allItems(regulator, "/v1/audit/events?dataset=\(first)")
            #expect(aboutFirst.map { $0["kind"]?.string ?? "" } == ["dataset.registered", "registration.submitted", "derivation.recorded"])
            #expect(aboutFirst[1]["payload"]?.string?.contains(claim) == true)
            let aboutSecond = try await CSVCheck.allItems(regulator, "/v1/audit/events?dataset=\(second)")
            #expect(aboutSecond.map { $0["kind"]?.string ?? "" } == ["dataset.registered", "derivation.recorded"])
            #expect(try await CSVCheck.allItems(regulator, "/v1/audit/events?dataset=\(first)&kind=derivation.recorded&actor=party:\(cast.ids["enterprise"]!)").count == 1)
            // A period: from the first dataset's registration on; nothing before the epoch of 1900.
            let start = try #require(aboutFirst[0]["at"]?.string)
            let since = try await CSVCheck.allItems(regulator, "/v1/audit/events?from=\(start)")
            #expect(since.first?["kind"]?.string == "dataset.registered" && since.allSatisfy { ($0["at"]?.string ?? "") >= start })
            let before = try await CSVCheck.allItems(regulator, "/v1/audit/events?to=\(start)")
            #expect(before.count + since.count == everything.count)
            #expect(try await CSVCheck.allItems(regulator, "/v1/audit/events?from=1900-01-01T00:00:00Z&to=1900-01-02T00:00:00Z").isEmpty)
            #expect(try await CSVCheck.allItems(regulator, "/v1/audit/events?from=\(start.replacingOccurrences(of: "Z", with: "%2B00:00"))").count == since.count)
            // Only regulators and operators; bounded inputs.
            #expect(try await cast.as("ministry").get("/v1/audit/events?dataset=\(first)").status == .forbidden)
            #expect(try await cast.api.as_(cast.operatorKey).get("/v1/audit/events?dataset=\(first)").status == .ok)
            try await Self.expectRefused(regulator, "/v1/audit/events", [
                ("kind=dataset.deleted", "kind"), ("actor=ministry", "actor"), ("actor=party:01", "actor"), ("dataset=x", "dataset"),
                ("from=2026-12-01", "from"), ("to=1899-12-31T00:00:00Z", "to"), ("from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "to"),
                ("bogus=1", "bogus"),
            ])
        }
    }

    /// R26, R27: a grant's usage events one by one, accepted and denied, with their metadata; the
    /// assignee, the holder, regulators and operators read them, and to anyone else — another lab, a
    /// department — the grant answers exactly as a grant that does not exist.
    @Test func R26_R27_aGrantsUsageEventsOneByOneForThoseWhoMayReadThemAndTheirCSVEqualsTheJSON() async throws {
        try await RegistryScenarioTests.withCast(limits: Self.limits) { cast, _ in
            let (dataset, grant) = try await UsageScenarioTests.grant(cast, quota: 5_000)
            let lab = cast.as("lab")
            let metadata: [String: Any] = ["note": "north, \"east\"\nline two", "model": "m-1"]
            let at = UsageScenarioTests.nowText()
            var events: [[String: Any]] = [
                UsageScenarioTests.event(grant, tokens: 3_000, key: "call,1", at: at),
                UsageScenarioTests.event(grant, tokens: 1_500, key: "call \"2\"", at: at),
                UsageScenarioTests.event(grant, tokens: 1_000, key: "call-3", at: at),
            ]
            events[0]["metadata"] = metadata
            let used = try await lab.post("/v1/usage", ["events": events])
            #expect(used.int("accepted") == 2 && used.int("denied") == 1, "\(used.text)")
            // A retry is not another event.
            _ = try await lab.post("/v1/usage", ["events": [events[0]]])
            // Another lab, with a grant of its own on the same dataset, uses it too.
            let admin = cast.api.as_(cast.operatorKey)
            let other = try #require(try await admin.post("/v1/parties", Fixture.party("Other Model Lab", "model_lab", code: CreditCode.make(organisation: 42))).int("id"))
            let otherToken = try await admin.post("/v1/parties/\(other)/keys", ["label": "lab2"]).string("token")
            #expect(otherToken != nil)
            let otherLab = cast.api.as_(otherToken)
            let request = try await otherLab.post(
                "/v1/access-requests", ["dataset": dataset, "purpose": "model_training", "tokens": 10_000, "validUntil": "2030-01-01T00:00:00Z"])
            let otherGrant = try #require((request["grant"] as? [String: Any])?["number"] as? String, "\(request.text)")
            try await Task.sleep(for: .milliseconds(5))
            let otherUse = try await otherLab.post("/v1/usage", ["events": [UsageScenarioTests.event(otherGrant, tokens: 700, key: "other-1")]])
            #expect(otherUse.int("accepted") == 1, "\(otherUse.text)")

            let path = "/v1/grants/\(grant)/usage/events"
            let listed = try await CSVCheck.allItems(lab, path)
            #expect(listed.map { $0["key"]?.string ?? "" } == ["call,1", "call \"2\"", "call-3"])
            #expect(listed.map { $0["status"]?.string ?? "" } == ["accepted", "accepted", "denied"])
            #expect(listed.map { $0["grant"]?.string ?? "" } == [grant, grant, grant])
            #expect(listed[2]["rule"]?.string == "R27" && listed[2]["quota"]?.string == "grant")
            #expect(listed[0]["metadata"]?.string.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
                == ["note": "north, \"east\"\nline two", "model": "m-1"])
            #expect(listed[1]["metadata"] == nil)
            #expect(Self.ids(listed) == Self.ids(listed).sorted())
            #expect(try await CSVCheck.allItems(lab, path + "?limit=1").map { $0["key"]?.string ?? "" } == ["call,1", "call \"2\"", "call-3"])
            let afterFirst = try await CSVCheck.allItems(lab, path + "?cursor=\(Self.ids(listed)[0])")
            #expect(afterFirst.count == 2)
            // The holder, a regulator and an operator read the same; the other lab's grant lists only its own.
            let body = try await lab.get(path).text
            #expect(try await cast.as("enterprise").get(path).text == body)
            #expect(try await cast.as("regulator").get(path).text == body)
            #expect(try await admin.get(path).text == body)
            #expect(try await CSVCheck.allItems(otherLab, "/v1/grants/\(otherGrant)/usage/events").map { $0["key"]?.string ?? "" } == ["other-1"])

            // Hidden: another lab, a department and a registrar get what a grant that does not exist gets.
            let missing = "/v1/grants/GR-2026-999999/usage/events"
            for (name, client) in [("other lab", otherLab), ("ministry", cast.as("ministry")), ("registrar", cast.as("registrar"))] {
                let hidden = try await client.get(path)
                let absent = try await client.get(missing)
                #expect(hidden.status == .notFound && absent.status == .notFound, "\(name)")
                #expect(AuthorizationMatrixTests.normalised(hidden.text, path: path) == AuthorizationMatrixTests.normalised(absent.text, path: missing), "\(name)")
                #expect(try await client.get(path + "?format=csv").status == .notFound)
            }
            try await Self.expectRefused(lab, path, [("limit=0", "limit")])
        }
    }

    /// Every other list answers CSV equal to its JSON too: parties, registrations, access requests,
    /// grants, and the statement keeps its documented form on the shared encoder.
    @Test func R28_everyOtherListAndTheStatementAnswerCSVEqualToTheirJSON() async throws {
        try await RegistryScenarioTests.withCast(limits: Self.limits) { cast, _ in
            let (_, grant) = try await UsageScenarioTests.grant(cast, quota: 100_000, title: Self.awkwardTitle)
            _ = try await cast.as("lab").post("/v1/usage", ["events": [UsageScenarioTests.event(grant, tokens: 4_000, key: "s-1")]])
            let ministry = cast.as("ministry")
            let dataset = try await Self.dataset(ministry, "Rail freight")
            _ = try await ministry.post("/v1/registrations", Fixture.claim(dataset))
            let regulator = cast.as("regulator")
            #expect(try await CSVCheck.allItems(regulator, "/v1/parties?limit=2").count == 6)
            #expect(try await CSVCheck.allItems(regulator, "/v1/registrations").count == 1)
            #expect(try await CSVCheck.allItems(regulator, "/v1/access-requests").count == 1)
            #expect(try await CSVCheck.allItems(cast.as("lab"), "/v1/grants").count == 1)
            #expect(try await CSVCheck.allItems(cast.as("ministry"), "/v1/grants").isEmpty)

            let today = String(ISO8601DateFormatter.string(
                from: Date().addingTimeInterval(2 * 86_400), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate]).prefix(10))
            let path = "/v1/statements?from=2026-01-01&to=\(today)"
            let csv = try await cast.as("lab").raw(path, accept: "text/csv")
            #expect(csv.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(csv.headers[.contentDisposition]?.contains("filename=\"statement-\(cast.ids["lab"]!)-2026-01-01-\(today).csv\"") == true)
            let records = try await StandardCSV.parse(csv.text)
            #expect(records.first == ["party", "from", "to", "kind", "side", "grant", "dataset", "counterparty", "postings", "tokens", "amount_fen"])
            #expect(records.map { $0[3] } == ["kind", "opening_balance", "use", "total_debits", "total_credits", "closing_balance"])
            #expect(records[1][4...9].allSatisfy(\.isEmpty) && records[2][5] == grant)
            #expect(try await cast.as("lab").raw(path + "&format=csv").text == csv.text)
            #expect(try await cast.as("lab").raw(path + "&format=json", accept: "text/csv").headers[.contentType] == "application/json; charset=utf-8")
        }
    }
}
