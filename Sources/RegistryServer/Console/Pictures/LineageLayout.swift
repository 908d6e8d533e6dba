/// Where each box of a lineage picture goes: one row a level (ancestors above, the dataset's row, then
/// descendants), rows ordered by barycentres to reduce crossings, each row bounded by
/// ``PictureLimits/maxNodesPerLineageRow`` with the rest summarised in one "more" box at its end.
///
/// A value computed from the picture's nodes and edges; ``LineagePicture/svg()`` only draws it.
struct LineageLayout {
    enum Content: Equatable {
        /// The picture's node at this index of `LineagePicture.nodes`.
        case node(Int)
        /// This many nodes of the row left out.
        case more(Int)
    }

    struct Box {
        var content: Content
        var level: Int
        var x: Double
        var y: Double
        var centreX: Double { x + LineageLayout.boxWidth / 2 }
        var bottom: Double { y + LineageLayout.boxHeight }
    }

    struct Row {
        var level: Int
        var y: Double
    }

    /// Boxes in drawing order, row by row from the top.
    var boxes: [Box] = []
    /// An edge drawn: indices into `boxes` (source, then the dataset derived from it), and the lanes it
    /// passes through in the rows between them (each a lane's x and its row's top), in path order.
    struct Route {
        var source: Int
        var target: Int
        var via: [(x: Double, y: Double)]
    }

    var edges: [Route] = []
    var rows: [Row] = []
    var width = 0.0
    var height = 0.0
    /// Nodes more than ``PictureLimits/maxLineageLevelsEachWay`` levels away, not drawn.
    var nodesBeyondLevels = 0
    /// Nodes summarised in "more" boxes.
    var nodesInMoreBoxes = 0
    /// The count in each row's "more" box, by level.
    var moreByLevel: [Int: Int] = [:]
    /// Edges not drawn: an end not drawn or unknown, a repeat, a loop, or past ``PictureLimits/maxLineageEdges``.
    var edgesNotDrawn = 0

    static let boxWidth = 168.0
    static let boxHeight = 44.0
    static let gapX = 16.0
    static let gapY = 48.0
    /// The strip a long edge's lane takes in a row it crosses.
    static let laneWidth = 8.0
    static let margin = 16.0
    /// Room at the left for the row names ("Parents", "Children").
    static let rowLabelWidth = 96.0
    /// Rows are centred on the widest one while the drawing fits a laptop's page; a wider drawing starts
    /// every row at the left, so that the dataset and its nearest relatives are in view where the page's
    /// sideways scroll begins (a centred dataset of a 30-wide row sat 3,000 px to the right, out of view).
    static let centredUpToWidth = 1_000.0

    init(nodes: [LineagePicture.Node], edges: [LineagePicture.Edge]) {
        let maxLevel = PictureLimits.maxLineageLevelsEachWay
        // Nodes drawn: the first of each id, within the levels drawn.
        var indexByID: [Int64: Int] = [:]
        var rowsByLevel: [Int: [Int]] = [:]
        for (index, node) in nodes.enumerated() where indexByID[node.id] == nil {
            guard node.level >= -maxLevel && node.level <= maxLevel else {
                nodesBeyondLevels += 1
                continue
            }
            indexByID[node.id] = index
            rowsByLevel[node.level, default: []].append(index)
        }

        // Edges between nodes drawn, each pair once.
        var seenPairs = Set<[Int]>()
        var nodeEdges: [(source: Int, target: Int)] = []
        for edge in edges {
            guard let source = indexByID[edge.source], let target = indexByID[edge.target], source != target,
                seenPairs.insert([source, target]).inserted
            else {
                edgesNotDrawn += 1
                continue
            }
            nodeEdges.append((source, target))
        }
        var neighbours: [Int: [Int]] = [:]
        for edge in nodeEdges {
            neighbours[edge.source, default: []].append(edge.target)
            neighbours[edge.target, default: []].append(edge.source)
        }

        // Rows that overflow keep the nodes joined to a node kept nearer the dataset first, then the flagged.
        var kept = Set<Int>()
        let levelsOutward = [0] + (1...maxLevel).flatMap { [-$0, $0] }
        for level in levelsOutward {
            guard let row = rowsByLevel[level] else { continue }
            guard row.count > PictureLimits.maxNodesPerLineageRow else {
                kept.formUnion(row)
                continue
            }
            // Ranked once (a row may hold many thousands of nodes): joined to a kept node nearer the
            // dataset first, flagged first among equals, then in the order given.
            func rank(_ node: Int) -> Int {
                let joined = neighbours[node, default: []].contains { kept.contains($0) && abs(nodes[$0].level) < abs(level) }
                return (joined ? 0 : 2) + (nodes[node].flagged ? 0 : 1)
            }
            let ranks: [Int] = row.map(rank)
            let byRank: [Int] = row.indices.sorted { ranks[$0] != ranks[$1] ? ranks[$0] < ranks[$1] : $0 < $1 }
            let keptRow: [Int] = byRank.prefix(PictureLimits.maxNodesPerLineageRow).map { row[$0] }
            kept.formUnion(keptRow)
            let keptSet = Set(keptRow)
            rowsByLevel[level] = row.filter { keptSet.contains($0) }
            moreByLevel[level] = row.count - keptRow.count
            nodesInMoreBoxes += row.count - keptRow.count
        }
        let drawnEdges = nodeEdges.filter { kept.contains($0.source) && kept.contains($0.target) }
        edgesNotDrawn += nodeEdges.count - drawnEdges.count
        let boundedEdges = Array(drawnEdges.prefix(PictureLimits.maxLineageEdges))
        edgesNotDrawn += drawnEdges.count - boundedEdges.count

        // Rows from the highest ancestors' to the lowest descendants', the dataset's row always among them.
        let levels = rowsByLevel.keys
        let top = min(levels.min() ?? 0, 0)
        let bottom = max(levels.max() ?? 0, 0)
        var order = (top...bottom).map { rowsByLevel[$0] ?? [] }

        // An edge across more than one row passes through a lane in each row between: a point ordered
        // with the boxes, so that the edge runs between boxes rather than behind them. Lane ids follow
        // the node indices. An edge finding a row's lanes full is drawn straight across.
        var segments: [(source: Int, target: Int)] = []
        var lanesOfEdge: [[Int]] = []
        var lanesInRow = [Int](repeating: 0, count: order.count)
        var nextLane = nodes.count
        for edge in boundedEdges {
            let from = nodes[edge.source].level - top
            let to = nodes[edge.target].level - top
            let between: [Int] = from < to ? Array((from + 1)..<max(to, from + 1)) : Array(((to + 1)..<max(from, to + 1)).reversed())
            guard !between.isEmpty, between.allSatisfy({ lanesInRow[$0] < PictureLimits.maxLanesPerLineageRow }) else {
                segments.append(edge)
                lanesOfEdge.append([])
                continue
            }
            var previous = edge.source
            var lanes: [Int] = []
            for row in between {
                order[row].append(nextLane)
                lanesInRow[row] += 1
                segments.append((previous, nextLane))
                lanes.append(nextLane)
                previous = nextLane
                nextLane += 1
            }
            segments.append((previous, edge.target))
            lanesOfEdge.append(lanes)
        }
        order = Self.orderedByBarycentres(order, edges: segments)

        // Coordinates: rows centred on the widest one (left-aligned when that is wider than a page); a box
        // takes its width, a lane a narrow strip.
        func rowWidth(_ rowIndex: Int) -> Double {
            let entries = order[rowIndex]
            let nodeCount = entries.count(where: { $0 < nodes.count })
            let boxCount = nodeCount + (moreByLevel[top + rowIndex] == nil ? 0 : 1)
            let laneCount = entries.count - nodeCount
            let count = boxCount + laneCount
            return Double(boxCount) * Self.boxWidth + Double(laneCount) * Self.laneWidth + Double(max(count - 1, 0)) * Self.gapX
        }
        let drawingWidth = max(order.indices.map(rowWidth).max() ?? 0, Self.boxWidth)
        width = Self.margin * 2 + Self.rowLabelWidth + drawingWidth
        let centred = drawingWidth <= Self.centredUpToWidth
        var boxIndexByNode: [Int: Int] = [:]
        var laneX: [Int: Double] = [:]
        for (rowIndex, level) in (top...bottom).enumerated() {
            let y = Self.margin + Double(rowIndex) * (Self.boxHeight + Self.gapY)
            rows.append(Row(level: level, y: y))
            var x = Self.margin + Self.rowLabelWidth + (centred ? (drawingWidth - rowWidth(rowIndex)) / 2 : 0)
            for entry in order[rowIndex] {
                if entry < nodes.count {
                    boxIndexByNode[entry] = boxes.count
                    boxes.append(Box(content: .node(entry), level: level, x: x, y: y))
                    x += Self.boxWidth + Self.gapX
                } else {
                    laneX[entry] = x + Self.laneWidth / 2
                    x += Self.laneWidth + Self.gapX
                }
            }
            if let more = moreByLevel[level] {
                boxes.append(Box(content: .more(more), level: level, x: x, y: y))
            }
        }
        height = Self.margin * 2 + Double(bottom - top + 1) * (Self.boxHeight + Self.gapY) - Self.gapY
        for (edge, lanes) in zip(boundedEdges, lanesOfEdge) {
            let from = nodes[edge.source].level - top
            let step = nodes[edge.target].level > nodes[edge.source].level ? 1 : -1
            let via = lanes.enumerated().map { number, lane in
                (x: laneX[lane]!, y: Self.margin + Double(from + step * (number + 1)) * (Self.boxHeight + Self.gapY))
            }
            self.edges.append(Route(source: boxIndexByNode[edge.source]!, target: boxIndexByNode[edge.target]!, via: via))
        }
    }

    /// Barycentre ordering: sweeps down (each row by the mean position of its neighbours in the rows
    /// above) and up (by those below), keeping the order with the fewest crossings between adjacent rows.
    /// Positions are measured from each row's centre, as rows are drawn centred.
    private static func orderedByBarycentres(_ initial: [[Int]], edges: [(source: Int, target: Int)]) -> [[Int]] {
        var rowOf: [Int: Int] = [:]
        for (rowIndex, row) in initial.enumerated() { for node in row { rowOf[node] = rowIndex } }
        var neighbours: [Int: [Int]] = [:]
        for edge in edges {
            neighbours[edge.source, default: []].append(edge.target)
            neighbours[edge.target, default: []].append(edge.source)
        }
        func positions(_ rows: [[Int]]) -> [Int: Double] {
            var position: [Int: Double] = [:]
            for row in rows {
                for (index, node) in row.enumerated() { position[node] = Double(index) - Double(row.count - 1) / 2 }
            }
            return position
        }
        func reorder(_ rows: inout [[Int]], rowIndex: Int, towards isReference: (Int) -> Bool) {
            let position = positions(rows)
            let keyed = rows[rowIndex].map { node -> (node: Int, key: Double) in
                let placed = neighbours[node, default: []].filter { isReference(rowOf[$0]!) }
                guard !placed.isEmpty else { return (node, position[node]!) }
                return (node, placed.reduce(0.0) { $0 + position[$1]! } / Double(placed.count))
            }
            // Stable: ties keep their order.
            rows[rowIndex] = keyed.enumerated().sorted { $0.element.key != $1.element.key ? $0.element.key < $1.element.key : $0.offset < $1.offset }
                .map { $0.element.node }
        }
        func crossings(_ rows: [[Int]]) -> Int {
            let position = positions(rows)
            var byUpperRow: [Int: [(Double, Double)]] = [:]
            for edge in edges {
                let (a, b) = (rowOf[edge.source]!, rowOf[edge.target]!)
                guard abs(a - b) == 1 else { continue }
                let (upper, lower) = a < b ? (edge.source, edge.target) : (edge.target, edge.source)
                byUpperRow[min(a, b), default: []].append((position[upper]!, position[lower]!))
            }
            var count = 0
            for segments in byUpperRow.values {
                for i in segments.indices {
                    for j in segments.indices where j > i {
                        if (segments[i].0 - segments[j].0) * (segments[i].1 - segments[j].1) < 0 { count += 1 }
                    }
                }
            }
            return count
        }

        var rows = initial
        var best = rows
        var fewest = crossings(rows)
        for _ in 0..<PictureLimits.lineageOrderingSweeps where fewest > 0 {
            for rowIndex in rows.indices.dropFirst() { reorder(&rows, rowIndex: rowIndex) { $0 < rowIndex } }
            for rowIndex in rows.indices.reversed().dropFirst() { reorder(&rows, rowIndex: rowIndex) { $0 > rowIndex } }
            let count = crossings(rows)
            if count < fewest {
                best = rows
                fewest = count
            }
        }
        return best
    }
}
