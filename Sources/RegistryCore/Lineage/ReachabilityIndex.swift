#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which datasets descend from which, precomputed over the lineage snapshot, so that the set of a
/// dataset's descendants is read rather than walked (R25 cascades, and later "through its descendants"
/// compliance queries).
///
/// Interval labels: the snapshot's datasets are numbered in the post-order of a depth-first walk from the
/// datasets without sources, and each dataset keeps the merged ranges of numbers it reaches, its own
/// included. A dataset's descendants are then the datasets at the numbers in its ranges: reading them
/// costs a sequential pass over `datasetAt`, about a nanosecond a dataset, where a walk pays for every
/// edge. The ranges say nothing of depth or nearness; walks answer those.
///
/// Built once, after a rebuild (``LineageGraph/compact()``), and never changed: edges added later are not
/// in it, and ``LineageGraph/descendantSet(of:budget:scratch:visit:)`` falls back to a walk for a dataset
/// whose descendants have any. A graph whose labels would exceed ``Limits/maxReachabilityIntervalsPerDataset`` on average
/// gets no index at all (memory stays bounded; every query walks).
final class ReachabilityIndex: @unchecked Sendable {
    /// Datasets covered: ids 1...datasetCount.
    let datasetCount: Int
    /// Post-order number of each dataset (index = dataset id; slot 0 unused).
    private let numberOf: [Int32]
    /// The dataset with each post-order number.
    private let datasetAt: [Int32]
    /// The labels of the dataset numbered `n` are `labels[labelStart[n] ..< labelStart[n + 1]]`.
    private let labelStart: [Int32]
    /// Closed ranges of post-order numbers, `(first, last)`, sorted and disjoint per dataset. Owned.
    private let labels: UnsafeMutablePointer<Interval>
    let labelCount: Int

    struct Interval {
        var first: Int32
        var last: Int32
    }

    /// Builds the labels from the snapshot's adjacency (`offsets`/`children` as in the CSR arrays, for
    /// datasets 1...datasetCount; `hasSource(id)` says whether a dataset has any source). Returns nil when
    /// the labels would outgrow ``Limits/maxReachabilityIntervalsPerDataset``.
    init?(datasetCount: Int, offsets: UnsafeBufferPointer<Int32>, children: UnsafeBufferPointer<Int32>, hasSource: (Int) -> Bool) {
        self.datasetCount = datasetCount
        let limit = max(1, datasetCount) * Limits.maxReachabilityIntervalsPerDataset
        var numberOf = [Int32](repeating: -1, count: datasetCount + 1)
        var datasetAt = [Int32](repeating: 0, count: datasetCount)
        // 1. Post-order numbers, by an explicit-stack depth-first walk from every dataset without sources.
        var numbered: Int32 = 0
        var stackNode: [Int32] = []
        var stackNext: [Int32] = []
        for root in stride(from: 1, through: datasetCount, by: 1) where !hasSource(root) {
            numberOf[root] = -2  // on the stack
            stackNode.append(Int32(root))
            stackNext.append(offsets[root])
            while let node = stackNode.last {
                let next = stackNext[stackNext.count - 1]
                if next < offsets[Int(node) + 1] {
                    stackNext[stackNext.count - 1] = next + 1
                    let child = children[Int(next)]
                    if numberOf[Int(child)] == -1 {
                        numberOf[Int(child)] = -2
                        stackNode.append(child)
                        stackNext.append(offsets[Int(child)])
                    }
                } else {
                    stackNode.removeLast()
                    stackNext.removeLast()
                    numberOf[Int(node)] = numbered
                    datasetAt[Int(numbered)] = node
                    numbered += 1
                }
            }
        }
        // A lineage is acyclic, so every dataset is reached from one without sources.
        precondition(Int(numbered) == datasetCount, "the lineage snapshot is not acyclic")
        // 2. Labels, in post-order: every child is numbered (and labelled) before its parents. Each dataset
        //    merges its own number with its children's ranges.
        var labelStart = [Int32](repeating: 0, count: datasetCount + 1)
        // Room for the most the index may hold, at once: a block this large is mapped, not carved from the
        // heap, and only the pages written become resident; the unused end is given back below. (Growing
        // it step by step measured 7 MiB more at the peak of a national-scale rebuild.)
        guard let block = malloc(limit * MemoryLayout<Interval>.stride) else { fatalError("out of memory") }
        var storage = block.bindMemory(to: Interval.self, capacity: limit)
        var count = 0
        var pending: [Interval] = []
        for number in 0..<datasetCount {
            let node = Int(datasetAt[number])
            labelStart[number] = Int32(count)
            pending.removeAll(keepingCapacity: true)
            pending.append(Interval(first: Int32(number), last: Int32(number)))
            for edge in Int(offsets[node])..<Int(offsets[node + 1]) {
                let child = Int(numberOf[Int(children[edge])])
                for label in Int(labelStart[child])..<Int(labelStart[child + 1]) { pending.append(storage[label]) }
            }
            pending.sort { $0.first < $1.first }
            guard count + pending.count <= limit else {
                free(storage)
                return nil
            }
            let first = count
            for label in pending {
                if count > first, label.first <= storage[count - 1].last + 1 {
                    storage[count - 1].last = max(storage[count - 1].last, label.last)
                } else {
                    storage[count] = label
                    count += 1
                }
            }
            labelStart[number + 1] = Int32(count)
        }
        if let shrunk = realloc(storage, max(1, count) * MemoryLayout<Interval>.stride) {
            storage = shrunk.assumingMemoryBound(to: Interval.self)
        }
        self.numberOf = numberOf
        self.datasetAt = datasetAt
        self.labelStart = labelStart
        self.labels = storage
        self.labelCount = count
    }

    deinit { free(labels) }

    /// Calls `body` with every dataset `id` reaches through the snapshot, `id` itself excluded, in the
    /// index's order (post-order, not nearness), until `body` returns false.
    /// Precondition: `1 <= id <= datasetCount`.
    @inline(__always)
    func forEachDescendant(of id: Int32, _ body: (Int32) -> Bool) {
        let own = numberOf[Int(id)]
        datasetAt.withUnsafeBufferPointer { datasetAt in
            for label in Int(labelStart[Int(own)])..<Int(labelStart[Int(own) + 1]) {
                let range = labels[label]
                var number = Int(range.first)
                while number <= Int(range.last) {
                    if number != Int(own), !body(datasetAt[number]) { return }
                    number += 1
                }
            }
        }
    }

    /// Bytes held (for the memory accounting of a rebuild).
    var bytes: Int { (numberOf.count + datasetAt.count + labelStart.count) * 4 + labelCount * MemoryLayout<Interval>.stride }
}
