import Synchronization

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

    public init(value: String, label: String, day: CivilDate?, figures: StatisticsFigures, isSmall: Bool) {
        self.value = value
        self.label = label
        self.day = day
        self.figures = figures
        self.isSmall = isSmall
    }
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

    public init(
        value: String, label: String, figures: StatisticsFigures, sharePercent: Double, previousTokens: Int64, changePercent: Double?,
        isSmall: Bool, previousIsSmall: Bool
    ) {
        self.value = value
        self.label = label
        self.figures = figures
        self.sharePercent = sharePercent
        self.previousTokens = previousTokens
        self.changePercent = changePercent
        self.isSmall = isSmall
        self.previousIsSmall = previousIsSmall
    }
}

/// Up to ``capacity`` distinct party ids, enough to tell whether a cell reaches the public threshold
/// (``Limits/minPartiesPerPublicStatisticsCell``) without a set per cell. Below capacity it holds the
/// exact set, so merging two trackers (a value over several days) still tells "three or more" exactly.
struct FewDistinctParties: Sendable {
    static let capacity = 4
    private var ids: (Int32, Int32, Int32, Int32) = (0, 0, 0, 0)

    /// Distinct ids seen, at most ``capacity``.
    var count: Int { ids.3 != 0 ? 4 : ids.2 != 0 ? 3 : ids.1 != 0 ? 2 : ids.0 != 0 ? 1 : 0 }

    /// Counts `id` (party ids are at least 1).
    mutating func see(_ id: Int32) {
        if ids.3 != 0 || id == ids.0 || id == ids.1 || id == ids.2 { return }
        if ids.0 == 0 { ids.0 = id } else if ids.1 == 0 { ids.1 = id } else if ids.2 == 0 { ids.2 = id } else { ids.3 = id }
    }

    mutating func merge(_ other: Self) {
        for id in [other.ids.0, other.ids.1, other.ids.2, other.ids.3] where id != 0 { see(id) }
    }
}

/// What some rollup rows give one value of a dimension: figures and the parties on either side.
struct ValueSummary: Sendable {
    var figures = StatisticsFigures()
    var assignees = FewDistinctParties()
    var holders = FewDistinctParties()

    mutating func merge(_ other: Self) {
        figures.add(events: other.figures.events, tokens: other.figures.tokens)
        assignees.merge(other.assignees)
        holders.merge(other.holders)
    }
}

/// Per-day summaries of the rollup by dimension value, kept between answers (issue 16: a 30-day answer
/// at national scale walks millions of rollup rows; a day's summary is a few hundred values). Only days
/// before the rollup's last day are kept — usage is committed on the current day, so earlier days no
/// longer change — and each is kept with the catalog's ``CatalogState/statisticsRevision``, the rollup's
/// generation and late changes (``UsageRollup/lateChanges``) and the calendar's offset it was made under:
/// a transfer, a tag change, a rebuilt core, use committed late on a past day (another replica's clock)
/// or a new offset makes it stale. Shared by
/// the readers of one registry (its own lock); a reader that finds nothing computes and stores.
public final class StatisticsCache: Sendable {
    struct Key: Hashable {
        var dimension: StatisticsDimension
        var day: Int32
    }

    /// What a kept day was computed from.
    struct Revision: Equatable {
        var catalog: Int64
        var rollupGeneration: Int64
        var rollupLateChanges: Int64
    }

    struct Entry {
        var revision: Revision
        var offsetSeconds: Int32
        var summary: [String: ValueSummary]
    }

    private let entries = Mutex<[Key: Entry]>([:])

    public init() {}

    /// Day summaries held now.
    public var count: Int { entries.withLock { $0.count } }

    func summary(_ dimension: StatisticsDimension, _ day: CivilDate, revision: Revision, offsetSeconds: Int32) -> [String: ValueSummary]? {
        entries.withLock { entries in
            guard let entry = entries[Key(dimension: dimension, day: day.daysSince1970)], entry.revision == revision,
                entry.offsetSeconds == offsetSeconds else { return nil }
            return entry.summary
        }
    }

    func store(_ summary: [String: ValueSummary], _ dimension: StatisticsDimension, _ day: CivilDate, revision: Revision, offsetSeconds: Int32) {
        entries.withLock { entries in
            // Bounded: past the limit, stale entries go first, then everything (the next answers rebuild).
            if entries.count >= Limits.maxStatisticsCachedDays {
                entries = entries.filter { $0.value.revision == revision && $0.value.offsetSeconds == offsetSeconds }
                if entries.count >= Limits.maxStatisticsCachedDays { entries.removeAll() }
            }
            entries[Key(dimension: dimension, day: day.daysSince1970)] = Entry(revision: revision, offsetSeconds: offsetSeconds, summary: summary)
        }
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
    /// Each day is the summary of its rollup rows (``UsageRollup/forEachEntry(in:_:)``), taken from
    /// `cache` when it holds that day (and the catalog has not moved use between values since).
    public func usageStatistics(
        by dimension: StatisticsDimension, in days: ClosedRange<CivilDate>, daily: Bool, cache: StatisticsCache? = nil
    ) -> [StatisticsCell] {
        let rollup = usage.rollup
        guard let first = rollup.firstDay, let last = rollup.lastDay, days.lowerBound <= last, days.upperBound >= first else { return [] }
        let span = max(days.lowerBound, first)...min(days.upperBound, last)
        let mapper = StatisticsMapper(state: self, dimension: dimension)
        let revision = StatisticsCache.Revision(
            catalog: catalog.statisticsRevision, rollupGeneration: rollup.generation, rollupLateChanges: rollup.lateChanges)
        let offset = Int32(settings.calendar.utcOffsetSeconds)
        // Each value's days in day order (the days are met in order), so the answer needs no sort of its
        // cells: only the distinct values are ordered, and each value's label is made once.
        var slot: [String: Int] = [:]
        var values: [String] = []
        var days: [[(day: CivilDate, summary: ValueSummary)]] = []
        var day = span.lowerBound
        while day <= span.upperBound {
            let complete = day < last
            let summary: [String: ValueSummary]
            if complete, let cached = cache?.summary(dimension, day, revision: revision, offsetSeconds: offset) {
                summary = cached
            } else {
                summary = mapper.summary(of: day)
                if complete { cache?.store(summary, dimension, day, revision: revision, offsetSeconds: offset) }
            }
            for (value, figures) in summary {
                let index: Int
                if let known = slot[value] {
                    index = known
                } else {
                    index = values.count
                    slot[value] = index
                    values.append(value)
                    days.append([])
                }
                if daily {
                    days[index].append((day, figures))
                } else if days[index].isEmpty {
                    days[index].append((span.lowerBound, figures))
                } else {
                    days[index][0].summary.merge(figures)
                }
            }
            day = day.adding(days: 1)
        }
        var cells: [StatisticsCell] = []
        cells.reserveCapacity(days.reduce(0) { $0 + $1.count })
        for index in mapper.order(values) {
            let label = mapper.label(values[index])
            for (day, summary) in days[index] {
                cells.append(mapper.cell(values[index], label: label, day: daily ? day : nil, summary))
            }
        }
        return cells
    }

    /// The whole market's use in `days` and whether it is a small cell (fewer than three assignees or
    /// holders in all).
    public func usageTotal(in days: ClosedRange<CivilDate>, cache: StatisticsCache? = nil) -> (figures: StatisticsFigures, isSmall: Bool) {
        let cell = usageStatistics(by: .national, in: days, daily: false, cache: cache).first
        return (cell?.figures ?? StatisticsFigures(), cell?.isSmall ?? true)
    }

    /// The values of `dimension` used in `days`, ranked by tokens (then by value), each with its share of
    /// the period's national tokens and its tokens in the period of equal length just before.
    public func usageRankings(by dimension: StatisticsDimension, in days: ClosedRange<CivilDate>, cache: StatisticsCache? = nil) -> [StatisticsRanking] {
        let length = days.upperBound.daysSince1970 - days.lowerBound.daysSince1970 + 1
        let before = days.lowerBound.adding(days: -Int(length))...days.lowerBound.adding(days: -1)
        let now = usageStatistics(by: dimension, in: days, daily: false, cache: cache)
        let previous = Dictionary(usageStatistics(by: dimension, in: before, daily: false, cache: cache).map { ($0.value, $0) }, uniquingKeysWith: { first, _ in first })
        let total = dimension == .national ? now.first?.figures.tokens ?? 0 : usageTotal(in: days, cache: cache).figures.tokens
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

/// Maps rollup rows to a dimension's values through small tables filled as values are met (a label's
/// region, a party's jurisdiction or sector, a tag list's tags), so a row costs a few array reads and no
/// string work; a class so that the walk's closure reaches it without copying the tables it reads.
final class StatisticsMapper {
    let dimension: StatisticsDimension
    let rollup: UsageRollup
    let datasets: DatasetTable
    private let parties: [Party?]
    private(set) var values: [String] = []
    private var valueIndexes: [String: Int32] = [:]
    /// Value index by rollup label (region), by party id (lab, origin; sector of a holder), by tag list
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

    /// The summary of one day's rows, by value. The tables a row reads are taken into locals for the
    /// walk (a class's stored properties are checked for exclusive access at each read), and only a value
    /// met for the first time goes through the class.
    func summary(of day: CivilDate) -> [String: ValueSummary] {
        var sums: [ValueSummary] = []
        var touched: [Int32] = []
        let datasets = self.datasets
        let dimension = self.dimension
        var byLabel = self.byLabel
        var byParty = self.byParty
        defer {
            self.byLabel = byLabel
            self.byParty = byParty
        }
        rollup.forEachEntry(in: day...day) { entry in
            let holderID = datasets.holder(of: entry.dataset.rawValue)?.rawValue ?? 0
            let assignee = Int32(truncatingIfNeeded: entry.assignee.rawValue)
            let holder = Int32(truncatingIfNeeded: holderID)
            var value: Int32
            switch dimension {
            case .national:
                value = 0
            case .region:
                value = byLabel[entry.label]
                if value < 0 {
                    value = regionValue(entry.label)
                    byLabel[entry.label] = value
                }
            case .lab, .origin, .sector:
                let party = dimension == .sector ? holderID : entry.assignee.rawValue
                value = party >= 1 && Int(party) < byParty.count ? byParty[Int(party)] : -1
                if value < 0 {
                    value = partyValue(party)
                    if party >= 1 && Int(party) < byParty.count { byParty[Int(party)] = value }
                }
            case .domain:
                for tag in domainValues(entry.dataset.rawValue) { Self.add(tag, entry, assignee, holder, &sums, &touched) }
                return
            }
            Self.add(value, entry, assignee, holder, &sums, &touched)
        }
        var summary: [String: ValueSummary] = [:]
        for value in touched { summary[values[Int(value)]] = sums[Int(value)] }
        return summary
    }

    private static func add(
        _ value: Int32, _ entry: UsageRollup.Entry, _ assignee: Int32, _ holder: Int32, _ sums: inout [ValueSummary], _ touched: inout [Int32]
    ) {
        let index = Int(value)
        if index >= sums.count { sums.append(contentsOf: repeatElement(ValueSummary(), count: index - sums.count + 1)) }
        if sums[index].figures.events == 0 { touched.append(value) }
        sums[index].figures.add(events: entry.totals.events, tokens: entry.totals.tokens)
        sums[index].assignees.see(assignee)
        if holder != 0 { sums[index].holders.see(holder) }
    }

    func cell(_ value: String, label: String, day: CivilDate?, _ summary: ValueSummary) -> StatisticsCell {
        StatisticsCell(
            value: value, label: label, day: day, figures: summary.figures,
            isSmall: dimension.isSmallCell(assignees: summary.assignees.count, holders: summary.holders.count))
    }

    /// The positions of `values` in answer order: labs by their numeric id, other values as text.
    func order(_ values: [String]) -> [Int] {
        if dimension == .lab {
            let keys = values.map { Int64($0) ?? .max }
            return values.indices.sorted { (keys[$0], values[$0]) < (keys[$1], values[$1]) }
        }
        return values.indices.sorted { values[$0] < values[$1] }
    }

    private func index(of value: String) -> Int32 {
        if let index = valueIndexes[value] { return index }
        let index = Int32(values.count)
        values.append(value)
        valueIndexes[value] = index
        return index
    }

    private func regionValue(_ label: Int) -> Int32 {
        if byLabel[label] >= 0 { return byLabel[label] }
        let index = index(of: rollup.label(label).useRegion)
        byLabel[label] = index
        return index
    }

    /// A party's value: the assignee itself (lab), its jurisdiction (origin) or, for a holder, its sector.
    private func partyValue(_ id: Int64) -> Int32 {
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

    private func domainValues(_ dataset: Int64) -> [Int32] {
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
