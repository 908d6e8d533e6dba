import RegistryCore

/// A dataset's lineage around it, drawn: its ancestors up to ``Limits/consoleLineageAncestorDepth``
/// levels and its descendants down to ``Limits/consoleLineageDescendantDepth``, at most
/// ``Limits/consoleLineageNodesPerSide`` on each side, nearest first — each side one walk of the API
/// (`GET /v1/datasets/{id}/lineage?direction=…&depth=…&limit=…`), so the picture holds exactly what the
/// API answers for those limits. The edges between the drawn datasets are their sources as the API
/// lists them (one walk of depth 1 a dataset).
struct LineageSection: Sendable {
    struct NodeRow: Sendable {
        let id: Int64
        let href: String
        let title: String
        let relation: String
        let isFlagged: Bool
    }
    let svg: String
    let caption: String
    let limits: String
    let nodes: [NodeRow]
    let nodeCount: Int

    static func make(_ call: ConsoleCall, dataset: DatasetView) async throws -> LineageSection {
        let up = Limits.consoleLineageAncestorDepth
        let down = Limits.consoleLineageDescendantDepth
        let side = Limits.consoleLineageNodesPerSide
        async let ancestorsWalk = call.api.read(
            WalkPage.self, "datasets/\(dataset.id)/lineage", [("direction", "ancestors"), ("depth", String(up)), ("limit", String(side))])
        async let descendantsWalk = call.api.read(
            WalkPage.self, "datasets/\(dataset.id)/lineage", [("direction", "descendants"), ("depth", String(down)), ("limit", String(side))])
        let ancestors = try await ancestorsWalk
        let descendants = try await descendantsWalk
        let root = try await call.api.read(RestrictionsView.self, "datasets/\(dataset.id)/restrictions")

        var nodes = [LineagePicture.Node(id: dataset.id, title: dataset.title, level: 0, flagged: root.flagged, href: "/console/datasets/\(dataset.id)")]
        nodes += ancestors.items.map { .init(id: $0.id, title: $0.title, level: -Int($0.depth), flagged: $0.flagged, href: "/console/datasets/\($0.id)") }
        nodes += descendants.items.map { .init(id: $0.id, title: $0.title, level: Int($0.depth), flagged: $0.flagged, href: "/console/datasets/\($0.id)") }
        let drawn = Set(nodes.map(\.id))

        // Each drawn dataset's sources, kept when drawn too: every edge between drawn datasets.
        var edges: [LineagePicture.Edge] = []
        for node in nodes {
            let sources = try await call.api.read(
                WalkPage.self, "datasets/\(node.id)/lineage",
                [("direction", "ancestors"), ("depth", "1"), ("limit", String(Limits.maxPageSize))])
            edges += sources.items.filter { drawn.contains($0.id) }.map { LineagePicture.Edge(source: $0.id, target: node.id) }
        }

        func count(_ walk: WalkPage, _ noun: String) -> String {
            let more = walk.nextCursor != nil || walk.budget.exhausted
            return more ? "the nearest \(walk.items.count) \(noun) (there are more)" : "\(walk.items.count) \(noun)"
        }
        let caption = "Dataset \(dataset.id) with \(count(ancestors, "ancestors")) up to \(up) levels above and "
            + "\(count(descendants, "descendants")) down to \(down) levels below; flagged datasets are marked ⚑."
        let picture = LineagePicture(nodes: nodes, edges: edges, caption: caption)
        let relation = { (level: Int) -> String in
            level == 0 ? "this dataset" : level < 0 ? "ancestor, \(-level) level\(level == -1 ? "" : "s") up" : "descendant, \(level) level\(level == 1 ? "" : "s") down"
        }
        return LineageSection(
            svg: picture.svg(), caption: caption,
            limits: "The picture shows at most \(up) levels of ancestors and \(down) of descendants, and at most \(side) datasets on each side, nearest first.",
            nodes: nodes.map { NodeRow(id: $0.id, href: $0.href, title: $0.title, relation: relation($0.level), isFlagged: $0.flagged) },
            nodeCount: nodes.count)
    }
}
