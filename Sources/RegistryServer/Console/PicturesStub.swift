import RegistryCore

// A stand-in for the pictures of branch `console-svg` (Console/Pictures/), with their interface: plain
// drawings, enough for the pages and their tests. Removed when that branch is merged.

/// A dataset's lineage around it, as the console draws it.
struct LineagePicture {
    struct Node {
        var id: Int64
        var title: String
        var level: Int
        var flagged: Bool
        var href: String
    }
    struct Edge {
        var source: Int64
        var target: Int64
    }
    var nodes: [Node]
    var edges: [Edge]
    var caption: String

    func svg() -> String {
        let levels = Dictionary(grouping: nodes, by: \.level)
        let order = levels.keys.sorted()
        let widest = max(1, levels.values.map(\.count).max() ?? 1)
        let width = 40 + widest * 170
        let height = 40 + order.count * 80
        var position: [Int64: (x: Int, y: Int)] = [:]
        for (row, level) in order.enumerated() {
            for (column, node) in (levels[level] ?? []).enumerated() {
                position[node.id] = (20 + column * 170, 20 + row * 80)
            }
        }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"group\" aria-labelledby=\"lineage-title\" viewBox=\"0 0 \(width) \(height)\" class=\"picture lineage\">"
        svg += "<title id=\"lineage-title\">\(HTML.escape(caption))</title>"
        for edge in edges {
            guard let from = position[edge.source], let to = position[edge.target] else { continue }
            svg += "<line class=\"edge\" x1=\"\(from.x + 75)\" y1=\"\(from.y + 40)\" x2=\"\(to.x + 75)\" y2=\"\(to.y)\"/>"
        }
        for node in nodes {
            guard let at = position[node.id] else { continue }
            let label = node.title.count > 22 ? String(node.title.prefix(21)) + "…" : node.title
            svg += "<a href=\"\(HTML.escape(node.href))\" class=\"node\(node.flagged ? " flagged" : "")\(node.level == 0 ? " self" : "")\" data-dataset-id=\"\(node.id)\">"
            svg += "<rect x=\"\(at.x)\" y=\"\(at.y)\" width=\"150\" height=\"40\" rx=\"4\"/>"
            svg += "<text x=\"\(at.x + 6)\" y=\"\(at.y + 16)\">\(node.id)\(node.flagged ? " ⚑" : "")</text>"
            svg += "<text x=\"\(at.x + 6)\" y=\"\(at.y + 32)\">\(HTML.escape(label))</text></a>"
        }
        return svg + "</svg>"
    }
}

/// A daily series chart (tokens by day), one or more series.
struct DailyChart {
    struct Series {
        var name: String
        var values: [(day: CivilDate, value: Int64)]
    }
    var title: String
    var unit: String
    var days: ClosedRange<CivilDate>
    var series: [Series]

    func svg() -> String {
        let count = Int(days.upperBound.daysSince1970 - days.lowerBound.daysSince1970) + 1
        let top = max(1, series.flatMap { $0.values.map(\.value) }.max() ?? 1)
        let width = 40 + count * 12
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" viewBox=\"0 0 \(width) 140\" class=\"picture chart\">"
        svg += "<title>\(HTML.escape(title))</title><desc>\(HTML.escape(describe()))</desc>"
        for one in series {
            for (day, value) in one.values {
                let x = 30 + Int(day.daysSince1970 - days.lowerBound.daysSince1970) * 12
                let height = Int(Double(value) / Double(top) * 100)
                svg += "<rect class=\"bar\" x=\"\(x)\" y=\"\(110 - height)\" width=\"10\" height=\"\(height)\"/>"
            }
        }
        svg += "<text x=\"30\" y=\"130\">\(days.lowerBound)</text><text x=\"\(width - 90)\" y=\"130\">\(days.upperBound)</text>"
        return svg + "</svg>"
    }

    private func describe() -> String {
        series.map { one in
            "\(one.name): " + one.values.map { "\($0.day) \($0.value) \(unit)" }.joined(separator: ", ")
        }.joined(separator: "; ")
    }
}

/// Horizontal bars (rankings, shares).
struct BarChart {
    struct Bar {
        var label: String
        var value: Int64
        var note: String?
    }
    var title: String
    var unit: String
    var bars: [Bar]

    func svg() -> String {
        let top = max(1, bars.map(\.value).max() ?? 1)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" viewBox=\"0 0 600 \(20 + bars.count * 24)\" class=\"picture chart\">"
        svg += "<title>\(HTML.escape(title))</title>"
        for (index, bar) in bars.enumerated() {
            let y = 10 + index * 24
            let width = Int(Double(bar.value) / Double(top) * 360)
            svg += "<text x=\"0\" y=\"\(y + 14)\">\(HTML.escape(String(bar.label.prefix(24))))</text>"
            svg += "<rect class=\"bar\" x=\"200\" y=\"\(y)\" width=\"\(width)\" height=\"18\"/>"
        }
        return svg + "</svg>"
    }
}
