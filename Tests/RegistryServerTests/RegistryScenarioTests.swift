import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import RegistryCore
import RegistryServer
import PostgresClient
import RegistryStore
import Testing

/// The registry over real HTTP on a live server and a real PostgreSQL.
@Suite struct RegistryScenarioTests {
    /// A live server in sandbox mode with an operator key and one party of each kind.
    struct Cast {
        let api: APIClient
        let operatorKey: String
        var keys: [String: String] = [:]
        var ids: [String: Int64] = [:]

        func `as`(_ name: String) -> APIClient { api.as_(keys[name]) }
    }

    static func withCast(
        connection: PostgresConfiguration? = nil, limits: Limits = Limits(), edge: EdgeLimits = EdgeLimits(),
        _ test: @escaping @Sendable (Cast, RegistryService) async throws -> Void, function: String = #function
    ) async throws {
        let (app, database, registry) = try await TestApp.makeWithRegistry(limits: limits, edge: edge, connection: connection, function: function)
        // The first operator key comes from the local tool path, as `datarights keys create --operator` does.
        let entries = try await registry.execute(
            .registerParty(NewParty(name: "Operator", kind: .operator, region: "CN-BJ", jurisdiction: .mainland, creditCode: nil)), by: nil)
        guard case .party(let operatorParty) = entries[0].record else { throw Problem.internalError }
        let operatorKey = try await registry.issueKey(for: operatorParty.id, label: "bootstrap", by: nil).token
        do {
            // Responses are checked against the document beside the test, not between its requests.
            try await app.test(.live) { client in
                try await ContractCheck.deferringChecks {
                    var cast = Cast(api: APIClient(client: client, token: nil), operatorKey: operatorKey)
                    let admin = cast.api.as_(operatorKey)
                    let people: [(String, [String: Any])] = [
                        ("ministry", Fixture.party("Ministry of Transport", "department", code: Fixture.codes[0])),
                        ("enterprise", Fixture.party("Grid Analytics Co.", "enterprise", code: Fixture.codes[1])),
                        ("lab", Fixture.party("Deep Model Lab", "model_lab", code: Fixture.codes[2])),
                        ("registrar", Fixture.party("Data Registration Centre", "registrar")),
                        ("regulator", Fixture.party("Data Administration", "regulator")),
                    ]
                    for (name, body) in people {
                        let created = try await admin.post("/v1/parties", body)
                        #expect(created.status == .created, "\(name): \(created.text)")
                        let id = try #require(created.int("id"))
                        let key = try await admin.post("/v1/parties/\(id)/keys", ["label": name])
                        let token: String = try #require(key.string("token"), "\(key.text)")
                        cast.ids[name] = id
                        cast.keys[name] = token
                    }
                    try await test(cast, registry)
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

    @Test func R4_R9_claimNoticeObjectionRulingCertificateAndTransfer() async throws {
        try await Self.withCast { cast, _ in
            let ministry = cast.as("ministry")
            let registrar = cast.as("registrar")
            let admin = cast.api.as_(cast.operatorKey)

            let dataset = try await ministry.post("/v1/datasets", Fixture.dataset("Highway traffic counts"))
            #expect(dataset.status == .created)
            let datasetID = try #require(dataset.int("id"))

            let claim = try await ministry.post("/v1/registrations", Fixture.claim(datasetID))
            #expect(claim.status == .created, "\(claim.text)")
            #expect(claim.string("status") == "submitted")
            let number = try #require(claim.string("number"))

            #expect(try await registrar.post("/v1/registrations/\(number)/review").string("status") == "under_review")
            let accepted = try await registrar.post("/v1/registrations/\(number)/decision", ["decision": "accept"])
            #expect(accepted.string("status") == "public_notice")
            #expect(accepted.string("noticeEndsOn") != nil)

            // An objection during notice suspends issuance (R4).
            let objection = try await cast.as("enterprise").post("/v1/registrations/\(number)/objections", ["grounds": "We collected part of this data."])
            #expect(objection.status == .created, "\(objection.text)")
            let objectionID = try #require(objection.int("id"))
            #expect(try await ministry.get("/v1/registrations/\(number)").string("status") == "suspended")
            // Suspended: even after the notice period the certificate waits for the ruling.
            _ = try await admin.post("/v1/sandbox/clock", ["days": 20])
            #expect(try await ministry.get("/v1/registrations/\(number)").string("status") == "suspended")

            let ruling = try await registrar.post("/v1/objections/\(objectionID)/ruling", ["ruling": "dismissed", "reason": "The contract shows sole collection."])
            #expect(ruling.status == .ok, "\(ruling.text)")
            #expect(ruling.string("ruling") == "dismissed")
            // The notice had ended meanwhile, so dismissal issues at once.
            let issued = try await ministry.get("/v1/registrations/\(number)")
            #expect(issued.string("status") == "issued")
            let certificate = try #require(issued.string("issuedCertificate"))

            // Public verification, no key, with and without the right fingerprint (R9).
            let verified = try await cast.api.get("/v1/certificates/\(certificate)?fingerprint=\(Fixture.fingerprint)")
            #expect(verified.status == .ok)
            #expect(verified.string("status") == "valid")
            #expect(verified["fingerprintMatches"] as? Bool == true)
            #expect(verified.string("right") == "hold")
            #expect(verified.string("statement")?.contains("not a final judgment of ownership") == true)
            #expect((verified["holders"] as? [[String: Any]])?.first?["name"] as? String == "Ministry of Transport")
            let wrong = try await cast.api.get("/v1/certificates/\(certificate)?fingerprint=\(String(repeating: "0", count: 64))")
            #expect(wrong["fingerprintMatches"] as? Bool == false)

            // A transfer moves the right; the old certificate reads superseded.
            var transfer = Fixture.claim(datasetID)
            transfer["kind"] = "transfer"
            transfer["sourceType"] = "transferred"
            transfer["certificate"] = certificate
            transfer["transferee"] = cast.ids["enterprise"]!
            let move = try await ministry.post("/v1/registrations", transfer)
            #expect(move.string("status") == "submitted", "\(move.text)")
            let moveNumber = try #require(move.string("number"))
            _ = try await registrar.post("/v1/registrations/\(moveNumber)/review")
            _ = try await registrar.post("/v1/registrations/\(moveNumber)/decision", ["decision": "accept"])
            let advanced = try await admin.post("/v1/sandbox/clock", ["days": 20])
            #expect((advanced["changes"] as? [String])?.contains("certificate.superseded") == true, "\(advanced.text)")
            let old = try await cast.api.get("/v1/certificates/\(certificate)")
            #expect(old.string("status") == "superseded")
            let successor = try #require(old.string("supersededBy"))
            let new = try await cast.api.get("/v1/certificates/\(successor)")
            #expect(new.string("status") == "valid")
            #expect((new["holders"] as? [[String: Any]])?.first?["name"] as? String == "Grid Analytics Co.")
            #expect(try await ministry.get("/v1/datasets/\(datasetID)").int("holder") == cast.ids["enterprise"])

            // R30: every step is in the chain, and the chain verifies.
            let audit = try await cast.as("regulator").get("/v1/audit/verify")
            #expect(audit["valid"] as? Bool == true, "\(audit.text)")
            #expect((audit.int("entries") ?? 0) > 20)
        }
    }

    @Test func R13_R6_R7_refusalsCarryTheirRuleAndReason() async throws {
        try await Self.withCast { cast, _ in
            let ministry = cast.as("ministry")
            let core = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("Grid topology", grade: "core")).int("id"))
            let coreClaim = try await ministry.post("/v1/registrations", Fixture.claim(core))
            #expect(coreClaim.status == .created)
            #expect(coreClaim.string("status") == "refused")
            #expect(coreClaim.refusalRules == ["R13"], "core data (R13): \(coreClaim.text)")

            let general = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("Bus timetables")).int("id"))
            let noEvidence = try await ministry.post("/v1/registrations", Fixture.claim(general, evidence: false))
            #expect(noEvidence.refusalRules == ["R6"], "no evidence (R6): \(noEvidence.text)")
            #expect(noEvidence.text.contains("source evidence"))

            let processor = try await cast.as("enterprise").post("/v1/registrations", Fixture.claim(general, role: "entrusted_processor"))
            #expect(processor.refusalRules == ["R7"], "entrusted processor (R7): \(processor.text)")

            let first = try await ministry.post("/v1/registrations", Fixture.claim(general))
            #expect(first.string("status") == "submitted")
            let competing = try await cast.as("enterprise").post("/v1/registrations", Fixture.claim(general))
            #expect(competing.refusalRules == ["R6"], "competing hold claim (R6 dispute): \(competing.text)")
            // The ministry's claim is not yet published: the refusal says a claim exists, never which (finding 14).
            #expect(!competing.text.contains(first.string("number")!))
            #expect(try await cast.as("enterprise").get("/v1/registrations/\(first.string("number")!)").status == .notFound)
        }
    }

    @Test func R4_anObjectionAfterNoticeIsRefusedWithTheRouteOfRevocation() async throws {
        try await Self.withCast { cast, _ in
            let ministry = cast.as("ministry")
            let registrar = cast.as("registrar")
            let dataset = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("Port throughput")).int("id"))
            let number = try #require(try await ministry.post("/v1/registrations", Fixture.claim(dataset)).string("number"))
            _ = try await registrar.post("/v1/registrations/\(number)/review")
            _ = try await registrar.post("/v1/registrations/\(number)/decision", ["decision": "accept"])
            _ = try await cast.api.as_(cast.operatorKey).post("/v1/sandbox/clock", ["days": 30])
            let late = try await cast.as("enterprise").post("/v1/registrations/\(number)/objections", ["grounds": "Too late?"])
            #expect(late.status == .unprocessableContent, "\(late.text)")
            #expect(late.refusalRules == ["R4"])
            #expect(late.text.contains("revocation"))
        }
    }

    @Test func authorization_otherPartiesObjectsAnswer401_403_404_neverData() async throws {
        try await Self.withCast { cast, _ in
            let ministry = cast.as("ministry")
            let dataset = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("Toll records")).int("id"))
            let pending = try await ministry.post("/v1/registrations", Fixture.claim(dataset))
            let number = try #require(pending.string("number"))

            // No key, a made-up key: 401.
            #expect(try await cast.api.get("/v1/datasets").status == .unauthorized)
            #expect(try await cast.api.as_("drk_000000000000_" + String(repeating: "0", count: 48)).get("/v1/me").status == .unauthorized)
            // A real key altered in any part, cut short or padded: 401; the key itself: 200.
            let real = try #require(cast.as("lab").token)
            let parts = real.split(separator: "_", maxSplits: 2).map(String.init)
            #expect(parts.count == 3 && parts[0] == "drk")
            for forged in [
                real + "0", String(real.dropLast()), real + "_", "drk_\(parts[1])_", "drk__\(parts[2])", "drk_\(parts[1])",
                "DRK_\(parts[1])_\(parts[2])", "drk_\(parts[1])x_\(parts[2])", "drk_\(parts[1])_\(parts[2].dropFirst())x", "drk", "",
            ] {
                #expect(try await cast.api.as_(forged).get("/v1/me").status == .unauthorized, "\(forged)")
            }
            #expect(try await cast.api.as_(real).get("/v1/me").status == .ok)

            // Another party's unpublished registration does not exist for them: 404, no data.
            for other in ["enterprise", "lab"] {
                let peek = try await cast.as(other).get("/v1/registrations/\(number)")
                #expect(peek.status == .notFound, "\(other)")
                #expect(!peek.text.contains("evidence") && !peek.text.contains(Fixture.contract))
                let list = try await cast.as(other).get("/v1/registrations")
                #expect(list.items.isEmpty, "\(other) lists nothing of the ministry's")
            }
            // Nor can they act on it: deciding on it answers as on a missing registration (issue 14) — refused
            // for what kind of party asks, before any registration is looked up.
            let decision = try await cast.as("enterprise").post("/v1/registrations/\(number)/decision", ["decision": "accept"])
            let missing = try await cast.as("enterprise").post("/v1/registrations/REG-2026-99999999/decision", ["decision": "accept"])
            #expect(decision.status == .forbidden, "\(decision.text)")
            #expect(missing.status == decision.status)
            #expect((decision["detail"] as? String)?.contains(number) == false)
            let objection = try await cast.as("enterprise").post("/v1/registrations/\(number)/objections", ["grounds": "ours"])
            #expect(objection.status == .notFound, "\(objection.text)")
            // Officers read everything.
            #expect(try await cast.as("registrar").get("/v1/registrations/\(number)").status == .ok)
            #expect(try await cast.as("regulator").get("/v1/registrations/\(number)").status == .ok)

            // Each role outside its authority: 403 with the reason, no data.
            let refusals: [(String, HTTPRequest.Method, String, [String: Any]?)] = [
                ("lab", .post, "/v1/parties", Fixture.party("Shadow", "operator")),
                ("ministry", .post, "/v1/parties/1/keys", ["label": "steal"]),
                ("registrar", .post, "/v1/datasets", Fixture.dataset("Registrar data", government: false)),
                ("regulator", .post, "/v1/registrations/\(number)/review", nil),
                ("lab", .get, "/v1/audit/verify", nil),
                ("ministry", .get, "/v1/admin/state", nil),
                ("registrar", .post, "/v1/sandbox/clock", ["days": 1]),
            ]
            for (who, method, path, body) in refusals {
                let answer = try await cast.as(who).call(method, path, body)
                #expect(answer.status == .forbidden, "\(who) \(method) \(path): \(answer.status) \(answer.text)")
                #expect(answer.string("type")?.hasSuffix("/forbidden") == true)
            }

            // A revoked key stops working at once.
            let lab = try #require(cast.keys["lab"])
            let prefix = String(lab.split(separator: "_")[1])
            #expect(try await cast.api.as_(cast.operatorKey).call(.delete, "/v1/keys/\(prefix)").status == .noContent)
            #expect(try await cast.as("lab").get("/v1/me").status == .unauthorized)
        }
    }

    @Test func R30_concurrentWritersLeaveOneChainWithoutGapsOrForks() async throws {
        try await Self.withCast { cast, registry in
            let before = registry.registry.read { $0.auditHead.lastSequence }
            let writers = ["ministry", "enterprise", "lab"]
            // Each writer on its own connection, so that the server really has 48 writes in hand at once
            // (one test-client connection would hand them over one after the other).
            let port = try #require(cast.api.client.port)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<48 {
                    let key = try #require(cast.keys[writers[index % writers.count]])
                    let body = String(decoding: try JSONSerialization.data(withJSONObject: Fixture.dataset("Concurrent \(index)", government: index % writers.count == 0)), as: UTF8.self)
                    group.addTask { try await RawHTTP.status(port: port, "POST", "/v1/datasets", token: key, json: body) }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == .created }, "\(statuses)")
            let verification = try await cast.as("regulator").get("/v1/audit/verify")
            #expect(verification["valid"] as? Bool == true, "\(verification.text)")
            #expect(verification.int("entries") == before + 48)
            // What the database holds is what the core chained: same head, contiguous sequence numbers.
            let head = registry.registry.read { $0.auditHead }
            #expect(verification.string("head") == head.lastHash.hexString)
            let stored = try await registry.database.pool.query("SELECT count(*), min(seq), max(seq) FROM audit_event") { row in
                try row.decode((Int64, Int64, Int64).self)
            }[0]
            #expect(stored.0 == stored.2 && stored.1 == 1, "no gaps: \(stored)")
        }
    }

    @Test func theCatalogFiltersAndPagesWithACursor() async throws {
        try await Self.withCast { cast, _ in
            let ministry = cast.as("ministry")
            for index in 0..<7 {
                var body = Fixture.dataset(index % 2 == 0 ? "Rail freight \(index)" : "Air quality \(index)", grade: index < 3 ? "important" : "general")
                body["tags"] = index % 2 == 0 ? ["rail"] : ["air"]
                #expect(try await ministry.post("/v1/datasets", body).status == .created)
            }
            // The lab reads the catalog a page of three at a time.
            let lab = cast.as("lab")
            var titles: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await lab.get("/v1/datasets?limit=3" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(page.status == .ok)
                #expect(page.items.count <= 3)
                titles += page.items.compactMap { $0["title"] as? String }
                cursor = page.string("nextCursor")
                pages += 1
            } while cursor != nil && pages < 10
            #expect(titles.count == 7)
            #expect(Set(titles).count == 7, "no item twice across pages")
            #expect(try await lab.get("/v1/datasets?grade=important").items.count == 3)
            #expect(try await lab.get("/v1/datasets?q=rail&tag=rail").items.count == 4)
            #expect(try await lab.get("/v1/datasets?q=AIR").items.count == 3, "text search ignores case")
            let bad = try await lab.get("/v1/datasets?grade=secret")
            #expect(bad.status == .badRequest)
            #expect(bad.text.contains("grade"))
            #expect(try await lab.get("/v1/datasets?limit=1000").status == .badRequest)
        }
    }

    @Test func R5_R4_settingsChangeWhoMayObjectAndWhichDaysCount() async throws {
        try await Self.withCast { cast, _ in
            let admin = cast.api.as_(cast.operatorKey)
            let updated = try await admin.call(.put, "/v1/settings", [
                "objectionPolicy": "interested_parties",
                "calendar": ["holidays": ["2026-12-31", "2027-01-01"], "workingWeekendDays": ["2027-01-03"]],
            ])
            #expect(updated.status == .ok, "\(updated.text)")
            #expect(updated.string("objectionPolicy") == "interested_parties")
            #expect(try await cast.as("lab").call(.put, "/v1/settings", ["objectionPolicy": "anyone"]).status == .forbidden)

            let ministry = cast.as("ministry")
            let dataset = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("Ferry schedules")).int("id"))
            let number = try #require(try await ministry.post("/v1/registrations", Fixture.claim(dataset)).string("number"))
            _ = try await cast.as("registrar").post("/v1/registrations/\(number)/review")
            _ = try await cast.as("registrar").post("/v1/registrations/\(number)/decision", ["decision": "accept"])
            let objection = try await cast.as("lab").post("/v1/registrations/\(number)/objections", ["grounds": "We object."])
            #expect(objection.status == .forbidden, "\(objection.text)")
            #expect(objection.string("detail")?.hasPrefix("R5") == true)
        }
    }

    @Test func onlyTheHolderEditsADatasetAndACertifiedFingerprintNeedsAChange() async throws {
        try await Self.withCast { cast, _ in
            let ministry = cast.as("ministry")
            let id = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("Harbour traffic")).int("id"))
            let edited = try await ministry.call(.patch, "/v1/datasets/\(id)", ["title": "Harbour vessel traffic", "grade": "important"])
            #expect(edited.status == .ok, "\(edited.text)")
            #expect(edited.string("title") == "Harbour vessel traffic")
            #expect(edited.string("grade") == "important")
            let intruder = try await cast.as("enterprise").call(.patch, "/v1/datasets/\(id)", ["title": "Mine now"])
            #expect(intruder.status == .forbidden)
            #expect(try await ministry.get("/v1/datasets/\(id)").string("title") == "Harbour vessel traffic")

            let number = try #require(try await ministry.post("/v1/registrations", Fixture.claim(id)).string("number"))
            _ = try await cast.as("registrar").post("/v1/registrations/\(number)/review")
            _ = try await cast.as("registrar").post("/v1/registrations/\(number)/decision", ["decision": "accept"])
            _ = try await cast.api.as_(cast.operatorKey).post("/v1/sandbox/clock", ["days": 20])
            let refingerprint = try await ministry.call(.patch, "/v1/datasets/\(id)", ["fingerprint": String(repeating: "ee", count: 32)])
            #expect(refingerprint.status == .conflict, "\(refingerprint.text)")
            #expect(refingerprint.text.contains("register a change"))
        }
    }

    @Test func R12_R25_lineageOverHTTPWalksWithinBudgetsAndFlagsDescendants() async throws {
        try await Self.withCast { cast, _ in
            let ministry = cast.as("ministry")
            var ids: [Int64] = []
            for index in 0..<6 {
                var body = Fixture.dataset("Stage \(index)", grade: index == 0 ? "important" : "general")
                if index == 0 {
                    body["piLevel"] = "personal"
                    body["individualsCovered"] = 1_200_000
                }
                ids.append(try #require(try await ministry.post("/v1/datasets", body).int("id")))
            }
            // 0 → 1 → 2 → 3, 0 → 4, 5 alone
            for (source, target) in [(0, 1), (1, 2), (2, 3), (0, 4)] {
                let recorded = try await ministry.post("/v1/datasets/\(ids[target])/lineage", ["sources": [["dataset": ids[source], "kind": "derived"]]])
                #expect(recorded.status == .created, "\(recorded.text)")
            }
            let cycle = try await ministry.post("/v1/datasets/\(ids[0])/lineage", ["sources": [["dataset": ids[3], "kind": "derived"]]])
            #expect(cycle.status == .unprocessableContent)
            #expect(cycle.text.contains("a cycle would close"), "\(cycle.text)")
            #expect(try await cast.as("enterprise").post("/v1/datasets/\(ids[5])/lineage", ["sources": [["dataset": ids[0], "kind": "derived"]]]).status == .forbidden)

            let lab = cast.as("lab")
            let all = try await lab.get("/v1/datasets/\(ids[0])/lineage?direction=descendants")
            #expect(Set(all.items.compactMap { ($0["id"] as? NSNumber)?.int64Value }) == Set([ids[1], ids[2], ids[3], ids[4]]))
            #expect((all["budget"] as? [String: Any])?["exhausted"] as? Bool == false)
            let limited = try await lab.get("/v1/datasets/\(ids[0])/lineage?budget=2")
            #expect(limited.items.count == 2)
            #expect((limited["budget"] as? [String: Any])?["exhausted"] as? Bool == true, "a partial answer says so")
            let shallow = try await lab.get("/v1/datasets/\(ids[0])/lineage?depth=1")
            #expect(Set(shallow.items.compactMap { ($0["id"] as? NSNumber)?.int64Value }) == Set([ids[1], ids[4]]))
            let ancestors = try await lab.get("/v1/datasets/\(ids[3])/lineage?direction=ancestors")
            #expect(ancestors.items.compactMap { ($0["depth"] as? NSNumber)?.intValue } == [1, 2, 3])
            let path = try await lab.get("/v1/lineage/path?from=\(ids[0])&to=\(ids[3])")
            #expect((path["path"] as? [NSNumber])?.map(\.int64Value) == [ids[0], ids[1], ids[2], ids[3]])
            let none = try await lab.get("/v1/lineage/path?from=\(ids[3])&to=\(ids[0])")
            #expect(none.status == .notFound)
            #expect(none.string("detail")?.contains("is not derived from") == true, "\(none.text)")
            // A budget that runs out first is not an answer that there is no path: it says so, naming the budget.
            let cut = try await lab.get("/v1/lineage/path?from=\(ids[0])&to=\(ids[3])&budget=1")
            #expect(cut.status == .notFound)
            #expect(((cut["errors"] as? [[String: Any]])?.first?["field"] as? String) == "budget", "\(cut.text)")
            #expect(try await lab.get("/v1/lineage/path?from=\(ids[0])&to=999999").string("detail")?.contains("does not exist") == true)

            // R12: the grade and PI level of the source reach the deepest descendant.
            let restrictions = try await lab.get("/v1/datasets/\(ids[3])/restrictions")
            #expect(restrictions.string("grade") == "important")
            #expect(restrictions.string("piLevel") == "personal")

            // R25: the regulator marks the source unlawful; exactly its descendants are flagged.
            #expect(try await lab.post("/v1/datasets/\(ids[0])/flag", ["reason": "x"]).status == .forbidden)
            let flagged = try await cast.as("regulator").post("/v1/datasets/\(ids[0])/flag", ["reason": "Collected without consent."])
            #expect(flagged.status == .ok, "\(flagged.text)")
            #expect(Set((flagged["descendantsFlagged"] as? [NSNumber])?.map(\.int64Value) ?? []) == Set([ids[1], ids[2], ids[3], ids[4]]))
            for (index, id) in ids.enumerated() {
                let effective = try await lab.get("/v1/datasets/\(id)/restrictions")
                #expect(effective["flagged"] as? Bool == (index != 5), "dataset \(index)")
            }
            let impact = try await cast.as("registrar").get("/v1/datasets/\(ids[1])/impact")
            #expect((impact["descendants"] as? [Any])?.count == 2)
            #expect((impact["parties"] as? [[String: Any]])?.first?["name"] as? String == "Ministry of Transport")
        }
    }

    @Test func theSandboxClockDoesNotExistOutsideSandboxMode() async throws {
        let (app, database, registry) = try await TestApp.makeWithRegistry(sandbox: false)
        let operatorParty = try await registry.execute(
            .registerParty(NewParty(name: "Operator", kind: .operator, region: "CN-BJ", jurisdiction: .mainland, creditCode: nil)), by: nil)
        guard case .party(let party) = operatorParty[0].record else { throw Problem.internalError }
        let key = try await registry.issueKey(for: party.id, label: "test", by: nil).token
        let statuses = try await app.test(.router) { client -> [HTTPResponse.Status] in
            let api = APIClient(client: client, token: key)
            return [try await api.post("/v1/sandbox/clock", ["days": 1]).status, try await api.get("/v1/sandbox/clock").status]
        }
        #expect(statuses == [.notFound, .notFound])
        await registry.close()
        await database.shutdown()
    }

    @Test func badInputIsA400NamingTheFieldAndWritesNothing() async throws {
        try await Self.withCast { cast, registry in
            let before = registry.registry.read { $0.auditHead.lastSequence }
            var body = Fixture.dataset("Broken")
            body["fingerprint"] = "not-a-digest"
            body["grade"] = "secret"
            let answer = try await cast.as("ministry").post("/v1/datasets", body)
            #expect(answer.status == .badRequest)
            #expect(answer.text.contains("grade"), "\(answer.text)")
            body["grade"] = "general"
            let second = try await cast.as("ministry").post("/v1/datasets", body)
            #expect(second.status == .badRequest)
            #expect((second["errors"] as? [[String: Any]])?.contains { $0["field"] as? String == "fingerprint" } == true)
            let badCode = try await cast.api.as_(cast.operatorKey).post("/v1/parties", Fixture.party("Bad code", "enterprise", code: "9144030071526726XA"))
            #expect(badCode.status == .badRequest)
            #expect(badCode.text.contains("creditCode"))
            #expect(registry.registry.read { $0.auditHead.lastSequence } == before, "nothing was written")
        }
    }
}
