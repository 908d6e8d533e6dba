import RegistryCore

// Market statistics (`StatisticsController`, issue 16): the rows and totals of `GET /v1/statistics/usage`
// and `/rankings` and their public twins. Rows are flat (scalars only) so that they can be served as CSV.
// Every key is always written: a suppressed cell's figures are `null`, not absent.

/// One cell of `GET …/statistics/usage`: a dimension value's use on one day (`interval=day`) or over the
/// period (`interval=total`, `day` null).
struct StatisticsUsageRow: Codable, Sendable {
    let dimension: String
    let value: String
    let label: String
    let day: String?
    let events: Int64?
    let tokens: Int64?
    /// True in a public answer when the cell is small (fewer than three assignees or holders): its
    /// figures are null. Always false for regulators and operators, who see every cell.
    let suppressed: Bool

    init(_ cell: StatisticsCell, dimension: StatisticsDimension, suppressing: Bool) {
        let hidden = suppressing && cell.isSmall
        self.dimension = dimension.rawValue
        value = cell.value
        label = cell.label
        day = cell.day?.description
        events = hidden ? nil : cell.figures.events
        tokens = hidden ? nil : cell.figures.tokens
        suppressed = hidden
    }

    enum CodingKeys: String, CodingKey { case dimension, value, label, day, events, tokens, suppressed }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(dimension, forKey: .dimension)
        try container.encode(value, forKey: .value)
        try container.encode(label, forKey: .label)
        try container.encode(day, forKey: .day)
        try container.encode(events, forKey: .events)
        try container.encode(tokens, forKey: .tokens)
        try container.encode(suppressed, forKey: .suppressed)
    }
}

/// One row of `GET …/statistics/rankings`: a value's rank by tokens in the period, its share of the
/// market's tokens, and its tokens in the period of equal length before with the change in per cent.
struct StatisticsRankingRow: Codable, Sendable {
    /// 1 for the most tokens; null for a suppressed row (listed after the ranked ones, by value).
    let rank: Int?
    let dimension: String
    let value: String
    let label: String
    let events: Int64?
    let tokens: Int64?
    let sharePercent: Double?
    let previousTokens: Int64?
    /// Null when the value had no use in the period before (or, publicly, when that period's cell was small).
    let changePercent: Double?
    let suppressed: Bool

    init(_ row: StatisticsRanking, rank: Int?, dimension: StatisticsDimension, suppressing: Bool) {
        let hidden = suppressing && row.isSmall
        let previousHidden = hidden || (suppressing && row.previousIsSmall && row.previousTokens > 0)
        self.rank = rank
        self.dimension = dimension.rawValue
        value = row.value
        label = row.label
        events = hidden ? nil : row.figures.events
        tokens = hidden ? nil : row.figures.tokens
        sharePercent = hidden ? nil : Self.rounded(row.sharePercent)
        previousTokens = previousHidden ? nil : row.previousTokens
        changePercent = previousHidden ? nil : row.changePercent.map(Self.rounded)
        suppressed = hidden
    }

    /// Per cents to four decimals: enough to rank by, and the same on every platform.
    static func rounded(_ percent: Double) -> Double { (percent * 10_000).rounded() / 10_000 }

    enum CodingKeys: String, CodingKey {
        case rank, dimension, value, label, events, tokens, sharePercent, previousTokens, changePercent, suppressed
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rank, forKey: .rank)
        try container.encode(dimension, forKey: .dimension)
        try container.encode(value, forKey: .value)
        try container.encode(label, forKey: .label)
        try container.encode(events, forKey: .events)
        try container.encode(tokens, forKey: .tokens)
        try container.encode(sharePercent, forKey: .sharePercent)
        try container.encode(previousTokens, forKey: .previousTokens)
        try container.encode(changePercent, forKey: .changePercent)
        try container.encode(suppressed, forKey: .suppressed)
    }
}

/// The totals of a statistics answer: the period, and the whole market's use in it (the national cell,
/// suppressed publicly like any other when fewer than three assignees or holders made it).
struct StatisticsTotals: Codable, Sendable {
    let from: String
    let to: String
    /// Rankings only: the period of equal length just before, which `previousTokens` counts.
    let previousFrom: String?
    let previousTo: String?
    let events: Int64?
    let tokens: Int64?
    let suppressed: Bool

    init(days: ClosedRange<CivilDate>, previous: ClosedRange<CivilDate>?, total: (figures: StatisticsFigures, isSmall: Bool), suppressing: Bool) {
        let hidden = suppressing && total.isSmall
        from = days.lowerBound.description
        to = days.upperBound.description
        previousFrom = previous?.lowerBound.description
        previousTo = previous?.upperBound.description
        events = hidden ? nil : total.figures.events
        tokens = hidden ? nil : total.figures.tokens
        suppressed = hidden
    }

    enum CodingKeys: String, CodingKey { case from, to, previousFrom, previousTo, events, tokens, suppressed }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(from, forKey: .from)
        try container.encode(to, forKey: .to)
        try container.encodeIfPresent(previousFrom, forKey: .previousFrom)
        try container.encodeIfPresent(previousTo, forKey: .previousTo)
        try container.encode(events, forKey: .events)
        try container.encode(tokens, forKey: .tokens)
        try container.encode(suppressed, forKey: .suppressed)
    }
}

// CSV (`format=csv` or `Accept: text/csv`): the same rows, one a line, under the header of these examples.
extension StatisticsUsageRow: CSVRow {
    static var csvExample: Self {
        StatisticsUsageRow(
            StatisticsCell(value: "CN-BJ", label: "Beijing", day: CivilDate(daysSince1970: 20_400), figures: StatisticsFigures(events: 1, tokens: 1), isSmall: false),
            dimension: .region, suppressing: false)
    }
}

extension StatisticsRankingRow: CSVRow {
    static var csvExample: Self {
        StatisticsRankingRow(
            StatisticsRanking(
                value: "CN-BJ", label: "Beijing", figures: StatisticsFigures(events: 1, tokens: 1), sharePercent: 100, previousTokens: 1,
                changePercent: 0, isSmall: false, previousIsSmall: false),
            rank: 1, dimension: .region, suppressing: false)
    }
}
