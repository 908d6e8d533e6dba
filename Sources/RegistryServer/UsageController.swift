import Hummingbird
import NIOCore
import RegistryCore
import RegistryStore

/// Metering and settlement (R26–R28): `/v1/usage`, grant usage, daily caps, statements, ledger totals.
struct UsageController: APIController {
    let service: RegistryService

    func routes(_ group: RouterGroup<AuthenticatedContext>) {
        group.post("usage") { request, context in try await recordUsage(request, context) }
        group.get("grants/:number/usage") { _, context in try grantUsage(context) }
        group.get("grants/:number/usage/events") { request, context in try await grantUsageEvents(request, context) }
        group.put("parties/:id/daily-token-cap") { request, context in try await setDailyCap(request, context) }
        group.get("statements") { request, context in try await statement(request, context) }
        group.get("ledger/balance") { _, context in try await ledgerBalance(context) }
    }

    // MARK: Usage (R26, R27)

    /// `POST /v1/usage`: up to ``Limits/maxUsageEventsPerRequest`` events, answered in order once durable.
    /// 200 even when some are denied: each answer says accepted or denied, and by what.
    func recordUsage(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let party = context.party
        let buffer = try await request.body.collect(upTo: context.maxRequestBodyBytes)
        try request.requireJSONBody()
        let events: [UsageEvent]
        do {
            events = try buffer.withUnsafeReadableBytes { bytes throws(UsageBodyParser.Failure) in try UsageBodyParser.parse(bytes) }
        } catch {
            let field = error.field.isEmpty ? "body" : error.field
            throw Problem.badRequest("\(field): \(error.reason)", errors: [.init(field: field, reason: error.reason)])
        }
        let submission = UsageSubmission(party: party.id, events: events)
        let problems = submission.validate()
        guard problems.isEmpty else { throw Problem.from(.invalid(problems)) }
        let replies = try await service.recordUsage(submission)
        var text = ""
        text.reserveCapacity(96 * replies.count + 64)
        UsageView.write(replies, into: &text)
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// `GET /v1/grants/{number}/usage`: tokens used and remaining, fen charged. For the assignee, the
    /// grantor, the dataset's holder, regulators and operators.
    func grantUsage(_ context: AuthenticatedContext) throws -> Response {
        let actor = context.party
        let number = try context.parameters.require("number")
        let view = try service.registry.read { state throws -> GrantUsageView in
            guard let grant = state.grant(number: number), state.mayReadUsage(of: grant, actor) else { throw Problem.notFound("grant \(number)") }
            let used = state.usage.usage(of: grant.id)
            return GrantUsageView(
                grant: grant.number, dataset: grant.dataset.rawValue, assignee: grant.assignee.rawValue, tokenQuota: grant.tokenQuota,
                tokensUsed: used.tokens, tokensRemaining: max(0, grant.tokenQuota - used.tokens), charged: used.charged,
                pricePerMillionTokens: grant.pricePerMillionTokens, free: grant.free)
        }
        return try view.response()
    }

    /// `GET /v1/grants/{number}/usage/events`: the grant's usage events one by one, accepted and denied,
    /// in id order, read from PostgreSQL on the pool's threads; for those who read its usage (above). A
    /// page reads at most `Limits.maxScanPerPage` events of the registry (see `RegistryService.usageEvents`),
    /// so it may hold fewer than `limit` and still give a cursor.
    func grantUsageEvents(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let actor = context.party
        let number = try context.parameters.require("number")
        let page = try PageRequest(QueryParameters(request))
        _ = try ResponseFormat(request)  // a bad `format` is refused before the query
        let found = service.registry.read { state -> (grant: Grant, lastEvent: Int64)? in
            guard let grant = state.grant(number: number), state.mayReadUsage(of: grant, actor) else { return nil }
            return (grant, state.usage.lastEvent)
        }
        guard let found else { throw Problem.notFound("grant \(number)") }
        let (events, next) = try await service.usageEvents(of: found.grant.id, after: page.after, limit: page.limit, lastEvent: found.lastEvent)
        return try Respond.page(
            Page(items: events.map { UsageEventView($0, grant: found.grant.number) }, nextCursor: PageRequest.cursor(next)),
            for: request, name: "usage-events-\(found.grant.number)")
    }

    /// `PUT /v1/parties/{id}/daily-token-cap` `{"dailyTokens": n}` (or null to lift it): R27's assignee cap.
    func setDailyCap(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let actor = context.party
        let id = PartyID(rawValue: try context.pathID("id"))
        let body = try await request.decodeJSON(DailyCapBody.self, context: context, options: StrictJSON.Options(nullable: ["dailyTokens"]))
        try await service.execute(.setAssigneeDailyCap(party: id, dailyTokens: body.dailyTokens), by: actor)
        let cap = service.registry.read { $0.settings.assigneeDailyCap(of: id) }
        return try DailyCapView(party: id.rawValue, dailyTokens: cap).response()
    }

    // MARK: Statements (R28)

    /// `GET /v1/statements?party=…&from=YYYY-MM-DD&to=YYYY-MM-DD[&format=csv]` (or `Accept: text/csv`): the days are inclusive, in
    /// the registry's calendar. A party reads its own; regulators and operators anyone's.
    func statement(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let actor = context.party
        let query = QueryParameters(request)
        let party = try query.id("party").map(PartyID.init(rawValue:)) ?? actor.id
        guard party == actor.id || actor.kind == .regulator || actor.kind == .operator else {
            throw Problem.from(.forbidden("a party reads its own statement; regulators and operators anyone's"))
        }
        let from = try query.requiredDate("from")
        let to = try query.requiredDate("to")
        guard from <= to, to.daysSince1970 - from.daysSince1970 < Int32(Limits.maxStatementDays) else {
            throw Problem.badRequest(
                "from must not be after to, and a statement covers at most \(Limits.maxStatementDays) days",
                errors: [.init(field: "to", reason: "on or after from, within \(Limits.maxStatementDays) days")])
        }
        _ = try ResponseFormat(request)  // a bad `format` is refused before the query
        let (known, offset) = service.registry.read { ($0.party(party) != nil, Int64($0.settings.calendar.utcOffsetSeconds)) }
        guard known else { throw Problem.notFound("party \(party.rawValue)") }
        // Local midnight at the start of `from` to local midnight after `to`.
        let start = Timestamp(microsecondsSince1970: (Int64(from.daysSince1970) * 86_400 - offset) * 1_000_000)
        let end = Timestamp(microsecondsSince1970: (Int64(to.daysSince1970 + 1) * 86_400 - offset) * 1_000_000)
        let statement = try await service.statement(of: party, from: start, until: end)
        let grantNumbers = service.registry.read { state in
            Dictionary(statement.lines.map { ($0.grant, state.grant($0.grant)?.number ?? String($0.grant.rawValue)) }, uniquingKeysWith: { first, _ in first })
        }
        let view = StatementView(statement, from: from, to: to, grantNumbers: grantNumbers)
        return try Respond.rows(view.csvRows, nextCursor: nil, json: view, for: request, name: "statement-\(party.rawValue)-\(from)-\(to)")
    }

    /// `GET /v1/ledger/balance`: all debits and all credits, in the core and in PostgreSQL (regulators, operators).
    func ledgerBalance(_ context: AuthenticatedContext) async throws -> Response {
        let actor = context.party
        guard actor.kind == .regulator || actor.kind == .operator else {
            throw Problem.from(.forbidden("the ledger's totals are for regulators and operators"))
        }
        let core = service.registry.read { state in
            state.usage.allAccounts.reduce(into: (debits: Int64(0), credits: Int64(0), accounts: 0)) { totals, entry in
                totals.debits += entry.account.debits
                totals.credits += entry.account.credits
                totals.accounts += 1
            }
        }
        let stored = try await service.ledgerTotals()
        return try LedgerBalanceView(
            accounts: core.accounts, debits: core.debits, credits: core.credits, storedDebits: stored.debits, storedCredits: stored.credits,
            balanced: core.debits == core.credits && stored.debits == stored.credits && core.debits == stored.debits
        ).response()
    }
}
