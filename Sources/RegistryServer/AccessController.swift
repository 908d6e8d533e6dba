import Foundation
import Hummingbird
import NIOCore
import RegistryCore
import RegistryStore

/// Policies, access requests, grants and decisions (R13–R24): `/v1`.
struct AccessController: APIController {
    let service: RegistryService

    // MARK: Routes

    func routes(_ group: RouterGroup<AuthenticatedContext>) {
        group.get("datasets/:id/policy") { _, context in try policy(context) }
        group.put("datasets/:id/policy") { request, context in try await setPolicy(request, context) }
        group.get("datasets/:id/policy/odrl") { _, context in try odrlPolicy(context) }
        group.put("datasets/:id/policy/odrl") { request, context in try await importODRL(request, context) }

        group.post("access-requests") { request, context in try await requestAccess(request, context) }
        group.get("access-requests") { request, context in try listAccessRequests(request, context) }
        group.get("access-requests/:number") { _, context in try accessRequest(context) }
        group.post("access-requests/:number/reply") { request, context in try await reply(request, context) }
        group.post("access-requests/:number/withdraw") { _, context in try await withdraw(context) }

        group.get("grants") { request, context in try listGrants(request, context) }
        group.get("grants/:number") { _, context in try grant(context) }
        for change in GrantChange.allCases {
            group.post("grants/:number/\(change.rawValue)") { request, context in try await changeGrant(change, request, context) }
        }

        group.get("decisions") { request, context in try decide(request, context) }
        group.post("decisions") { request, context in try await decideBatch(request, context) }
    }

    // MARK: Policies (R20)

    func policy(_ context: AuthenticatedContext) throws -> Response {
        let id = DatasetID(rawValue: try context.pathID("id"))
        let record = try service.registry.read { state throws -> PolicyRecord? in
            guard state.dataset(id) != nil else { throw Problem.notFound("dataset \(id.rawValue)") }
            return state.policy(of: id)
        }
        guard let record else { throw Problem.notFound("dataset \(id.rawValue) has no policy: nothing is permitted (R20)") }
        return try PolicyView(record).response()
    }

    func setPolicy(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let actor = context.party
        let id = DatasetID(rawValue: try context.pathID("id"))
        let body = try await request.decodeJSON(PolicyBody.self, context: context)
        guard body.rules.count <= Limits.maxPolicyRules else {
            throw Problem.badRequest("at most \(Limits.maxPolicyRules) rules", errors: [.init(field: "rules", reason: "at most \(Limits.maxPolicyRules)")])
        }
        let rules = try body.rules.enumerated().map { index, rule in try Self.rule(rule, at: "rules[\(index)]") }
        let new = NewPolicy(
            policy: Policy(dataset: id, rules: rules), approval: body.approval ?? .automatic,
            pricePerMillionTokens: body.pricePerMillionTokens ?? 0, dailyTokenCap: body.dailyTokenCap)
        let entries = try await service.execute(.setPolicy(new), by: actor)
        guard case .policy(let record) = entries.first?.record else { throw Problem.internalError }
        return try PolicyView(record).response()
    }

    /// ODRL 2.2 JSON-LD out.
    func odrlPolicy(_ context: AuthenticatedContext) throws -> Response {
        let id = DatasetID(rawValue: try context.pathID("id"))
        guard let record = service.registry.read({ $0.policy(of: id) }) else { throw Problem.notFound("dataset \(id.rawValue) has no policy") }
        return Response(
            status: .ok, headers: [.contentType: "application/ld+json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: ODRL.export(record.policy))))
    }

    /// ODRL 2.2 JSON-LD in: replaces the dataset's rules, keeping its approval mode, price and cap unless
    /// the query names them.
    func importODRL(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let actor = context.party
        let id = DatasetID(rawValue: try context.pathID("id"))
        let buffer = try await request.body.collect(upTo: context.maxRequestBodyBytes)
        try request.requireJSONBody()
        do {
            // JSON-LD is another standard's document: nulls and fractions are its own business, but not
            // duplicate keys, NUL or bytes that are not UTF-8.
            try buffer.withUnsafeReadableBytes { bytes throws(StrictJSON.Failure) in
                try StrictJSON.validate(bytes, options: StrictJSON.Options(foreignDocument: true))
            }
        } catch {
            throw Problem.invalidField(error.field, error.reason)
        }
        let text = String(buffer: buffer)
        let policy: Policy
        do {
            policy = try ODRL.importPolicy(text, dataset: id)
        } catch {
            throw Problem.badRequest("the ODRL policy cannot be imported: \(error.description)", errors: [.init(field: error.field, reason: error.detail)])
        }
        let current = service.registry.read { $0.policy(of: id) }
        let query = QueryParameters(request)
        let price: Int64?
        if let text = query.text("pricePerMillionTokens") {
            guard let value = Int64(String(text)) else {
                throw Problem.badRequest("pricePerMillionTokens must be a whole number of fen", errors: [.init(field: "pricePerMillionTokens", reason: "not a number")])
            }
            price = value
        } else {
            price = nil
        }
        let new = NewPolicy(
            policy: policy, approval: try query.choice("approval", ApprovalMode.self) ?? current?.approval ?? .automatic,
            pricePerMillionTokens: price ?? current?.pricePerMillionTokens ?? 0, dailyTokenCap: current?.dailyTokenCap)
        let entries = try await service.execute(.setPolicy(new), by: actor)
        guard case .policy(let record) = entries.first?.record else { throw Problem.internalError }
        return try PolicyView(record).response()
    }

    static func rule(_ body: RuleBody, at path: String) throws -> PolicyRule {
        let constraints = body.constraints ?? ConstraintsBody()
        return PolicyRule(
            id: body.id, kind: body.kind, action: body.action, duty: body.duty,
            constraints: RuleConstraints(
                purposes: constraints.purposes, assigneeParties: constraints.assigneeParties?.map(PartyID.init(rawValue:)),
                assigneeKinds: constraints.assigneeKinds, regions: constraints.regions,
                notBefore: try constraints.notBefore.map { try timestamp($0, field: "\(path).constraints.notBefore") },
                notAfter: try constraints.notAfter.map { try timestamp($0, field: "\(path).constraints.notAfter") },
                maxTokens: constraints.maxTokens, gradeCeiling: constraints.gradeCeiling, retentionDays: constraints.retentionDays))
    }

    /// An ISO 8601 time from a request, or a 400 naming its field.
    static func timestamp(_ text: String, field: String) throws -> Timestamp {
        guard let value = Timestamp(iso8601: text) else {
            throw Problem.badRequest("\(field) must be an ISO 8601 time", errors: [.init(field: field, reason: "not an ISO 8601 time")])
        }
        return value
    }

    // MARK: Access requests (R22)

    func requestAccess(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let actor = context.party
        let body = try await request.decodeJSON(AccessRequestBody.self, context: context)
        let records = body.records ?? RecordsBody()
        let new = NewAccessRequest(
            dataset: DatasetID(rawValue: body.dataset), purpose: body.purpose, action: body.action ?? .use, tokens: body.tokens,
            validFrom: try body.validFrom.map { try Self.timestamp($0, field: "validFrom") },
            validUntil: try Self.timestamp(body.validUntil, field: "validUntil"),
            useRegion: body.useRegion, duty: body.duty,
            records: AccessRecords(
                riskAssessment: records.riskAssessment, securityAssessment: records.securityAssessment, consentEvidence: records.consentEvidence,
                impactAssessment: records.impactAssessment, standardContract: records.standardContract))
        let entries = try await service.execute(.requestAccess(new), by: actor)
        guard case .accessRequest(let recorded) = entries.first?.record else { throw Problem.internalError }
        let view = service.registry.read { AccessRequestView(recorded, in: $0) }
        return try view.created(location: "/v1/access-requests/\(recorded.number)")
    }

    func listAccessRequests(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        let actor = context.party
        let query = QueryParameters(request)
        let page = try PageRequest(query)
        let overdue = try query.flag("overdue") ?? false
        let today = service.registry.read { $0.today(at: service.now()) }
        let filter = RegistryState.AccessRequestFilter(
            state: try query.choice("state", AccessState.self), dataset: try query.id("dataset").map(DatasetID.init(rawValue:)),
            overdueOn: overdue ? today : nil)
        let result = service.registry.read { state in
            let found = state.searchAccessRequests(visibleTo: actor, filter, after: page.after, limit: page.limit)
            return (found.requests.map { AccessRequestView($0, in: state) }, found.next)
        }
        return try Respond.page(Page(items: result.0, nextCursor: PageRequest.cursor(result.1)), for: request, name: "access-requests")
    }

    func accessRequest(_ context: AuthenticatedContext) throws -> Response {
        let actor = context.party
        let number = try context.parameters.require("number")
        let view = service.registry.read { state -> AccessRequestView? in
            guard let request = state.accessRequest(number: number), state.maySee(request, actor) else { return nil }
            return AccessRequestView(request, in: state)
        }
        guard let view else { throw Problem.notFound("access request \(number) does not exist or is not visible to this key") }
        return try view.response()
    }

    func reply(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let number = try context.parameters.require("number")
        try requireVisibleAccessRequest(number, context)
        let body = try await request.decodeJSON(ReplyBody.self, context: context)
        try await service.execute(.replyToAccessRequest(number: number, agree: body.agree, reason: body.reason), by: context.party)
        return try accessRequest(context)
    }

    func withdraw(_ context: AuthenticatedContext) async throws -> Response {
        let number = try context.parameters.require("number")
        try requireVisibleAccessRequest(number, context)
        try await service.execute(.withdrawAccessRequest(number: number), by: context.party)
        return try accessRequest(context)
    }

    // MARK: Grants (R23)

    func listGrants(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        let actor = context.party
        let query = QueryParameters(request)
        let page = try PageRequest(query)
        let stateFilter = try query.choice("state", AccessState.self)
        let dataset = try query.id("dataset").map(DatasetID.init(rawValue:))
        let assignee = try query.id("assignee").map(PartyID.init(rawValue:))
        let result = service.registry.read { state in
            let found = state.searchGrants(visibleTo: actor, state: stateFilter, dataset: dataset, assignee: assignee, after: page.after, limit: page.limit)
            return (found.grants.map { GrantView($0, in: state) }, found.next)
        }
        return try Respond.page(Page(items: result.0, nextCursor: PageRequest.cursor(result.1)), for: request, name: "grants")
    }

    func grant(_ context: AuthenticatedContext) throws -> Response {
        let actor = context.party
        let number = try context.parameters.require("number")
        let view = service.registry.read { state -> GrantView? in
            guard let grant = state.grant(number: number), state.maySee(grant, actor) else { return nil }
            return GrantView(grant, in: state)
        }
        guard let view else { throw Problem.notFound("grant \(number) does not exist or is not visible to this key") }
        return try view.response()
    }

    /// A request the key may not see answers every operation as a missing one does: 404, the same body.
    func requireVisibleAccessRequest(_ number: String, _ context: AuthenticatedContext) throws {
        let actor = context.party
        let visible = service.registry.read { state in state.accessRequest(number: number).map { state.maySee($0, actor) } ?? true }
        guard visible else { throw Problem.from(.notFound("access request \(number)")) }
    }

    /// A grant the key may not see answers every change as a missing one does: 404, the same body (a
    /// 403 would confirm that it exists).
    func changeGrant(_ change: GrantChange, _ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let number = try context.parameters.require("number")
        let actor = context.party
        let visible = service.registry.read { state in state.grant(number: number).map { state.maySee($0, actor) } ?? true }
        guard visible else { throw Problem.from(.notFound("grant \(number)")) }
        let body = try await request.decodeJSON(ReasonBody.self, context: context, emptyBody: ReasonBody(reason: nil))
        try await service.execute(.changeGrant(number: number, change: change, reason: body.reason), by: context.party)
        return try grant(context)
    }

    // MARK: Decisions (R24)

    /// `GET /v1/decisions?dataset=…&purpose=…&tokens=…[&party=…][&action=…][&region=…]`: the lab's serving
    /// path. Reads only the core, under its read lock; the answer is written without a JSON encoder.
    func decide(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        let actor = context.party
        let query = QueryParameters(request)
        let dataset = try query.requiredID("dataset")
        let purpose = try query.requiredText("purpose")
        let tokens = try query.requiredInteger("tokens", in: 0...Limits.maxTokens)
        let subject = try query.id("party").map(PartyID.init(rawValue:)) ?? actor.id
        let action = try query.choice("action", PolicyAction.self) ?? .use
        let decisionQuery = DecisionQuery(
            party: subject, dataset: DatasetID(rawValue: dataset), purpose: String(purpose), tokens: tokens, action: action,
            region: query.text("region").map(String.init))
        let now = service.now()
        let (decision, grantNumber) = try service.registry.read { state throws -> (Decision, String?) in
            guard state.mayAskDecision(by: actor, about: subject, on: decisionQuery.dataset) else {
                throw Problem.from(.forbidden("a party asks about itself; holders about their datasets; regulators and operators about anyone"))
            }
            let decision = state.decide(decisionQuery, at: now)
            return (decision, decision.grant.flatMap { state.grant($0)?.number })
        }
        var text = ""
        text.reserveCapacity(256)
        DecisionView.write(decision, grantNumber: grantNumber, query: decisionQuery, into: &text)
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// `POST /v1/decisions`: up to ``Limits/maxDecisionsPerBatch`` queries, answered in order.
    func decideBatch(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let actor = context.party
        let body = try await request.decodeJSON(DecisionBatchBody.self, context: context)
        guard !body.queries.isEmpty, body.queries.count <= Limits.maxDecisionsPerBatch else {
            throw Problem.badRequest(
                "queries: 1 to \(Limits.maxDecisionsPerBatch) per request", errors: [.init(field: "queries", reason: "1 to \(Limits.maxDecisionsPerBatch)")])
        }
        var queries: [DecisionQuery] = []
        queries.reserveCapacity(body.queries.count)
        for (index, item) in body.queries.enumerated() {
            guard item.tokens >= 0, item.tokens <= Limits.maxTokens else {
                throw Problem.badRequest("queries[\(index)].tokens must be 0 to \(Limits.maxTokens)", errors: [.init(field: "queries[\(index)].tokens", reason: "0 to \(Limits.maxTokens)")])
            }
            queries.append(DecisionQuery(
                party: item.party.map(PartyID.init(rawValue:)) ?? actor.id, dataset: DatasetID(rawValue: item.dataset), purpose: item.purpose,
                tokens: item.tokens, action: item.action ?? .use, region: item.region))
        }
        let now = service.now()
        let decisions = try service.registry.read { state throws -> [(Decision, String?)] in
            try queries.enumerated().map { index, query in
                guard state.mayAskDecision(by: actor, about: query.party, on: query.dataset) else {
                    throw Problem.from(.forbidden("queries[\(index)]: a party asks about itself; holders about their datasets; regulators and operators about anyone"))
                }
                let decision = state.decide(query, at: now)
                return (decision, decision.grant.flatMap { state.grant($0)?.number })
            }
        }
        var text = "{\"decisions\":["
        text.reserveCapacity(200 * decisions.count)
        for (index, answer) in decisions.enumerated() {
            if index > 0 { text += "," }
            DecisionView.write(answer.0, grantNumber: answer.1, query: queries[index], into: &text)
        }
        text += "]}"
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
