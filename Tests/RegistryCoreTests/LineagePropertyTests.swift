import RegistryCore
import Testing

/// The graph core against a plain reference implementation on thousands of random DAGs: the same
/// ancestors and descendants, the same effective restrictions after every change, the same refusals —
/// with edges in the contiguous snapshot, in the overlay added since, or both.
@Suite struct LineagePropertyTests {

    /// Adjacency lists and recursion-free reference computations.
    struct Reference {
        var parents: [[(Int32, TransformationKind)]]
        var children: [[Int32]]
        var own: [Restrictions]

        init(nodes: Int) {
            parents = Array(repeating: [], count: nodes + 1)
            children = Array(repeating: [], count: nodes + 1)
            own = Array(repeating: Restrictions(), count: nodes + 1)
        }

        func reachable(from start: Int32, down: Bool) -> Set<Int32> {
            var seen: Set<Int32> = []
            var stack = [start]
            while let node = stack.popLast() {
                let next = down ? children[Int(node)] : parents[Int(node)].map(\.0)
                for other in next where seen.insert(other).inserted { stack.append(other) }
            }
            return seen
        }

        /// Each node reachable from `start` with its least number of edges from it (breadth first).
        func distances(from start: Int32, down: Bool) -> [Int32: Int32] {
            var result: [Int32: Int32] = [:]
            var frontier = [start]
            var level: Int32 = 0
            var seen: Set<Int32> = [start]
            while !frontier.isEmpty {
                level += 1
                var next: [Int32] = []
                for node in frontier {
                    for other in down ? children[Int(node)] : parents[Int(node)].map(\.0) where seen.insert(other).inserted {
                        result[other] = level
                        next.append(other)
                    }
                }
                frontier = next
            }
            return result
        }

        /// Effective restrictions by evaluating every node in a topological order computed afresh.
        func effective() -> [Restrictions] {
            var indegree = parents.map(\.count)
            var order: [Int32] = []
            var ready = (1..<parents.count).filter { indegree[$0] == 0 }.map(Int32.init)
            while let node = ready.popLast() {
                order.append(node)
                for child in children[Int(node)] {
                    indegree[Int(child)] -= 1
                    if indegree[Int(child)] == 0 { ready.append(child) }
                }
            }
            var result = own
            for node in order {
                var value = own[Int(node)]
                for (parent, kind) in parents[Int(node)] { value = value.inheriting(result[Int(parent)], through: kind) }
                result[Int(node)] = value
            }
            return result
        }
    }

    /// A graph of `nodes` datasets without edges, a scratch for it, and its reference.
    static func emptyGraph(nodes: Int) -> (LineageGraph, TraversalScratch, Reference) {
        var graph = LineageGraph()
        graph.ensureNode(Int32(nodes))
        return (graph, TraversalScratch(), Reference(nodes: nodes))
    }

    static func randomRestrictions(_ random: inout SplitMix64) -> Restrictions {
        Restrictions(
            grade: Grade.allCases.randomElement(using: &random)!,
            personalInformation: PersonalInformationLevel.allCases.randomElement(using: &random)!,
            prohibitions: NameSet(bits: random.next() & 0xF),
            permittedPurposes: Bool.random(using: &random) ? .all : NameSet(bits: random.next() & 0xFF),
            permittedRegions: Bool.random(using: &random) ? .all : NameSet(bits: random.next() & 0xFF),
            flagged: Int.random(in: 0..<10, using: &random) == 0)
    }

    @Test(arguments: 0..<4)
    func theCoreAgreesWithTheReferenceOnRandomDAGs(batch: Int) throws {
        for seed in UInt64(batch * 1_000)..<UInt64(batch * 1_000 + 1_000) {
            var random = SplitMix64(state: seed)
            let nodes = Int.random(in: 2...40, using: &random)
            var (graph, scratch, reference) = Self.emptyGraph(nodes: nodes)

            for _ in 0..<Int.random(in: 0...(nodes * 3), using: &random) {
                // Now and then move the edges into the contiguous snapshot, as a rebuild does; later
                // edges then live beside it.
                if Int.random(in: 0..<12, using: &random) == 0 {
                    graph.compact()
                    continue
                }
                if Int.random(in: 0..<10, using: &random) == 0 {
                    // Change the kind of an existing edge (an anonymisation approved, say).
                    let targets = (1...nodes).filter { !reference.parents[$0].isEmpty }
                    if let target = targets.randomElement(using: &random) {
                        let index = Int.random(in: 0..<reference.parents[target].count, using: &random)
                        let kind = TransformationKind.allCases.randomElement(using: &random)!
                        graph.setKind(kind, from: reference.parents[target][index].0, to: Int32(target), scratch: &scratch)
                        reference.parents[target][index].1 = kind
                    }
                    continue
                }
                if Int.random(in: 0..<4, using: &random) == 0 {
                    let node = Int32.random(in: 1...Int32(nodes), using: &random)
                    let restrictions = Self.randomRestrictions(&random)
                    graph.setOwnRestrictions(restrictions, of: node, scratch: &scratch)
                    reference.own[Int(node)] = restrictions
                    continue
                }
                let source = Int32.random(in: 1...Int32(nodes), using: &random)
                let target = Int32.random(in: 1...Int32(nodes), using: &random)
                let kind = TransformationKind.allCases.randomElement(using: &random)!
                let closesCycle = source == target || reference.reachable(from: target, down: true).contains(source)
                let duplicate = reference.children[Int(source)].contains(target)
                do {
                    try graph.addEdge(from: source, to: target, kind: kind, scratch: &scratch)
                    #expect(!closesCycle && !duplicate, "seed \(seed): accepted \(source) → \(target)")
                    reference.parents[Int(target)].insert((source, kind), at: 0)
                    reference.children[Int(source)].append(target)
                } catch .cycle(let path) {
                    #expect(closesCycle, "seed \(seed): refused \(source) → \(target) as a cycle")
                    // The reported path is a real cycle through the new edge.
                    #expect(path.first == source && path.last == source && path[1] == target, "seed \(seed): \(path)")
                    for (from, to) in zip(path.dropFirst(), path.dropFirst(2)) {
                        #expect(reference.children[Int(from)].contains(to), "seed \(seed): \(from) → \(to) is not an edge")
                    }
                } catch .duplicate {
                    #expect(duplicate && !closesCycle, "seed \(seed)")
                } catch {
                    Issue.record("seed \(seed): unexpected \(error)")
                }
            }

            let expected = reference.effective()
            for node in Int32(1)...Int32(nodes) {
                #expect(graph.effectiveRestrictions(of: node) == expected[Int(node)], "seed \(seed): node \(node)")
                let descendants = graph.collect(from: node, .descendants, budget: nodes, scratch: &scratch).nodes
                #expect(Set(descendants) == reference.reachable(from: node, down: true), "seed \(seed): descendants of \(node)")
                #expect(descendants.count == Set(descendants).count)
                let ancestors = graph.collect(from: node, .ancestors, budget: nodes, scratch: &scratch).nodes
                #expect(Set(ancestors) == reference.reachable(from: node, down: false), "seed \(seed): ancestors of \(node)")
                // The descendant set (from the reachability index, or walked when edges were added below).
                var set: [Int32] = []
                let whole = graph.descendantSet(of: node, budget: nodes, scratch: &scratch) { set.append($0); return true }
                #expect(Set(set) == reference.reachable(from: node, down: true) && set.count == Set(set).count, "seed \(seed): set of \(node)")
                #expect(whole.reached == set.count && !whole.budgetExhausted, "seed \(seed)")
                let budget = Int.random(in: 0...set.count, using: &random)
                var counted = 0
                let cut = graph.descendantSet(of: node, budget: budget, scratch: &scratch) { _ in counted += 1; return true }
                #expect(cut.reached == budget && counted == budget && cut.budgetExhausted == (budget < set.count), "seed \(seed): budget \(budget)")
            }
        }
    }

    /// R10/R25 rely on walks: every node at its least depth, nearest first, within the depth limit and the
    /// budget (the budget keeping the nearest) — on DAGs whose edges all run from lower to higher ids and
    /// on DAGs with edges both ways, in the snapshot and the overlay.
    @Test(arguments: [true, false])
    func R10_R25_walksReportLeastDepthsNearestFirst(forwardOnly: Bool) {
        for seed in UInt64(50_000)..<UInt64(50_800) {
            var random = SplitMix64(state: seed)
            let nodes = Int.random(in: 2...60, using: &random)
            var (graph, scratch, reference) = Self.emptyGraph(nodes: nodes)
            let edges = Int.random(in: 0...(nodes * 3), using: &random)
            let compactAt = Int.random(in: 0...edges, using: &random)
            for index in 0..<edges {
                if index == compactAt { graph.compact() }
                var source = Int32.random(in: 1...Int32(nodes), using: &random)
                var target = Int32.random(in: 1...Int32(nodes), using: &random)
                if forwardOnly && source > target { swap(&source, &target) }
                guard source != target, !reference.children[Int(source)].contains(target),
                      !reference.reachable(from: target, down: true).contains(source) else { continue }
                do {
                    try graph.addEdge(from: source, to: target, kind: .derived, scratch: &scratch)
                } catch {
                    Issue.record("seed \(seed): \(source) → \(target) refused: \(error)")
                }
                reference.parents[Int(target)].append((source, .derived))
                reference.children[Int(source)].append(target)
            }
            for node in Int32(1)...Int32(nodes) {
                for direction in [LineageGraph.Direction.descendants, .ancestors] {
                    let expected = reference.distances(from: node, down: direction == .descendants)
                    // Everything, then within a depth limit, then within a budget.
                    var reported: [(Int32, Int32)] = []
                    let whole = graph.walk(from: node, direction, budget: nodes, scratch: &scratch) { reported.append(($0, $1)); return true }
                    #expect(whole.reached == expected.count && !whole.budgetExhausted, "seed \(seed)")
                    #expect(Dictionary(reported, uniquingKeysWith: { first, _ in first }) == expected, "seed \(seed): \(direction) of \(node)")
                    #expect(reported.count == expected.count && zip(reported, reported.dropFirst()).allSatisfy { $0.1 <= $1.1 }, "seed \(seed): nearest first")

                    let maxDepth = Int32.random(in: 1...3, using: &random)
                    var limited: [Int32: Int32] = [:]
                    graph.walk(from: node, direction, maxDepth: maxDepth, budget: nodes, scratch: &scratch) { limited[$0] = $1; return true }
                    #expect(limited == expected.filter { $0.value <= maxDepth }, "seed \(seed): \(direction) of \(node) to depth \(maxDepth)")

                    let budget = Int.random(in: 0...max(0, expected.count), using: &random)
                    var nearest: [(Int32, Int32)] = []
                    let partial = graph.walk(from: node, direction, budget: budget, scratch: &scratch) { nearest.append(($0, $1)); return true }
                    #expect(partial.reached == budget && partial.budgetExhausted == (budget < expected.count), "seed \(seed)")
                    let cut = nearest.map(\.1).max() ?? 0
                    #expect(nearest.allSatisfy { expected[$0.0] == $0.1 }, "seed \(seed): depths within the budget")
                    #expect(expected.filter { $0.value < cut }.allSatisfy { entry in nearest.contains { $0.0 == entry.key } },
                            "seed \(seed): the budget keeps the nearest")
                }
            }
        }
    }
}
