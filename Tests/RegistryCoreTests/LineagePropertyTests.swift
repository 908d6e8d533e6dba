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
            var graph = LineageGraph()
            graph.ensureNode(Int32(nodes))
            var scratch = TraversalScratch()
            var reference = Reference(nodes: nodes)

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
            }
        }
    }
}
