import Foundation
import Hummingbird
import RegistryCore
import RegistryStore

/// Audit (R30), state digest, settings and the sandbox clock.
struct OversightController: APIController {
    let service: RegistryService
    /// Sandbox mode: the test-clock routes exist.
    let sandbox: Bool

    func routes(_ group: RouterGroup<AuthenticatedContext>) {
        group.get("audit/verify") { _, context in try await verify(context) }
        group.get("audit/events") { request, context in try await events(request, context) }
        group.get("admin/state") { _, context in try await state(context) }
        group.get("settings") { _, context in try settings(context) }
        group.put("settings") { request, context in try await updateSettings(request, context) }
        if sandbox {
            group.get("sandbox/clock") { _, context in try clock(context, changes: []) }
            group.post("sandbox/clock") { request, context in try await advanceClock(request, context) }
        }
    }

    func requireOverseer(_ context: AuthenticatedContext) throws {
        let party = context.party
        guard party.kind == .regulator || party.kind == .operator else {
            throw Problem.from(.forbidden("only regulators and operators read the audit chain"))
        }
    }

    func verify(_ context: AuthenticatedContext) async throws -> AuditVerification {
        try requireOverseer(context)
        switch try await service.verifyAudit() {
        case .valid(let entries, let head):
            return AuditVerification(valid: true, entries: entries, head: head.hexString, firstMismatch: nil, reason: nil)
        case .broken(let sequence, let reason):
            return AuditVerification(valid: false, entries: nil, head: nil, firstMismatch: sequence, reason: reason)
        }
    }

    /// `GET /v1/audit/events?kind=&actor=&dataset=&from=&to=`: entries in sequence order, read from
    /// PostgreSQL on the pool's threads. `from` and `to` are RFC 3339 times (`from` included, `to` not).
    func events(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        try requireOverseer(context)
        let query = QueryParameters(request)
        let page = try PageRequest(query)
        _ = try ResponseFormat(request)  // a bad `format` is refused before the query
        let kind = try query.choice("kind", AuditKind.self)
        let actor = try Self.actor(query)
        let from = try Self.time(query, "from")
        let until = try Self.time(query, "to")
        if let from, let until, until < from { throw Problem.invalidField("to", "must not be before from") }
        let filter = AuditLog.Filter(kind: kind?.rawValue, actor: actor, dataset: try query.id("dataset"), from: from, until: until)
        let entries = try await AuditLog.entries(service.database.pool, after: page.after, limit: page.limit, filter: filter)
        let views = entries.map {
            AuditEntryView(
                sequence: $0.sequence, at: $0.at.description, actor: $0.actor, kind: $0.kind, payload: Self.redacted($0.payload),
                previousHash: $0.previousHash.hexString, hash: $0.hash.hexString)
        }
        let next = entries.count == page.limit ? entries.last.map { String($0.sequence) } : nil
        return try Respond.page(Page(items: views, nextCursor: next), for: request, name: "audit-events")
    }

    /// `actor` as entries store it: `party:<id>`, `system` or `system:metering`.
    static func actor(_ query: QueryParameters) throws -> String? {
        guard let text = query.text("actor") else { return nil }
        if text == "system" || text == "system:metering" { return String(text) }
        if text.hasPrefix("party:"), StrictID.parse(text.dropFirst(6)) != nil { return String(text) }
        throw Problem.invalidField("actor", "party:<id>, system or system:metering")
    }

    /// An RFC 3339 time with its offset (`2026-12-01T00:00:00+08:00`, `…Z`), years 1900 to 9999.
    static func time(_ query: QueryParameters, _ name: String) throws -> Timestamp? {
        guard let text = query.text(name) else { return nil }
        guard text.utf8.count <= 40, let year = Int(text.prefix(4)), year >= 1900, let time = Timestamp(iso8601: String(text)) else {
            throw Problem.invalidField(name, "an RFC 3339 time with its offset, e.g. 2026-12-01T00:00:00+08:00")
        }
        return time
    }

    /// The payload as shown: an API key's `secretHash` reads `"redacted"`, even to overseers (a hash of
    /// a secret is something to guess against offline). The stored payload, and the chain's hashes over
    /// it, are unchanged: `GET /v1/audit/verify` checks what is stored.
    static func redacted(_ payload: String) -> String {
        let marker = #""secretHash":""#
        guard payload.contains(marker) else { return payload }
        var shown = ""
        var rest = Substring(payload)
        while let found = rest.range(of: marker) {
            shown += rest[..<found.upperBound]
            shown += "redacted"
            rest = rest[found.upperBound...]
            if let closing = rest.firstIndex(of: "\"") { rest = rest[closing...] }
        }
        return shown + rest
    }

    func state(_ context: AuthenticatedContext) async throws -> StateView {
        guard context.party.kind == .operator else { throw Problem.from(.forbidden("only operators read the state digest")) }
        let now = service.now()
        // Hashed off the lock, on a thread of its own: seconds at national scale, which neither the writer
        // nor the cooperative pool should wait for.
        let snapshot = service.registry.snapshot()
        return await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .utility).async {
                continuation.resume(returning: StateView(
                    digest: snapshot.digest, counts: snapshot.counts, now: now.description, today: snapshot.today(at: now).description))
            }
        }
    }

    func settings(_ context: AuthenticatedContext) throws -> Response {
        let settings = service.registry.read { $0.settings }
        return try SettingsBody(
            objectionPolicy: settings.objectionPolicy,
            calendar: .init(
                holidays: settings.calendar.holidays.sorted(), workingWeekendDays: settings.calendar.workingWeekendDays.sorted(),
                utcOffsetSeconds: settings.calendar.utcOffsetSeconds),
            publicDataFeeCeiling: settings.publicDataFeeCeiling
        ).response()
    }

    func updateSettings(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let body = try await request.decodeJSON(SettingsBody.self, context: context)
        let calendar = body.calendar.map {
            WorkingCalendar(
                holidays: Set($0.holidays), workingWeekendDays: Set($0.workingWeekendDays ?? []), utcOffsetSeconds: $0.utcOffsetSeconds ?? 8 * 3600)
        }
        try await service.execute(
            .updateSettings(objectionPolicy: body.objectionPolicy, calendar: calendar, publicDataFeeCeiling: body.publicDataFeeCeiling),
            by: context.party)
        return try settings(context)
    }

    func advanceClock(_ request: Request, _ context: AuthenticatedContext) async throws -> ClockView {
        // Who may move the clock is settled before anything in the body is read or computed.
        let party = context.party
        guard party.kind == .operator else { throw Problem.from(.forbidden("only operators move the sandbox clock")) }
        let body = try await request.decodeJSON(ClockBody.self, context: context)
        let maxDays = Int(Limits.maxClockAdvanceSeconds / 86_400)
        var problems: [Problem.FieldError] = []
        if let days = body.days, days < 0 || days > maxDays {
            problems.append(.init(field: "days", reason: "must be between 0 and \(maxDays)"))
        }
        if let seconds = body.seconds, seconds < 0 || seconds > Limits.maxClockAdvanceSeconds {
            problems.append(.init(field: "seconds", reason: "must be between 0 and \(Limits.maxClockAdvanceSeconds)"))
        }
        if !problems.isEmpty { throw Problem.badRequest("the clock moves forward by at most \(maxDays) days", errors: problems) }
        // Both are bounded above, so the sum cannot overflow; the core checks the total against its limit.
        let seconds = Int64(body.days ?? 0) * 86_400 + (body.seconds ?? 0)
        let entries = try await service.execute(.advanceClock(seconds: seconds), by: party)
        return try clock(context, changes: entries.map(\.kind.rawValue))
    }

    func clock(_ context: AuthenticatedContext, changes: [String]) throws -> ClockView {
        guard context.party.kind == .operator else { throw Problem.from(.forbidden("only operators move the sandbox clock")) }
        let now = service.now()
        return service.registry.read { state in
            ClockView(now: now.description, today: state.today(at: now).description, offsetSeconds: state.settings.clockOffsetSeconds, changes: changes)
        }
    }
}
