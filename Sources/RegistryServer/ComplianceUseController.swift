import Hummingbird
import RegistryCore
import RegistryStore

/// Compliance queries about use (R29, issue 16), answered from the daily usage rollups in the core:
/// use of a dataset through its descendants, quota denials, the annual report per processor. Regulators
/// and operators ask; everyone else is refused before anything is read.
struct ComplianceUseController: APIController {
    let service: RegistryService

    func routes(_ group: RouterGroup<AuthenticatedContext>) {
        group.get("compliance/dataset-use") { request, context in try datasetUse(request, context) }
        group.get("compliance/quota-denials") { request, context in try quotaDenials(request, context) }
        group.get("compliance/annual-report") { request, context in try annualReport(request, context) }
    }

    /// `from`–`to`, both required, inclusive, at most ``Limits/maxCompliancePeriodDays`` long.
    static func period(_ query: QueryParameters) throws -> ClosedRange<CivilDate> {
        let from = try query.requiredDate("from")
        let to = try query.requiredDate("to")
        guard from <= to else { throw Problem.invalidField("to", "on or after from (\(from))") }
        guard Int(to.daysSince1970) - Int(from.daysSince1970) < Limits.maxCompliancePeriodDays else {
            throw Problem.invalidField("to", "at most \(Limits.maxCompliancePeriodDays) days after from")
        }
        return from...to
    }

    /// Rows `offset ..< offset + limit` of an answer computed whole: the cursor is the offset of the next
    /// page. A registry that changes between pages may shift rows; `asOf` says which state a page is of,
    /// and `datarights report` reads every page from one snapshot.
    static func page<Row>(_ rows: [Row], _ query: QueryParameters) throws -> (rows: [Row], next: String?) {
        let page = try PageRequest(query)
        let start = Int(min(page.after, Int64(rows.count)))
        let end = min(start + page.limit, rows.count)
        return (Array(rows[start..<end]), end < rows.count ? String(end) : nil)
    }

    func datasetUse(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        try context.requireRegulator("ask who used a dataset")
        let query = QueryParameters(request)
        let dataset = DatasetID(rawValue: try query.requiredID("dataset"))
        let days = try Self.period(query)
        let descendants = try query.flag("descendants") ?? true
        let party = try query.id("party").map(PartyID.init(rawValue:))
        let purpose = try query.text("purpose").map { text -> String in
            guard !text.isEmpty, text.count <= Limits.maxShortTextLength else {
                throw Problem.invalidField("purpose", "1 to \(Limits.maxShortTextLength) characters")
            }
            return String(text)
        }
        let budget = try query.integer("budget", in: 1...Limits.maxTraversalBudget) ?? Limits.defaultTraversalBudget
        let (answer, asOf, names, titles) = try service.registry.read { state in
            guard let answer = state.datasetUse(of: dataset, in: days, descendants: descendants, party: party, purpose: purpose, budget: budget) else {
                throw Problem.notFound("dataset \(dataset.rawValue)")
            }
            let names = Dictionary(Set(answer.rows.map(\.party)).map { ($0, state.party($0)?.name ?? "") }, uniquingKeysWith: { first, _ in first })
            let titles = Dictionary(Set(answer.rows.map(\.dataset)).map { ($0, state.dataset($0)?.title ?? "") }, uniquingKeysWith: { first, _ in first })
            return (answer, state.auditHead.lastSequence, names, titles)
        }
        let (rows, next) = try Self.page(answer.rows, query)
        return try ComplianceAnswer(
            asOf: asOf,
            items: rows.map {
                DatasetUseRowView(
                    party: $0.party.rawValue, partyName: names[$0.party] ?? "", purpose: $0.purpose, dataset: $0.dataset.rawValue,
                    datasetTitle: titles[$0.dataset] ?? "", relation: $0.viaDescendant ? "descendant" : "self", events: $0.totals.events,
                    tokens: $0.totals.tokens, charge: $0.totals.amount)
            },
            nextCursor: next,
            totals: DatasetUseTotalsView(
                dataset: dataset.rawValue, from: days.lowerBound.description, to: days.upperBound.description, events: answer.totals.events,
                tokens: answer.totals.tokens, charge: answer.totals.amount, datasetsRead: answer.datasetsRead, complete: answer.complete)
        ).response()
    }

    func quotaDenials(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        try context.requireRegulator("read quota denials")
        let query = QueryParameters(request)
        let days = try Self.period(query)
        let lab = try query.id("lab").map(PartyID.init(rawValue:))
        let dataset = try query.id("dataset").map(DatasetID.init(rawValue:))
        let quota = try query.choice("quota", UsageQuota.self)
        let grouping = try query.choice("by", QuotaDenialGrouping.self) ?? .lab
        let (answer, asOf, names, titles) = service.registry.read { state in
            let answer = state.quotaDenials(in: days, lab: lab, dataset: dataset, quota: quota, by: grouping)
            let names = Dictionary(Set(answer.rows.compactMap(\.lab)).map { ($0, state.party($0)?.name ?? "") }, uniquingKeysWith: { first, _ in first })
            let titles = Dictionary(Set(answer.rows.compactMap(\.dataset)).map { ($0, state.dataset($0)?.title ?? "") }, uniquingKeysWith: { first, _ in first })
            return (answer, state.auditHead.lastSequence, names, titles)
        }
        let (rows, next) = try Self.page(answer.rows, query)
        return try ComplianceAnswer(
            asOf: asOf,
            items: rows.map {
                QuotaDenialRowView(
                    lab: $0.lab?.rawValue, labName: $0.lab.map { names[$0] ?? "" }, dataset: $0.dataset?.rawValue,
                    datasetTitle: $0.dataset.map { titles[$0] ?? "" }, quota: $0.quota.rawValue, events: $0.totals.events, tokens: $0.totals.tokens)
            },
            nextCursor: next,
            totals: QuotaDenialTotalsView(
                from: days.lowerBound.description, to: days.upperBound.description, events: answer.totals.events, tokens: answer.totals.tokens)
        ).response()
    }

    func annualReport(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        try context.requireRegulator("read processors' annual reports")
        let query = QueryParameters(request)
        let year = try query.requiredInteger("year", in: 2000...9999)
        let processor = try query.id("processor").map(PartyID.init(rawValue:))
        let (lines, asOf, names) = try service.registry.read { state in
            if let processor, state.party(processor) == nil { throw Problem.notFound("party \(processor.rawValue)") }
            let lines = state.annualReport(year: year, processor: processor)
            let names = Dictionary(Set(lines.map(\.processor)).map { ($0, state.party($0)?.name ?? "") }, uniquingKeysWith: { first, _ in first })
            return (lines, state.auditHead.lastSequence, names)
        }
        let (rows, next) = try Self.page(lines, query)
        return try ComplianceAnswer<AnnualReportLineView, NoTotals>(
            asOf: asOf,
            items: rows.map {
                AnnualReportLineView(
                    processor: $0.processor.rawValue, processorName: names[$0.processor] ?? "", year: year, section: $0.section.rawValue,
                    key: $0.key, grants: $0.grants, datasets: $0.datasets, events: $0.totals.events, tokens: $0.totals.tokens,
                    charge: $0.totals.amount, individuals: $0.individuals)
            },
            nextCursor: next, totals: nil
        ).response()
    }
}
