import Foundation
import HTTPTypes
import RegistryCore
import Testing

/// `GET /v1/rules`: every rule a refusal names can be looked up, without a key.
@Suite struct RulesEndpointTests {
    @Test func R13_aRefusalsRuleIsLookedUpByItsIdWithoutAKey() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let anyone = cast.api.as_(nil)
            let list = try await anyone.get("/v1/rules")
            #expect(list.status == .ok, "\(list.text)")
            #expect(list.items.compactMap { $0["id"] as? String } == (1...30).map { "R\($0)" })
            #expect(list.items.allSatisfy { ($0["statement"] as? String)?.isEmpty == false })

            let ministry = cast.as("ministry")
            let core = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("Grid topology", grade: "core")).int("id"))
            let claim = try await ministry.post("/v1/registrations", Fixture.claim(core))
            #expect(claim.refusalRules == ["R13"], "\(claim.text)")
            for rule in claim.refusalRules {
                let looked = try await anyone.get("/v1/rules/\(rule)")
                #expect(looked.status == .ok)
                #expect(looked.string("id") == rule)
                #expect(looked.string("statement") == Rule(rawValue: rule)?.statement)
            }
            #expect(try await anyone.get("/v1/rules/r16").string("statement")?.contains("100,000") == true)
            let unknown = try await anyone.get("/v1/rules/R31")
            #expect(unknown.status == .notFound)
            #expect(unknown.string("detail")?.contains("R1 to R30") == true)
        }
    }
}
