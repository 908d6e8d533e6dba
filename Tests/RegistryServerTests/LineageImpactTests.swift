import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import RegistryCore
import RegistryServer
import RegistryStore
import Testing
import TestSupport

/// Impact analysis over REST on a synthetic registry with lineage, certificates and grants: both lists
/// paged, the pages together equal to what a plain reading of the core gives, and bad paging refused.
@Suite struct LineageImpactTests {
    /// A party's concern with the datasets a change reaches, computed the plain way from the core.
    struct Concern: Equatable, CustomStringConvertible {
        var roles: Set<String> = []
        var datasets: Set<Int64> = []
        var grants = 0
        var description: String { "\(roles.sorted()) on \(datasets.count) datasets, \(grants) grants" }
    }

    @Test func R25_impactPagesEveryDescendantAndEveryPartyConcerned() async throws {
        let now = Timestamp(microsecondsSince1970: 1_795_399_200 * 1_000_000)
        let configuration = try await TestCluster.makeDatabase()
        let database = try RegistryDatabase(configuration: configuration, limits: Limits(), logger: Logger(label: "test.impact"))
        try await database.migrate()
        let synthetic = SyntheticRegistry.generate(datasets: 3_000, seed: 5, now: now)
        _ = try await BulkLoader.load(synthetic, into: database, at: now, chainAudit: false)
        // The registry's clock is pinned to the moment the synthetic registry was made: certificates and notice
        // periods are judged on that day, whatever day the test runs (the clock service completes notices at start).
        let registry = try await RegistryService.open(
            database: database, sandbox: true, logger: Logger(label: "test.impact"), wallClock: { now })
        let app = buildApplication(
            configuration: ServerConfiguration(port: 0, sandbox: true), database: database, registry: registry,
            metrics: TestApp.metrics, logger: Logger(label: "test.impact"))
        let key = try await registry.issueKey(for: synthetic.parties[0].id, label: "impact", by: nil).token

        // Among datasets with live grants and their ancestors, the one with the most descendants; and what the
        // core says of it.
        let (start, expectedDescendants, expectedParties) = registry.registry.read { state -> (Int64, [Int64], [Int64: Concern]) in
            let granted = (1...Int64(synthetic.datasets.count)).filter { id in
                state.market.grants(on: DatasetID(rawValue: id)).contains { !$0.state.isTerminal }
            }
            let candidates = Set(granted.prefix(20).flatMap { id in
                [Int32(id)] + ScratchPool.withScratch { state.lineage.graph.collect(from: Int32(id), .ancestors, budget: 100_000, scratch: &$0).nodes }
            })
            var best: (Int64, [Int64]) = (0, [])
            for id in candidates.sorted() {
                let nodes = ScratchPool.withScratch { state.lineage.graph.collect(from: id, .descendants, budget: 100_000, scratch: &$0).nodes }
                if nodes.count > best.1.count { best = (Int64(id), nodes.map(Int64.init)) }
            }
            let today = state.today(at: registry.now())
            var parties: [Int64: Concern] = [:]
            for dataset in [best.0] + best.1 {
                let id = DatasetID(rawValue: dataset)
                if let holder = state.dataset(id)?.holder.rawValue {
                    parties[holder, default: Concern()].roles.insert("holder")
                    parties[holder]!.datasets.insert(dataset)
                }
                for certificate in state.rights.certificates(of: id) where certificate.status(on: today) == .valid {
                    for holder in certificate.holders.map(\.rawValue) {
                        parties[holder, default: Concern()].roles.insert("\(certificate.right.rawValue) right")
                        parties[holder]!.datasets.insert(dataset)
                    }
                }
                for grant in state.market.grants(on: id) where !grant.state.isTerminal {
                    parties[grant.assignee.rawValue, default: Concern()].roles.insert("grant")
                    parties[grant.assignee.rawValue]!.datasets.insert(dataset)
                    parties[grant.assignee.rawValue]!.grants += 1
                }
            }
            return (best.0, best.1, parties)
        }
        // The case is worth testing only if it has every kind of concern and more than a page of each list.
        #expect(expectedDescendants.count > 200, "descendants: \(expectedDescendants.count)")
        #expect(expectedParties.count > 20, "parties: \(expectedParties.count)")
        let roles = expectedParties.values.reduce(into: Set<String>()) { $0.formUnion($1.roles) }
        #expect(roles.isSuperset(of: ["holder", "grant"]) && roles.contains(where: { $0.hasSuffix(" right") }), "\(roles)")

        try await app.test(.router) { client in
            let api = APIClient(client: client, token: key)
            // Descendants, page by page, nearest first: together the core's walk, in its order.
            var descendants: [Int64] = []
            var depths: [Int] = []
            var cursor: String? = "0"
            var pages = 0
            while let next = cursor, pages < 1_000 {
                let page = try await api.get("/v1/datasets/\(start)/impact?limit=37&cursor=\(next)")
                #expect(page.status == .ok, "\(page.text)")
                let items = page["descendants"] as? [[String: Any]] ?? []
                #expect(items.count <= 37)
                descendants += items.compactMap { ($0["id"] as? NSNumber)?.int64Value }
                depths += items.compactMap { ($0["depth"] as? NSNumber)?.intValue }
                #expect(page.int("descendantCount") == Int64(expectedDescendants.count))
                #expect(page.int("partyCount") == Int64(expectedParties.count))
                cursor = page.string("nextCursor")
                pages += 1
            }
            #expect(descendants == expectedDescendants)
            #expect(depths == depths.sorted(), "nearest first")
            #expect(pages == (expectedDescendants.count + 36) / 37)

            // Parties, page by page in id order: every party concerned, once, with its roles and counts.
            var parties: [Int64: Concern] = [:]
            var order: [Int64] = []
            var partyCursor: String? = "0"
            while let next = partyCursor, order.count <= expectedParties.count {
                let page = try await api.get("/v1/datasets/\(start)/impact?limit=7&partyCursor=\(next)")
                #expect(page.status == .ok, "\(page.text)")
                for party in page["parties"] as? [[String: Any]] ?? [] {
                    let id = try #require((party["id"] as? NSNumber)?.int64Value)
                    order.append(id)
                    let datasets = (party["datasets"] as? NSNumber)?.intValue ?? -1
                    parties[id] = Concern(
                        roles: Set(party["roles"] as? [String] ?? []), datasets: Set((0..<max(0, datasets)).map(Int64.init)),
                        grants: (party["grants"] as? NSNumber)?.intValue ?? -1)
                    #expect((party["roles"] as? [String]) == (party["roles"] as? [String])?.sorted())
                }
                partyCursor = page.string("nextPartyCursor")
            }
            #expect(order == expectedParties.keys.sorted())
            for (id, expected) in expectedParties {
                let answered = try #require(parties[id], "party \(id) is missing")
                #expect(answered.roles == expected.roles, "party \(id)")
                #expect(answered.datasets.count == expected.datasets.count, "party \(id)")
                #expect(answered.grants == expected.grants, "party \(id)")
            }

            // A budget cuts both lists and says so.
            let cut = try await api.get("/v1/datasets/\(start)/impact?budget=10")
            #expect(cut.int("descendantCount") == 10)
            #expect((cut["budget"] as? [String: Any])?["exhausted"] as? Bool == true)
            #expect((cut["descendants"] as? [[String: Any]])?.compactMap { ($0["id"] as? NSNumber)?.int64Value } == Array(expectedDescendants.prefix(10)))

            // Bad paging is a 400 naming the parameter.
            for (query, field) in [("partyCursor=x", "partyCursor"), ("partyCursor=-3", "partyCursor"), ("limit=0", "limit"),
                                   ("limit=201", "limit"), ("cursor=-1", "cursor"), ("budget=0", "budget")] {
                let bad = try await api.get("/v1/datasets/\(start)/impact?\(query)")
                #expect(bad.status == .badRequest, "\(query)")
                #expect(((bad["errors"] as? [[String: Any]])?.first?["field"] as? String) == field, "\(query): \(bad.text)")
            }
        }
        await registry.close()
        await database.shutdown()
    }
}
