import RegistryCore
import Testing

/// The lineage graph: cycles refused with their path, restrictions inherited and kept up to date
/// incrementally (R12, R21, R25), walks bounded by budgets.
@Suite struct LineageTests {
    func graph(nodes: Int32) -> (LineageGraph, TraversalScratch) {
        var graph = LineageGraph()
        graph.ensureNode(nodes)
        return (graph, TraversalScratch())
    }

    @Test func anEdgeThatWouldCloseACycleIsRefusedWithThePath() throws {
        var (graph, scratch) = graph(nodes: 5)
        try graph.addEdge(from: 1, to: 2, kind: .derived, scratch: &scratch)
        try graph.addEdge(from: 2, to: 3, kind: .aggregated, scratch: &scratch)
        try graph.addEdge(from: 3, to: 4, kind: .joined, scratch: &scratch)
        #expect(throws: LineageGraph.EdgeRefusal.cycle(path: [4, 1, 2, 3, 4])) {
            try graph.addEdge(from: 4, to: 1, kind: .derived, scratch: &scratch)
        }
        #expect(throws: LineageGraph.EdgeRefusal.cycle(path: [3, 3])) { try graph.addEdge(from: 3, to: 3, kind: .derived, scratch: &scratch) }
        #expect(throws: LineageGraph.EdgeRefusal.duplicate) { try graph.addEdge(from: 1, to: 2, kind: .derived, scratch: &scratch) }
        #expect(throws: LineageGraph.EdgeRefusal.unknownDataset(9)) { try graph.addEdge(from: 1, to: 9, kind: .derived, scratch: &scratch) }
        // A diamond is not a cycle.
        try graph.addEdge(from: 1, to: 5, kind: .derived, scratch: &scratch)
        try graph.addEdge(from: 5, to: 4, kind: .derived, scratch: &scratch)
        #expect(graph.edgeCount == 5)
    }

    @Test func R12_aDerivedDatasetTakesTheHighestGradeAndPIAndAnonymisationClearsOnlyPI() throws {
        var (graph, scratch) = graph(nodes: 4)
        graph.setOwnRestrictions(Restrictions(grade: .important, personalInformation: .personal), of: 1, scratch: &scratch)
        graph.setOwnRestrictions(Restrictions(grade: .general, personalInformation: .sensitive), of: 2, scratch: &scratch)
        try graph.addEdge(from: 1, to: 3, kind: .joined, scratch: &scratch)
        try graph.addEdge(from: 2, to: 3, kind: .joined, scratch: &scratch)
        #expect(graph.effectiveRestrictions(of: 3).grade == .important)
        #expect(graph.effectiveRestrictions(of: 3).personalInformation == .sensitive)

        try graph.addEdge(from: 3, to: 4, kind: .approvedAnonymisation, scratch: &scratch)
        #expect(graph.effectiveRestrictions(of: 4).grade == .important, "anonymisation keeps the grade")
        #expect(graph.effectiveRestrictions(of: 4).personalInformation == PersonalInformationLevel.none, "and clears the PI level")

        // A grade change upstream reaches every descendant; reading stays O(1).
        let changed = graph.setOwnRestrictions(Restrictions(grade: .core, personalInformation: .personal), of: 1, scratch: &scratch)
        #expect(Set(changed) == [1, 3, 4])
        #expect(graph.effectiveRestrictions(of: 4).grade == .core)
    }

    @Test func R21_prohibitionsUniteAndPermissionsIntersectThroughAFiftyDeepChain() throws {
        var (graph, scratch) = graph(nodes: 51)
        var vocabulary = Vocabulary()
        let resale = vocabulary.bit(for: "resale")!
        let research = vocabulary.bit(for: "research")!
        let training = vocabulary.bit(for: "model_training")!
        for node in Int32(1)..<51 { try graph.addEdge(from: node, to: node + 1, kind: .derived, scratch: &scratch) }
        // The grandparent of everything forbids resale and permits research and training; node 25 permits only research.
        graph.setOwnRestrictions(
            Restrictions(prohibitions: NameSet(bits: 1 << UInt64(resale)), permittedPurposes: NameSet(bits: 1 << UInt64(research) | 1 << UInt64(training))),
            of: 1, scratch: &scratch)
        graph.setOwnRestrictions(Restrictions(permittedPurposes: NameSet(bits: 1 << UInt64(research))), of: 25, scratch: &scratch)
        let deepest = graph.effectiveRestrictions(of: 51)
        #expect(vocabulary.names(in: deepest.prohibitions) == ["resale"])
        #expect(vocabulary.names(in: deepest.permittedPurposes) == ["research"])
        #expect(vocabulary.names(in: graph.effectiveRestrictions(of: 24).permittedPurposes) == ["research", "model_training"])
        #expect(graph.effectiveRestrictions(of: 51).permittedRegions.isUnrestricted)
    }

    @Test func R25_flaggingASourceFlagsExactlyItsDescendants() throws {
        var (graph, scratch) = graph(nodes: 8)
        // 1 → 2 → 3, 1 → 4, 5 → 6 → 3, 7 alone, 8 ← 6
        for (source, target) in [(1, 2), (2, 3), (1, 4), (5, 6), (6, 3), (6, 8)] as [(Int32, Int32)] {
            try graph.addEdge(from: source, to: target, kind: .derived, scratch: &scratch)
        }
        var flagged = graph.ownRestrictions(of: 5)
        flagged.flagged = true
        let changed = graph.setOwnRestrictions(flagged, of: 5, scratch: &scratch)
        #expect(Set(changed) == [5, 6, 3, 8])
        #expect((Int32(1)...8).filter { graph.effectiveRestrictions(of: $0).flagged } == [3, 5, 6, 8])
        flagged.flagged = false
        graph.setOwnRestrictions(flagged, of: 5, scratch: &scratch)
        #expect((Int32(1)...8).filter { graph.effectiveRestrictions(of: $0).flagged }.isEmpty, "clearing the flag clears it downstream")
    }

    @Test func walksReportWhenTheirBudgetRanOut() throws {
        var (graph, scratch) = graph(nodes: 101)
        for node in Int32(2)...101 { try graph.addEdge(from: 1, to: node, kind: .derived, scratch: &scratch) }
        let partial = graph.collect(from: 1, .descendants, budget: 10, scratch: &scratch)
        #expect(partial.nodes.count == 10)
        #expect(partial.outcome.budgetExhausted)
        let whole = graph.collect(from: 1, .descendants, budget: 1_000, scratch: &scratch)
        #expect(whole.nodes.count == 100)
        #expect(!whole.outcome.budgetExhausted)
        #expect(graph.collect(from: 50, .ancestors, budget: 10, scratch: &scratch).nodes == [1])
    }

    @Test func walksOnASnapshotWithoutEdgesAndAfterEdgesAddedToIt() throws {
        var (graph, scratch) = graph(nodes: 5)
        graph.compact()
        #expect(graph.collect(from: 1, .descendants, budget: 100, scratch: &scratch).nodes.isEmpty)
        try graph.addEdge(from: 1, to: 2, kind: .derived, scratch: &scratch)
        graph.ensureNode(70)
        try graph.addEdge(from: 2, to: 70, kind: .derived, scratch: &scratch)
        #expect(graph.collect(from: 1, .descendants, budget: 100, scratch: &scratch).nodes == [2, 70])
        graph.compact()
        try graph.addEdge(from: 70, to: 3, kind: .derived, scratch: &scratch)
        #expect(graph.collect(from: 1, .descendants, budget: 100, scratch: &scratch).nodes == [2, 70, 3])
        #expect(graph.collect(from: 3, .ancestors, budget: 100, scratch: &scratch).nodes == [70, 2, 1])
    }

    @Test func R25_descendantSetsComeFromTheIndexUntilAnEdgeIsAddedBelow() throws {
        var (graph, scratch) = graph(nodes: 6)
        // 1 → 2 → 3, 1 → 4; 5 → 6 apart.
        for (source, target) in [(1, 2), (2, 3), (1, 4), (5, 6)] as [(Int32, Int32)] {
            try graph.addEdge(from: source, to: target, kind: .derived, scratch: &scratch)
        }
        func set(_ node: Int32) -> [Int32] {
            var nodes: [Int32] = []
            graph.descendantSet(of: node, budget: 100, scratch: &scratch) { nodes.append($0); return true }
            return nodes
        }
        #expect(graph.reachabilityIndex == nil, "no index before the first snapshot")
        #expect(Set(set(1)) == [2, 3, 4], "walked")
        graph.compact()
        #expect(graph.reachabilityIndex?.datasets == 6)
        // From the index: depth-first post-order (3, 2, 4 below 1), not nearest first.
        #expect(set(1) == [3, 2, 4])
        #expect(set(5) == [6])
        // An edge added below 1 since the snapshot: 1's set is walked again and has it; 5's is unaffected.
        try graph.addEdge(from: 3, to: 6, kind: .derived, scratch: &scratch)
        #expect(set(1) == [2, 4, 3, 6])
        #expect(set(2) == [3, 6])
        #expect(set(5) == [6])
        #expect(set(4) == [])
    }

    @Test func depthLimitsAndPaths() throws {
        var (graph, scratch) = graph(nodes: 6)
        for (source, target) in [(1, 2), (2, 3), (3, 4), (1, 5), (5, 4), (4, 6)] as [(Int32, Int32)] {
            try graph.addEdge(from: source, to: target, kind: .derived, scratch: &scratch)
        }
        #expect(Set(graph.collect(from: 1, .descendants, maxDepth: 1, budget: 100, scratch: &scratch).nodes) == [2, 5])
        #expect(Set(graph.collect(from: 1, .descendants, maxDepth: 2, budget: 100, scratch: &scratch).nodes) == [2, 5, 3, 4])
        #expect(graph.path(from: 1, to: 6, budget: 100, scratch: &scratch) == .found([1, 5, 4, 6]))
        #expect(graph.path(from: 6, to: 1, budget: 100, scratch: &scratch) == .none)
        #expect(graph.path(from: 3, to: 3, budget: 1, scratch: &scratch) == .found([3]))
        // A budget too small to reach 6 says so, rather than that there is no path.
        #expect(graph.path(from: 1, to: 6, budget: 2, scratch: &scratch) == .budgetExhausted)
        #expect(graph.path(from: 1, to: 6, budget: 5, scratch: &scratch) == .found([1, 5, 4, 6]))
        // 5 is not among 2's descendants (3, 4, 6): that is certain only once all of them were searched.
        #expect(graph.path(from: 2, to: 5, budget: 2, scratch: &scratch) == .budgetExhausted)
        #expect(graph.path(from: 2, to: 5, budget: 4, scratch: &scratch) == .none)
    }
}
