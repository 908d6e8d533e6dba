import Foundation
import RegistryCore
import RegistryStore
import Testing

/// Finding 9: a group commit that PostgreSQL refuses because of one request's event fails that request
/// alone; every other request of the group is answered normally.
@Suite struct UsageIsolationTests {
    @Test func F9_oneRefusedEventFailsOnlyItsOwnRequest() async throws {
        try await RegistryScenarioTests.withCast { cast, registry in
            let (_, grant) = try await UsageScenarioTests.grant(cast, quota: 10_000_000)
            let lab = PartyID(rawValue: try #require(cast.ids["lab"]))
            let now = registry.now()
            // 48 requests at once, so that they share group commits; number 20 carries a key PostgreSQL
            // cannot store (a NUL character; the HTTP edge refuses it, the pipeline must survive it anyway).
            let outcomes = await withTaskGroup(of: (Int, Result<[UsageReply], any Error>).self) { group in
                for request in 0..<48 {
                    group.addTask {
                        let key = request == 20 ? "bad\u{0}key" : "isolation-\(request)"
                        let events = (0..<50).map { index in
                            UsageEvent(grant: grant, tokens: 10, usedAt: now, key: index == 0 ? key : "isolation-\(request)-\(index)")
                        }
                        do {
                            return (request, .success(try await registry.recordUsage(UsageSubmission(party: lab, events: events))))
                        } catch {
                            return (request, .failure(error))
                        }
                    }
                }
                var outcomes: [Int: Result<[UsageReply], any Error>] = [:]
                for await (request, outcome) in group { outcomes[request] = outcome }
                return outcomes
            }
            var failed: [Int] = []
            var accepted = 0
            for (request, outcome) in outcomes {
                switch outcome {
                case .failure: failed.append(request)
                case .success(let replies): accepted += replies.filter(\.answer.accepted).count
                }
            }
            #expect(failed == [20], "only the request with the refused event fails; failed: \(failed.sorted())")
            #expect(accepted == 47 * 50)
            let balance = try await cast.as("regulator").get("/v1/ledger/balance")
            #expect(balance["balanced"] as? Bool == true, "\(balance.text)")
            let rebuilt = try await RegistryLoader.load(from: registry.database)
            #expect(rebuilt.digest == registry.registry.read { $0.digest })
        }
    }
}
