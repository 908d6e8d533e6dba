import Foundation
import Logging
import PostgresClient
import RegistryCore
import RegistryStore
import TestSupport
import Testing

/// The synthetic registry: deterministic, valid by the registry's own rules, bulk-loaded with its audit
/// chain, and rebuilt into the same core.
@Suite struct SyntheticRegistryTests {
    let now = Timestamp(microsecondsSince1970: 1_795_399_200 * 1_000_000)

    @Test func theSameSeedGivesTheSameRegistry() {
        let first = SyntheticRegistry.generate(datasets: 3_000, seed: 7, now: now)
        let second = SyntheticRegistry.generate(datasets: 3_000, seed: 7, now: now)
        let other = SyntheticRegistry.generate(datasets: 3_000, seed: 8, now: now)
        #expect(first.changeEntries == second.changeEntries)
        #expect(first.changeEntries != other.changeEntries)
    }

    @Test func itIsPlausibleAndObeysTheRegistrysRules() throws {
        let registry = SyntheticRegistry.generate(datasets: 20_000, seed: 2_026, now: now)
        // 26+ departments, enterprises, labs, registrars, regulators, across many regions.
        let kinds = Dictionary(grouping: registry.parties, by: \.kind).mapValues(\.count)
        #expect(kinds[.department]! >= 26)
        #expect(kinds[.enterprise]! >= 10 && kinds[.modelLab]! >= 10 && kinds[.registrar]! >= 1 && kinds[.regulator]! >= 1)
        #expect(Set(registry.datasets.map(\.region)).count >= 25)
        for party in registry.parties { if let code = party.creditCode { #expect(CreditCode.problem(with: code) == nil, "\(code)") } }
        // Grades and PI levels in plausible proportions.
        let core = registry.datasets.filter { $0.grade == .core }.count
        let important = registry.datasets.filter { $0.grade == .important }.count
        #expect(core > 0 && core < important && important < registry.datasets.count / 3)
        #expect(registry.datasets.filter { $0.personalInformation == .sensitive }.count > 0)
        // Registrations in every state of the lifecycle that a claim can rest in.
        let statuses = Set(registry.registrations.map(\.status))
        #expect(statuses.isSuperset(of: [.submitted, .underReview, .publicNotice, .suspended, .issued, .refused]))
        #expect(!registry.registrations.contains { registry.datasets[Int($0.dataset.rawValue) - 1].grade == .core && $0.status != .refused })
        // Lineage: about three edges a dataset, acyclic (sources always older), with long chains.
        #expect(registry.derivations.count > registry.datasets.count * 2)
        #expect(registry.derivations.allSatisfy { $0.source.rawValue < $0.target.rawValue })
        var state = RegistryState()
        for dataset in registry.datasets { state.apply(.dataset(dataset)) }
        state.loadDerivations(registry.derivations)
        var scratch = TraversalScratch()
        var deepest: Int32 = 0
        var widest = 0
        for node in stride(from: Int32(registry.datasets.count), to: Int32(registry.datasets.count - 200), by: -1) {
            state.lineage.graph.walk(from: node, .ancestors, budget: 100_000, scratch: &scratch) { _, level in
                deepest = max(deepest, level)
                return true
            }
        }
        for base in Int32(1)...10 {
            widest = max(widest, state.lineage.graph.collect(from: base, .descendants, budget: 100_000, scratch: &scratch).nodes.count)
        }
        #expect(deepest >= 20, "long derivation chains exist (depth \(deepest))")
        #expect(widest >= 1_000, "national base datasets fan out widely (\(widest) descendants)")
        // A typical dataset's descendants stay within its domain of 5,000.
        let typical = state.lineage.graph.collect(from: 12_345, .descendants, budget: 100_000, scratch: &scratch).nodes
        #expect(typical.allSatisfy { $0 > 10_000 && $0 <= 15_000 }, "descendants of 12345 stay in its domain")

        // Policies on about half the datasets that are not core, each valid; grants for purposes their policy names.
        let eligible = registry.datasets.filter { $0.grade != .core }.count
        #expect(registry.policies.count > eligible * 4 / 10 && registry.policies.count < eligible * 6 / 10)
        #expect(registry.policies.allSatisfy { $0.policy.validate().isEmpty })
        #expect(registry.grants.count > registry.policies.count / 25)
        let policies = Dictionary(uniqueKeysWithValues: registry.policies.map { ($0.dataset, $0.policy) })
        for grant in registry.grants {
            let permitted = policies[grant.dataset]?.rules.contains { $0.kind == .permission && $0.constraints.purposes?.contains(grant.purpose) == true }
            #expect(permitted == true, "grant \(grant.number) names a purpose its dataset's policy permits")
        }
        // R21: the restrictions a cold start computes in one pass equal those kept incrementally when each
        // policy is set on a live registry.
        let cold = registry.state()
        var live = RegistryState()
        for dataset in registry.datasets { live.apply(.dataset(dataset)) }
        live.loadDerivations(registry.derivations)
        for policy in registry.policies { live.apply(.policy(policy)) }
        var differing = 0
        for id in 1...Int32(registry.datasets.count) where cold.lineage.graph.effectiveRestrictions(of: id) != live.lineage.graph.effectiveRestrictions(of: id) {
            differing += 1
        }
        #expect(differing == 0)
        // Every active grant is one the registry would have made: its use is allowed now (R20–R24).
        for grant in registry.grants where grant.state == .active {
            let decision = cold.decide(DecisionQuery(party: grant.assignee, dataset: grant.dataset, purpose: grant.purpose, tokens: 1_000), at: now)
            #expect(decision.allow, "grant \(grant.number): \(decision.reason)")
        }
        // …and the lineage really carries them: some datasets inherit a prohibition they do not state themselves.
        let inherited = (1...Int32(registry.datasets.count)).filter { id in
            let own = cold.lineage.graph.ownRestrictions(of: id).prohibitions.bits
            return cold.lineage.graph.effectiveRestrictions(of: id).prohibitions.bits & ~own != 0
        }.count
        #expect(inherited > 100, "\(inherited) datasets inherit a prohibition")
    }

    @Test func R20_aBulkLoadChainsEveryRecordStoresEachRuleSetOnceAndRebuildsTheSameCore() async throws {
        let configuration = try await TestCluster.makeDatabase()
        var limits = Limits()
        limits.databasePoolConnections = 2
        let database = try RegistryDatabase(configuration: configuration, limits: limits, logger: Logger(label: "test.bulk"))
        try await database.migrate()
        let registry = SyntheticRegistry.generate(datasets: 2_000, seed: 11, now: now)
        let report = try await BulkLoader.load(registry, into: database, at: now)
        #expect(report.auditEntries == Int64(registry.changeEntries.count))
        await #expect(throws: BulkLoader.Failure.self) { try await BulkLoader.load(registry, into: database, at: now) }

        guard case .valid(let entries, _) = try await AuditLog.verify(database.pool) else {
            Issue.record("the bulk-loaded chain must verify")
            return
        }
        #expect(entries == report.auditEntries)

        // The core rebuilt from PostgreSQL equals the core built from the same records in memory.
        var expected = RegistryState()
        for entry in registry.changeEntries where { if case .derivation = entry.record { return false } else { return true } }() {
            expected.apply(entry.record)
        }
        expected.loadDerivations(registry.derivations)
        var head = AuditHead()
        for entry in registry.changeEntries { _ = head.append(at: now, actor: "system", kind: entry.kind, payload: CanonicalJSON.encode(entry.record)) }
        expected.restoreAuditHead(head)
        let service = try await RegistryService.open(database: database, sandbox: false, logger: Logger(label: "test.bulk"))
        #expect(service.registry.read { $0.digest } == expected.digest)
        #expect(service.registry.read { $0.lineage.graph.edgeCount } == registry.derivations.count)

        // R20: each distinct rule set is stored once and the policies name theirs — from the bulk load, and
        // from the write path: a policy set to another's rules adds no rule set, one with new rules adds one.
        func counts() async throws -> (ruleSets: Int, policies: Int) {
            try await database.pool.query("SELECT (SELECT count(*) FROM policy_rules), (SELECT count(*) FROM dataset_policy)") {
                (try $0.decode(Int.self, column: 0), try $0.decode(Int.self, column: 1))
            }[0]
        }
        let distinct = Set(registry.policies.map { CanonicalJSON.encode($0.policy.rules) }).count
        #expect(try await counts() == (distinct, registry.policies.count))
        #expect(distinct < registry.policies.count, "holders reuse policies in the generated registry")
        let first = try #require(registry.policies.first)
        let other = try #require(registry.policies.first { CanonicalJSON.encode($0.policy.rules) != CanonicalJSON.encode(first.policy.rules) })
        func holder(of dataset: DatasetID) -> Party? {
            service.registry.read { state in state.dataset(dataset).flatMap { state.party($0.holder) } }
        }
        _ = try await service.execute(.setPolicy(NewPolicy(policy: Policy(dataset: first.dataset, rules: other.policy.rules))), by: holder(of: first.dataset))
        #expect(try await counts() == (distinct, registry.policies.count))
        let reordered = Array(other.policy.rules.reversed())
        _ = try await service.execute(.setPolicy(NewPolicy(policy: Policy(dataset: other.dataset, rules: reordered))), by: holder(of: other.dataset))
        #expect(try await counts().ruleSets == distinct + (reordered == other.policy.rules ? 0 : 1))
        let pair = [first.dataset.rawValue, other.dataset.rawValue]
        let shared = try await database.pool.query("SELECT count(DISTINCT rules_id) FROM dataset_policy WHERE dataset_id = ANY(\(pair))") {
            try $0.decode(Int.self, column: 0)
        }
        #expect(shared == [reordered == other.policy.rules ? 1 : 2])
        // The rebuild reads them back as they were set.
        let live = service.registry.read { $0.digest }
        await service.close()
        let reopened = try await RegistryService.open(database: database, sandbox: false, logger: Logger(label: "test.bulk"))
        #expect(reopened.registry.read { $0.digest } == live)
        #expect(reopened.registry.read { $0.policy(of: first.dataset)?.policy.rules } == other.policy.rules)
        #expect(reopened.registry.read { $0.policy(of: other.dataset)?.policy.rules } == reordered)
        await reopened.close()
        await database.shutdown()
    }
}
