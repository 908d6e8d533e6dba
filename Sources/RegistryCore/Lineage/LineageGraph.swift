/// The lineage of every dataset: a directed acyclic graph whose edges run from a source to the dataset
/// derived from it, with each node's effective restrictions kept up to date as the graph changes.
///
/// Storage is compact and allocation-free to walk: nodes are dataset ids (dense, from 1); edges live in
/// parallel arrays with per-node linked lists in both directions (`headOut`/`nextOut` to children,
/// `headIn`/`nextIn` to parents). Adding an edge is O(1) after the cycle check; reading a node's
/// effective restrictions is O(1). Walks use a caller-owned ``TraversalScratch`` and never recurse.
public struct LineageGraph: Sendable {
    // Per node (index = dataset id; slot 0 unused).
    var headOut: [Int32] = [-1]
    var headIn: [Int32] = [-1]
    var own: [Restrictions] = [Restrictions()]
    var effective: [Restrictions] = [Restrictions()]
    // A compact snapshot of the edges that existed at the last ``compact()`` (after a rebuild): each node's
    // children (and parents) contiguous, so that walks read them in sequence. Edges added later are found
    // through the linked lists below, which hold only the edges added since the snapshot.
    var csrOutOffsets: [Int32] = [0, 0]
    var csrOutTargets: [Int32] = []
    var csrInOffsets: [Int32] = [0, 0]
    var csrInSources: [Int32] = []
    var csrInKinds: [UInt8] = []
    /// Nodes covered by the snapshot (its offsets arrays have `csrNodeCount + 2` entries).
    var csrNodeCount: Int32 = 0
    // Per edge.
    var edgeSource: [Int32] = []
    var edgeTarget: [Int32] = []
    var nextOut: [Int32] = []
    var nextIn: [Int32] = []
    var edgeKind: [UInt8] = []
    /// One bit per node: it has children (`overlayOut`) or parents (`overlayIn`) added since the snapshot.
    /// Walks test these small bitsets instead of reading `headOut`/`headIn` for every node, which would
    /// cost a cache miss per node reached on a graph of a million datasets.
    var overlayOut: [UInt64] = [0]
    var overlayIn: [UInt64] = [0]
    /// Descendant sets over the snapshot, built by ``compact()`` (nil before, or when the labels would be
    /// too big for the graph).
    var reachability: ReachabilityIndex?

    public init() {}

    /// Datasets known to the graph (the highest id).
    public var nodeCount: Int { headOut.count - 1 }
    public var edgeCount: Int { csrOutTargets.count + edgeSource.count }

    /// Makes room for datasets up to `id`.
    public mutating func ensureNode(_ id: Int32) {
        precondition(id >= 1, "dataset ids start at 1")
        guard Int(id) > nodeCount else { return }
        let extra = Int(id) - nodeCount
        headOut.append(contentsOf: repeatElement(-1, count: extra))
        headIn.append(contentsOf: repeatElement(-1, count: extra))
        own.append(contentsOf: repeatElement(Restrictions(), count: extra))
        effective.append(contentsOf: repeatElement(Restrictions(), count: extra))
        let words = (Int(id) >> 6) + 1
        if overlayOut.count < words {
            overlayOut.append(contentsOf: repeatElement(0, count: words - overlayOut.count))
            overlayIn.append(contentsOf: repeatElement(0, count: words - overlayIn.count))
        }
    }

    /// The reachability index's size, when there is one: datasets covered, intervals, bytes.
    public var reachabilityIndex: (datasets: Int, intervals: Int, bytes: Int)? {
        reachability.map { ($0.datasetCount, $0.labelCount, $0.bytes) }
    }

    public func contains(_ id: Int32) -> Bool { id >= 1 && Int(id) <= nodeCount }

    /// The restrictions in effect on `id`: its own, and every source's, through the lineage. O(1).
    public func effectiveRestrictions(of id: Int32) -> Restrictions { effective[Int(id)] }

    public func ownRestrictions(of id: Int32) -> Restrictions { own[Int(id)] }

    /// The nearest ancestor of `start` (nearest first, within `budget`) whose own restrictions satisfy
    /// `test`. The walk runs here, where the graph is `self`: a caller's closure that reached the graph
    /// through the state copied it (a retain of each of its arrays) on every denial naming its source.
    func nearestAncestor(of start: Int32, budget: Int, where test: (Restrictions) -> Bool) -> Int32? {
        var found: Int32?
        // No closure around the walk, and the visitor reads `own` from a local: a closure that captured
        // the graph copied it (a retain of each of its arrays) on every call.
        let own = self.own
        var scratch = ScratchPool.take()
        walk(from: start, .ancestors, budget: budget, scratch: &scratch) { node, _ in
            guard test(own[Int(node)]) else { return true }
            found = node
            return false
        }
        ScratchPool.giveBack(consume scratch)
        return found
    }

    /// Sources of `id` with the transformation that derived it.
    public func parents(of id: Int32) -> [(source: Int32, kind: TransformationKind)] {
        var result: [(Int32, TransformationKind)] = []
        forEachParent(id) { source, kind in result.append((source, TransformationKind(code: kind))) }
        return result
    }

    public func children(of id: Int32) -> [Int32] {
        var result: [Int32] = []
        forEachChild(id) { result.append($0) }
        return result
    }

    /// Why an edge cannot be added.
    public enum EdgeRefusal: Error, Equatable, Sendable {
        /// The edge would close a cycle; `path` runs from the source through the new edge back to it.
        case cycle(path: [Int32])
        case duplicate
        case unknownDataset(Int32)
    }

    /// Records that `target` is derived from `source`, and brings every affected node's effective
    /// restrictions up to date. Refuses an edge that would close a cycle, naming the cycle.
    ///
    /// - Returns: the datasets whose effective restrictions changed.
    @discardableResult
    public mutating func addEdge(from source: Int32, to target: Int32, kind: TransformationKind, scratch: inout TraversalScratch) throws(EdgeRefusal) -> [Int32] {
        guard contains(source) else { throw .unknownDataset(source) }
        guard contains(target) else { throw .unknownDataset(target) }
        if let cycle = cycle(closedBy: source, to: target, scratch: &scratch) { throw .cycle(path: cycle) }
        var duplicate = false
        forEachChild(source) { child in duplicate = duplicate || child == target }
        if duplicate { throw .duplicate }
        linkOverlayEdge(from: source, to: target, kind: kind)
        return propagate(from: [target], scratch: &scratch)
    }

    /// Sets a dataset's own restrictions (grade, PI level, policy restrictions, flag) and brings its
    /// descendants up to date. Returns the datasets whose effective restrictions changed.
    @discardableResult
    public mutating func setOwnRestrictions(_ restrictions: Restrictions, of id: Int32, scratch: inout TraversalScratch) -> [Int32] {
        precondition(contains(id), "unknown dataset \(id)")
        guard own[Int(id)] != restrictions else { return [] }
        own[Int(id)] = restrictions
        return propagate(from: [id], scratch: &scratch)
    }

    /// Sets a dataset's own restrictions during a rebuild, without propagating: ``recomputeAll(scratch:)``
    /// brings every node up to date afterwards.
    public mutating func setOwnRestrictionsForRebuild(_ restrictions: Restrictions, of id: Int32) {
        precondition(contains(id), "unknown dataset \(id)")
        own[Int(id)] = restrictions
    }

    /// The path that adding `source → target` would close, if any: `[source, target, …, source]`.
    func cycle(closedBy source: Int32, to target: Int32, scratch: inout TraversalScratch) -> [Int32]? {
        if source == target { return [source, source] }
        // A cycle exists when `source` is already reachable from `target` along derivations.
        scratch.prepare(nodeCount: nodeCount)
        scratch.visit(target, from: 0)
        var head = 0
        var found = false
        while head < scratch.queue.count && !found {
            let node = scratch.queue[head]
            head += 1
            forEachChild(node) { child in
                guard !found, !scratch.isVisited(child) else { return }
                scratch.visit(child, from: node)
                if child == source { found = true }
            }
        }
        guard found else { return nil }
        var path: [Int32] = [source]
        var step = source
        while step != 0 {
            step = scratch.predecessor[Int(step)]
            if step != 0 { path.append(step) }
        }
        // path runs source ← … ← target; the new edge closes it back to source.
        return [source] + path.reversed()
    }

    /// What `id` inherits from its sources alone, without its own restrictions: the parents' effective
    /// restrictions combined across their edges. O(parents).
    public func inheritedRestrictions(of id: Int32) -> Restrictions {
        combined(with: id, from: Restrictions())
    }

    /// A node's own restrictions combined with its parents' effective ones: grades and PI levels at their
    /// highest, prohibitions united, permissions intersected, and the individuals covered the larger of
    /// its own and the saturating sum over its sources (R12, R16, R21).
    func computeEffective(of node: Int32) -> Restrictions {
        combined(with: node, from: own[Int(node)])
    }

    ///
    /// Loops over the parents itself rather than through ``forEachParent(_:_:)``: a closure reading
    /// `effective` captured the graph, and the compiler copied it (a retain of each array) on every call —
    /// on the decision path, every refusal that names its source.
    private func combined(with node: Int32, from start: Restrictions) -> Restrictions {
        var combining = Combining(result: start)
        if node <= csrNodeCount {
            for index in Int(csrInOffsets[Int(node)])..<Int(csrInOffsets[Int(node) + 1]) {
                combining.inherit(effective[Int(csrInSources[index])], through: csrInKinds[index])
            }
        }
        var edge = headIn[Int(node)]
        while edge >= 0 {
            combining.inherit(effective[Int(edgeSource[Int(edge)])], through: edgeKind[Int(edge)])
            edge = nextIn[Int(edge)]
        }
        combining.result.individualsCovered = max(combining.result.individualsCovered, combining.inherited)
        return combining.result
    }

    /// What ``combined(with:from:)`` has gathered from the parents so far.
    private struct Combining {
        var result: Restrictions
        var inherited: UInt32 = 0

        mutating func inherit(_ parent: Restrictions, through code: UInt8) {
            let kind = TransformationKind(code: code)
            result = result.inheriting(parent, through: kind)
            let (sum, overflow) = inherited.addingReportingOverflow(Restrictions.individuals(from: parent, through: kind))
            inherited = overflow ? .max : sum
        }
    }

    /// Recomputes the effective restrictions of `seeds` and their descendants in topological order,
    /// visiting a descendant only when one of its parents changed. Returns the nodes that changed.
    mutating func propagate(from seeds: [Int32], scratch: inout TraversalScratch) -> [Int32] {
        // 0. The common case: the change does not alter the seed's effective restrictions, so nothing
        //    downstream can change either and no descendant is visited.
        if seeds.count == 1, computeEffective(of: seeds[0]) == effective[Int(seeds[0])] { return [] }
        // 1. The affected set: the seeds and everything derived from them.
        scratch.prepare(nodeCount: nodeCount)
        for seed in seeds where !scratch.isVisited(seed) { scratch.visit(seed, from: 0) }
        var head = 0
        while head < scratch.queue.count {
            let node = scratch.queue[head]
            head += 1
            forEachChild(node) { child in
                if !scratch.isVisited(child) { scratch.visit(child, from: node) }
            }
        }
        let affected = scratch.queue
        // 2. Kahn's order within the affected set: count each node's affected parents.
        for node in affected {
            var pending: Int32 = 0
            forEachParent(node) { source, _ in
                if scratch.isVisited(source) { pending += 1 }
            }
            scratch.pending[Int(node)] = pending
            scratch.dirty[Int(node)] = false
        }
        for seed in seeds { scratch.dirty[Int(seed)] = true }
        var ready = affected.filter { scratch.pending[Int($0)] == 0 }
        var changed: [Int32] = []
        while let node = ready.popLast() {
            var nodeChanged = false
            if scratch.dirty[Int(node)] {
                let result = computeEffective(of: node)
                if result != effective[Int(node)] {
                    effective[Int(node)] = result
                    changed.append(node)
                    nodeChanged = true
                }
            }
            forEachChild(node) { child in
                if nodeChanged { scratch.dirty[Int(child)] = true }
                scratch.pending[Int(child)] -= 1
                if scratch.pending[Int(child)] == 0 { ready.append(child) }
            }
        }
        return changed
    }
}

extension LineageGraph {
    /// Changes the transformation of the edge `source → target` (an anonymisation approved later) and
    /// brings the target's descendants up to date. Returns the datasets whose restrictions changed.
    @discardableResult
    public mutating func setKind(_ kind: TransformationKind, from source: Int32, to target: Int32, scratch: inout TraversalScratch) -> [Int32] {
        if target <= csrNodeCount {
            for index in Int(csrInOffsets[Int(target)])..<Int(csrInOffsets[Int(target) + 1]) where csrInSources[index] == source {
                guard csrInKinds[index] != kind.code else { return [] }
                csrInKinds[index] = kind.code
                return propagate(from: [target], scratch: &scratch)
            }
        }
        var edge = headIn[Int(target)]
        while edge >= 0 {
            if edgeSource[Int(edge)] == source {
                guard edgeKind[Int(edge)] != kind.code else { return [] }
                edgeKind[Int(edge)] = kind.code
                return propagate(from: [target], scratch: &scratch)
            }
            edge = nextIn[Int(edge)]
        }
        preconditionFailure("no edge \(source) → \(target)")
    }

    /// Adds edges that were checked when they were first recorded (a rebuild from the database),
    /// without cycle checks or propagation; call ``recomputeAll(scratch:)`` afterwards.
    public mutating func appendTrustedEdge(from source: Int32, to target: Int32, kind: TransformationKind) {
        precondition(contains(source) && contains(target), "edge \(source) → \(target) names an unknown dataset")
        linkOverlayEdge(from: source, to: target, kind: kind)
    }

    /// Recomputes every node's effective restrictions in one topological pass (after a bulk load).
    /// Traps if the edges contain a cycle: the database held an impossible lineage.
    public mutating func recomputeAll(scratch: inout TraversalScratch) {
        guard nodeCount > 0 else { return }
        scratch.prepare(nodeCount: nodeCount)
        var pending = [Int32](repeating: 0, count: nodeCount + 1)
        var ready: [Int32] = []
        for node in Int32(1)...Int32(nodeCount) {
            var count: Int32 = 0
            forEachParent(node) { _, _ in count += 1 }
            pending[Int(node)] = count
            if count == 0 { ready.append(node) }
        }
        var processed = 0
        while let node = ready.popLast() {
            processed += 1
            effective[Int(node)] = computeEffective(of: node)
            forEachChild(node) { child in
                pending[Int(child)] -= 1
                if pending[Int(child)] == 0 { ready.append(child) }
            }
        }
        precondition(processed == nodeCount, "the stored lineage contains a cycle")
    }
}

// MARK: - Adjacency: the snapshot first, then the edges added since

extension LineageGraph {
    /// Adds an edge to the overlay lists (the edges added since the snapshot).
    mutating func linkOverlayEdge(from source: Int32, to target: Int32, kind: TransformationKind) {
        let index = Int32(edgeSource.count)
        edgeSource.append(source)
        edgeTarget.append(target)
        edgeKind.append(kind.code)
        nextOut.append(headOut[Int(source)])
        headOut[Int(source)] = index
        nextIn.append(headIn[Int(target)])
        headIn[Int(target)] = index
        overlayOut[Int(source) >> 6] |= 1 << UInt64(source & 63)
        overlayIn[Int(target) >> 6] |= 1 << UInt64(target & 63)
    }

    /// Calls `body` with each child of `node`.
    @inline(__always)
    func forEachChild(_ node: Int32, _ body: (Int32) -> Void) {
        if node <= csrNodeCount {
            let start = Int(csrOutOffsets[Int(node)])
            let end = Int(csrOutOffsets[Int(node) + 1])
            var index = start
            while index < end {
                body(csrOutTargets[index])
                index += 1
            }
        }
        var edge = headOut[Int(node)]
        while edge >= 0 {
            body(edgeTarget[Int(edge)])
            edge = nextOut[Int(edge)]
        }
    }

    /// Calls `body` with each parent of `node` and the kind of the edge.
    @inline(__always)
    func forEachParent(_ node: Int32, _ body: (Int32, UInt8) -> Void) {
        if node <= csrNodeCount {
            let start = Int(csrInOffsets[Int(node)])
            let end = Int(csrInOffsets[Int(node) + 1])
            var index = start
            while index < end {
                body(csrInSources[index], csrInKinds[index])
                index += 1
            }
        }
        var edge = headIn[Int(node)]
        while edge >= 0 {
            body(edgeSource[Int(edge)], edgeKind[Int(edge)])
            edge = nextIn[Int(edge)]
        }
    }

    /// Moves every edge into the contiguous snapshot (after a bulk load). O(nodes + edges).
    public mutating func compact() {
        let nodes = nodeCount
        var outOffsets = [Int32](repeating: 0, count: nodes + 2)
        var inOffsets = [Int32](repeating: 0, count: nodes + 2)
        // Edges already in the snapshot stay; count them with the linked ones.
        func forEachEdge(_ body: (Int32, Int32, UInt8) -> Void) {
            for node in stride(from: Int32(1), through: csrNodeCount, by: 1) {
                let start = Int(csrInOffsets[Int(node)])
                let end = Int(csrInOffsets[Int(node) + 1])
                for index in start..<end { body(csrInSources[index], node, csrInKinds[index]) }
            }
            for index in edgeSource.indices { body(edgeSource[index], edgeTarget[index], edgeKind[index]) }
        }
        forEachEdge { source, target, _ in
            outOffsets[Int(source) + 1] += 1
            inOffsets[Int(target) + 1] += 1
        }
        for index in 1..<outOffsets.count {
            outOffsets[index] += outOffsets[index - 1]
            inOffsets[index] += inOffsets[index - 1]
        }
        let total = Int(outOffsets[nodes + 1])
        var outTargets = [Int32](repeating: 0, count: total)
        var inSources = [Int32](repeating: 0, count: total)
        var inKinds = [UInt8](repeating: 0, count: total)
        var outFill = outOffsets
        var inFill = inOffsets
        forEachEdge { source, target, kind in
            outTargets[Int(outFill[Int(source)])] = target
            outFill[Int(source)] += 1
            inSources[Int(inFill[Int(target)])] = source
            inKinds[Int(inFill[Int(target)])] = kind
            inFill[Int(target)] += 1
        }
        csrOutOffsets = outOffsets
        csrOutTargets = outTargets
        csrInOffsets = inOffsets
        csrInSources = inSources
        csrInKinds = inKinds
        csrNodeCount = Int32(nodes)
        reachability = nil
        edgeSource.removeAll()
        edgeTarget.removeAll()
        nextOut.removeAll()
        nextIn.removeAll()
        edgeKind.removeAll()
        for index in headOut.indices {
            headOut[index] = -1
            headIn[index] = -1
        }
        for index in overlayOut.indices {
            overlayOut[index] = 0
            overlayIn[index] = 0
        }
        // Built last, once the lists above are released, so that it takes their place in memory.
        reachability = csrOutOffsets.withUnsafeBufferPointer { offsets in
            csrOutTargets.withUnsafeBufferPointer { children in
                ReachabilityIndex(datasetCount: nodes, offsets: offsets, children: children) { csrInOffsets[$0 + 1] > csrInOffsets[$0] }
            }
        }
    }
}
