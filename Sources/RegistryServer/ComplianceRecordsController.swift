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

    /// R14–R16: live grants lacking the records their dataset's grade and PI level in effect now need.
    func missingRecords(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        try context.requireRegulator("ask which grants lack their records")
        _ = try ResponseFormat(request)
        let query = QueryParameters(request)
        let page = try PageRequest(query)
        let state = try query.choice("state", LiveGrantState.self)
        let filter = MissingRecordsFilter(
            holder: try query.id("holder").map(PartyID.init(rawValue:)), assignee: try query.id("assignee").map(PartyID.init(rawValue:)),
            record: try query.choice("record", AccessRecordKind.self), state: state.map { AccessState(rawValue: $0.rawValue)! })
        let answer = service.registry.read { state in
            let found = state.missingRecords(filter, after: page.after, limit: page.limit)
            return ComplianceAnswer(
                asOf: state.auditHead.lastSequence,
                items: found.rows.map { MissingRecordRow($0, requestNumber: state.accessRequest($0.grant.request)?.number ?? "") },
                nextCursor: PageRequest.cursor(found.next), totals: MissingRecordsTotalsView(found.totals))
        }
        return try Respond.rows(answer.items, nextCursor: answer.nextCursor, json: answer, for: request, name: "missing-records")
    }

    /// R16: cross-border grants, by processor and year.
    func crossBorderGrants(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        try context.requireRegulator("read cross-border grants")
        _ = try ResponseFormat(request)
        let query = QueryParameters(request)
        let page = try PageRequest(query)
        let processor = try query.id("processor").map(PartyID.init(rawValue:))
        let year = try query.integer("year", in: Self.years)
        let answer = service.registry.read { state in
            let found = state.crossBorderGrants(processor: processor, year: year, after: page.after, limit: page.limit)
            return ComplianceAnswer(
                asOf: state.auditHead.lastSequence, items: found.rows.map(CrossBorderGrantRow.init), nextCursor: PageRequest.cursor(found.next),
                totals: CrossBorderGrantTotalsView(found.totals))
        }
        return try Respond.rows(answer.items, nextCursor: answer.nextCursor, json: answer, for: request, name: "cross-border-grants")
    }

    /// R16: each processor's individuals abroad in a calendar year against the thresholds.
    func crossBorderProcessors(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        try context.requireRegulator("read cross-border counts")
        _ = try ResponseFormat(request)
        let query = QueryParameters(request)
        let page = try PageRequest(query)
        let status = try query.choice("status", ThresholdStatus.self)
        let now = service.now()
        let year = try query.integer("year", in: Self.years)
        let answer = service.registry.read { state in
            let found = state.crossBorderProcessors(
                year: year ?? Int32(state.today(at: now).components.year), status: status, after: page.after, limit: page.limit)
            return ComplianceAnswer(
                asOf: state.auditHead.lastSequence, items: found.rows.map { CrossBorderProcessorRow($0, party: state.party($0.processor)) },
                nextCursor: PageRequest.cursor(found.next), totals: CrossBorderProcessorTotalsView(found.totals))
        }
        return try Respond.rows(answer.items, nextCursor: answer.nextCursor, json: answer, for: request, name: "cross-border-processors")
    }

    /// R10: derived datasets whose right holders lack a basis over a source.
    func lineageGaps(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        try context.requireRegulator("ask which derived datasets lack rights over their sources")
        _ = try ResponseFormat(request)
        let query = QueryParameters(request)
        let page = try PageRequest(query)
        let holder = try query.id("holder").map(PartyID.init(rawValue:))
        let now = service.now()
        let answer = service.registry.read { state in
            let found = state.lineageGaps(holder: holder, after: page.after, limit: page.limit, at: now)
            return ComplianceAnswer<LineageGapRow, NoTotals>(
                asOf: state.auditHead.lastSequence, items: found.rows.map(LineageGapRow.init), nextCursor: PageRequest.cursor(found.next),
                totals: nil)
        }
        return try Respond.rows(answer.items, nextCursor: answer.nextCursor, json: answer, for: request, name: "lineage-gaps")
    }

    /// R19: conditional sharing requests whose reply is overdue, with counts per holder.
    func overdueSharing(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        try context.requireRegulator("read overdue sharing requests")
        _ = try ResponseFormat(request)
        let query = QueryParameters(request)
        let page = try PageRequest(query)
        let holder = try query.id("holder").map(PartyID.init(rawValue:))
        let now = service.now()
        let answer = service.registry.read { state in
            let all = state.overdueSharing(holder: holder, on: state.today(at: now))
            let after = all.filter { $0.request.id.rawValue > page.after }
            let rows = after.prefix(page.limit)
            return ComplianceAnswer(
                asOf: state.auditHead.lastSequence, items: rows.map(OverdueSharingRow.init),
                nextCursor: after.count > rows.count ? PageRequest.cursor(rows.last?.request.id.rawValue) : nil,
                totals: OverdueSharingTotalsView(all))
        }
        return try Respond.rows(answer.items, nextCursor: answer.nextCursor, json: answer, for: request, name: "overdue-sharing")
    }

    /// R3: every registration, objection, ruling, certificate and transfer of a dataset, in time order.
    func rightsHistory(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        try context.requireRegulator("read rights histories")
        _ = try ResponseFormat(request)
        let query = QueryParameters(request)
        let page = try PageRequest(query)
        let dataset = DatasetID(rawValue: try query.requiredID("dataset"))
        let now = service.now()
        let answer = try service.registry.read { state throws in
            guard state.dataset(dataset) != nil else { throw Problem.notFound("dataset \(dataset.rawValue) does not exist") }
            let events = state.rightsHistory(of: dataset, on: state.today(at: now))
            // The cursor is the number of events already given: history only grows at its end (every new
            // event is dated now, after all before it).
            let start = Int(min(page.after, Int64(events.count)))
            let rows = events[start...].prefix(page.limit)
            let end = start + rows.count
            return ComplianceAnswer(
                asOf: state.auditHead.lastSequence, items: rows.map(RightsEventRow.init),
                nextCursor: end < events.count ? PageRequest.cursor(Int64(end)) : nil,
                totals: RightsHistoryTotalsView(dataset: dataset.rawValue, events: events.count))
        }
        return try Respond.rows(answer.items, nextCursor: answer.nextCursor, json: answer, for: request, name: "rights-history")
    }

    /// Calendar years a query may name.
    static let years: ClosedRange<Int32> = 1900...9999
}

/// The grant states the missing-records query filters by: the live ones (``AccessState/live``).
enum LiveGrantState: String, CaseIterable {
    case agreed, active, suspended
}
