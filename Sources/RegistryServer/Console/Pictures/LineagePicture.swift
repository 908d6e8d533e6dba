/// A dataset's lineage around it, as the console draws it: a layered graph with its ancestors above, the
/// dataset in the middle row and its descendants below, each node a link to its page.
///
/// Bounded whatever it is given: ``PictureLimits`` caps the rows, the boxes a row and the edges, and the
/// `<desc>` says what was left out. The caption is not drawn (the page prints it) but read in the `<desc>`.
struct LineagePicture {
    struct Node {
        var id: Int64
        var title: String
        /// 0 the dataset itself, −1 its parents, −2 grandparents …, +1 its children, +2 …
        var level: Int
        var flagged: Bool
        var href: String
    }

    /// A derivation: `source` → the dataset derived from it (`target`).
    struct Edge {
        var source: Int64
        var target: Int64
    }

    var nodes: [Node]
    var edges: [Edge]
    /// Said under the picture: e.g. "3 levels up, 2 down; 40 of 1,204 descendants shown".
    var caption: String
    /// The prefix of the picture's element ids; nil for a fresh one on every rendering (see ``PictureIDs``).
    var idPrefix: String? = nil

    func svg() -> String {
        let layout = LineageLayout(nodes: nodes, edges: edges)
        let ids = PictureIDs(kind: "lineage", requested: idPrefix)
        let focus = nodes.first { $0.level == 0 }
        let title = focus.map { "Lineage of \(SVGText.singleLine($0.title)) (#\($0.id))" } ?? "Lineage"
        // The nodes are links: a group, not an image, or assistive technology would not reach them.
        var svg = SVGDocument(
            width: layout.width, height: layout.height, ids: ids, title: title, description: description(layout), role: "group")

        svg.open("defs", [:])
        svg.open(
            "marker",
            [
                "id": ids.named("arrow"), "viewBox": "0 0 10 10", "refX": "10", "refY": "5", "markerWidth": "7",
                "markerHeight": "7", "orient": "auto",
            ])
        svg.element("path", ["d": "M0,0L10,5L0,10z", "fill": Palette.edge])
        svg.close("marker")
        svg.close("defs")

        for row in layout.rows {
            svg.label(
                Self.rowName(row.level), x: LineageLayout.margin, y: row.y + LineageLayout.boxHeight / 2 + 4, size: 11,
                fill: Palette.secondaryText, weight: row.level == 0 ? "bold" : "normal")
        }
        // Edges first, so that boxes cover the ends and any long edge passing behind a row.
        for edge in layout.edges {
            drawEdge(&svg, edge, boxes: layout.boxes, ids: ids)
        }
        for box in layout.boxes {
            switch box.content {
            case .node(let index): drawNode(&svg, nodes[index], box: box)
            case .more(let count): drawMore(&svg, count: count, box: box)
            }
        }
        return svg.finish()
    }

    private enum Palette {
        static let edge = "#616e7c"
        static let text = "#1f2933"
        static let secondaryText = "#52606d"
        static let border = "#7b8794"
        static let focusFill = "#1d4ed8"
        static let flaggedFill = "#fdecea"
        static let flaggedBorder = "#b42318"
        static let flaggedText = "#7a271a"
    }

    private func drawEdge(_ svg: inout SVGDocument, _ route: LineageLayout.Route, boxes: [LineageLayout.Box], ids: PictureIDs) {
        let source = boxes[route.source]
        let target = boxes[route.target]
        var path: String
        if source.level == target.level {
            // Within a row: an arc over the row, from top to top.
            let lift = LineageLayout.gapY * 0.6
            path = "M\(c(source.centreX)),\(c(source.y))C\(c(source.centreX)),\(c(source.y - lift)) \(c(target.centreX)),\(c(target.y - lift)) \(c(target.centreX)),\(c(target.y))"
        } else {
            // Down (or up) from box to box, straight through each lane it crosses, curving between rows.
            let downwards = source.level < target.level
            var (x, y) = (source.centreX, downwards ? source.bottom : source.y)
            path = "M\(c(x)),\(c(y))"
            func curve(toX newX: Double, y newY: Double) {
                let middle = (y + newY) / 2
                path += "C\(c(x)),\(c(middle)) \(c(newX)),\(c(middle)) \(c(newX)),\(c(newY))"
                (x, y) = (newX, newY)
            }
            for lane in route.via {
                curve(toX: lane.x, y: downwards ? lane.y : lane.y + LineageLayout.boxHeight)
                y = downwards ? lane.y + LineageLayout.boxHeight : lane.y
                path += "L\(c(x)),\(c(y))"
            }
            curve(toX: target.centreX, y: downwards ? target.y : target.bottom)
        }
        svg.element(
            "path",
            [
                "class": "edge", "d": path, "fill": "none", "stroke": Palette.edge, "stroke-width": "1.5",
                "marker-end": "url(#\(ids.named("arrow")))",
            ])
    }

    private func drawNode(_ svg: inout SVGDocument, _ node: Node, box: LineageLayout.Box) {
        let isFocus = node.level == 0
        let title = SVGText.singleLine(node.title)
        var classes = "node"
        if node.flagged { classes += " flagged" }
        if isFocus { classes += " current" }
        svg.open("a", ["href": Self.safeHref(node.href), "class": classes, "data-dataset-id": "\(node.id)"])
        svg.element("title", [:], text: "\(title) (#\(node.id)\(node.flagged ? ", flagged" : "")\(isFocus ? ", this dataset" : ""))")
        let fill = isFocus ? Palette.focusFill : node.flagged ? Palette.flaggedFill : "#ffffff"
        let stroke = node.flagged ? Palette.flaggedBorder : isFocus ? Palette.focusFill : Palette.border
        svg.element(
            "rect",
            [
                "x": c(box.x), "y": c(box.y), "width": c(LineageLayout.boxWidth), "height": c(LineageLayout.boxHeight),
                "rx": "5", "fill": fill, "stroke": stroke, "stroke-width": node.flagged || isFocus ? "2.5" : "1",
            ])
        let textColour = isFocus ? "#ffffff" : node.flagged ? Palette.flaggedText : Palette.text
        // The badge takes two ems at the right; bold text (the dataset's own) runs about a tenth wider.
        let ems = ((LineageLayout.boxWidth - 16) / 12 - (node.flagged ? 2 : 0)) * (isFocus ? 0.9 : 1)
        svg.label(
            SVGText.truncated(title, toEms: ems), x: box.x + 8, y: box.y + 18,
            size: 12, fill: textColour, weight: isFocus ? "bold" : "normal")
        // The second line says "flagged" in words: the colour is not the only mark.
        svg.label(
            "#\(node.id)\(node.flagged ? " · FLAGGED" : "")", x: box.x + 8, y: box.y + 35, size: 10,
            fill: isFocus ? "#ffffff" : node.flagged ? Palette.flaggedText : Palette.secondaryText,
            weight: node.flagged ? "bold" : "normal")
        if node.flagged {
            let badgeX = box.x + LineageLayout.boxWidth - 13
            let badgeY = box.y + 13
            svg.element(
                "circle",
                ["class": "flag-mark", "cx": c(badgeX), "cy": c(badgeY), "r": "8", "fill": Palette.flaggedBorder, "stroke": "#ffffff", "stroke-width": "1"])
            svg.label("!", x: badgeX, y: badgeY + 4.5, size: 12, anchor: "middle", fill: "#ffffff", weight: "bold")
        }
        svg.close("a")
    }

    private func drawMore(_ svg: inout SVGDocument, count: Int, box: LineageLayout.Box) {
        svg.open("g", ["class": "more"])
        svg.element("title", [:], text: "\(PictureNumbers.grouped(Int64(count))) more at this level, not drawn")
        svg.element(
            "rect",
            [
                "x": c(box.x), "y": c(box.y), "width": c(LineageLayout.boxWidth), "height": c(LineageLayout.boxHeight),
                "rx": "5", "fill": "#f5f7fa", "stroke": Palette.border, "stroke-dasharray": "4 3",
            ])
        svg.label(
            "+ \(PictureNumbers.grouped(Int64(count))) more", x: box.centreX, y: box.y + 27, size: 12, anchor: "middle",
            fill: Palette.secondaryText)
        svg.close("g")
    }

    /// The graph in words for screen readers: each level's nodes, the derivations, what was left out, and
    /// the caption.
    private func description(_ layout: LineageLayout) -> String {
        var sentences: [String] = []
        var named = 0
        var rowsByLevel: [Int: [String]] = [:]
        for box in layout.boxes {
            guard case .node(let index) = box.content else { continue }
            let node = nodes[index]
            named += 1
            guard named <= PictureLimits.maxDescribedItems else { continue }
            rowsByLevel[box.level, default: []].append("\(SVGText.singleLine(node.title)) (#\(node.id)\(node.flagged ? ", flagged" : ""))")
        }
        for row in layout.rows {
            guard let names = rowsByLevel[row.level] else { continue }
            var sentence = "\(Self.rowName(row.level)): \(names.joined(separator: "; "))"
            if let count = layout.moreByLevel[row.level] {
                sentence += "; and \(PictureNumbers.grouped(Int64(count))) more not drawn"
            }
            sentences.append(sentence + ".")
        }
        if named > PictureLimits.maxDescribedItems {
            sentences.append("\(PictureNumbers.grouped(Int64(named - PictureLimits.maxDescribedItems))) more nodes drawn but not named here.")
        }
        if !layout.edges.isEmpty {
            let shown = layout.edges.prefix(PictureLimits.maxDescribedItems).compactMap { edge -> String? in
                guard case .node(let source) = layout.boxes[edge.source].content, case .node(let target) = layout.boxes[edge.target].content
                else { return nil }
                return "#\(nodes[source].id) to #\(nodes[target].id)"
            }
            var sentence = "Derived: \(shown.joined(separator: ", "))"
            if layout.edges.count > shown.count { sentence += ", and \(PictureNumbers.grouped(Int64(layout.edges.count - shown.count))) more" }
            sentences.append(sentence + ".")
        }
        if layout.nodesBeyondLevels > 0 {
            sentences.append(
                "\(PictureNumbers.grouped(Int64(layout.nodesBeyondLevels))) nodes more than \(PictureLimits.maxLineageLevelsEachWay) levels away not drawn.")
        }
        if layout.edgesNotDrawn > 0 {
            sentences.append("\(PictureNumbers.grouped(Int64(layout.edgesNotDrawn))) derivations not drawn.")
        }
        let caption = SVGText.singleLine(caption)
        if !caption.isEmpty { sentences.append(caption) }
        return sentences.joined(separator: " ")
    }

    /// The name of a row: "This dataset", "Parents", "Grandparents", "3 levels up", "Children" …
    static func rowName(_ level: Int) -> String {
        switch level {
        case 0: "This dataset"
        case -1: "Parents"
        case -2: "Grandparents"
        case 1: "Children"
        case 2: "Grandchildren"
        case ..<0: "\(level.magnitude) levels up"
        default: "\(level) levels down"
        }
    }

    /// `href` when it is a link the console may draw: a path, query or fragment on this site, or an
    /// http(s) address; anything else (a `javascript:` or `data:` URL above all) becomes "#".
    static func safeHref(_ href: String) -> String {
        let lowered = href.lowercased()
        if lowered.hasPrefix("https://") || lowered.hasPrefix("http://") { return href }
        if lowered.hasPrefix("//") { return "#" }
        // No scheme: no colon before the first "/", "?" or "#".
        let beforePath = lowered.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        return beforePath.contains(":") || lowered.contains(where: { $0.isWhitespace && $0 != " " }) ? "#" : href
    }

    private func c(_ value: Double) -> String { PictureNumbers.coordinate(value) }
}
