internal import CMemoryHints
import Synchronization

/// Working memory for graph walks, reused across walks so that a walk allocates nothing once the
/// buffers have grown to the graph's size. Not shared between threads: each reader borrows one from
/// ``ScratchPool``.
public struct TraversalScratch: Sendable {
    /// One bit per node: visited in the current walk. Only the bits a walk set are cleared before the
    /// next one (they are all in `queue`), so a small walk costs nothing on a big graph.
    var visitedBits: [UInt64] = []
    /// The walk's queue, in visiting order.
    public internal(set) var queue: [Int32] = []
    /// Raw queue storage for the hot walk, sized to the graph once.
    var queueStorage: [Int32] = []
    /// How many nodes at the front of `queueStorage` the last walk marked (cleared by the next).
    var storageMarked = 0
    var predecessor: [Int32] = []
    var pending: [Int32] = []
    var dirty: [Bool] = []

    public init() {}

    /// Clears the marks of the previous walk and sizes the marks to the graph: all a plain walk needs.
    mutating func prepareMarks(nodeCount: Int) {
        for node in queue { visitedBits[Int(node) >> 6] = 0 }
        for index in 0..<storageMarked { visitedBits[Int(queueStorage[index]) >> 6] = 0 }
        storageMarked = 0
        let words = (nodeCount + 64) / 64
        if visitedBits.count < words { visitedBits.append(contentsOf: repeatElement(0, count: words - visitedBits.count)) }
        queue.removeAll(keepingCapacity: true)
    }

    /// Also sizes what paths, cycle checks and propagation keep per node.
    mutating func prepare(nodeCount: Int) {
        prepareMarks(nodeCount: nodeCount)
        if predecessor.count < nodeCount + 1 {
            let extra = nodeCount + 1 - predecessor.count
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
    /// How far down the queue a walk asks for a node's offsets, and for its neighbour list.
    static let prefetchNear = 8

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
        scratch.prepareMarks(nodeCount: nodeCount)
        guard contains(start) else { return WalkOutcome(reached: 0, budgetExhausted: false) }
        // The queue's storage is sized once to the graph so that the loop below writes by index.
        if scratch.queueStorage.count < nodeCount + 2 {
            scratch.queueStorage = [Int32](repeating: 0, count: nodeCount + 2)
        }
        let descending = direction == .descendants
        var reached = 0
        var exhausted = false
        var count = 0
        let snapshotNodes = csrNodeCount
        // The hot loop runs over raw buffers: no bounds checks, no uniqueness checks, no allocation.
        csrOutOffsets.withUnsafeBufferPointer { outOffsets in
        csrOutTargets.withUnsafeBufferPointer { outTargets in
        csrInOffsets.withUnsafeBufferPointer { inOffsets in
        csrInSources.withUnsafeBufferPointer { inSources in
        (descending ? overlayOut : overlayIn).withUnsafeBufferPointer { overlay in
        scratch.visitedBits.withUnsafeMutableBufferPointer { bits in
        scratch.queueStorage.withUnsafeMutableBufferPointer { queue in
            let offsets = descending ? outOffsets : inOffsets
            let neighbours = descending ? outTargets : inSources
            // The offsets always hold at least two entries, so the base address exists.
            let offsetsBase = offsets.baseAddress!
            queue[0] = start
            bits[Int(start) >> 6] |= 1 << UInt64(start & 63)
            count = 1
            var head = 0
            var levelEnd = 1
            var level: Int32 = 0
            walking: while head < count {
                if head == levelEnd {
                    level += 1
                    levelEnd = count
                }
                if level >= maxDepth { break }
                let node = queue[head]
                head += 1
                let nextLevel = level + 1
                // Memory-level parallelism: the walk is bound by cache misses on the adjacency, and the
                // queue says which nodes come next. Start loading the offsets of the node `far` places
                // ahead and the neighbour list of the one `near` places ahead (whose offsets were asked
                // for earlier), so that several misses are in flight while this node is processed.
                if head + Self.prefetchNear < count, let neighboursBase = neighbours.baseAddress {
                    let ahead = Int(queue[head + Self.prefetchNear])
                    if ahead <= Int(snapshotNodes) { dr_prefetch(neighboursBase + Int(offsets[ahead])) }
                }
                // The snapshot's neighbours, then those added since. Each neighbour is written to the
                // queue and marked without a branch; the count moves only for a node not seen before.
                // (Most neighbours in a lineage have been seen already, at random: a branch on it would
                // be mispredicted often.) The new nodes are then reported in order.
                let firstNew = count
                if node <= snapshotNodes {
                    var index = Int(offsets[Int(node)])
                    let end = Int(offsets[Int(node) + 1])
                    while index < end {
                        let next = neighbours[index]
                        index += 1
                        let word = Int(next) >> 6
                        let bit: UInt64 = 1 << UInt64(next & 63)
                        let marks = bits[word]
                        bits[word] = marks | bit
                        queue[count] = next
                        count &+= marks & bit == 0 ? 1 : 0
                        // Its offsets will be needed when it comes off the queue: ask for them now.
                        dr_prefetch(offsetsBase + min(Int(next), Int(snapshotNodes)))
                    }
                }
                if overlay[Int(node) >> 6] & (1 << UInt64(node & 63)) != 0 {
                    var edge = descending ? headOut[Int(node)] : headIn[Int(node)]
                    while edge >= 0 {
                        let next = descending ? edgeTarget[Int(edge)] : edgeSource[Int(edge)]
                        edge = descending ? nextOut[Int(edge)] : nextIn[Int(edge)]
                        let word = Int(next) >> 6
                        let bit: UInt64 = 1 << UInt64(next & 63)
                        let marks = bits[word]
                        bits[word] = marks | bit
                        queue[count] = next
                        count &+= marks & bit == 0 ? 1 : 0
                    }
                }
                var reporting = firstNew
                while reporting < count {
                    if reached == budget {
                        exhausted = true
                        break walking
                    }
                    reached += 1
                    if !visit(queue[reporting], nextLevel) { break walking }
                    reporting += 1
                }
            }
        }
        }
        }
        }
        }
        }
        }
        // The next walk clears exactly the bits of the nodes this one marked.
        scratch.storageMarked = count
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

/// Scratches kept for reuse by readers: a walk borrows one, so that once the pool has warmed up a walk
/// allocates nothing — not even the graph-sized marks and queue, which on a million datasets would cost
/// more than the walk itself.
public enum ScratchPool {
    private static let pooled = Mutex<[TraversalScratch]>([])
    /// Scratches kept; more concurrent walkers than this allocate their own and drop them after.
    public static let maxPooled = 16

    @discardableResult
    public static func withScratch<T>(_ body: (inout TraversalScratch) throws -> T) rethrows -> T {
        var scratch = pooled.withLock { $0.popLast() } ?? TraversalScratch()
        defer {
            let returned = scratch
            pooled.withLock { if $0.count < maxPooled { $0.append(returned) } }
        }
        return try body(&scratch)
    }
}
