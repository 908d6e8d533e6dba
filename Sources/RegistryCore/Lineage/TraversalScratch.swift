/// Working memory for graph walks, reused across walks so that a walk allocates nothing once the
/// buffers have grown to the graph's size. Not shared between threads: each reader takes its own
/// (``ScratchPool``).
public struct TraversalScratch: Sendable {
    /// One bit per node: visited in the current walk. Only the bits a walk set are cleared before the
    /// next one (they are all in `queue`), so a small walk costs nothing on a big graph.
    var visitedBits: [UInt64] = []
    /// The walk's queue, in visiting order.
    public internal(set) var queue: [Int32] = []
    var depth: [Int32] = []
    var predecessor: [Int32] = []
    var pending: [Int32] = []
    var dirty: [Bool] = []

    public init() {}

    mutating func prepare(nodeCount: Int) {
        for node in queue { visitedBits[Int(node) >> 6] = 0 }
        let words = (nodeCount + 64) / 64
        if visitedBits.count < words { visitedBits.append(contentsOf: repeatElement(0, count: words - visitedBits.count)) }
        if predecessor.count < nodeCount + 1 {
            let extra = nodeCount + 1 - predecessor.count
            depth.append(contentsOf: repeatElement(0, count: extra))
            predecessor.append(contentsOf: repeatElement(0, count: extra))
            pending.append(contentsOf: repeatElement(0, count: extra))
            dirty.append(contentsOf: repeatElement(false, count: extra))
        }
        queue.removeAll(keepingCapacity: true)
    }

    @inline(__always)
    func isVisited(_ node: Int32) -> Bool { visitedBits[Int(node) >> 6] & (1 << UInt64(node & 63)) != 0 }

    @inline(__always)
    mutating func markVisited(_ node: Int32) {
        visitedBits[Int(node) >> 6] |= 1 << UInt64(node & 63)
        queue.append(node)
    }

    /// Marks `node` visited and remembers where it was reached from (for paths and cycles).
    mutating func visit(_ node: Int32, from previous: Int32) {
        markVisited(node)
        predecessor[Int(node)] = previous
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
        scratch.markVisited(start)
        // Level by level: the queue between `head` and `levelEnd` is one depth, so no depth is stored.
        var head = 0
        var levelEnd = 1
        var level: Int32 = 0
        var reached = 0
        var stopped = false
        var exhausted = false
        while head < scratch.queue.count && !stopped {
            if head == levelEnd {
                level += 1
                levelEnd = scratch.queue.count
            }
            guard level < maxDepth else { break }
            let node = scratch.queue[head]
            head += 1
            let nextLevel = level + 1
            func step(_ next: Int32) {
                guard !stopped, !scratch.isVisited(next) else { return }
                if reached == budget {
                    exhausted = true
                    stopped = true
                    return
                }
                scratch.markVisited(next)
                reached += 1
                if !visit(next, nextLevel) { stopped = true }
            }
            if direction == .descendants {
                forEachChild(node, step)
            } else {
                forEachParent(node) { next, _ in step(next) }
            }
        }
        return WalkOutcome(reached: reached, budgetExhausted: exhausted)
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
        scratch.prepare(nodeCount: nodeCount)
        scratch.visit(ancestor, from: 0)
        var head = 0
        var found = false
        while head < scratch.queue.count && !found && scratch.queue.count <= budget {
            let node = scratch.queue[head]
            head += 1
            forEachChild(node) { child in
                guard !found, !scratch.isVisited(child) else { return }
                scratch.visit(child, from: node)
                if child == descendant { found = true }
            }
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
