import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RegistryCore

/// The regulator's pages (R29, R30; operators see them too, as the API lets them): every compliance
/// query with its parameters and a table of its answer, the market statistics with charts, a CSV
/// download of each (the API's `format=csv` answer streamed on, page after page), and the audit chain.
struct RegulatorPages: Sendable {
    let console: ConsoleController

    /// A compliance query of the API, as the console offers it.
    struct Query: Sendable {
        let slug: String
        let path: String
        let title: String
        let summary: String
        /// Values the form starts with, where the API requires the parameter.
        let defaults: [String: @Sendable (ConsoleCall) -> String]

        /// The query parameters the API reads for it (`RouteTable`), less paging and format.
        var parameters: [String] {
            (RouteTable.queryParameters["GET /v1/\(path)"] ?? []).filter { !["cursor", "limit", "format"].contains($0) }.sorted()
        }
    }

    static func thisYear(_: ConsoleCall) -> String {
        String(Calendar(identifier: .gregorian).component(.year, from: Date()))
    }

    static let queries: [Query] = [
        Query(
            slug: "missing-records", path: "compliance/missing-records", title: "Grants missing their records",
            summary: "Live grants of important or personal data without the risk, security or impact assessment, consent or contract R14–R16 require.",
            defaults: [:]),
        Query(
            slug: "cross-border-grants", path: "compliance/cross-border/grants", title: "Cross-border grants",
            summary: "Grants to assignees outside the mainland jurisdiction (R16).", defaults: [:]),
        Query(
            slug: "cross-border-processors", path: "compliance/cross-border/processors", title: "Cross-border processors",
            summary: "Each processor's cumulative personal-information count abroad this year against R16's thresholds.",
            defaults: ["year": thisYear]),
        Query(
            slug: "lineage-gaps", path: "compliance/lineage-gaps", title: "Lineage gaps",
            summary: "Derived datasets whose right holders lack a basis over a source (R10).", defaults: [:]),
        Query(
            slug: "overdue-sharing", path: "compliance/overdue-sharing", title: "Overdue sharing requests",
            summary: "Conditional sharing requests not answered within 5 working days (R19).", defaults: [:]),
        Query(
            slug: "rights-history", path: "compliance/rights-history", title: "Rights history of a dataset",
            summary: "Every registration, objection, ruling, certificate and transfer of one dataset (R3).", defaults: [:]),
        Query(
            slug: "dataset-use", path: "compliance/dataset-use", title: "Use of a dataset",
            summary: "Who used a dataset, directly or through its descendants, in a period, for what purpose and how many tokens (R29).",
            defaults: [:]),
        Query(
            slug: "quota-denials", path: "compliance/quota-denials", title: "Quota denials",
            summary: "Uses denied by a quota, per lab, dataset or quota (R27).", defaults: [:]),
        Query(
            slug: "annual-report", path: "compliance/annual-report", title: "Annual report per processor",
            summary: "Purpose, data types, quantity, scope, storage and outbound use, per processor and year (R29).",
            defaults: ["year": thisYear]),
    ]

    func routes(_ console: RouterGroup<AppRequestContext>) {
        console.get("compliance") { request, context in await self.console.page(.compliance, request, context) { index($0) } }
        console.get("compliance/:query") { request, context in
            await self.console.page(.compliance, request, context) { call in
                guard let query = Self.queries.first(where: { $0.slug == context.parameters.get("query") }) else { return notFound(call) }
                return try await compliance(call, query)
            }
        }
        console.get("compliance/:query/csv") { request, context in
            await self.console.page(.compliance, request, context) { call in
                guard let query = Self.queries.first(where: { $0.slug == context.parameters.get("query") }) else { return notFound(call) }
                return try await Self.download(call, path: query.path, query: Self.values(call, query.parameters), name: query.slug)
            }
        }
        console.get("statistics") { request, context in await self.console.page(.statistics, request, context) { try await statistics($0) } }
        console.get("statistics/:kind/csv") { request, context in
            await self.console.page(.statistics, request, context) { call in
                guard let kind = context.parameters.get("kind"), ["usage", "rankings"].contains(kind) else { return notFound(call) }
                let names = kind == "usage" ? ["dimension", "from", "to", "interval"] : ["dimension", "from", "to"]
                return try await Self.download(call, path: "statistics/\(kind)", query: Self.values(call, names), name: "statistics-\(kind)")
            }
        }
        console.get("audit") { request, context in await self.console.page(.audit, request, context) { try await audit($0) } }
    }

    func notFound(_ call: ConsoleCall) -> Response {
        call.console.errorPage(chrome: call.chrome("Not found", .compliance), ProblemView(status: 404, title: "Not found", detail: "There is no such query."))
    }

    /// The page's values of `names`, in that order.
    static func values(_ call: ConsoleCall, _ names: [String]) -> [(String, String)] {
        names.map { ($0, call.query($0) ?? "") }
    }

    // MARK: Compliance

    func index(_ call: ConsoleCall) -> Response {
        let links = Self.queries.map { QueryLink(href: "/console/compliance/\($0.slug)", title: $0.title, summary: $0.summary) }
        return call.render("compliance-index", title: "Compliance", section: .compliance, ComplianceIndexView(queries: links))
    }

    func compliance(_ call: ConsoleCall, _ query: Query) async throws -> Response {
        var values = Self.values(call, query.parameters)
        let asked = call.request.uri.query?.isEmpty == false
        if !asked {
            values = values.map { name, value in (name, value.isEmpty ? query.defaults[name].map { $0(call) } ?? "" : value) }
        }
        let cursor = call.query("cursor") ?? ""
        let trail = PagerView.trail(call.query("trail"))
        let paging = [("cursor", cursor), ("limit", String(Limits.consolePageSize))]
        let json = try await call.api.get(query.path, values + paging)
        var problem: APIProblem?
        var table = CSVTable("")
        var asOf: Int64?
        var totals: [TotalsTerm] = []
        var next: String?
        if json.isSuccess {
            let answer = try? JSONSerialization.jsonObject(with: json.bytes) as? [String: Any]
            asOf = (answer?["asOf"] as? NSNumber)?.int64Value
            next = answer?["nextCursor"] as? String
            if let object = answer?["totals"] as? [String: Any] { totals = TotalsTerm.flatten(object) }
            // The same page as CSV: the columns in the API's own order.
            let csv = try await call.api.get(query.path, values + paging + [("format", "csv")])
            guard csv.isSuccess else { throw APIProblem(csv) }
            table = CSVTable(String(decoding: csv.bytes, as: UTF8.self))
        } else {
            problem = APIProblem(json)
        }
        let fields = values.map { name, value in FieldView(name: name, label: name, value: value, hint: Self.hints[name], problem: problem) }
        let csvQuery = values.filter { !$0.1.isEmpty }.map { "\(ConsoleAPI.percentEncoded($0.0))=\(ConsoleAPI.percentEncoded($0.1))" }.joined(separator: "&")
        let view = ComplianceView(
            title: query.title, summary: query.summary, action: "/console/compliance/\(query.slug)", fields: fields,
            complianceProblem: problem.map(ProblemView.init), answered: problem == nil, asOf: asOf.map(String.init) ?? "",
            totals: totals, hasTotals: !totals.isEmpty, table: TableView(table, caption: "\(query.title): one page of the answer"),
            csvHref: "/console/compliance/\(query.slug)/csv" + (csvQuery.isEmpty ? "" : "?" + csvQuery),
            pager: PagerView(path: "/console/compliance/\(query.slug)", query: values, cursor: cursor, trail: trail, next: next))
        return call.render("compliance", title: query.title, section: .compliance, view, status: problem?.status ?? .ok)
    }

    static let hints: [String: String] = [
        "from": "a date, YYYY-MM-DD", "to": "a date, YYYY-MM-DD", "year": "e.g. 2026", "dataset": "a dataset id",
        "holder": "a party id", "assignee": "a party id", "processor": "a party id", "lab": "a party id", "party": "a party id",
        "descendants": "true or false", "by": "lab, dataset or quota",
    ]

    // MARK: Statistics

    func statistics(_ call: ConsoleCall) async throws -> Response {
        let dimension = call.query("dimension") ?? "region"
        let from = call.query("from") ?? ""
        let to = call.query("to") ?? ""
        let period = [("dimension", dimension), ("from", from), ("to", to)]
        // Every day's cells of the period, up to the console's bound of pages.
        var rows: [StatisticsUsageRow] = []
        var cursor = ""
        var days: ClosedRange<CivilDate>?
        var problem: APIProblem?
        var partial = false
        for page in 0..<Limits.consoleChartPages {
            let answer = try await call.api.get("statistics/usage", period + [("interval", "day"), ("cursor", cursor), ("limit", String(Limits.maxPageSize))])
            guard answer.isSuccess else {
                problem = APIProblem(answer)
                break
            }
            let usage = try call.api.value(ComplianceAnswer<StatisticsUsageRow, StatisticsTotals>.self, answer)
            rows += usage.items
            if let totals = usage.totals, let first = CivilDate(totals.from), let last = CivilDate(totals.to), first <= last { days = first...last }
            guard let next = usage.nextCursor else { break }
            cursor = next
            partial = page == Limits.consoleChartPages - 1
        }
        var usageSVG: String?
        var rankingSVG: String?
        var rankingRows: [[String]] = []
        if problem == nil, let days {
            // The largest values by tokens over the period, each a series.
            var totals: [String: Int64] = [:]
            var labels: [String: String] = [:]
            for row in rows {
                totals[row.value, default: 0] = (totals[row.value] ?? 0).addingReportingOverflow(row.tokens ?? 0).partialValue
                labels[row.value] = row.label
            }
            let top = totals.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(Limits.consoleChartSeries).map(\.key)
            let series = top.map { value in
                DailyChart.Series(
                    name: labels[value] ?? value,
                    values: rows.filter { $0.value == value }.compactMap { row in
                        guard let day = row.day.flatMap({ CivilDate($0) }) else { return nil }
                        return (day: day, value: row.tokens ?? 0)
                    })
            }
            usageSVG = DailyChart(
                title: "Tokens a day by \(dimension), \(days.lowerBound) to \(days.upperBound)" + (partial ? " (partial)" : ""), unit: "tokens",
                days: days, series: series
            ).svg()
            let rankings = try await call.api.get("statistics/rankings", period + [("limit", "20")])
            if rankings.isSuccess {
                let ranked = try call.api.value(ComplianceAnswer<StatisticsRankingRow, StatisticsTotals>.self, rankings).items
                rankingSVG = BarChart(
                    title: "Ranking by tokens, by \(dimension), \(days.lowerBound) to \(days.upperBound)", unit: "tokens",
                    bars: ranked.map { .init(label: $0.label, value: $0.tokens ?? 0, note: $0.sharePercent.map { "\($0) %" }) }
                ).svg()
                rankingRows = ranked.map { row in
                    [row.rank.map(String.init) ?? "", row.label, row.tokens.map { $0.grouped } ?? "suppressed",
                     row.sharePercent.map { "\($0) %" } ?? "", row.changePercent.map { "\($0) %" } ?? ""]
                }
            } else {
                problem = APIProblem(rankings)
            }
        }
        let fields = [
            FieldView.select(name: "dimension", label: "Dimension", choices: StatisticsDimension.allCases.map(\.rawValue), selected: dimension, problem: problem),
            FieldView(name: "from", label: "From", value: from, type: "date", hint: "default: 29 days before to", problem: problem),
            FieldView(name: "to", label: "To", value: to, type: "date", hint: "default: today", problem: problem),
        ]
        let query = period.filter { !$0.1.isEmpty }.map { "\($0.0)=\(ConsoleAPI.percentEncoded($0.1))" }.joined(separator: "&")
        let view = StatisticsView(
            fields: fields, statisticsProblem: problem.map(ProblemView.init), usageSVG: usageSVG, rankingSVG: rankingSVG,
            rankings: TableView(CSVTable(""), caption: "Ranking by tokens").with(
                header: ["Rank", "Value", "Tokens", "Share", "Change"], rows: rankingRows),
            usageCSV: "/console/statistics/usage/csv?interval=day&" + query, rankingsCSV: "/console/statistics/rankings/csv?" + query)
        return call.render("statistics", title: "Market statistics", section: .statistics, view, status: problem?.status ?? .ok)
    }

    // MARK: Audit

    func audit(_ call: ConsoleCall) async throws -> Response {
        let verification = try await call.api.read(AuditVerification.self, "audit/verify")
        let count = verification.entries ?? 0
        let after = max(0, count - Int64(Limits.consolePageSize))
        let entries = try await call.api.read(
            Page<AuditEntryView>.self, "audit/events", [("cursor", String(after)), ("limit", String(Limits.consolePageSize))])
        let view = AuditView(
            valid: verification.valid, entries: count.grouped, head: verification.head ?? "",
            mismatch: verification.firstMismatch.map { "Entry \($0) does not match" + (verification.reason.map { ": \($0)" } ?? "") },
            rows: entries.items.reversed().map(AuditRow.init))
        return call.render("audit", title: "Audit", section: .audit, view)
    }

    // MARK: CSV downloads

    /// The API's CSV answer to `path` streamed on as an attachment: the first page as it comes, then the
    /// rows of each next page (its header dropped), at most ``Limits/consoleCSVPages`` pages.
    static func download(_ call: ConsoleCall, path: String, query: [(String, String)], name: String) async throws -> Response {
        let api = call.api
        let page = [("format", "csv"), ("limit", String(Limits.maxPageSize))]
        let first = try await api.get(path, query + page)
        guard first.isSuccess else { throw APIProblem(first) }
        var headers = ConsoleRenderer.securityHeaders
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"\(name).csv\""
        let nextName = HTTPField.Name("DataRights-Next-Cursor")!
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                try await writer.write(first.body)
                var next = first.headers[nextName]
                var pages = 1
                while let cursor = next, pages < Limits.consoleCSVPages {
                    let answer = try await api.get(path, query + page + [("cursor", cursor)])
                    guard answer.isSuccess else { break }
                    var body = answer.body
                    // Every page repeats the header line: keep the rows only.
                    if let end = body.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                        body.moveReaderIndex(to: end + 1)
                    }
                    try await writer.write(body)
                    next = answer.headers[nextName]
                    pages += 1
                }
                try await writer.finish(nil)
            })
    }
}

struct QueryLink: Sendable {
    let href: String
    let title: String
    let summary: String
}

struct ComplianceIndexView: Sendable {
    let queries: [QueryLink]
}

/// A term of an answer's totals, nested members as `a.b`.
struct TotalsTerm: Sendable {
    let term: String
    let definition: String

    static func flatten(_ object: [String: Any], prefix: String = "") -> [TotalsTerm] {
        object.keys.sorted().flatMap { key -> [TotalsTerm] in
            let name = prefix.isEmpty ? key : "\(prefix).\(key)"
            switch object[key] {
            case let nested as [String: Any]: return flatten(nested, prefix: name)
            case let array as [Any]: return [TotalsTerm(term: name, definition: array.map { "\($0)" }.joined(separator: "; "))]
            case is NSNull, nil: return [TotalsTerm(term: name, definition: "")]
            case let value?: return [TotalsTerm(term: name, definition: "\(value)")]
            }
        }
    }
}

/// A table with a header row and a caption.
struct TableView: Sendable {
    struct Row: Sendable {
        let first: String
        let cells: [String]
    }
    let caption: String
    let header: [String]
    let rows: [Row]
    let hasRows: Bool

    init(_ table: CSVTable, caption: String) {
        self.init(caption: caption, header: table.header, rows: table.rows)
    }

    private init(caption: String, header: [String], rows: [[String]]) {
        self.caption = caption
        self.header = header
        self.rows = rows.map { Row(first: $0.first ?? "", cells: Array($0.dropFirst())) }
        hasRows = !rows.isEmpty
    }

    func with(header: [String], rows: [[String]]) -> TableView { TableView(caption: caption, header: header, rows: rows) }
}

struct ComplianceView: Sendable {
    let title: String
    let summary: String
    let action: String
    let fields: [FieldView]
    let complianceProblem: ProblemView?
    let answered: Bool
    let asOf: String
    let totals: [TotalsTerm]
    let hasTotals: Bool
    let table: TableView
    let csvHref: String
    let pager: PagerView
}

struct StatisticsView: Sendable {
    let fields: [FieldView]
    let statisticsProblem: ProblemView?
    let usageSVG: String?
    let rankingSVG: String?
    let rankings: TableView
    let usageCSV: String
    let rankingsCSV: String
}

struct AuditView: Sendable {
    let valid: Bool
    let entries: String
    let head: String
    let mismatch: String?
    let rows: [AuditRow]
}

struct AuditRow: Sendable {
    let sequence: Int64
    let at: String
    let actor: String
    let kind: String
    let payload: String
    let hash: String

    init(_ entry: AuditEntryView) {
        sequence = entry.sequence
        at = entry.at
        actor = entry.actor
        kind = entry.kind
        payload = entry.payload.count > 300 ? String(entry.payload.prefix(299)) + "…" : entry.payload
        hash = String(entry.hash.prefix(16)) + "…"
    }
}
