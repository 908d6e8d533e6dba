/// What market statistics group accepted usage by (issue 16). Every answer is read from the daily usage
/// rollup (``UsageRollup``), never from the raw events; a dataset's holder and tags and a lab's
/// jurisdiction are read as they are now, when the answer is made, not as they were on the day of use.
public enum StatisticsDimension: String, Sendable, CaseIterable {
    /// One series for the whole market.
    case national
    /// The use region of the grant the use was made under (the rollup's region).
    case region
    /// The sector (GB/T 4754-2017 section) of the used dataset's holder; `unclassified` when it has none.
    case sector
    /// The assignee: the lab (or enterprise) that used the data, by party id.
    case lab
    /// The assignee's jurisdiction: `domestic` (mainland) or `foreign` (outside).
    case origin
    /// Each tag of the used dataset (a dataset with two tags counts in both, so shares may sum past
    /// 100 %); `untagged` for a dataset without tags.
    case domain

    /// Whether each use counts in exactly one value (so the values' figures add up to the national ones).
    public var partitionsUse: Bool { self != .domain }
}

/// Events and tokens of accepted use.
public struct StatisticsFigures: Sendable, Equatable {
    public var events: Int64
    public var tokens: Int64

    public init(events: Int64 = 0, tokens: Int64 = 0) {
        self.events = events
        self.tokens = tokens
    }

    /// Sums saturate like the rollup's own (``UsageTotals``): within the registry's limits they do not get there.
    mutating func add(events: Int64, tokens: Int64) {
        self.events = UsageTotals.saturating(self.events, events)
        self.tokens = UsageTotals.saturating(self.tokens, tokens)
    }
}

/// One cell of a statistics answer: use of one dimension value on one day, or over the whole period.
public struct StatisticsCell: Sendable, Equatable {
    /// The dimension's value: `national`, a region code, a sector letter or `unclassified`, a lab's party
    /// id, `domestic` or `foreign`, a tag or `untagged`.
    public var value: String
    /// The value in words (a region's or sector's name, a lab's name).
    public var label: String
    /// The day, or nil for a cell over the whole period.
    public var day: CivilDate?
    public var figures: StatisticsFigures
    /// Too few parties contributed for the cell to be shown publicly (``isSmallCell``).
    public var isSmall: Bool
}

/// One row of a ranking: a dimension value's use in the period, its share of the market, and its change
/// against the period before of equal length.
public struct StatisticsRanking: Sendable, Equatable {
    public var value: String
    public var label: String
    public var figures: StatisticsFigures
    /// Tokens of this value over the market's tokens in the period (the national total), in per cent.
    public var sharePercent: Double
    /// Tokens of this value in the period before, of the same length.
    public var previousTokens: Int64
    /// (tokens − previous) ÷ previous, in per cent; nil when there was no use before.
    public var changePercent: Double?
    public var isSmall: Bool
    public var previousIsSmall: Bool
}

/// Up to ``capacity`` distinct party ids, enough to tell whether a cell reaches the public threshold
/// (``Limits/minPartiesPerPublicStatisticsCell``) without a set per cell.
struct FewDistinctParties {
    static let capacity = 4
    private var ids: (Int32, Int32, Int32, Int32) = (0, 0, 0, 0)

    /// Distinct ids seen, at most ``capacity``.
    var count: Int { ids.3 != 0 ? 4 : ids.2 != 0 ? 3 : ids.1 != 0 ? 2 : ids.0 != 0 ? 1 : 0 }

    /// Counts `id` (party ids are at least 1).
    mutating func see(_ id: Int32) {
        if ids.3 != 0 || id == ids.0 || id == ids.1 || id == ids.2 { return }
        if ids.0 == 0 { ids.0 = id } else if ids.1 == 0 { ids.1 = id } else if ids.2 == 0 { ids.2 = id } else { ids.3 = id }
    }
}

extension StatisticsDimension {
    /// The public small-cell rule: a cell is shown only when at least
    /// ``Limits/minPartiesPerPublicStatisticsCell`` distinct assignees and as many distinct dataset
    /// holders contributed to it. A `lab` cell always describes one assignee — the lab it ranks, which is
    /// what such a ranking publishes — so for it only the holders count: a lab's figure is shown when it
    /// used the data of at least three holders, and never tells what one or two holders sold to it.
    func isSmallCell(assignees: Int, holders: Int) -> Bool {
        let minimum = Limits.minPartiesPerPublicStatisticsCell
        return holders < minimum || (self != .lab && assignees < minimum)
    }
}

/// Market statistics (issue 16): usage by day and dimension value, from the daily rollup.
extension RegistryState {
    /// Accepted use in `days` by `dimension`: with `daily`, one cell per value and day with use; without,
    /// one cell per value over the period. Cells are in value order (labs by id), then day order.
    /// Walks the rollup's rows of those days once (``UsageRollup/forEachEntry(in:_:)``).
    public func usageStatistics(by dimension: StatisticsDimension, in days: ClosedRange<CivilDate>, daily: Bool) -> [StatisticsCell] {
        var walk = StatisticsWalk(state: self, dimension: dimension)
        var cells: [StatisticsCell] = []
        walk.run(days, daily: daily, into: &cells)
        return walk.sorted(cells)
    }

    /// The whole market's use in `days` and whether it is a small cell (fewer than three assignees or
    /// holders in all).
    public func usageTotal(in days: ClosedRange<CivilDate>) -> (figures: StatisticsFigures, isSmall: Bool) {
        let cell = usageStatistics(by: .national, in: days, daily: false).first
        return (cell?.figures ?? StatisticsFigures(), cell?.isSmall ?? true)
    }

    /// The values of `dimension` used in `days`, ranked by tokens (then by value), each with its share of
    /// the period's national tokens and its tokens in the period of equal length just before.
    public func usageRankings(by dimension: StatisticsDimension, in days: ClosedRange<CivilDate>) -> [StatisticsRanking] {
        let length = days.upperBound.daysSince1970 - days.lowerBound.daysSince1970 + 1
        let before = days.lowerBound.adding(days: -Int(length))...days.lowerBound.adding(days: -1)
        let now = usageStatistics(by: dimension, in: days, daily: false)
        let previous = Dictionary(usageStatistics(by: dimension, in: before, daily: false).map { ($0.value, $0) }, uniquingKeysWith: { first, _ in first })
        let total = dimension == .national ? now.first?.figures.tokens ?? 0 : usageTotal(in: days).figures.tokens
        let rows = now.map { cell -> StatisticsRanking in
            let earlier = previous[cell.value]
            let previousTokens = earlier?.figures.tokens ?? 0
            return StatisticsRanking(
                value: cell.value, label: cell.label, figures: cell.figures,
                sharePercent: total == 0 ? 0 : Double(cell.figures.tokens) / Double(total) * 100, previousTokens: previousTokens,
                changePercent: previousTokens == 0 ? nil : (Double(cell.figures.tokens) - Double(previousTokens)) / Double(previousTokens) * 100,
                isSmall: cell.isSmall, previousIsSmall: earlier?.isSmall ?? true)
        }
        let order = Dictionary(uniqueKeysWithValues: now.enumerated().map { ($1.value, $0) })
        return rows.sorted { left, right in
            left.figures.tokens != right.figures.tokens ? left.figures.tokens > right.figures.tokens : order[left.value]! < order[right.value]!
        }
    }
}

/// One walk over the rollup for one dimension: maps each row to its value(s) through small tables made
/// as values are met (a label's region, a party's jurisdiction, a holder's sector, a tag list's tags),
/// so a row costs a few array reads and no string work.
struct StatisticsWalk {
    private struct Accumulator {
        var figures = StatisticsFigures()
        var assignees = FewDistinctParties()
        var holders = FewDistinctParties()
        var touched = false
    }

    let dimension: StatisticsDimension
    private let rollup: UsageRollup
    private let datasets: DatasetTable
    private let parties: [Party?]
    private var values: [String] = []
    private var valueIndexes: [String: Int32] = [:]
    private var accumulators: [Accumulator] = []
    private var touched: [Int32] = []
    /// Value index by rollup label (region), by party id (lab, origin, sector of a holder), by tag list
    /// (domain); -1 when not mapped yet.
    private var byLabel: [Int32]
    private var byParty: [Int32]
    private var byTagList: [[Int32]?]

    init(state: RegistryState, dimension: StatisticsDimension) {
        self.dimension = dimension
        rollup = state.usage.rollup
        datasets = state.catalog.datasets
        let partyTable = state.catalog.parties
        parties = (0...partyTable.count).map { $0 == 0 ? nil : partyTable[Int64($0)] }
        byLabel = Array(repeating: -1, count: rollup.labelCount)
        byParty = Array(repeating: -1, count: parties.count)
        byTagList = dimension == .domain ? Array(repeating: nil, count: datasets.tagListCount) : []
        if dimension == .national { _ = index(of: "national") }
    }

    /// Adds each row of `days` to its value(s) and closes them into `cells`: one a value and day with
    /// `daily`, else one a value over the period.
    mutating func run(_ days: ClosedRange<CivilDate>, daily: Bool, into cells: inout [StatisticsCell]) {
        let rollup = self.rollup
        var day: CivilDate?
        rollup.forEachEntry(in: days) { entry in
            // Rows come day by day: a new day closes the cells of the one before.
            if daily && entry.day != day {
                if let day { flush(day: day, into: &cells) }
                day = entry.day
            }
            let holder = datasets.holder(of: entry.dataset.rawValue)?.rawValue ?? 0
            let assignee = Int32(truncatingIfNeeded: entry.assignee.rawValue)
            let holderID = Int32(truncatingIfNeeded: holder)
            switch dimension {
            case .national: add(0, entry, assignee, holderID)
            case .region: add(regionValue(entry.label), entry, assignee, holderID)
            case .lab, .origin: add(partyValue(entry.assignee.rawValue), entry, assignee, holderID)
            case .sector: add(partyValue(holder), entry, assignee, holderID)
            case .domain:
                for value in domainValues(entry.dataset.rawValue) { add(value, entry, assignee, holderID) }
            }
        }
        flush(day: daily ? day : nil, into: &cells)
    }

    private mutating func add(_ value: Int32, _ entry: UsageRollup.Entry, _ assignee: Int32, _ holder: Int32) {
        let index = Int(value)
        if !accumulators[index].touched {
            accumulators[index].touched = true
            touched.append(value)
        }
        accumulators[index].figures.add(events: entry.totals.events, tokens: entry.totals.tokens)
        accumulators[index].assignees.see(assignee)
        if holder != 0 { accumulators[index].holders.see(holder) }
    }

    /// Closes the values touched since the last flush into cells dated `day` (nil: the period).
    mutating func flush(day: CivilDate?, into cells: inout [StatisticsCell]) {
        for value in touched {
            let accumulator = accumulators[Int(value)]
            cells.append(StatisticsCell(
                value: values[Int(value)], label: label(values[Int(value)]), day: day, figures: accumulator.figures,
                isSmall: dimension.isSmallCell(assignees: accumulator.assignees.count, holders: accumulator.holders.count)))
            accumulators[Int(value)] = Accumulator()
        }
        touched.removeAll(keepingCapacity: true)
    }

    /// Cells in value order (labs by their numeric id), then by day.
    func sorted(_ cells: [StatisticsCell]) -> [StatisticsCell] {
        cells.sorted { left, right in
            if left.value != right.value {
                if dimension == .lab, let l = Int64(left.value), let r = Int64(right.value) { return l < r }
                return left.value < right.value
            }
            return (left.day?.daysSince1970 ?? 0) < (right.day?.daysSince1970 ?? 0)
        }
    }

    private mutating func index(of value: String) -> Int32 {
        if let index = valueIndexes[value] { return index }
        let index = Int32(values.count)
        values.append(value)
        valueIndexes[value] = index
        accumulators.append(Accumulator())
        return index
    }

    private mutating func regionValue(_ label: Int) -> Int32 {
        if byLabel[label] >= 0 { return byLabel[label] }
        let index = index(of: rollup.label(label).useRegion)
        byLabel[label] = index
        return index
    }

    /// A party's value: the assignee itself (lab), its jurisdiction (origin) or, for a holder, its sector.
    private mutating func partyValue(_ id: Int64) -> Int32 {
        guard id >= 1 && Int(id) < byParty.count else { return index(of: dimension == .sector ? "unclassified" : "\(id)") }
        if byParty[Int(id)] >= 0 { return byParty[Int(id)] }
        let party = parties[Int(id)]
        let value: String
        switch dimension {
        case .origin: value = party?.jurisdiction == .outside ? "foreign" : "domestic"
        case .sector: value = party?.sector?.rawValue ?? "unclassified"
        default: value = "\(id)"
        }
        let index = index(of: value)
        byParty[Int(id)] = index
        return index
    }

    private mutating func domainValues(_ dataset: Int64) -> [Int32] {
        guard let list = datasets.tagListIndex(of: dataset) else { return [index(of: "untagged")] }
        if let known = byTagList[list] { return known }
        let tags = Array(Set(datasets.tagList(list))).sorted()
        var mapped: [Int32] = []
        for tag in tags.isEmpty ? ["untagged"] : tags { mapped.append(index(of: tag)) }
        byTagList[list] = mapped
        return mapped
    }

    /// A value in words.
    func label(_ value: String) -> String {
        switch dimension {
        case .national: return "National"
        case .region: return Regions.provincial[value] ?? value
        case .sector: return Sector(rawValue: value)?.englishName ?? "Unclassified"
        case .lab: return Int64(value).flatMap { Int($0) < parties.count ? parties[Int($0)]?.name : nil } ?? value
        case .origin: return value == "foreign" ? "Foreign (outside the mainland jurisdiction)" : "Domestic (mainland jurisdiction)"
        case .domain: return value == "untagged" ? "Untagged" : value
        }
    }
}
