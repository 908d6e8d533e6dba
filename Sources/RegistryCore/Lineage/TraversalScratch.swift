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
    /// How far down the queue a walk asks for a node's neighbour list (its offsets were asked for when it
    /// entered the queue).
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
        let snapshotNodes = Int(csrNodeCount)
        // The hot loop runs over raw buffers: no bounds checks, no uniqueness checks, no allocation.
        csrOutOffsets.withUnsafeBufferPointer { outOffsets in
        csrOutTargets.withUnsafeBufferPointer { outTargets in
        csrInOffsets.withUnsafeBufferPointer { inOffsets in
        csrInSources.withUnsafeBufferPointer { inSources in
        (descending ? overlayOut : overlayIn).withUnsafeBufferPointer { overlay in
        scratch.visitedBits.withUnsafeMutableBufferPointer { bits in
        scratch.queueStorage.withUnsafeMutableBufferPointer { queueBuffer in
            // The offsets always hold at least two entries and the marks and queue are sized to the
            // graph, so these base addresses exist.
            let offsets = (descending ? outOffsets : inOffsets).baseAddress!
            let neighbourList = descending ? outTargets : inSources
            let neighbours = neighbourList.baseAddress ?? offsets
            let neighbourCount = neighbourList.count
            let marks = bits.baseAddress!
            let queue = queueBuffer.baseAddress!
            // Node 0 is no dataset: it stands for an unused lane below and is always marked, so that it
            // is never counted.
            marks[0] |= 1
            queue[0] = start
            marks[Int(start) >> 6] |= 1 << UInt64(start & 63)
            count = 1
            var head = 0
            var levelEnd = 1
            var level: Int32 = 0
            walking: while head < count {
                if head == levelEnd {
                    level += 1
                    levelEnd = count
                }
                let node = Int(queue[head])
                head += 1
                // Nodes are reported as they leave the queue, which is the order they entered it in.
                if level > 0 {
                    if reached == budget {
                        exhausted = true
                        break walking
                    }
                    reached += 1
                    if !visit(Int32(truncatingIfNeeded: node), level) { break walking }
                }
                if level >= maxDepth { continue }
                // Memory-level parallelism: the walk is bound by cache misses on the adjacency, and the
                // queue says which nodes come next. Each node's offsets were asked for when it entered
                // the queue; start loading the neighbour list of the node `prefetchNear` places ahead.
                if head + Self.prefetchNear < count {
                    let ahead = min(Int(queue[head + Self.prefetchNear]), snapshotNodes)
                    dr_prefetch(neighbours + Int(offsets[ahead]))
                }
                // Each neighbour is written to the queue and marked without a branch; the count moves only
                // for a node not seen before. (Most neighbours in a lineage have been seen already, at
                // random: a branch on it would be mispredicted often.) Its offsets will be needed when it
                // leaves the queue, so they are asked for now — for a node seen before, node 0's, which
                // are in cache: no branch either way.
                @inline(__always) func enqueue(_ next: Int32) {
                    let word = Int(next) >> 6
                    let bit: UInt64 = 1 << UInt64(next & 63)
                    let seen = marks[word]
                    marks[word] = seen | bit
                    queue[count] = next
                    let fresh = seen & bit == 0
                    count &+= fresh ? 1 : 0
                    dr_prefetch(offsets + (fresh ? min(Int(next), snapshotNodes) : 0))
                }
                if node <= snapshotNodes {
                    let first = Int(offsets[node])
                    let end = Int(offsets[node + 1])
                    let degree = end - first
                    if degree <= 4 && first + 4 <= neighbourCount {
                        // Most datasets have few sources and uses: four lanes without a loop. An unused lane
                        // reads node 0 (a mask of all ones for a lane in use, zero past the end; LLVM turns
                        // the mask into a short branch on the degree, which skips the lane's load).
                        enqueue(neighbours[first] & Int32(truncatingIfNeeded: (0 &- degree) >> 63))
                        enqueue(neighbours[first + 1] & Int32(truncatingIfNeeded: (1 &- degree) >> 63))
                        enqueue(neighbours[first + 2] & Int32(truncatingIfNeeded: (2 &- degree) >> 63))
                        enqueue(neighbours[first + 3] & Int32(truncatingIfNeeded: (3 &- degree) >> 63))
                    } else {
                        for index in first..<end { enqueue(neighbours[index]) }
                    }
                }
                // Edges added since the snapshot.
                if overlay[node >> 6] & (1 << UInt64(node & 63)) != 0 {
                    var edge = descending ? headOut[node] : headIn[node]
                    while edge >= 0 {
                        enqueue(descending ? edgeTarget[Int(edge)] : edgeSource[Int(edge)])
                        edge = descending ? nextOut[Int(edge)] : nextIn[Int(edge)]
                    }
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

    /// Every dataset derived from `start`, directly or not, in no particular order and without depths:
    /// read from the ``ReachabilityIndex`` when `start`'s descendants have no edge added since the
    /// snapshot, else walked. Calls `visit(node)` for each (`start` not included); stops after `budget`
    /// datasets (and says so) or when `visit` returns false.
    @discardableResult
    public func descendantSet(of start: Int32, budget: Int, scratch: inout TraversalScratch, visit: (Int32) -> Bool) -> WalkOutcome {
        guard let reachability, start >= 1, Int(start) <= reachability.datasetCount, !reachesEdgesAddedSinceSnapshot(from: start, reachability) else {
            return walk(from: start, .descendants, budget: budget, scratch: &scratch) { node, _ in visit(node) }
        }
        var reached = 0
        var exhausted = false
        reachability.forEachDescendant(of: start) { node in
            guard reached < budget else {
                exhausted = true
                return false
            }
            reached += 1
            return visit(node)
        }
        return WalkOutcome(reached: reached, budgetExhausted: exhausted)
    }

    /// Whether `start` or a dataset it reaches through the snapshot has children added since: then its
    /// descendants are more than the index says.
    private func reachesEdgesAddedSinceSnapshot(from start: Int32, _ index: ReachabilityIndex) -> Bool {
        guard !edgeSource.isEmpty else { return false }
        return overlayOut.withUnsafeBufferPointer { overlay in
            func added(_ node: Int32) -> Bool { overlay[Int(node) >> 6] & (1 << UInt64(node & 63)) != 0 }
            if added(start) { return true }
            var found = false
            index.forEachDescendant(of: start) { node in
                found = added(node)
                return !found
            }
            return found
        }
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

    /// What a search for a derivation path found.
    public enum PathSearch: Equatable, Sendable {
        /// A shortest path, `ancestor` first and `descendant` last.
        case found([Int32])
        /// There is none: the search reached every descendant of `ancestor` (or a dataset is unknown).
        case none
        /// The search stopped after `budget` datasets without finding one; there may be one further.
        case budgetExhausted
    }

    /// A shortest derivation path from `ancestor` down to `descendant`, visiting at most `budget` datasets.
    public func path(from ancestor: Int32, to descendant: Int32, budget: Int, scratch: inout TraversalScratch) -> PathSearch {
        guard contains(ancestor), contains(descendant) else { return .none }
        if ancestor == descendant { return .found([ancestor]) }
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
        guard found else { return head < scratch.queue.count ? .budgetExhausted : .none }
        var path: [Int32] = [descendant]
        var step = descendant
        while step != ancestor {
            step = scratch.predecessor[Int(step)]
            path.append(step)
        }
        return .found(path.reversed())
    }
}

/// Scratches kept for reuse by readers: a walk borrows one, so that once the pool has warmed up a walk
/// allocates nothing — not even the graph-sized marks and queue, which on a million datasets would cost
/// more than the walk itself.
public enum ScratchPool {
    private static let pooled = Mutex<[TraversalScratch]>([])
    /// Scratches kept; more concurrent walkers than this allocate their own and drop them after.
    public static var maxPooled: Int { Limits.maxPooledTraversalScratches }

    @discardableResult
    public static func withScratch<T>(_ body: (inout TraversalScratch) throws -> T) rethrows -> T {
        var scratch = take()
        defer { giveBack(scratch) }
        return try body(&scratch)
    }

    /// A pooled scratch, or a new one; hand it back with ``giveBack(_:)``. For a walk on the decision
    /// path, where a closure around the walk would capture (and copy) the graph.
    static func take() -> TraversalScratch {
        pooled.withLock { $0.popLast() } ?? TraversalScratch()
    }

    static func giveBack(_ scratch: consuming TraversalScratch) {
        // Moved into the pool, not copied (a copy retains each of its arrays).
        var returned: TraversalScratch? = consume scratch
        pooled.withLock { pool in
            if pool.count < maxPooled, let scratch = returned.take() { pool.append(scratch) }
        }
    }
}
