import Foundation
import Hummingbird
import RegistryCore

/// A lab's grants with their use (R23, R27): each grant's remaining quota (`GET /v1/grants/{number}/usage`)
/// and a chart of the tokens it used a day, summed from its usage events
/// (`GET /v1/grants/{number}/usage/events`) by the registry calendar's day of their commit — the day the
/// daily caps count them on.
struct GrantPages: Sendable {
    let console: ConsoleController
    /// Grants of one list page: each costs a few calls for its chart.
    static let grantsPerPage = 10
    /// Days a chart spans, ending on the last day of use.
    static let chartDays = 30

    func routes(_ console: RouterGroup<AppRequestContext>) {
        console.get("grants") { request, context in await self.console.page(.grants, request, context) { try await list($0) } }
        console.get("grants/:number") { request, context in
            await self.console.page(.grants, request, context) { try await grant($0, number: context.parameters.get("number") ?? "") }
        }
    }

    func list(_ call: ConsoleCall) async throws -> Response {
        let cursor = call.query("cursor") ?? ""
        let trail = PagerView.trail(call.query("trail"))
        let offset = try await Self.calendarOffset(call)
        let page = try await call.api.read(
            Page<GrantView>.self, "grants", [("assignee", String(call.me.id)), ("cursor", cursor), ("limit", String(Self.grantsPerPage))])
        var cards: [GrantCard] = []
        for grant in page.items { cards.append(try await GrantCard.make(call, grant, offset: offset)) }
        let view = GrantListView(
            grants: cards, hasGrants: !cards.isEmpty,
            pager: PagerView(path: "/console/grants", query: [], cursor: cursor, trail: trail, next: page.nextCursor))
        return call.render("grants", title: "My grants", section: .grants, view)
    }

    /// One grant. A grant the lab may not read and one that does not exist answer the same 403 page:
    /// the page tells nothing about other parties' grants.
    func grant(_ call: ConsoleCall, number: String) async throws -> Response {
        let forbidden = call.console.forbidden(chrome: call.chrome("Forbidden", .grants), detail: "This grant is not one of yours.")
        guard ConsoleIdentifiers.isRecordNumber(number) else { return forbidden }
        let answer = try await call.api.get("grants/\(number)")
        guard answer.status != .notFound && answer.status != .forbidden else { return forbidden }
        let grant = try call.api.value(GrantView.self, answer)
        guard grant.assignee == call.me.id else { return forbidden }
        let card = try await GrantCard.make(call, grant, offset: try await Self.calendarOffset(call))
        return call.render("grant", title: "Grant \(grant.number)", section: .grants, card)
    }

    /// The registry calendar's UTC offset (`GET /v1/settings`), for the day a use counts on.
    static func calendarOffset(_ call: ConsoleCall) async throws -> Int {
        try await call.api.read(SettingsBody.self, "settings").calendar?.utcOffsetSeconds ?? 8 * 3600
    }
}

struct GrantListView: Sendable {
    let grants: [GrantCard]
    let hasGrants: Bool
    let pager: PagerView
}

/// A grant with its quota and its daily use.
struct GrantCard: Sendable {
    struct DayRow: Sendable {
        let day: String
        let tokens: String
    }
    let number: String
    let href: String
    let anchor: String
    let dataset: Int64
    let datasetHref: String
    let purpose: String
    let window: String
    let state: String
    let quota: String
    let used: String
    let remaining: String
    let charged: String
    let usedPercent: Int
    let chartSVG: String
    let chartNote: String
    let days: [DayRow]
    let hasDays: Bool

    static func make(_ call: ConsoleCall, _ grant: GrantView, offset: Int) async throws -> GrantCard {
        let usage = try await call.api.read(GrantUsageView.self, "grants/\(grant.number)/usage")
        // The events one page after another, up to the console's bound.
        var tokensByDay: [CivilDate: Int64] = [:]
        var read = 0
        var cursor = ""
        var partial = false
        let calendar = WorkingCalendar(utcOffsetSeconds: offset)
        repeat {
            let page = try await call.api.read(
                Page<UsageEventView>.self, "grants/\(grant.number)/usage/events", [("cursor", cursor), ("limit", String(Limits.maxPageSize))])
            for event in page.items where event.status == "accepted" {
                guard let at = Timestamp(iso8601: event.recordedAt) else { continue }
                let day = calendar.date(at: at)
                // Bounded by the grant's quota (at most 10^15), so the sum cannot overflow; saturate anyway.
                tokensByDay[day] = (tokensByDay[day] ?? 0).addingReportingOverflow(event.tokens).partialValue
            }
            read += page.items.count
            guard let next = page.nextCursor else { break }
            cursor = next
            if read >= Limits.consoleUsageEventsPerGrant {
                partial = true
                break
            }
        } while true
        let last = tokensByDay.keys.max() ?? Timestamp(iso8601: grant.validFrom).map { calendar.date(at: $0) } ?? CivilDate.earliest
        let days = last.adding(days: -(GrantPages.chartDays - 1))...last
        let values = tokensByDay.filter { days.contains($0.key) }.sorted { $0.key < $1.key }.map { (day: $0.key, value: $0.value) }
        let chart = DailyChart(
            title: "Tokens used a day under grant \(grant.number), \(days.lowerBound) to \(days.upperBound)", unit: "tokens", days: days,
            series: [.init(name: grant.number, values: values)])
        let percent = usage.tokenQuota > 0 ? Int((Double(usage.tokensUsed) / Double(usage.tokenQuota) * 100).rounded()) : 0
        var note = "Accepted use by the registry calendar's day of commit, the day the daily caps count it on."
        if partial { note += " Only the first \(read.grouped) events were read: the chart is partial." }
        return GrantCard(
            number: grant.number, href: "/console/grants/\(grant.number)", anchor: "grant-\(grant.number)", dataset: grant.dataset,
            datasetHref: "/console/datasets/\(grant.dataset)", purpose: grant.purpose.replacingOccurrences(of: "_", with: " "),
            window: "\(grant.validFrom) to \(grant.validUntil)", state: grant.state, quota: usage.tokenQuota.grouped,
            used: usage.tokensUsed.grouped, remaining: usage.tokensRemaining.grouped, charged: "\(usage.charged.grouped) fen",
            usedPercent: min(100, max(0, percent)), chartSVG: chart.svg(), chartNote: note,
            days: values.reversed().map { DayRow(day: $0.day.description, tokens: $0.value.grouped) }, hasDays: !values.isEmpty)
    }
}
