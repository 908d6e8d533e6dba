import Foundation
import RegistryCore
import TestSupport
@testable import RegistryServer
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

/// The console's SVG pictures (issue 17) on their own: each parses as XML (Foundation's XMLParser) and as
/// HTML5 (html5lib's strict parser, as the console's pages are checked), draws what it is given (nodes,
/// edges, bars, days), keeps users' text escaped, and stays bounded and trap-free on extreme input.
@Suite struct ConsolePicturesTests {
    // MARK: Lineage

    /// A lineage with two parents, a grandparent, three children, a grandchild, a flagged node and an edge
    /// that skips a level (grandparent → grandchild).
    static let lineage = LineagePicture(
        nodes: [
            .init(id: 10, title: "Road sensors 2026", level: 0, flagged: false, href: "/console/datasets/10"),
            .init(id: 1, title: "Traffic counts", level: -1, flagged: false, href: "/console/datasets/1"),
            .init(id: 2, title: "Weather stations", level: -1, flagged: false, href: "/console/datasets/2"),
            .init(id: 3, title: "National census", level: -2, flagged: false, href: "/console/datasets/3"),
            .init(id: 20, title: "Congestion model", level: 1, flagged: true, href: "/console/datasets/20"),
            .init(id: 21, title: "Air quality estimate", level: 1, flagged: false, href: "/console/datasets/21"),
            .init(id: 22, title: "Noise map with a very long title that cannot fit in its box", level: 1, flagged: false, href: "/console/datasets/22"),
            .init(id: 30, title: "Commuter forecast", level: 2, flagged: true, href: "/console/datasets/30"),
        ],
        edges: [
            .init(source: 3, target: 1), .init(source: 1, target: 10), .init(source: 2, target: 10),
            .init(source: 10, target: 20), .init(source: 10, target: 21), .init(source: 10, target: 22),
            .init(source: 20, target: 30), .init(source: 3, target: 30),
        ],
        caption: "2 levels up, 2 down; all 4 descendants shown",
        idPrefix: "lineage-test")

    @Test func theLineageDrawsEachNodeAsALinkAndEachEdgeWithAnArrow() throws {
        let svg = try XMLTree(Self.lineage.svg())
        let links = svg.all("a").filter { $0.hasClass("node") }
        #expect(links.count == Self.lineage.nodes.count)
        #expect(Set(links.compactMap { $0["data-dataset-id"] }) == Set(Self.lineage.nodes.map { "\($0.id)" }))
        #expect(links.allSatisfy { $0["href"] == "/console/datasets/\($0["data-dataset-id"]!)" })
        let edges = svg.all("path").filter { $0.hasClass("edge") }
        #expect(edges.count == Self.lineage.edges.count, "the edge skipping a level is drawn too")
        #expect(edges.allSatisfy { $0["marker-end"] == "url(#lineage-test-arrow)" })
        #expect(svg.all("marker").map { $0["id"] } == ["lineage-test-arrow"])
    }

    @Test func ancestorsAreAboveTheDatasetAndDescendantsBelow() throws {
        let svg = try XMLTree(Self.lineage.svg())
        var top: [Int64: Double] = [:]
        for link in svg.all("a") where link.hasClass("node") {
            top[Int64(link["data-dataset-id"]!)!] = try link.box().y
        }
        for node in Self.lineage.nodes {
            let y = try #require(top[node.id])
            if node.level < 0 { #expect(y < top[10]!) }
            if node.level > 0 { #expect(y > top[10]!) }
        }
        #expect(top[3]! < top[1]!, "a grandparent sits above the parents")
        #expect(top[30]! > top[20]!, "a grandchild sits below the children")
        #expect(svg.all("a").first { $0["data-dataset-id"] == "10" }!.hasClass("current"))
    }

    @Test func noTwoBoxesOverlap() throws {
        // An overflowing row as well, so that the "more" box is checked too.
        var picture = Self.lineage
        picture.nodes += (100..<160).map { .init(id: $0, title: "Child \($0)", level: 1, flagged: false, href: "/console/datasets/\($0)") }
        let svg = try XMLTree(picture.svg())
        let boxes = try svg.all("a").filter { $0.hasClass("node") }.map { try $0.box() } + svg.all("g").filter { $0.hasClass("more") }.map { try $0.box() }
        #expect(boxes.count == PictureLimits.maxNodesPerLineageRow + 5 + 1)
        for (i, a) in boxes.enumerated() {
            for b in boxes[(i + 1)...] {
                let apart = a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y
                #expect(apart, "boxes \(a) and \(b) overlap")
            }
        }
        let viewBox = try #require(svg.root["viewBox"]).split(separator: " ").compactMap { Double($0) }
        #expect(boxes.allSatisfy { $0.x >= 0 && $0.y >= 0 && $0.x + $0.width <= viewBox[2] && $0.y + $0.height <= viewBox[3] })
    }

    @Test func R25_flaggedNodesCarryTheClassAMarkAndTheWordNotColourAlone() throws {
        let svg = try XMLTree(Self.lineage.svg())
        for link in svg.all("a") where link.hasClass("node") {
            let flagged = Self.lineage.nodes.first { "\($0.id)" == link["data-dataset-id"] }!.flagged
            #expect(link.hasClass("flagged") == flagged)
            #expect(link.all("circle").contains { $0.hasClass("flag-mark") } == flagged)
            #expect(link.all("text").contains { $0.text.contains("FLAGGED") } == flagged)
            #expect(link.all("title").first!.text.contains("flagged") == flagged)
        }
    }

    @Test func rowsAreOrderedToRemoveCrossings() throws {
        // Given in the order that crosses: parents A, B; children of B then of A.
        let picture = LineagePicture(
            nodes: [
                .init(id: 1, title: "A", level: -1, flagged: false, href: "/a"), .init(id: 2, title: "B", level: -1, flagged: false, href: "/b"),
                .init(id: 5, title: "X", level: 0, flagged: false, href: "/x"),
                .init(id: 7, title: "child of B", level: 1, flagged: false, href: "/c"),
                .init(id: 8, title: "child of A", level: 1, flagged: false, href: "/d"),
                .init(id: 6, title: "also from A", level: 0, flagged: false, href: "/e"),
            ],
            edges: [.init(source: 1, target: 5), .init(source: 2, target: 5), .init(source: 1, target: 6), .init(source: 5, target: 7), .init(source: 6, target: 8)],
            caption: "")
        let layout = LineageLayout(nodes: picture.nodes, edges: picture.edges)
        var x: [Int64: Double] = [:]
        for box in layout.boxes { if case .node(let index) = box.content { x[picture.nodes[index].id] = box.x } }
        // 6 hangs under A (1) and 5 between A and B, so 6 goes left of 5; their children follow.
        #expect(x[6]! < x[5]!)
        #expect(x[8]! < x[7]!)
    }

    /// A wide lineage (30 grandchildren) scrolls sideways on the page from its left edge: the dataset and its
    /// parents must be in view there, not centred thousands of pixels to the right. A narrow one stays centred.
    @Test func aWideLineageKeepsTheDatasetInViewAtTheLeftAndANarrowOneIsCentred() throws {
        func left(_ picture: LineagePicture, _ id: String) throws -> Double {
            try XMLTree(picture.svg()).all("a").first { $0.hasClass("node") && $0["data-dataset-id"] == id }!.box().x
        }
        var wide = Self.lineage
        wide.nodes += (100..<130).map { .init(id: $0, title: "Grandchild \($0)", level: 2, flagged: false, href: "/console/datasets/\($0)") }
        wide.edges += (100..<130).map { .init(source: 21, target: $0) }
        #expect(try left(wide, "10") < LineageLayout.centredUpToWidth / 2, "the dataset of a wide picture is in the first screen")
        #expect(try left(wide, "3") < LineageLayout.centredUpToWidth / 2, "so is its grandparent")
        let narrow = try left(Self.lineage, "10")
        #expect(narrow > LineageLayout.margin + LineageLayout.rowLabelWidth, "a narrow picture centres its rows")
    }

    @Test func anOverflowingRowEndsInAMoreBoxAndTheDescriptionSaysSo() throws {
        var picture = Self.lineage
        picture.nodes += (100..<223).map { .init(id: $0, title: "Child \($0)", level: 1, flagged: $0 == 222, href: "/console/datasets/\($0)") }
        picture.edges.append(.init(source: 10, target: 222))
        let svg = try XMLTree(picture.svg())
        let children = Set(["20", "21", "22"] + (100..<223).map { "\($0)" })
        let row = svg.all("a").filter { $0.hasClass("node") && children.contains($0["data-dataset-id"]!) }
        #expect(row.count == PictureLimits.maxNodesPerLineageRow)
        let hidden = 3 + 123 - PictureLimits.maxNodesPerLineageRow
        let more = try #require(svg.all("g").first { $0.hasClass("more") })
        #expect(more.all("text").first?.text == "+ \(hidden) more")
        #expect(svg.first("desc")!.text.contains("and \(hidden) more not drawn"))
        // Kept first: those joined to the dataset (its edges), flagged first among those.
        let kept = Set(row.map { $0["data-dataset-id"]! })
        #expect(kept.isSuperset(of: ["20", "21", "22", "222"]))
        #expect(svg.first("desc")!.text.hasSuffix("2 levels up, 2 down; all 4 descendants shown"))
    }

    @Test func theLimitsHoldTheirRelations() {
        #expect(PictureLimits.relationsHold)
    }

    @Test func theDensestLineageStaysWithinItsBounds() throws {
        // 200 nodes on each of 31 levels and 6,000 edges, many across several levels: the picture keeps
        // 25 rows of 40 boxes, 2,000 edges at most, and a bounded size.
        let levels = -15...15
        let nodes = levels.flatMap { level in
            (0..<200).map { LineagePicture.Node(id: Int64(level * 1_000 + $0), title: "Dataset \(level) \($0)", level: level, flagged: $0 % 50 == 0, href: "/d") }
        }
        var generator = SystemRandomNumberGenerator()
        let edges = (0..<6_000).map { _ in
            let from = Int.random(in: -15...14, using: &generator)
            let to = min(from + Int.random(in: 1...3, using: &generator), 15)
            return LineagePicture.Edge(source: Int64(from * 1_000 + Int.random(in: 0..<60, using: &generator)), target: Int64(to * 1_000 + Int.random(in: 0..<60, using: &generator)))
        }
        let started = ContinuousClock.now
        let text = LineagePicture(nodes: nodes, edges: edges, caption: "").svg()
        let elapsed = ContinuousClock.now - started
        let svg = try XMLTree(text)
        let rows = 2 * PictureLimits.maxLineageLevelsEachWay + 1
        #expect(svg.all("a").count == rows * PictureLimits.maxNodesPerLineageRow)
        #expect(svg.all("g").filter { $0.hasClass("more") }.count == rows)
        #expect(svg.all("path").filter { $0.hasClass("edge") }.count <= PictureLimits.maxLineageEdges)
        let size = try #require(svg.root["viewBox"]).split(separator: " ").compactMap { Double($0) }
        let slot = LineageLayout.boxWidth + LineageLayout.gapX
        let widest = 2 * LineageLayout.margin + LineageLayout.rowLabelWidth
            + Double(PictureLimits.maxNodesPerLineageRow + 1) * slot + Double(PictureLimits.maxLanesPerLineageRow) * (LineageLayout.laneWidth + LineageLayout.gapX)
        #expect(size[2] <= widest && size[3] <= Double(rows) * (LineageLayout.boxHeight + LineageLayout.gapY) + 2 * LineageLayout.margin)
        #expect(text.utf8.count < 4_000_000)
        #expect(elapsed < .seconds(10), "rendered in \(elapsed)")
    }

    @Test func theDescriptionSaysTheGraphInWords() throws {
        let desc = try XMLTree(Self.lineage.svg()).first("desc")!.text
        #expect(desc.contains("Parents: Traffic counts (#1); Weather stations (#2)") || desc.contains("Parents: Weather stations (#2); Traffic counts (#1)"))
        #expect(desc.contains("Children:"))
        #expect(desc.contains("Commuter forecast (#30, flagged)"))
        #expect(desc.contains("#3 to #30"))
    }

    @Test func aLongTitleIsCutInItsBoxAndWholeInItsTooltip() throws {
        let svg = try XMLTree(Self.lineage.svg())
        let link = try #require(svg.all("a").first { $0["data-dataset-id"] == "22" })
        #expect(link.first("title")!.text.hasPrefix("Noise map with a very long title that cannot fit in its box"))
        let shown = link.all("text").first!.text
        #expect(shown.hasSuffix("…") && shown.count < 30)
        #expect(SVGText.truncated("国家人口普查数据集二〇二六年版本", toEms: 6) == "国家人口普…")
    }

    @Test func linksThatWouldRunScriptBecomeHarmless() {
        for bad in ["javascript:alert(1)", " JavaScript:alert(1)", "java\tscript:x", "data:text/html,x", "//evil.example/x", "vbscript:x"] {
            #expect(LineagePicture.safeHref(bad) == "#", "\(bad)")
        }
        for good in ["/console/datasets/1", "?page=2", "#top", "https://registry.example/x", "datasets/1?a=b:c"] {
            #expect(LineagePicture.safeHref(good) == good)
        }
    }

    // MARK: Users' text, ids and extremes, in every picture

    /// Markup, quotes, and characters XML forbids (U+0001) or HTML5 calls a parse error (U+0085, U+FDD0, U+FFFF).
    static let hostile = "<script>alert('x')</script> & \"quoted\" \u{1}\u{85}" + String(Unicode.Scalar(0xFDD0)!) + String(Unicode.Scalar(0xFFFF)!)

    @Test func usersTextIsEscapedInEveryPicture() throws {
        let day = CivilDate(year: 2026, month: 3, day: 1)!
        let pictures = [
            LineagePicture(
                nodes: [.init(id: 1, title: Self.hostile, level: 0, flagged: true, href: "/x?a=1&b=\"2\"")], edges: [], caption: Self.hostile).svg(),
            DailyChart(title: Self.hostile, unit: Self.hostile, days: day...day.adding(days: 3), series: [DailyChart.Series(name: Self.hostile, values: [(day: day, value: 5)])]).svg(),
            BarChart(title: Self.hostile, unit: Self.hostile, bars: [.init(label: Self.hostile, value: 3, note: Self.hostile)]).svg(),
        ]
        for text in pictures {
            #expect(!text.contains("<script") && !text.contains("\"quoted\"") && !text.contains("'x'"))
            let svg = try XMLTree(text)
            #expect(svg.first("title")!.text.contains("<script>alert('x')</script> & \"quoted\""), "read back as written")
            #expect(!text.unicodeScalars.contains { [0x1, 0x85, 0xFDD0, 0xFFFF].contains($0.value) }, "characters XML or HTML5 forbid are replaced")
        }
        let link = try XMLTree(pictures[0]).all("a").first!
        #expect(link["href"] == "/x?a=1&b=\"2\"")
    }

    @Test func noPictureCarriesScriptStyleOrExternalReferences() throws {
        for text in Self.samples().values {
            #expect(text.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\""))
            #expect(text.range(of: #"\son[a-z]+="#, options: .regularExpression) == nil, "no event handler attribute")
            for forbidden in ["<script", "<style", "style=", "xlink:", "url(http", "<image", "<foreignObject", "javascript:"] {
                #expect(!text.contains(forbidden), "\(forbidden)")
            }
            let svg = try XMLTree(text)
            #expect(svg.root["role"] != nil)
            let labelledBy = try #require(svg.root["aria-labelledby"])
            #expect(svg.all("title").first { $0["id"] == labelledBy } != nil)
            #expect(svg.all("desc").first { $0["id"] == svg.root["aria-describedby"] } != nil)
        }
    }

    @Test func idsAreUniqueAcrossPicturesOfOnePage() throws {
        let day = CivilDate(year: 2026, month: 3, day: 1)!
        let chart = DailyChart(title: "Tokens", unit: "tokens", days: day...day, series: [DailyChart.Series(name: "g", values: [(day: day, value: 1)])])
        let twice = [chart.svg(), chart.svg(), Self.lineage.svg(), BarChart(title: "t", unit: "u", bars: []).svg()]
        let ids = try twice.flatMap { try XMLTree($0).all(nil).compactMap { $0["id"] } }
        #expect(Set(ids).count == ids.count)
        #expect(PictureIDs(kind: "x", requested: "9 bad\"id<>").prefix == "p9badid")
    }

    @Test func extremeValuesDoNotTrap() throws {
        let nodes: [LineagePicture.Node] = [
            .init(id: .max, title: "", level: 0, flagged: true, href: ""),
            .init(id: .min, title: "min", level: -1, flagged: false, href: "/"),
            .init(id: 0, title: "far up", level: .min, flagged: false, href: "/"),
            .init(id: 1, title: "far down", level: .max, flagged: false, href: "/"),
            .init(id: .max, title: "duplicate id", level: 1, flagged: false, href: "/"),
        ]
        let edges: [LineagePicture.Edge] = [.init(source: .min, target: .max), .init(source: .max, target: .max), .init(source: 0, target: .max), .init(source: 99, target: 1)]
        let lineage = try XMLTree(LineagePicture(nodes: nodes, edges: edges, caption: "").svg())
        #expect(lineage.all("a").count == 2)
        #expect(lineage.all("path").filter { $0.hasClass("edge") }.count == 1)
        #expect(lineage.first("desc")!.text.contains("2 nodes more than \(PictureLimits.maxLineageLevelsEachWay) levels away not drawn"))

        let widest = CivilDate(daysSince1970: .min)...CivilDate(daysSince1970: .max)
        let last = widest.upperBound
        let daily = DailyChart(
            title: "t", unit: "tokens", days: widest,
            series: [
                .init(name: "max", values: [(last, .max), (last, .max), (last.adding(days: -1), .max), (widest.lowerBound, .max)]),
                .init(name: "min", values: [(last, .min), (last.adding(days: -1), .min)]),
            ])
        let dailySVG = try XMLTree(daily.svg())
        let points = dailySVG.all("polyline").first!["points"]!.split(separator: " ")
        #expect(points.count == PictureLimits.maxChartDays, "a period longer than the bound shows its last days")
        #expect(dailySVG.first("desc")!.text.contains("more than 9,223,372,036,854,775,807"))
        #expect(dailySVG.first("desc")!.text.contains("-9,223,372,036,854,775,808"))
        #expect(!daily.svg().contains("nan") && !daily.svg().contains("inf"))

        let bars = BarChart(title: "t", unit: "u", bars: [.init(label: "max", value: .max, note: nil), .init(label: "min", value: .min, note: ""), .init(label: "zero", value: 0, note: nil)])
        let barSVG = try XMLTree(bars.svg())
        #expect(barSVG.all("rect").filter { $0.hasClass("bar") }.map { $0["width"] } == ["300", "0", "0"])
        #expect(barSVG.all("text").contains { $0.text == "-9,223,372,036,854,775,808 u" })
    }

    // MARK: Daily chart

    @Test func R26_theDailyChartZeroFillsMissingDaysAndHasALegendAndRoundTicks() throws {
        let first = CivilDate(year: 2026, month: 3, day: 1)!
        let chart = DailyChart(
            title: "Tokens a day, grant 12", unit: "tokens", days: first...first.adding(days: 6),
            series: [
                DailyChart.Series(name: "grant 12", values: [(day: first.adding(days: 1), value: 1_200), (day: first.adding(days: 4), value: 3_700), (day: first.adding(days: 40), value: 9)]),
                DailyChart.Series(name: "grant 13", values: [(day: first, value: 10)]),
            ])
        let svg = try XMLTree(chart.svg())
        let lines = svg.all("polyline").filter { $0.hasClass("series") }
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { $0["points"]!.split(separator: " ").count == 7 })
        #expect(lines[0]["stroke-dasharray"] != lines[1]["stroke-dasharray"], "series differ by more than colour")
        let texts = svg.all("text").map { $0.text }
        #expect(texts.contains("grant 12") && texts.contains("grant 13"))
        #expect(["0", "1k", "2k", "3k", "4k"].allSatisfy { texts.contains($0) })
        #expect(texts.contains("2026-03-01") && texts.contains("2026-03-07"))
        #expect(svg.first("desc")!.text.contains("grant 12: 4,900 tokens in all, highest 3,700 on 2026-03-05; by day: 2026-03-02 1,200, 2026-03-05 3,700"))
    }

    @Test func anEmptyChartSaysThereWasNoUse() throws {
        let first = CivilDate(year: 2026, month: 3, day: 1)!
        for series in [[], [DailyChart.Series(name: "grant 12", values: [])], [DailyChart.Series(name: "grant 12", values: [(first.adding(days: -3), 50)])]] {
            let svg = try XMLTree(DailyChart(title: "Tokens", unit: "tokens", days: first...first.adding(days: 29), series: series).svg())
            #expect(svg.all("text").contains { $0.text == "no use in this period" })
            #expect(svg.first("desc")!.text.contains("No use in this period."))
            #expect(svg.all("polyline").isEmpty)
        }
    }

    @Test func valueAxesTickAtOneTwoOrFiveTimesAPowerOfTen() {
        for maximum in [0, 1, 3, 7, 45, 1_234, 99_999, 1_000_000, 7_654_321_987, Int64.max] as [Int64] {
            let axis = ValueAxis(minimum: 0, maximum: maximum)
            var mantissa = axis.step
            while mantissa >= 10 { mantissa /= 10 }
            #expect([1.0, 2, 5].contains(mantissa), "step \(axis.step) for \(maximum)")
            #expect(axis.upper >= Double(maximum) && axis.ticks.count <= 12)
        }
        #expect(ValueAxis(minimum: 0, maximum: 1_234).ticks == [0, 500, 1_000, 1_500])
        #expect(PictureNumbers.compact(1_500) == "1.5k" && PictureNumbers.compact(20_000_000) == "20M" && PictureNumbers.compact(950) == "950")
        #expect(PictureNumbers.grouped(1_204) == "1,204" && PictureNumbers.grouped(-1_000) == "-1,000" && PictureNumbers.grouped(999) == "999")
    }

    // MARK: Bar chart

    @Test func barsKeepTheirOrderAndCarryTheirFigures() throws {
        let chart = BarChart(
            title: "Top assignees by tokens", unit: "tokens",
            bars: [.init(label: "Lab B", value: 500, note: "12%"), .init(label: "Lab A", value: 2_000, note: nil), .init(label: "Lab C", value: 1_000, note: nil)])
        let svg = try XMLTree(chart.svg())
        let widths = svg.all("rect").filter { $0.hasClass("bar") }.compactMap { $0["width"].flatMap(Double.init) }
        #expect(widths == [75, 300, 150])
        let texts = svg.all("text").map { $0.text }
        #expect(texts.contains("500 tokens · 12%") && texts.contains("2,000 tokens"))
        #expect(texts.firstIndex(of: "Lab B")! < texts.firstIndex(of: "Lab A")!)
        let many = BarChart(title: "t", unit: "u", bars: (0..<130).map { .init(label: "b\($0)", value: Int64($0), note: nil) })
        let manySVG = try XMLTree(many.svg())
        #expect(manySVG.all("rect").filter { $0.hasClass("bar") }.count == PictureLimits.maxBars)
        #expect(manySVG.all("text").contains { $0.text == "+ 30 more not shown" })
        #expect(try XMLTree(BarChart(title: "t", unit: "u", bars: []).svg()).all("text").contains { $0.text == "nothing to show" })
    }

    // MARK: HTML5 and the pictures a person looks at

    static func samples() -> [String: String] {
        let first = CivilDate(year: 2026, month: 2, day: 1)!
        var wide = lineage
        wide.nodes += (100..<150).map { .init(id: $0, title: "Derived table \($0)", level: 1, flagged: $0 % 17 == 0, href: "/console/datasets/\($0)") }
        wide.edges += (100..<150).map { .init(source: $0 % 3 == 0 ? 20 : 10, target: $0) }
        wide.idPrefix = "wide"
        var values: [(day: CivilDate, value: Int64)] = []
        for day in 0..<59 where day % 7 != 5 { values.append((first.adding(days: day), Int64(20_000 + (day * 7_919) % 45_000))) }
        let daily = DailyChart(
            title: "Tokens a day — grant 12 (Lab A)", unit: "tokens", days: first...first.adding(days: 58),
            series: [.init(name: "grant 12", values: values), .init(name: "grant 15", values: values.map { ($0.day, $0.value / 3) })],
            idPrefix: "daily")
        let empty = DailyChart(title: "Tokens a day — grant 13", unit: "tokens", days: first...first.adding(days: 29), series: [], idPrefix: "empty")
        let bars = BarChart(
            title: "Most used datasets", unit: "tokens",
            bars: [
                .init(label: "National census 2020", value: 48_200_000, note: "31%"), .init(label: "Road sensors 2026", value: 21_000_000, note: "14%"),
                .init(label: "Weather stations, hourly, all provinces since 1990", value: 9_400_000, note: nil), .init(label: "Noise map", value: 120_000, note: "0.1%"),
            ], idPrefix: "bars")
        let hostile = LineagePicture(
            nodes: [.init(id: 1, title: Self.hostile, level: 0, flagged: true, href: "javascript:alert(1)"), .init(id: 2, title: Self.hostile, level: 1, flagged: false, href: "/x?a=1&b=2")],
            edges: [.init(source: 1, target: 2)], caption: Self.hostile, idPrefix: "hostile")
        return ["hostile": hostile.svg(), "lineage": lineage.svg(), "lineage-wide": wide.svg(), "daily": daily.svg(), "daily-empty": empty.svg(), "bars": bars.svg()]
    }

    /// Writes the samples, alone and together in one HTML page, to a temporary directory, for a person to
    /// convert and look at (`rsvg-convert`, or the page in a browser); html5lib's strict parser reads the page.
    @Test func samplePicturesParseAsHTML5AndAreWrittenForAPersonToLookAt() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("datarights-console-pictures")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let samples = Self.samples().sorted { $0.key < $1.key }
        for (name, text) in samples {
            try Data(text.utf8).write(to: directory.appendingPathComponent("\(name).svg"))
        }
        let page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Console pictures</title></head>
            <body><main><h1>Console pictures</h1>
            \(samples.map { "<figure>\($0.value)<figcaption>\($0.key)</figcaption></figure>" }.joined(separator: "\n"))
            </main></body></html>
            """
        try Data(page.utf8).write(to: directory.appendingPathComponent("pictures.html"))
        try await StrictHTML5.check(page)
    }
}

/// html5lib's strict parser (installed by `.ci/install-deps`), which raises on the first parse error.
enum StrictHTML5 {
    struct Failure: Error, CustomStringConvertible { let description: String }

    static func check(_ page: String) async throws {
        let result = try await PythonProcess.run(
            ["-c", "import sys, html5lib; html5lib.HTMLParser(strict=True).parse(sys.stdin.buffer.read())"], input: Data(page.utf8))
        guard result.status == 0 else { throw Failure(description: result.errorText) }
    }
}

/// An SVG read back by Foundation's XMLParser into a small tree the tests can query.
final class XMLTree {
    final class Element {
        let name: String
        let attributes: [String: String]
        var children: [Element] = []
        var text = ""

        init(name: String, attributes: [String: String]) {
            self.name = name
            self.attributes = attributes
        }

        subscript(attribute: String) -> String? { attributes[attribute] }
        func hasClass(_ name: String) -> Bool { (attributes["class"] ?? "").split(separator: " ").contains { $0 == name } }

        /// Descendants named `name` (all when nil), in document order.
        func all(_ name: String?) -> [Element] {
            var found: [Element] = []
            var stack = Array(children.reversed())
            while let element = stack.popLast() {
                if name == nil || element.name == name { found.append(element) }
                stack += element.children.reversed()
            }
            return found
        }

        func first(_ name: String) -> Element? { all(name).first }

        /// The first rect's box.
        func box() throws -> (x: Double, y: Double, width: Double, height: Double) {
            let rect = try #require(name == "rect" ? self : first("rect"))
            return (
                try #require(rect["x"].flatMap(Double.init)), try #require(rect["y"].flatMap(Double.init)),
                try #require(rect["width"].flatMap(Double.init)), try #require(rect["height"].flatMap(Double.init))
            )
        }
    }

    private final class Builder: NSObject, XMLParserDelegate {
        var stack: [Element] = [Element(name: "#document", attributes: [:])]
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            let element = Element(name: name, attributes: attributes)
            stack.last!.children.append(element)
            stack.append(element)
        }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) { _ = stack.popLast() }
        func parser(_ parser: XMLParser, foundCharacters string: String) { stack.last!.text += string }
    }

    let root: Element

    init(_ text: String) throws {
        let parser = XMLParser(data: Data(text.utf8))
        let builder = Builder()
        parser.delegate = builder
        guard parser.parse() else {
            throw StrictHTML5.Failure(description: "not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")")
        }
        root = try #require(builder.stack.first?.children.first)
        #expect(root.name == "svg")
    }

    func all(_ name: String?) -> [Element] { [root].filter { name == nil || $0.name == name } + root.all(name) }
    func first(_ name: String) -> Element? { all(name).first }
}
