import Hummingbird
import RegistryCore
import RegistryStore

/// Compliance queries answered from the registry's and the market's state (R29), for regulators and
/// operators: `/v1/compliance/missing-records`, `…/cross-border/grants`, `…/cross-border/processors`,
/// `…/lineage-gaps`, `…/overdue-sharing` and `…/rights-history`. Each reads the core once under its read
/// lock and answers with the audit chain's sequence it reflects (`asOf`), in JSON or, its rows, in CSV
/// (`Respond.rows`).
struct ComplianceRecordsController: APIController {
    let service: RegistryService

    func routes(_ group: RouterGroup<AuthenticatedContext>) {
        group.get("compliance/missing-records") { request, context in try missingRecords(request, context) }
        group.get("compliance/cross-border/grants") { request, context in try crossBorderGrants(request, context) }
        group.get("compliance/cross-border/processors") { request, context in try crossBorderProcessors(request, context) }
        group.get("compliance/lineage-gaps") { request, context in try lineageGaps(request, context) }
        group.get("compliance/overdue-sharing") { request, context in try overdueSharing(request, context) }
        group.get("compliance/rights-history") { request, context in try rightsHistory(request, context) }
    }

    /// A page of an answer as the core gives it: its rows, the cursor of the next page, its totals.
    typealias Found<Row, Totals> = (rows: [Row], next: Int64?, totals: Totals?)

    /// The shape every answer has: regulators and operators only (refused before the query is read), the
    /// query's format, page and filters read (`parse`), the core read once (`read`), the answer in JSON or
    /// its rows in CSV under the name `name`.
    func answer<Query, Row: CSVRow, Totals: Encodable & Sendable>(
        _ request: Request, _ context: AuthenticatedContext, may what: String, name: String,
        parse: (QueryParameters) throws -> Query, read: (borrowing RegistryState, Query, PageRequest) throws -> Found<Row, Totals>
    ) throws -> Response {
        try context.requireRegulator(what)
        _ = try ResponseFormat(request)
        let parameters = QueryParameters(request)
        let page = try PageRequest(parameters)
        let query = try parse(parameters)
        let answer = try service.registry.read { state throws in
            let found = try read(state, query, page)
            return ComplianceAnswer(
                asOf: state.auditHead.lastSequence, items: found.rows, nextCursor: PageRequest.cursor(found.next), totals: found.totals)
        }
        return try Respond.rows(answer.items, nextCursor: answer.nextCursor, json: answer, for: request, name: name)
    }

    /// R14–R16: live grants lacking the records their dataset's grade and PI level in effect now need.
    func missingRecords(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        try answer(request, context, may: "ask which grants lack their records", name: "missing-records") { query in
            MissingRecordsFilter(
                holder: try query.id("holder").map(PartyID.init(rawValue:)), assignee: try query.id("assignee").map(PartyID.init(rawValue:)),
                record: try query.choice("record", AccessRecordKind.self),
                state: try query.choice("state", LiveGrantState.self).map { AccessState(rawValue: $0.rawValue)! })
        } read: { state, filter, page in
            let found = state.missingRecords(filter, after: page.after, limit: page.limit)
            let rows = found.rows.map { MissingRecordRow($0, requestNumber: state.accessRequest($0.grant.request)?.number ?? "") }
            return (rows, found.next, MissingRecordsTotalsView(found.totals))
        }
    }

    /// R16: cross-border grants, by processor and year.
    func crossBorderGrants(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        try answer(request, context, may: "read cross-border grants", name: "cross-border-grants") { query in
            (processor: try query.id("processor").map(PartyID.init(rawValue:)), year: try query.integer("year", in: Self.years))
        } read: { state, query, page in
            let found = state.crossBorderGrants(processor: query.processor, year: query.year, after: page.after, limit: page.limit)
            return (found.rows.map(CrossBorderGrantRow.init), found.next, CrossBorderGrantTotalsView(found.totals))
        }
    }

    /// R16: each processor's individuals abroad in a calendar year (the current one by default) against the thresholds.
    func crossBorderProcessors(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        let now = service.now()
        return try answer(request, context, may: "read cross-border counts", name: "cross-border-processors") { query in
            (year: try query.integer("year", in: Self.years), status: try query.choice("status", ThresholdStatus.self))
        } read: { state, query, page in
            let year = query.year ?? Int32(state.today(at: now).components.year)
            let found = state.crossBorderProcessors(year: year, status: query.status, after: page.after, limit: page.limit)
            return (found.rows.map { CrossBorderProcessorRow($0, party: state.party($0.processor)) }, found.next,
                CrossBorderProcessorTotalsView(found.totals))
        }
    }

    /// R10: derived datasets whose right holders lack a basis over a source. No totals: a page reads at
    /// most `Limits.maxScanPerPage` datasets.
    func lineageGaps(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        let now = service.now()
        return try answer(request, context, may: "ask which derived datasets lack rights over their sources", name: "lineage-gaps") { query in
            try query.id("holder").map(PartyID.init(rawValue:))
        } read: { state, holder, page -> Found<LineageGapRow, NoTotals> in
            let found = state.lineageGaps(holder: holder, after: page.after, limit: page.limit, at: now)
            return (found.rows.map(LineageGapRow.init), found.next, nil)
        }
    }

    /// R19: conditional sharing requests whose reply is overdue, with counts per holder.
    func overdueSharing(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        let now = service.now()
        return try answer(request, context, may: "read overdue sharing requests", name: "overdue-sharing") { query in
            try query.id("holder").map(PartyID.init(rawValue:))
        } read: { state, holder, page in
            let all = state.overdueSharing(holder: holder, on: state.today(at: now))
            let after = all.filter { $0.request.id.rawValue > page.after }
            let rows = after.prefix(page.limit)
            return (rows.map(OverdueSharingRow.init), after.count > rows.count ? rows.last?.request.id.rawValue : nil, OverdueSharingTotalsView(all))
        }
    }

    /// R3: every registration, objection, ruling, certificate and transfer of a dataset, in time order.
    func rightsHistory(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        let now = service.now()
        return try answer(request, context, may: "read rights histories", name: "rights-history") { query in
            DatasetID(rawValue: try query.requiredID("dataset"))
        } read: { state, dataset, page in
            guard state.dataset(dataset) != nil else { throw Problem.notFound("dataset \(dataset.rawValue) does not exist") }
            let events = state.rightsHistory(of: dataset, on: state.today(at: now))
            // The cursor is the number of events already given: history only grows at its end (every new
            // event is dated now, after all before it).
            let start = Int(min(page.after, Int64(events.count)))
            let rows = events[start...].prefix(page.limit)
            let end = start + rows.count
            return (rows.map(RightsEventRow.init), end < events.count ? Int64(end) : nil,
                RightsHistoryTotalsView(dataset: dataset.rawValue, events: events.count))
        }
    }

    /// Calendar years a query may name.
    static let years: ClosedRange<Int32> = 1900...9999
}

/// The grant states the missing-records query filters by: the live ones (``AccessState/live``).
enum LiveGrantState: String, CaseIterable {
    case agreed, active, suspended
}
