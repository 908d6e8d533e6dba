/// Horizontal bars (rankings, shares) in the order given, each labelled with its figure and note.
///
/// Bounded: at most ``PictureLimits/maxBars`` bars; the rest are counted under the chart and in the
/// `<desc>`. A value below zero draws no bar (its figure still says it).
struct BarChart {
    struct Bar {
        var label: String
        var value: Int64
        var note: String?
    }

    var title: String
    var unit: String
    var bars: [Bar]
    /// The prefix of the picture's element ids; nil for a fresh one on every rendering (see ``PictureIDs``).
    var idPrefix: String? = nil

    /// What a chart without bars says, drawn and in the `<desc>`.
    static let emptyText = "nothing to show"

    static let labelWidth = 200.0
    static let barAreaWidth = 300.0
    static let rowHeight = 26.0
    static let margin = 16.0
    static let fontSize = 12.0
    /// Ems of a note drawn after the figure (the whole note is in the `<desc>`).
    static let noteEms = 24.0

    func svg() -> String {
        let ids = PictureIDs(kind: "bars", requested: idPrefix)
        let drawn = Array(bars.prefix(PictureLimits.maxBars))
        let unitText = SVGText.singleLine(unit)
        let figures = drawn.map { bar in
            let figure = "\(PictureNumbers.grouped(bar.value)) \(unitText)"
            guard let note = bar.note.map(SVGText.singleLine), !note.isEmpty else { return figure }
            return figure + " · " + SVGText.truncated(note, toEms: Self.noteEms)
        }
        let barLeft = Self.margin + Self.labelWidth
        let widestFigure = figures.map { SVGText.estimatedEms($0) * Self.fontSize }.max() ?? 0
        let width = max(720, barLeft + Self.barAreaWidth + 8 + widestFigure + Self.margin)
        let top = 44.0
        let rows = max(drawn.count, 1) + (bars.count > drawn.count ? 1 : 0)
        let height = top + Double(rows) * Self.rowHeight + Self.margin

        var svg = SVGDocument(width: width, height: height, ids: ids, title: title, description: description(drawn))
        svg.label(SVGText.truncated(SVGText.singleLine(title), toEms: (width - 32) / 15), x: Self.margin, y: 24, size: 15, weight: "bold")
        guard !drawn.isEmpty else {
            svg.label(Self.emptyText, x: Self.margin, y: top + 17, size: 13, fill: "#52606d")
            return svg.finish()
        }

        let largest = Double(max(drawn.map(\.value).max() ?? 0, 0))
        for (index, bar) in drawn.enumerated() {
            let y = top + Double(index) * Self.rowHeight
            let length = largest > 0 ? max(Double(bar.value), 0) / largest * Self.barAreaWidth : 0
            svg.label(
                SVGText.truncated(SVGText.singleLine(bar.label), toEms: (Self.labelWidth - 8) / Self.fontSize),
                x: barLeft - 8, y: y + 17, size: Self.fontSize, anchor: "end")
            svg.element(
                "rect",
                [
                    "class": "bar", "x": c(barLeft), "y": c(y + 4), "width": c(max(length, bar.value > 0 ? 1 : 0)),
                    "height": c(Self.rowHeight - 8), "fill": "#1d4ed8",
                ])
            svg.label(figures[index], x: barLeft + length + 8, y: y + 17, size: Self.fontSize, fill: "#1f2933")
        }
        if bars.count > drawn.count {
            let y = top + Double(drawn.count) * Self.rowHeight
            svg.label(
                "+ \(PictureNumbers.grouped(Int64(bars.count - drawn.count))) more not shown", x: barLeft, y: y + 17, size: Self.fontSize,
                fill: "#52606d")
        }
        return svg.finish()
    }

    /// The figures in words, bar by bar.
    private func description(_ drawn: [Bar]) -> String {
        let unitText = SVGText.singleLine(unit)
        guard !drawn.isEmpty else { return "\(SVGText.singleLine(title)): \(Self.emptyText)." }
        let items = drawn.prefix(PictureLimits.maxDescribedItems).map { bar in
            var item = "\(SVGText.singleLine(bar.label)) \(PictureNumbers.grouped(bar.value)) \(unitText)"
            if let note = bar.note, !note.isEmpty { item += " (\(SVGText.singleLine(note)))" }
            return item
        }
        var text = "\(SVGText.singleLine(title)), \(unitText): \(items.joined(separator: "; "))."
        if bars.count > items.count { text += " And \(PictureNumbers.grouped(Int64(bars.count - items.count))) more not shown." }
        return text
    }

    private func c(_ value: Double) -> String { PictureNumbers.coordinate(value) }
}
