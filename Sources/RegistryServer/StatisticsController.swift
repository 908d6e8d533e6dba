import Hummingbird
import RegistryCore
import RegistryStore

/// Market statistics (issue 16): tokens used by day, nationally and by use region, holder sector, lab,
/// lab origin and dataset domain, and rankings over a period. Read from the core's daily usage rollup
/// under its read lock, never from the raw events. Regulators and operators see every cell
/// (`/v1/statistics/…`); anyone may read the public twins (`/v1/public/statistics/…`, no key), where a
/// cell fewer than three assignees or three holders contributed to is present with null figures.
struct StatisticsController: APIController {
    let service: RegistryService
    /// Public answers being computed now: they need no key, so no key's rate limit bounds them; past
    /// ``Limits/maxPublicStatisticsInFlight`` a caller is told to retry (429) rather than queue.
    private let publicInFlight = PublicGate(limit: Limits.maxPublicStatisticsInFlight, answers: "public statistics answers")
    /// Past days' summaries, shared by every statistics answer of this registry (public or not: the
    /// figures are the same, the views suppress).
    private let cache = StatisticsCache()

    init(service: RegistryService) {
        self.service = service
    }

    func routes(_ group: RouterGroup<AuthenticatedContext>) {
        group.get("statistics/usage") { request, context in
            try context.requireRegulator("read market statistics cell by cell")
            return try usage(request, suppressing: false)
        }
        group.get("statistics/rankings") { request, context in
            try context.requireRegulator("read market statistics cell by cell")
            return try rankings(request, suppressing: false)
        }
    }

    func publicRoutes(_ group: RouterGroup<AppRequestContext>) {
        group.get("public/statistics/usage") { request, _ in try publicInFlight.run { try usage(request, suppressing: true) } }
        group.get("public/statistics/rankings") { request, _ in try publicInFlight.run { try rankings(request, suppressing: true) } }
    }

    /// `?dimension=…&from=…&to=…&interval=day|total&cursor=…&limit=…&format=json|csv`.
    func usage(_ request: Request, suppressing: Bool) throws -> Response {
        let query = QueryParameters(request)
        _ = try ResponseFormat(request)  // a bad `format` is refused before the walk
        let dimension = try query.choice("dimension", StatisticsDimension.self) ?? .national
        let daily = (try query.choice("interval", StatisticsInterval.self) ?? .day) == .day
        let page = try PageRequest(query)
        let now = service.now()
        let answer = try service.registry.read { state in
            let days = try Self.period(query, today: state.today(at: now))
            let cells = state.usageStatistics(by: dimension, in: days, daily: daily, cache: cache)
            let rows = Self.page(cells, page).map { StatisticsUsageRow($0, dimension: dimension, suppressing: suppressing) }
            return ComplianceAnswer(
                asOf: state.auditHead.lastSequence, items: rows, nextCursor: Self.cursor(after: page, count: cells.count),
                totals: StatisticsTotals(days: days, previous: nil, total: state.usageTotal(in: days, cache: cache), suppressing: suppressing))
        }
        return try Respond.rows(answer.items, nextCursor: answer.nextCursor, json: answer, for: request, name: "statistics-usage-\(dimension.rawValue)")
    }

    /// `?dimension=…&from=…&to=…&cursor=…&limit=…&format=json|csv`.
    func rankings(_ request: Request, suppressing: Bool) throws -> Response {
        let query = QueryParameters(request)
        _ = try ResponseFormat(request)
        let dimension = try query.choice("dimension", StatisticsDimension.self) ?? .national
        let page = try PageRequest(query)
        let now = service.now()
        let answer = try service.registry.read { state in
            let days = try Self.period(query, today: state.today(at: now))
            let length = Int(days.upperBound.daysSince1970 - days.lowerBound.daysSince1970) + 1
            let previous = days.lowerBound.adding(days: -length)...days.lowerBound.adding(days: -1)
            let ranked = state.usageRankings(by: dimension, in: days, cache: cache)
            // Publicly, suppressed rows follow the ranked ones in value order, without a rank: their
            // place in the order would tell about their size.
            let shown = suppressing ? ranked.filter { !$0.isSmall } : ranked
            let hidden = suppressing ? ranked.filter(\.isSmall).sorted { $0.value < $1.value } : []
            let rows = shown.enumerated().map { StatisticsRankingRow($1, rank: $0 + 1, dimension: dimension, suppressing: suppressing) }
                + hidden.map { StatisticsRankingRow($0, rank: nil, dimension: dimension, suppressing: suppressing) }
            return ComplianceAnswer(
                asOf: state.auditHead.lastSequence, items: Self.page(rows, page), nextCursor: Self.cursor(after: page, count: rows.count),
                totals: StatisticsTotals(days: days, previous: previous, total: state.usageTotal(in: days, cache: cache), suppressing: suppressing))
        }
        return try Respond.rows(answer.items, nextCursor: answer.nextCursor, json: answer, for: request, name: "statistics-rankings-\(dimension.rawValue)")
    }

    /// The period asked for: `to` defaults to today in the registry's calendar and `from` to 29 days
    /// before `to` (30 days); at most ``Limits/maxStatisticsDays`` days.
    static func period(_ query: QueryParameters, today: CivilDate) throws -> ClosedRange<CivilDate> {
        let to = try query.date("to") ?? today
        let from = try query.date("from") ?? to.adding(days: -29)
        guard from <= to, to.daysSince1970 - from.daysSince1970 < Int32(Limits.maxStatisticsDays) else {
            throw Problem.badRequest(
                "from must not be after to, and statistics cover at most \(Limits.maxStatisticsDays) days",
                errors: [.init(field: "to", reason: "on or after from, within \(Limits.maxStatisticsDays) days")])
        }
        return from...to
    }

    /// The rows of one page: the cursor is how many rows came before it.
    static func page<Row>(_ rows: [Row], _ page: PageRequest) -> [Row] {
        guard page.after < Int64(rows.count) else { return [] }
        return Array(rows[Int(page.after)..<min(rows.count, Int(page.after) + page.limit)])
    }

    static func cursor(after page: PageRequest, count: Int) -> String? {
        // The cursor comes from outside and may be Int64.max: the sum is checked, not trapped on.
        let (next, overflow) = page.after.addingReportingOverflow(Int64(page.limit))
        return !overflow && next < Int64(count) ? String(next) : nil
    }
}

/// `interval=day|total`.
enum StatisticsInterval: String, CaseIterable {
    case day
    case total
}
