@testable import RegistryCore
import Testing

/// Market statistics (issue 16) as the core computes them from the daily rollup: every dimension, daily
/// and over a period, equals a plain recomputation over the rollup's cells; the small-cell rule; rankings.
@Suite struct MarketStatisticsTests {
    static let now = Timestamp(microsecondsSince1970: 1_795_399_200 * 1_000_000)
    static let firstDay = CivilDate(daysSince1970: 20_400)

    /// A state with parties (labs at home and abroad, holders with and without a sector), datasets with
    /// zero, one or two tags, and rollup cells added directly (as a rebuild reads them back).
    struct Market {
        var state = RegistryState()
        var labs: [Party] = []
        var holders: [Party] = []
        var datasets: [Dataset] = []

        mutating func party(_ name: String, _ kind: PartyKind, outside: Bool = false, sector: Sector? = nil) -> Party {
            let id = PartyID(rawValue: Int64(state.catalog.parties.count + 1))
            let party = Party(
                id: id, name: name, kind: kind, region: outside ? "SG" : "CN-BJ", jurisdiction: outside ? .outside : .mainland,
                creditCode: nil, sector: sector, createdAt: MarketStatisticsTests.now)
            state.apply(.party(party))
            return party
        }

        mutating func dataset(holder: Party, tags: [String]) -> Dataset {
            let dataset = Dataset(
                id: DatasetID(rawValue: Int64(datasets.count + 1)), holder: holder.id, title: "D\(datasets.count + 1)", description: "",
                grade: .general, personalInformation: .none, individualsCovered: 0, region: "CN-BJ", sharing: nil,
                fingerprint: String(repeating: "ab", count: 32), format: "csv", updateCycle: "daily", sizeBytes: 1, tags: tags,
                createdAt: MarketStatisticsTests.now, updatedAt: MarketStatisticsTests.now)
            state.apply(.dataset(dataset))
            datasets.append(dataset)
            return dataset
        }

        mutating func use(_ dataset: Dataset, by lab: Party, day: Int, region: String, purpose: String = "model_training", tokens: Int64, events: Int64 = 1) {
            let cell = UsageRollupCell(
                day: MarketStatisticsTests.firstDay.adding(days: day), dataset: dataset.id, assignee: lab.id, purpose: purpose, useRegion: region)
            state.usage.rollup.add([(cell, UsageTotals(events: events, tokens: tokens, amount: 0))], denials: [])
        }

        static func random(seed: UInt64) -> Market {
            var random = SplitMix64(state: seed)
            var market = Market()
            _ = market.party("Regulator", .regulator)
            for index in 0..<7 {
                market.labs.append(market.party("Lab \(index)", .modelLab, outside: index % 3 == 2))
            }
            let sectors: [Sector?] = [.finance, .transport, nil, .healthSocialWork, .finance, nil]
            for (index, sector) in sectors.enumerated() { market.holders.append(market.party("Holder \(index)", .enterprise, sector: sector)) }
            let tagSets: [[String]] = [[], ["traffic"], ["health", "imaging"], ["traffic", "weather"], ["finance"]]
            for index in 0..<30 {
                _ = market.dataset(holder: market.holders[index % market.holders.count], tags: tagSets[Int(random.below(tagSets.count))])
            }
            let regions = ["CN-BJ", "CN-SH", "CN-GD", "CN-SC"]
            for _ in 0..<600 {
                let dataset = market.datasets[Int(random.below(market.datasets.count))]
                let lab = market.labs[Int(random.below(market.labs.count))]
                market.use(
                    dataset, by: lab, day: Int(random.below(12)), region: regions[Int(random.below(regions.count))],
                    purpose: random.chance(50) ? "model_training" : "model_evaluation", tokens: Int64(1 + random.below(50_000)),
                    events: Int64(1 + random.below(20)))
            }
            return market
        }
    }

    /// The dimension values of one rollup cell, worked out the long way from the records.
    static func values(_ cell: UsageRollupCell, _ dimension: StatisticsDimension, _ state: RegistryState) -> [String] {
        let dataset = state.dataset(cell.dataset)!
        switch dimension {
        case .national: return ["national"]
        case .region: return [cell.useRegion]
        case .lab: return ["\(cell.assignee.rawValue)"]
        case .origin: return [state.party(cell.assignee)!.jurisdiction == .mainland ? "domestic" : "foreign"]
        case .sector: return [state.party(dataset.holder)!.sector?.rawValue ?? "unclassified"]
        case .domain: return dataset.tags.isEmpty ? ["untagged"] : Array(Set(dataset.tags))
        }
    }

    struct Expected: Equatable {
        var events: Int64 = 0
        var tokens: Int64 = 0
        var assignees: Set<PartyID> = []
        var holders: Set<PartyID> = []
    }

    static func expected(_ state: RegistryState, _ dimension: StatisticsDimension, _ days: ClosedRange<CivilDate>, daily: Bool) -> [String: Expected] {
        var result: [String: Expected] = [:]
        for (cell, totals) in state.usage.rollup.allCells where days.contains(cell.day) {
            for value in values(cell, dimension, state) {
                let key = daily ? "\(value)@\(cell.day)" : value
                result[key, default: Expected()].events += totals.events
                result[key, default: Expected()].tokens += totals.tokens
                result[key, default: Expected()].assignees.insert(cell.assignee)
                result[key, default: Expected()].holders.insert(state.dataset(cell.dataset)!.holder)
            }
        }
        return result
    }

    /// For each dimension, daily and over periods inside, across and outside the days used: the cells
    /// equal sums over the rollup's cells computed independently (sets for the distinct parties), and a
    /// cell is small exactly when fewer than three assignees or holders contributed (labs: holders only).
    @Test("R29: statistics by every dimension equal a recomputation over the rollup's cells", arguments: [1, 2, 3] as [UInt64])
    func R29_statisticsEqualARecomputationOverTheCells(seed: UInt64) {
        let market = Market.random(seed: seed)
        // Every answer twice with a cache of past days (the second from it), and once without.
        let cache = StatisticsCache()
        let periods = [0...11, 3...5, 7...7, -5...2, 10...20, 30...40].map { Self.firstDay.adding(days: $0.lowerBound)...Self.firstDay.adding(days: $0.upperBound) }
        for dimension in StatisticsDimension.allCases {
            for days in periods {
                for daily in [false, true] {
                    let cells = market.state.usageStatistics(by: dimension, in: days, daily: daily)
                    #expect(market.state.usageStatistics(by: dimension, in: days, daily: daily, cache: cache) == cells)
                    #expect(market.state.usageStatistics(by: dimension, in: days, daily: daily, cache: cache) == cells)
                    let expected = Self.expected(market.state, dimension, days, daily: daily)
                    #expect(cells.count == expected.count, "\(dimension) \(days) daily \(daily) seed \(seed)")
                    for cell in cells {
                        let key = daily ? "\(cell.value)@\(cell.day!)" : cell.value
                        guard let want = expected[key] else {
                            Issue.record("unexpected cell \(key) for \(dimension)")
                            continue
                        }
                        #expect(cell.figures == StatisticsFigures(events: want.events, tokens: want.tokens), "\(dimension) \(key) seed \(seed)")
                        let small = want.holders.count < 3 || (dimension != .lab && want.assignees.count < 3)
                        #expect(cell.isSmall == small, "\(dimension) \(key) seed \(seed)")
                        #expect(daily == (cell.day != nil))
                    }
                    let order: [[Int]] = cells.map { cell in
                        let value: Int = dimension == .lab ? Int(cell.value)! : cells.map(\.value).sorted().firstIndex(of: cell.value)!
                        return [value, Int(cell.day?.daysSince1970 ?? 0)]
                    }
                    #expect(order == order.sorted { $0.lexicographicallyPrecedes($1) }, "cells in value, then day order")
                }
            }
        }
        let whole = Self.firstDay...Self.firstDay.adding(days: 11)
        let national = market.state.usageTotal(in: whole).figures
        for dimension in StatisticsDimension.allCases where dimension.partitionsUse {
            let sum = market.state.usageStatistics(by: dimension, in: whole, daily: false).reduce(Int64(0)) { $0 + $1.figures.tokens }
            #expect(sum == national.tokens, "\(dimension) partitions the national total")
        }
    }

    /// Past days are kept between answers, and a change that moves past use between values (a dataset's
    /// tags or holder) makes them stale: the answer after it is the answer without the cache.
    @Test("R29: a tag change or a transfer refreshes the statistics kept for past days")
    func R29_aTagChangeOrATransferRefreshesKeptDays() {
        var market = Market.random(seed: 9)
        let cache = StatisticsCache()
        let days = Self.firstDay...Self.firstDay.adding(days: 11)
        for dimension in [StatisticsDimension.domain, .sector] { _ = market.state.usageStatistics(by: dimension, in: days, daily: true, cache: cache) }
        #expect(cache.count > 0)
        let revision = market.state.catalog.statisticsRevision
        var dataset = market.datasets[3]
        dataset.tags = ["renamed"]
        dataset.holder = market.holders[(market.holders.firstIndex { $0.id == dataset.holder }! + 1) % market.holders.count].id
        market.state.apply(.dataset(dataset))
        #expect(market.state.catalog.statisticsRevision == revision + 1)
        for dimension in [StatisticsDimension.domain, .sector] {
            let kept = market.state.usageStatistics(by: dimension, in: days, daily: true, cache: cache)
            #expect(kept == market.state.usageStatistics(by: dimension, in: days, daily: true), "\(dimension)")
        }
        #expect(market.state.usageStatistics(by: .domain, in: days, daily: false, cache: cache).contains { $0.value == "renamed" })
        // A new dataset moves nothing: the kept days stay.
        _ = market.dataset(holder: market.holders[0], tags: ["new"])
        #expect(market.state.catalog.statisticsRevision == revision + 1)
    }

    /// Replicas (issue 18): a follower may apply another replica's use of a past day after it kept that
    /// day (the other's clock a little behind, a batch committed just before midnight), and a core
    /// rebuilt from PostgreSQL is another history: either way the kept day is computed again.
    @Test("R29: use committed late on a kept day, or a rebuilt rollup, refreshes the statistics kept for it")
    func R29_lateUseOnAKeptDayRefreshesIt() {
        var market = Market.random(seed: 11)
        let cache = StatisticsCache()
        let days = Self.firstDay...Self.firstDay.adding(days: 11)
        let before = market.state.usageStatistics(by: .national, in: days, daily: true, cache: cache)
        #expect(cache.count > 0)
        // Day 3 is long past (the rollup's last day is 11): use arrives for it all the same.
        market.use(market.datasets[0], by: market.labs[0], day: 3, region: "CN-BJ", tokens: 777)
        let after = market.state.usageStatistics(by: .national, in: days, daily: true, cache: cache)
        #expect(after == market.state.usageStatistics(by: .national, in: days, daily: true))
        let dayThree = Self.firstDay.adding(days: 3)
        let tokens = { (cells: [StatisticsCell]) in cells.first { $0.day == dayThree }?.figures.tokens ?? 0 }
        #expect(tokens(after) == tokens(before) + 777)
        // A rollup loaded afresh with different rows (a rebuild) is not mistaken for the one kept.
        var rebuilt = Market.random(seed: 12)
        rebuilt.state.catalog = market.state.catalog
        #expect(rebuilt.state.usageStatistics(by: .national, in: days, daily: true, cache: cache)
            == rebuilt.state.usageStatistics(by: .national, in: days, daily: true))
    }

    /// One lab alone uses a region: that region's cell is small (it describes one lab's use), while the
    /// lab's own cell counts only holders — small with two holders, shown with three.
    @Test("R29: a region used by one lab alone is a small cell; a lab's cell needs three holders")
    func R29_aRegionUsedByOneLabAloneIsASmallCell() {
        var market = Market()
        let labs = (0..<3).map { market.party("Lab \($0)", .modelLab) }
        let holders = (0..<3).map { market.party("Holder \($0)", .enterprise) }
        let data = holders.map { market.dataset(holder: $0, tags: ["x"]) }
        for lab in labs {
            for dataset in data { market.use(dataset, by: lab, day: 0, region: "CN-BJ", tokens: 100) }
        }
        market.use(data[0], by: labs[0], day: 0, region: "CN-XZ", tokens: 7)
        market.use(data[1], by: labs[0], day: 0, region: "CN-XZ", tokens: 7)
        market.use(data[2], by: labs[0], day: 0, region: "CN-XZ", tokens: 7)
        market.use(data[0], by: labs[1], day: 1, region: "CN-BJ", tokens: 5)
        market.use(data[1], by: labs[1], day: 1, region: "CN-BJ", tokens: 5)
        let days = Self.firstDay...Self.firstDay.adding(days: 1)
        let regions = Dictionary(uniqueKeysWithValues: market.state.usageStatistics(by: .region, in: days, daily: false).map { ($0.value, $0) })
        #expect(regions["CN-BJ"]?.isSmall == false)
        #expect(regions["CN-XZ"]?.isSmall == true, "one lab alone in Tibet")
        #expect(regions["CN-XZ"]?.figures == StatisticsFigures(events: 3, tokens: 21))
        let labDays = market.state.usageStatistics(by: .lab, in: days, daily: true)
        #expect(labDays.filter { $0.day == Self.firstDay }.allSatisfy { !$0.isSmall }, "each lab used three holders' data on day 0")
        #expect(labDays.first { $0.value == "\(labs[1].id.rawValue)" && $0.day == Self.firstDay.adding(days: 1) }?.isSmall == true,
            "two holders only on day 1")
    }

    /// Rankings: by tokens, each with its share of the national tokens and its change against the period
    /// of equal length before (none when the value was not used then).
    @Test("R29: rankings carry share and change against the previous period")
    func R29_rankingsCarryShareAndChange() {
        var market = Market()
        let labs = (0..<3).map { market.party("Lab \($0)", .modelLab) }
        let holder = market.party("Holder", .enterprise)
        let dataset = market.dataset(holder: holder, tags: ["a", "b"])
        // Period before: days 0–1; period: days 2–3.
        market.use(dataset, by: labs[0], day: 0, region: "CN-BJ", tokens: 400)
        market.use(dataset, by: labs[1], day: 1, region: "CN-SH", tokens: 100)
        market.use(dataset, by: labs[0], day: 2, region: "CN-BJ", tokens: 300)
        market.use(dataset, by: labs[1], day: 3, region: "CN-SH", tokens: 600)
        market.use(dataset, by: labs[2], day: 3, region: "CN-GD", tokens: 100)
        let days = Self.firstDay.adding(days: 2)...Self.firstDay.adding(days: 3)
        let rows = market.state.usageRankings(by: .region, in: days)
        #expect(rows.map(\.value) == ["CN-SH", "CN-BJ", "CN-GD"])
        #expect(rows.map(\.sharePercent) == [60, 30, 10])
        #expect(rows.map(\.previousTokens) == [100, 400, 0])
        #expect(rows.map(\.changePercent) == [500, -25, nil])
        let domains = market.state.usageRankings(by: .domain, in: days)
        #expect(domains.map(\.sharePercent) == [100, 100], "a dataset with two tags counts in both: shares sum past 100 %")
        #expect(domains.map(\.value) == ["a", "b"], "ties by value")
    }
}
