import Hummingbird
import RegistryCore
import RegistryStore

/// Lineage: recording derivations, walking ancestors and descendants within budgets, paths, impact,
/// effective restrictions, anonymisation approval and flagging (R10, R12, R21, R25).
struct LineageController: APIController {
    let service: RegistryService

    func routes(_ group: RouterGroup<AuthenticatedContext>) {
        group.post("datasets/:id/lineage") { request, context in try await record(request, context) }
        group.get("datasets/:id/lineage") { request, context in try walk(request, context) }
        group.get("datasets/:id/restrictions") { request, context in try restrictions(request, context) }
        group.get("datasets/:id/impact") { request, context in try impact(request, context) }
        group.post("datasets/:id/flag") { request, context in try await flag(request, context) }
        group.get("lineage/path") { request, context in try path(request, context) }
        group.get("derivations") { request, context in try listDerivations(request, context) }
        group.post("derivations/:id/approval") { _, context in try await approve(context) }
    }

    /// `GET /v1/derivations?dataset=&state=`: derivation edges with the dataset at either end, in an
    /// approval state (R12: `awaiting_approval` lists the anonymisations a registrar or regulator has
    /// yet to approve). Visible to every party, as the lineage walks are.
    func listDerivations(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        let query = QueryParameters(request)
        let page = try PageRequest(query)
        let dataset = try query.id("dataset").map(DatasetID.init(rawValue:))
        let approval = try query.choice("state", DerivationApproval.self)
        let result = service.registry.read { $0.searchDerivations(touching: dataset, approval: approval, after: page.after, limit: page.limit) }
        return try Respond.page(
            Page(items: result.derivations.map(DerivationView.init), nextCursor: PageRequest.cursor(result.next)), for: request, name: "derivations")
    }

    func datasetID(_ context: AuthenticatedContext) throws -> DatasetID {
        let id = try context.pathID("id")
        guard service.registry.read({ $0.dataset(DatasetID(rawValue: id)) }) != nil else { throw Problem.notFound("dataset \(id) does not exist") }
        return DatasetID(rawValue: id)
    }

    func budget(_ query: QueryParameters) throws -> Int {
        try query.integer("budget", in: 1...Limits.maxTraversalBudget) ?? Limits.defaultTraversalBudget
    }

    func record(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let id = try datasetID(context)
        let (body, bytes) = try await request.decodeJSONKeepingBytes(DerivationsBody.self, context: context)
        let command = RegistryCommand.recordDerivations(
            target: id, sources: body.sources.map { DerivationSource(dataset: DatasetID(rawValue: $0.dataset), kind: $0.kind) })
        return try await IdempotentCreation.respond(command, request: request, body: bytes, context: context, service: service) { entries, _ in
            let views = entries.compactMap { entry -> DerivationView? in
                if case .derivation(let derivation) = entry.record { return DerivationView(derivation) }
                return nil
            }
            return try Page(items: views, nextCursor: nil).storedCreation(location: "/v1/datasets/\(id.rawValue)/lineage")
        }
    }

    func walk(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        let id = try datasetID(context)
        let query = QueryParameters(request)
        let page = try PageRequest(query)
        let budget = try budget(query)
        let direction: LineageGraph.Direction
        switch query.text("direction") ?? "descendants" {
        case "descendants": direction = .descendants
        case "ancestors": direction = .ancestors
        default: throw Problem.invalidField("direction", "ancestors or descendants")
        }
        let maxDepth = try query.integer("depth", in: 1...Int32.max) ?? .max
        // The walk is breadth-first, nearest first; the cursor is the position in that order.
        let result = service.registry.read { state -> WalkPage in
            var items: [NodeView] = []
            var position: Int64 = 0
            var more = false
            let outcome = ScratchPool.withScratch { scratch in
                state.lineage.graph.walk(from: Int32(id.rawValue), direction, maxDepth: maxDepth, budget: budget, scratch: &scratch) { node, depth in
                    position += 1
                    guard position > page.after else { return true }
                    guard items.count < page.limit else {
                        more = true
                        return false
                    }
                    if let view = NodeView(node, depth: depth, in: state) { items.append(view) }
                    return true
                }
            }
            return WalkPage(
                items: items, nextCursor: more ? String(page.after + Int64(items.count)) : nil,
                budget: BudgetView(limit: budget, visited: outcome.reached, exhausted: outcome.budgetExhausted))
        }
        return try result.response()
    }

    /// `GET /v1/datasets/{id}/restrictions[?origins=true]`: the restrictions in effect (O(1)); with
    /// `origins`, each with the dataset that imposes it (one walk up the lineage).
    func restrictions(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        let id = try datasetID(context)
        let withOrigins = try QueryParameters(request).flag("origins") ?? false
        let view = service.registry.read { state in
            let node = Int32(id.rawValue)
            let effective = state.lineage.graph.effectiveRestrictions(of: node)
            let own = state.lineage.graph.ownRestrictions(of: node)
            return RestrictionsView(
                dataset: id.rawValue, grade: effective.grade.rawValue, piLevel: effective.personalInformation.rawValue,
                flagged: effective.flagged,
                own: .init(grade: own.grade.rawValue, piLevel: own.personalInformation.rawValue, flagged: own.flagged),
                sources: state.lineage.graph.parents(of: node).count,
                origins: withOrigins ? state.restrictionOrigins(of: id).map(RestrictionOriginView.init) : nil)
        }
        return try view.response()
    }

    /// What a party is to a dataset an impact answer reaches; listed in this order.
    private enum ImpactRole: Int, CaseIterable {
        case grant, holdRight, holder, operateRight, useRight

        init(_ right: RightKind) {
            switch right {
            case .hold: self = .holdRight
            case .use: self = .useRight
            case .operate: self = .operateRight
            }
        }

        var name: String {
            switch self {
            case .grant: "grant"
            case .holdRight: "hold right"
            case .holder: "holder"
            case .operateRight: "operate right"
            case .useRight: "use right"
            }
        }
    }

    private struct PartyTally {
        var roles: UInt8 = 0
        var datasets = 0
        var grants = 0
        /// The last dataset counted in `datasets`, so that several roles on one dataset count it once.
        var lastDataset: Int64 = 0

        mutating func add(_ role: ImpactRole, on dataset: Int64) {
            roles |= 1 << UInt8(role.rawValue)
            if lastDataset != dataset {
                lastDataset = dataset
                datasets += 1
            }
        }

        var roleNames: [String] { ImpactRole.allCases.filter { roles & (1 << UInt8($0.rawValue)) != 0 }.map(\.name) }
    }

    /// Who and what a change to a dataset reaches: its descendants (a page, nearest first) and every party
    /// holding one of them, a valid certificate over one, or a grant not ended on one (a page, by id).
    /// Both pages come from one walk within the budget; the counts cover everything the walk reached.
    func impact(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        let id = try datasetID(context)
        let query = QueryParameters(request)
        let page = try PageRequest(query)
        let partiesAfter = try query.integer("partyCursor", in: 0...Int64.max) ?? 0
        let budget = try budget(query)
        let view = service.registry.read { state -> ImpactView in
            let today = state.today(at: service.now())
            var tallies: [Int64: PartyTally] = [:]
            func concern(_ datasetID: DatasetID) {
                if let holder = state.catalog.datasets.holder(of: datasetID.rawValue) { tallies[holder.rawValue, default: .init()].add(.holder, on: datasetID.rawValue) }
                for certificate in state.rights.certificates(of: datasetID) where certificate.status(on: today) == .valid {
                    for holder in certificate.holders {
                        tallies[holder.rawValue, default: .init()].add(ImpactRole(certificate.right), on: datasetID.rawValue)
                    }
                }
                for grant in state.market.grants(on: datasetID) where !grant.state.isTerminal {
                    tallies[grant.assignee.rawValue, default: .init()].add(.grant, on: datasetID.rawValue)
                    tallies[grant.assignee.rawValue]!.grants += 1
                }
            }
            concern(id)
            var descendants: [NodeView] = []
            var position: Int64 = 0
            let outcome = ScratchPool.withScratch { scratch in
                state.lineage.graph.walk(from: Int32(id.rawValue), .descendants, budget: budget, scratch: &scratch) { node, depth in
                    position += 1
                    if position > page.after, descendants.count < page.limit, let view = NodeView(node, depth: depth, in: state) {
                        descendants.append(view)
                    }
                    concern(DatasetID(rawValue: Int64(node)))
                    return true
                }
            }
            let partyIDs = tallies.keys.filter { $0 > partiesAfter }.sorted()
            let parties = partyIDs.prefix(page.limit).compactMap { partyID -> ImpactView.PartyImpact? in
                guard let party = state.party(PartyID(rawValue: partyID)), let tally = tallies[partyID] else { return nil }
                return ImpactView.PartyImpact(id: partyID, name: party.name, roles: tally.roleNames, datasets: tally.datasets, grants: tally.grants)
            }
            let shown = page.after + Int64(descendants.count)
            return ImpactView(
                dataset: id.rawValue, descendantCount: outcome.reached, descendants: descendants,
                nextCursor: Int64(outcome.reached) > shown ? String(shown) : nil,
                partyCount: tallies.count, parties: parties,
                nextPartyCursor: partyIDs.count > page.limit ? String(partyIDs[page.limit - 1]) : nil,
                budget: BudgetView(limit: budget, visited: outcome.reached, exhausted: outcome.budgetExhausted))
        }
        return try view.response()
    }

    func path(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        let query = QueryParameters(request)
        let from = try query.requiredInteger("from", in: 1...Int32.max)
        let to = try query.requiredInteger("to", in: 1...Int32.max)
        let budget = try budget(query)
        let search = service.registry.read { state -> LineageGraph.PathSearch? in
            for id in [from, to] where state.dataset(DatasetID(rawValue: Int64(id))) == nil { return nil }
            return ScratchPool.withScratch { scratch in state.lineage.graph.path(from: from, to: to, budget: budget, scratch: &scratch) }
        }
        switch search {
        case nil:
            throw Problem.notFound("dataset \(from) or \(to) does not exist")
        case .found(let path)?:
            return try PathView(path: path.map(Int64.init)).response()
        case .none?:
            throw Problem.notFound("dataset \(to) is not derived from dataset \(from)")
        case .budgetExhausted?:
            throw Problem(
                .notFound, kind: "not-found", title: "Not found",
                detail: "no derivation path from dataset \(from) to dataset \(to) within a budget of \(budget) datasets; the search stopped there and a larger budget may find one",
                errors: [.init(field: "budget", reason: "exhausted before a path was found")])
        }
    }

    func approve(_ context: AuthenticatedContext) async throws -> Response {
        let id = try context.pathID("id")
        let entries = try await service.execute(.approveAnonymisation(derivation: id), by: context.party)
        guard case .derivation(let derivation) = entries.first?.record else { throw Problem.internalError }
        return try DerivationView(derivation).response()
    }

    func flag(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let actor = context.party
        let id = try datasetID(context)
        let body = try await request.decodeJSON(FlagBody.self, context: context)
        let entries = try await service.execute(.flagDataset(id, reason: body.reason), by: actor)
        let cascade = entries.lazy.compactMap { entry -> FlagCascade? in
            if case .flagCascade(let cascade) = entry.record { return cascade }
            return nil
        }.first
        guard let cascade else { throw Problem.from(.conflict("dataset \(id.rawValue) is already flagged")) }
        let suspended = entries.compactMap { entry -> String? in
            if case .grant(let grant) = entry.record, grant.state == .suspended { return grant.number }
            return nil
        }
        return try FlaggedView(
            dataset: id.rawValue, reason: cascade.reason, descendantsFlagged: cascade.descendants.map(\.rawValue), grantsSuspended: suspended
        ).response()
    }
}
