import Foundation
import HTTPTypes
import RegistryCore
import Testing

/// `GET /v1/datasets/{id}/restrictions?origins=true` (what the console's dataset page shows): each
/// restriction in effect with the dataset that imposes it, the nearest of the dataset and its ancestors.
@Suite struct RestrictionOriginsTests {
    /// R12, R21, R25: in a chain source → middle → leaf, the leaf's grade, prohibition, narrowed purposes
    /// and flag are named as the source's, its own restrictions as its own; walks mark flagged nodes.
    @Test func R12_R21_R25_eachRestrictionNamesTheAncestorItComesFrom() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let ministry = cast.as("ministry")
            let source = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("Source counts", grade: "important")).int("id"))
            let middle = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("Middle aggregates")).int("id"))
            let leaf = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("Leaf features")).int("id"))
            #expect(try await ministry.call(.put, "/v1/datasets/\(source)/policy", AccessScenarioTests.policy(purposes: ["model_training"])).status == .ok)
            #expect(try await ministry.post("/v1/datasets/\(middle)/lineage", ["sources": [["dataset": source, "kind": "aggregated"]]]).status == .created)
            #expect(try await ministry.post("/v1/datasets/\(leaf)/lineage", ["sources": [["dataset": middle, "kind": "derived"]]]).status == .created)

            // Without `origins` the answer is as before (O(1), no walk).
            let plain = try await ministry.get("/v1/datasets/\(leaf)/restrictions")
            #expect(plain.status == .ok)
            #expect(plain["origins"] == nil)

            func origins(_ dataset: Int64) async throws -> [String: [String: Int64]] {
                let answer = try await ministry.get("/v1/datasets/\(dataset)/restrictions?origins=true")
                #expect(answer.status == .ok, "\(answer.text)")
                var found: [String: [String: Int64]] = [:]
                for origin in answer["origins"] as? [[String: Any]] ?? [] {
                    let restriction = try #require(origin["restriction"] as? String)
                    let value = try #require(origin["value"] as? String)
                    found[restriction, default: [:]][value] = (origin["from"] as? NSNumber)?.int64Value
                }
                return found
            }
            let leafOrigins = try await origins(leaf)
            #expect(leafOrigins["grade"] == ["important": source])
            #expect(leafOrigins["prohibition"] == ["marketing": source])
            #expect(leafOrigins["purposeNotPermitted"]?["statistics"] == source)
            #expect(leafOrigins["purposeNotPermitted"]?["model_training"] == nil)
            #expect(leafOrigins["flagged"] == nil)
            // The source's own restrictions come from itself.
            #expect(try await origins(source)["grade"] == ["important": source])

            // R25: flag the middle dataset; the leaf's flag comes from it, and its walk marks it.
            #expect(try await cast.as("registrar").post("/v1/datasets/\(middle)/flag", ["reason": "source marked unlawful"]).status == .ok)
            #expect(try await origins(leaf)["flagged"] == ["true": middle])
            let walk = try await ministry.get("/v1/datasets/\(leaf)/lineage?direction=ancestors")
            let flagged = Dictionary(uniqueKeysWithValues: walk.items.map { (($0["id"] as? NSNumber)?.int64Value ?? 0, $0["flagged"] as? Bool) })
            #expect(flagged == [middle: true, source: false])

            #expect(try await ministry.get("/v1/datasets/\(leaf)/restrictions?origins=maybe").status == .badRequest)
        }
    }
}
