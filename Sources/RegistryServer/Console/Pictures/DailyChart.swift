import RegistryCore

/// A daily series chart (tokens by day): one line a series over the days of a period, missing days as
/// zero, with a legend, a value axis with round ticks and a readable subset of day ticks.
///
/// Bounded: at most ``PictureLimits/maxChartDays`` days (a longer period shows its last days) and
/// ``PictureLimits/maxChartSeries`` series; the `<desc>` says what was left out.
struct DailyChart {
    struct Series {
        var name: String
        var values: [(day: CivilDate, value: Int64)]
    }

    var title: String
    var unit: String
    var days: ClosedRange<CivilDate>
    var series: [Series]
    /// The prefix of the picture's element ids; nil for a fresh one on every rendering (see ``PictureIDs``).
    var idPrefix: String? = nil

    /// What an empty chart says, drawn and in the `<desc>`.
    static let emptyText = "no use in this period"

    static let width = 720.0
    static let plotLeft = 72.0
    static let plotRight = DailyChart.width - 24
    static let plotHeight = 200.0

    /// Line colours (Okabe and Ito's, told apart by most colour-blind readers) and dash patterns, so that
    /// colour is never the only difference between two series.
    static let colours = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#6a3d9a", "#a6761d", "#000000", "#56b4e9"]
    static let dashes = ["", "6 3", "2 3", "8 3 2 3", "12 4", "4 2 1 2", "1 2", "10 2 2 2"]

    /// The days drawn: the period's last ``PictureLimits/maxChartDays`` at most.
    var shownDays: ClosedRange<CivilDate> {
        let span = Int(days.upperBound.daysSince1970) - Int(days.lowerBound.daysSince1970) + 1
        guard span > PictureLimits.maxChartDays else { return days }
        let first = Int(days.upperBound.daysSince1970) - PictureLimits.maxChartDays + 1
        return CivilDate(daysSince1970: Int32(first))...days.upperBound
    }

    /// Each series drawn, one value a shown day: missing days zero, a day given twice summed (saturating).
    func filledSeries() -> [(name: String, values: [Int64])] {
        let shown = shownDays
        let first = Int(shown.lowerBound.daysSince1970)
        let count = Int(shown.upperBound.daysSince1970) - first + 1
        return series.prefix(PictureLimits.maxChartSeries).map { series in
            var values = [Int64](repeating: 0, count: count)
            for (day, value) in series.values where shown.contains(day) {
                let index = Int(day.daysSince1970) - first
                let (sum, overflow) = values[index].addingReportingOverflow(value)
                values[index] = overflow ? (value > 0 ? .max : .min) : sum
            }
            return (series.name, values)
        }
    }

    func svg() -> String {
        let ids = PictureIDs(kind: "daily", requested: idPrefix)
        let filled = filledSeries()
        let shown = shownDays
        let dayCount = filled.first?.values.count ?? (Int(shown.upperBound.daysSince1970) - Int(shown.lowerBound.daysSince1970) + 1)
        let isEmpty = filled.allSatisfy { $0.values.allSatisfy { $0 == 0 } }

        let legendColumns = 4
        let legendRows = isEmpty ? 0 : (filled.count + legendColumns - 1) / legendColumns
        let plotTop = 48.0 + Double(legendRows) * 18
        let plotBottom = plotTop + Self.plotHeight
        let height = plotBottom + 44
        var svg = SVGDocument(width: Self.width, height: height, ids: ids, title: title, description: description(filled, isEmpty: isEmpty))
        svg.label(SVGText.truncated(SVGText.singleLine(title), toEms: (Self.width - 32) / 15), x: 16, y: 24, size: 15, weight: "bold")

        let axis = ValueAxis(
            minimum: filled.flatMap(\.values).min() ?? 0, maximum: filled.flatMap(\.values).max() ?? 0)
        func y(_ value: Double) -> Double { plotBottom - axis.fraction(value) * Self.plotHeight }
        func x(_ index: Int) -> Double {
            dayCount <= 1
                ? (Self.plotLeft + Self.plotRight) / 2
                : Self.plotLeft + (Self.plotRight - Self.plotLeft) * Double(index) / Double(dayCount - 1)
        }

        // Value axis: gridlines at round values, labelled compactly, the unit above.
        svg.label(SVGText.truncated(SVGText.singleLine(unit), toEms: 12), x: Self.plotLeft - 8, y: plotTop - 10, size: 11, anchor: "end", fill: "#52606d")
        for tick in isEmpty ? [] : axis.ticks {
            svg.element(
                "line",
                [
                    "x1": c(Self.plotLeft), "x2": c(Self.plotRight), "y1": c(y(tick)), "y2": c(y(tick)),
                    "stroke": tick == 0 ? "#7b8794" : "#e4e7eb", "stroke-width": "1",
                ])
            svg.label(PictureNumbers.compact(tick), x: Self.plotLeft - 8, y: y(tick) + 4, size: 11, anchor: "end", fill: "#52606d")
        }
        svg.element(
            "line", ["x1": c(Self.plotLeft), "x2": c(Self.plotLeft), "y1": c(plotTop), "y2": c(plotBottom), "stroke": "#7b8794"])
        svg.element(
            "line", ["x1": c(Self.plotLeft), "x2": c(Self.plotRight), "y1": c(plotBottom), "y2": c(plotBottom), "stroke": "#7b8794"])

        // Day ticks: the last day always, then every `step` days back, seven labels at most.
        let step = [1, 2, 7, 14, 28, 56, 91, 182, 364, 728].first { (dayCount + $0 - 1) / $0 <= 7 } ?? dayCount
        for index in stride(from: dayCount - 1, through: 0, by: -step) {
            let day = CivilDate(daysSince1970: shown.lowerBound.daysSince1970 + Int32(index))
            svg.element("line", ["x1": c(x(index)), "x2": c(x(index)), "y1": c(plotBottom), "y2": c(plotBottom + 5), "stroke": "#7b8794"])
            // A label near the right end ends at its tick rather than running off the picture.
            let nearEnd = x(index) > Self.plotRight - 36
            svg.label(day.description, x: x(index), y: plotBottom + 19, size: 10, anchor: nearEnd ? "end" : "middle", fill: "#52606d")
        }

        if isEmpty {
            svg.label(Self.emptyText, x: (Self.plotLeft + Self.plotRight) / 2, y: plotTop + Self.plotHeight / 2, size: 14, anchor: "middle", fill: "#52606d")
            return svg.finish()
        }

        for (number, series) in filled.enumerated() {
            let colour = Self.colours[number % Self.colours.count]
            let dash = Self.dashes[number % Self.dashes.count]
            // Legend: a sample of the line and the name.
            let legendX = Self.plotLeft + Double(number % legendColumns) * 156
            let legendY = 44.0 + Double(number / legendColumns) * 18
            svg.element(
                "line",
                [
                    "x1": c(legendX), "x2": c(legendX + 24), "y1": c(legendY - 4), "y2": c(legendY - 4), "stroke": colour,
                    "stroke-width": "2.5", "stroke-dasharray": dash.isEmpty ? "none" : dash,
                ])
            svg.label(SVGText.truncated(SVGText.singleLine(series.name), toEms: 10), x: legendX + 30, y: legendY, size: 11)

            let points = series.values.enumerated().map { "\(c(x($0.offset))),\(c(y(Double($0.element))))" }.joined(separator: " ")
            svg.element(
                "polyline",
                [
                    "class": "series", "points": points, "fill": "none", "stroke": colour, "stroke-width": "2",
                    "stroke-dasharray": dash.isEmpty ? "none" : dash, "stroke-linejoin": "round",
                ])
            // Dots when there are few days, so that a lone day's use shows.
            if dayCount <= 62 {
                for (index, value) in series.values.enumerated() where value != 0 {
                    svg.element("circle", ["cx": c(x(index)), "cy": c(y(Double(value))), "r": "2.5", "fill": colour])
                }
            }
        }
        return svg.finish()
    }

    /// The figures in words: the period, then each series' total, peak and use day by day (days with use only).
    private func description(_ filled: [(name: String, values: [Int64])], isEmpty: Bool) -> String {
        let shown = shownDays
        let unitText = SVGText.singleLine(unit)
        var sentences = ["\(SVGText.singleLine(title)): \(unitText) by day from \(shown.lowerBound) to \(shown.upperBound)."]
        if shown != days {
            sentences.append("The period from \(days.lowerBound) is longer; its last \(PictureLimits.maxChartDays) days are shown.")
        }
        if isEmpty {
            sentences.append(String(Self.emptyText.prefix(1)).uppercased() + String(Self.emptyText.dropFirst()) + ".")
        } else {
            for series in filled {
                var total: Int64 = 0
                var saturated = false
                for value in series.values {
                    let (sum, overflow) = total.addingReportingOverflow(value)
                    if overflow { saturated = true; total = value > 0 ? .max : .min } else { total = sum }
                }
                let used = series.values.enumerated().filter { $0.element != 0 }
                let peak = series.values.enumerated().max { $0.element < $1.element }!
                let peakDay = CivilDate(daysSince1970: shown.lowerBound.daysSince1970 + Int32(peak.offset))
                let listed = used.prefix(PictureLimits.maxDescribedItems).map {
                    "\(CivilDate(daysSince1970: shown.lowerBound.daysSince1970 + Int32($0.offset))) \(PictureNumbers.grouped($0.element))"
                }
                var sentence = "\(SVGText.singleLine(series.name)): \(saturated ? (total > 0 ? "more than " : "less than ") : "")\(PictureNumbers.grouped(total)) \(unitText) in all"
                sentence += ", highest \(PictureNumbers.grouped(peak.element)) on \(peakDay)"
                sentence += "; by day: " + (listed.isEmpty ? "none" : listed.joined(separator: ", "))
                if used.count > listed.count { sentence += ", and \(used.count - listed.count) more days" }
                sentences.append(sentence + "; other days none.")
            }
        }
        if series.count > PictureLimits.maxChartSeries {
            sentences.append("\(series.count - PictureLimits.maxChartSeries) more series not drawn.")
        }
        return sentences.joined(separator: " ")
    }

    private func c(_ value: Double) -> String { PictureNumbers.coordinate(value) }
}
