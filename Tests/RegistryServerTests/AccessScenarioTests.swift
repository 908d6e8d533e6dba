import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import RegistryCore
import RegistryStore
import Testing

/// Policies, access requests, grants and decisions over real HTTP on a live server and a real PostgreSQL.
@Suite struct AccessScenarioTests {
    static let digest = String(repeating: "ab", count: 32)

    static func policy(purposes: [String]) -> [String: Any] {
        [
            "rules": [
                ["id": "labs-may-train", "kind": "permission", "action": "use",
                 "constraints": ["purposes": purposes, "assigneeKinds": ["model_lab", "enterprise", "department"]]],
                ["id": "no-marketing", "kind": "prohibition", "action": "use", "constraints": ["purposes": ["marketing"]]],
                ["id": "delete-after", "kind": "duty", "action": "use", "duty": "delete", "constraints": ["retentionDays": 90]],
            ],
            "approval": "automatic", "pricePerMillionTokens": 800,
        ]
    }

    @Test func R20_R22_R23_R24_aLabObtainsAGrantAndDecisionsFollowThePolicy() async throws {
        try await RegistryScenarioTests.withCast { cast, registry in
            let enterprise = cast.as("enterprise")
            let lab = cast.as("lab")
            let created = try await enterprise.post("/v1/datasets", Fixture.dataset("Retail baskets", government: false))
            let dataset = try #require(created.int("id"))

            // R20: without a policy nothing is permitted: the request is recorded, refused, with its reason.
            let until = "2030-01-01T00:00:00Z"
            let early = try await lab.post("/v1/access-requests", ["dataset": dataset, "purpose": "model_training", "tokens": 5_000_000, "validUntil": until])
            #expect(early.status == .created, "\(early.text)")
            #expect(early.string("state") == "refused")
            #expect(early.refusalRules == ["R20"])

            let set = try await enterprise.call(.put, "/v1/datasets/\(dataset)/policy", Self.policy(purposes: ["model_training", "model_evaluation"]))
            #expect(set.status == .ok, "\(set.text)")
            #expect(set.int("version") == 1)
            // Only the holder sets it.
            #expect(try await lab.call(.put, "/v1/datasets/\(dataset)/policy", Self.policy(purposes: ["marketing"])).status == .forbidden)

            // ODRL out and back in: the same rules, a new version.
            let odrl = try await lab.get("/v1/datasets/\(dataset)/policy/odrl")
            #expect(odrl.status == .ok)
            #expect(odrl.text.contains("http://www.w3.org/ns/odrl.jsonld"))
            let reimport = try await enterprise.client.execute(
                uri: "/v1/datasets/\(dataset)/policy/odrl", method: .put,
                headers: [.contentType: "application/ld+json", .authorization: "Bearer \(cast.keys["enterprise"]!)"],
                body: ByteBuffer(string: odrl.text)) { response in
                    (response.status, (try? JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8))) as? [String: Any] ?? [:])
                }
            #expect(reimport.0 == .ok)
            #expect((reimport.1["version"] as? NSNumber)?.intValue == 2)
            #expect((reimport.1["rules"] as? [Any])?.count == 3)
            #expect((reimport.1["pricePerMillionTokens"] as? NSNumber)?.int64Value == 800)

            // Bad input names its field and writes nothing.
            let badPurpose = try await lab.post("/v1/access-requests", ["dataset": dataset, "purpose": "astrology", "tokens": 5, "validUntil": until])
            #expect(badPurpose.status == .badRequest)
            #expect(badPurpose.text.contains("\"purpose\""))
            let badTime = try await lab.post("/v1/access-requests", ["dataset": dataset, "purpose": "model_training", "tokens": 5, "validUntil": "soon"])
            #expect(badTime.status == .badRequest)
            #expect(badTime.text.contains("validUntil"))

            // R22/R23: a permitted request becomes an active grant at once.
            let request = try await lab.post("/v1/access-requests", ["dataset": dataset, "purpose": "model_training", "tokens": 5_000_000, "validUntil": until])
            #expect(request.status == .created, "\(request.text)")
            #expect(request.string("state") == "agreed")
            let grant = try #require(request["grant"] as? [String: Any])
            let grantNumber = try #require(grant["number"] as? String)
            #expect(grant["state"] as? String == "active")
            #expect((grant["pricePerMillionTokens"] as? NSNumber)?.int64Value == 800)
            #expect((grant["retentionDays"] as? NSNumber)?.intValue == 90)

            // R24: decisions.
            let allowed = try await lab.get("/v1/decisions?dataset=\(dataset)&purpose=model_training&tokens=1000")
            #expect(allowed.status == .ok, "\(allowed.text)")
            #expect(allowed["allow"] as? Bool == true)
            #expect(allowed.string("policyRule") == "labs-may-train")
            #expect(allowed.string("grant") == grantNumber)
            let prohibited = try await lab.get("/v1/decisions?dataset=\(dataset)&purpose=marketing&tokens=1000")
            #expect(prohibited["allow"] as? Bool == false)
            #expect(prohibited.string("rule") == "R20")
            #expect(prohibited.string("policyRule") == "no-marketing")
            let missing = try await lab.get("/v1/decisions?dataset=\(dataset)&purpose=model_training")
            #expect(missing.status == .badRequest)
            #expect(missing.text.contains("tokens"))
            // A lab may not ask about another party.
            #expect(try await lab.get("/v1/decisions?dataset=\(dataset)&purpose=model_training&tokens=1&party=\(cast.ids["enterprise"]!)").status == .forbidden)
            let batch = try await lab.post("/v1/decisions", ["queries": [
                ["dataset": dataset, "purpose": "model_training", "tokens": 10],
                ["dataset": dataset, "purpose": "model_evaluation", "tokens": 10],
                ["dataset": dataset, "purpose": "model_training", "tokens": 9_000_000],
            ]])
            let answers = try #require(batch["decisions"] as? [[String: Any]], "\(batch.text)")
            #expect(answers.map { $0["allow"] as? Bool } == [true, false, false])
            #expect(answers.map { $0["rule"] as? String } == ["R20", "R23", "R27"])

            // R23: the holder suspends with a reason; decisions deny; the grant's state says why.
            let noReason = try await enterprise.post("/v1/grants/\(grantNumber)/suspend")
            #expect(noReason.status == .badRequest)
            let suspended = try await enterprise.post("/v1/grants/\(grantNumber)/suspend", ["reason": "usage report overdue"])
            #expect(suspended.string("state") == "suspended")
            #expect(try await lab.get("/v1/decisions?dataset=\(dataset)&purpose=model_training&tokens=1")["allow"] as? Bool == false)
            #expect(try await enterprise.post("/v1/grants/\(grantNumber)/resume").string("state") == "active")

            // R25: a regulator marks the source unlawful; the grant is suspended by the cascade.
            let flagged = try await cast.as("regulator").post("/v1/datasets/\(dataset)/flag", ["reason": "collected without consent"])
            #expect(flagged.status == .ok, "\(flagged.text)")
            #expect(flagged["grantsSuspended"] as? [String] == [grantNumber])
            let after = try await lab.get("/v1/grants/\(grantNumber)")
            #expect(after.string("state") == "suspended")
            #expect(after.string("stateReason")?.contains("R25") == true)
            let denied = try await lab.get("/v1/decisions?dataset=\(dataset)&purpose=model_training&tokens=1")
            #expect(denied.string("rule") == "R25")

            // Lists are scoped: the lab sees its request and grant, another lab sees neither.
            #expect(try await lab.get("/v1/grants").items.count == 1)
            #expect(try await lab.get("/v1/access-requests").items.count == 2)

            // Everything survives a rebuild from PostgreSQL: the same digest.
            let rebuilt = try await RegistryLoader.load(from: registry.database)
            #expect(rebuilt.digest == registry.registry.read { $0.digest })
            #expect(rebuilt.grant(number: grantNumber)?.state == .suspended)
        }
    }

    @Test func R17_R19_conditionalSharingWaitsForTheHolderAndBecomesOverdueOnTheSandboxClock() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let ministry = cast.as("ministry")
            let admin = cast.api.as_(cast.operatorKey)
            let bureau = try await admin.post("/v1/parties", Fixture.party("Statistics Bureau", "department", code: "911100000000000175"))
            #expect(bureau.status == .created, "\(bureau.text)")
            let bureauID = try #require(bureau.int("id"))
            let bureauKey = try #require(try await admin.post("/v1/parties/\(bureauID)/keys", ["label": "bureau"]).string("token"))
            let statistics = cast.api.as_(bureauKey)

            var conditional = Fixture.dataset("Hospital admissions")
            conditional["sharing"] = ["category": "conditional", "text": "aggregated use for public health duties"]
            let dataset = try #require(try await ministry.post("/v1/datasets", conditional).int("id"))
            var closed = Fixture.dataset("Personnel files")
            closed["sharing"] = ["category": "not_shared", "text": "Civil Servants Law art. 12"]
            let closedID = try #require(try await ministry.post("/v1/datasets", closed).int("id"))

            let refused = try await statistics.post("/v1/access-requests", [
                "dataset": closedID, "purpose": "public_governance", "tokens": 1_000, "validUntil": "2030-01-01T00:00:00Z", "duty": "census",
            ])
            #expect(refused.refusalRules == ["R17"])
            #expect(refused.text.contains("Civil Servants Law art. 12"))

            let waiting = try await statistics.post("/v1/access-requests", [
                "dataset": dataset, "purpose": "public_governance", "tokens": 1_000, "validUntil": "2030-01-01T00:00:00Z", "duty": "census",
            ])
            #expect(waiting.string("state") == "awaiting_holder", "\(waiting.text)")
            #expect(waiting.string("replyDueOn") != nil)
            let number = try #require(waiting.string("number"))
            let regulator = cast.as("regulator")
            #expect(try await regulator.get("/v1/access-requests?overdue=true").items.isEmpty)

            // Five working days pass without a reply: the request shows up to regulators as overdue.
            let moved = try await admin.post("/v1/sandbox/clock", ["days": 8])
            #expect(moved.status == .ok, "\(moved.text)")
            let overdue = try await regulator.get("/v1/access-requests?overdue=true")
            #expect(overdue.items.compactMap { $0["number"] as? String } == [number])

            // A refusal without reasons is refused; with reasons it is final.
            #expect(try await ministry.post("/v1/access-requests/\(number)/reply", ["agree": false]).status == .badRequest)
            let answered = try await ministry.post("/v1/access-requests/\(number)/reply", ["agree": false, "reason": "identifiable at county level"])
            #expect(answered.string("state") == "refused")
            #expect(answered.refusalRules == ["R19"])
            #expect(try await ministry.post("/v1/access-requests/\(number)/reply", ["agree": true]).status == .conflict)
            #expect(try await regulator.get("/v1/access-requests?overdue=true").items.isEmpty)
        }
    }
}
