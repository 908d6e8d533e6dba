/// Working memory for graph walks, reused across walks so that a walk allocates nothing once the
/// buffers have grown to the graph's size. Not shared between threads: each reader takes its own
/// (``ScratchPool``).
public struct TraversalScratch: Sendable {
    /// `mark[n] == generation` means visited in the current walk; bumping the generation clears all marks.
    var mark: [UInt32] = []
    var generation: UInt32 = 0
    /// The walk's queue, in visiting order.
    public internal(set) var queue: [Int32] = []
    var depth: [Int32] = []
    var predecessor: [Int32] = []
    var pending: [Int32] = []
    var dirty: [Bool] = []

    public init() {}

    mutating func prepare(nodeCount: Int) {
        if mark.count < nodeCount + 1 {
            let extra = nodeCount + 1 - mark.count
            mark.append(contentsOf: repeatElement(0, count: extra))
            depth.append(contentsOf: repeatElement(0, count: extra))
            predecessor.append(contentsOf: repeatElement(0, count: extra))
            pending.append(contentsOf: repeatElement(0, count: extra))
            dirty.append(contentsOf: repeatElement(false, count: extra))
        }
        if generation == .max {
            for index in mark.indices { mark[index] = 0 }
            generation = 0
        }
        generation += 1
        queue.removeAll(keepingCapacity: true)
    }

    func isVisited(_ node: Int32) -> Bool { mark[Int(node)] == generation }

    mutating func visit(_ node: Int32, from previous: Int32) {
        mark[Int(node)] = generation
        predecessor[Int(node)] = previous
        depth[Int(node)] = previous == 0 ? 0 : depth[Int(previous)] + 1
        queue.append(node)
    }
}

extension LineageGraph {
    public enum Direction: Sendable {
        /// Datasets derived from the start, directly or not.
        case descendants
        /// Datasets the start derives from, directly or not.
        case ancestors
    }

    /// How a walk ended.
    public struct WalkOutcome: Equatable, Sendable {
        /// Nodes reached, not counting the start.
        public var reached: Int
        /// True when the visit budget ran out before the walk was complete: the result is partial.
        public var budgetExhausted: Bool
    }

    /// Breadth-first walk from `start` (not itself reported), calling `visit(node, depth)` for each node
    /// reached, nearest first. Stops at `maxDepth`, after `budget` nodes, or when `visit` returns false.
    /// Uses an explicit queue; allocates nothing once `scratch` has grown.
    @discardableResult
    public func walk(
        from start: Int32, _ direction: Direction, maxDepth: Int32 = .max, budget: Int,
        scratch: inout TraversalScratch, visit: (Int32, Int32) -> Bool
    ) -> WalkOutcome {
        scratch.prepare(nodeCount: nodeCount)
        guard contains(start) else { return WalkOutcome(reached: 0, budgetExhausted: false) }
        scratch.visit(start, from: 0)
        var head = 0
        var reached = 0
        while head < scratch.queue.count {
            let node = scratch.queue[head]
            head += 1
            let nodeDepth = scratch.depth[Int(node)]
            guard nodeDepth < maxDepth else { continue }
            var edge = direction == .descendants ? headOut[Int(node)] : headIn[Int(node)]
            while edge >= 0 {
                let next = direction == .descendants ? edgeTarget[Int(edge)] : edgeSource[Int(edge)]
                edge = direction == .descendants ? nextOut[Int(edge)] : nextIn[Int(edge)]
                if scratch.isVisited(next) { continue }
                if reached == budget { return WalkOutcome(reached: reached, budgetExhausted: true) }
                scratch.visit(next, from: node)
                reached += 1
                if !visit(next, nodeDepth + 1) { return WalkOutcome(reached: reached, budgetExhausted: false) }
            }
        }
        return WalkOutcome(reached: reached, budgetExhausted: false)
    }

    /// Convenience: the nodes of a walk, nearest first, with the outcome.
    public func collect(
        from start: Int32, _ direction: Direction, maxDepth: Int32 = .max, budget: Int, scratch: inout TraversalScratch
    ) -> (nodes: [Int32], outcome: WalkOutcome) {
        var nodes: [Int32] = []
        let outcome = walk(from: start, direction, maxDepth: maxDepth, budget: budget, scratch: &scratch) { node, _ in
            nodes.append(node)
            return true
        }
        return (nodes, outcome)
    }

    /// A shortest derivation path from `ancestor` down to `descendant`, or nil when there is none
    /// within `budget` visited nodes.
    public func path(from ancestor: Int32, to descendant: Int32, budget: Int, scratch: inout TraversalScratch) -> [Int32]? {
        guard contains(ancestor), contains(descendant) else { return nil }
        if ancestor == descendant { return [ancestor] }
        var found = false
        walk(from: ancestor, .descendants, budget: budget, scratch: &scratch) { node, _ in
            found = node == descendant
            return !found
        }
        guard found else { return nil }
        var path: [Int32] = [descendant]
        var step = descendant
        while step != ancestor {
            step = scratch.predecessor[Int(step)]
            path.append(step)
        }
        return path.reversed()
    }
}
