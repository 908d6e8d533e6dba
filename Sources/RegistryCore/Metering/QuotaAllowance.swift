/// What one replica holds of R27's quotas (issue 18, quota leases): slices it reserved in PostgreSQL and
/// may spend without asking anyone — per grant, ranges of the grant's cumulative tokens; per assignee and
/// dataset, tokens of today's daily cap. A batch planned on an allowance draws from it and never beyond
/// it; PostgreSQL re-checks every draw against the lease (schema 0015), so the sum of what every replica
/// accepts stays within each quota.
public struct QuotaAllowance: Sendable {
    /// Part of a lease not drawn yet: `remaining` tokens from `position` (for a grant, the position of
    /// the next token in the grant's cumulative count, which prices it; 0 for a daily cap).
    public struct Slice: Sendable, Equatable {
        public var lease: Int64
        public var position: Int64
        public var remaining: Int64

        public init(lease: Int64, position: Int64, remaining: Int64) {
            self.lease = lease
            self.position = position
            self.remaining = remaining
        }
    }

    public var grants: [GrantID: [Slice]] = [:]
    public var assignees: [PartyID: [Slice]] = [:]
    public var datasets: [DatasetID: [Slice]] = [:]

    public init() {}

    static func total(_ slices: [Slice]?) -> Int64 { slices?.reduce(0) { $0 + $1.remaining } ?? 0 }

    /// Takes `tokens` from `slices`, oldest first: the pieces taken, each with its lease and position.
    static func take(_ tokens: Int64, from slices: inout [Slice]) -> [(lease: Int64, position: Int64, tokens: Int64)] {
        var pieces: [(lease: Int64, position: Int64, tokens: Int64)] = []
        var left = tokens
        var index = 0
        while left > 0, index < slices.count {
            let piece = min(left, slices[index].remaining)
            if piece > 0 {
                pieces.append((slices[index].lease, slices[index].position, piece))
                slices[index].position += piece
                slices[index].remaining -= piece
                left -= piece
            }
            index += 1
        }
        precondition(left == 0, "a draw is checked against the allowance first")
        slices.removeAll { $0.remaining == 0 }
        return pieces
    }
}

/// A usage batch planned on a ``QuotaAllowance``, with what it draws from each lease.
public struct LeasedUsagePlan: Sendable {
    public var batch: UsageBatch
    /// Tokens drawn, by lease id, in lease order.
    public var draws: [(lease: Int64, tokens: Int64)]
}

/// Why a batch planned on an allowance cannot be settled on the state it would commit on.
public struct LeasedSettlementRefused: Error, CustomStringConvertible {
    public var description: String
}

extension RegistryState {
    /// Plans a group commit of usage without the turn (issue 18): like ``planUsage(_:at:after:)``, but R27's
    /// quotas are checked against `allowance` — this replica's slices — and each accepted event draws from
    /// them; an event is charged by its position in the grant's cumulative tokens. Event ids start at
    /// `firstEvent` and the batch is numbered `batch` (blocks this replica took from PostgreSQL).
    /// The counters, transfers and audit entry are settled later on the state the batch commits on
    /// (``settleLeasedUsage(_:)``).
    public func planLeasedUsage(
        _ submissions: [UsageSubmission], at now: Timestamp, allowance: QuotaAllowance, batch: Int64, firstEvent: Int64
    ) -> LeasedUsagePlan {
        var planner = UsagePlanner(
            state: self, meter: MeterView(meter: usage, pending: nil), at: now, events: submissions.reduce(0) { $0 + $1.events.count },
            ids: (batch, firstEvent))
        planner.allowance = allowance
        let replies = submissions.map { submission in
            submission.events.map { planner.meter($0, by: submission.party) }
        }
        let draws = planner.draws.sorted { $0.key < $1.key }.map { (lease: $0.key, tokens: $0.value) }
        return LeasedUsagePlan(batch: planner.finish(replies: replies), draws: draws)
    }

    /// Settles a batch planned on an allowance on this state — the state it commits on, current under the
    /// turn: each accepted event counted on the counters as they are now, the use and royalty transfers
    /// posted (numbered after this state's last), the ledger's totals. Also checks what the leases
    /// guarantee: no quota or cap exceeded, no counter beyond its capacity; a refusal means nothing may
    /// be written (a cap lowered since the slices were reserved).
    public func settleLeasedUsage(_ planned: UsageBatch) throws -> UsageBatch {
        var planner = UsagePlanner(
            state: self, meter: MeterView(meter: usage, pending: nil), at: planned.at, events: planned.events.count,
            ids: (planned.id, planned.events.first?.id ?? usage.lastEvent + 1))
        planner.events = planned.events
        planner.answered = planned.answered
        if planner.quotaDenials != nil {
            planner.quotaDenials = Dictionary(planned.quotaDenials.map { ($0.cell, $0.totals) }, uniquingKeysWith: { $0.adding($1) })
        }
        for event in planned.events where event.answer.accepted {
            guard let id = event.grant, let grant = grant(id) else {
                throw LeasedSettlementRefused(description: "an accepted event names no grant")
            }
            try planner.settle(event, of: grant)
        }
        return planner.finish(replies: planned.replies)
    }
}

extension DenialTotals {
    func adding(_ other: DenialTotals) -> DenialTotals {
        var sum = self
        sum.add(other)
        return sum
    }
}

extension UsagePlanner {
    /// R27 against the allowance: the event fits when the replica's slices of the grant and, where a cap
    /// applies, of the assignee's and the dataset's day hold its tokens. Accepted, it takes them from the
    /// slices and is charged ⌊(p + t)·price ÷ 10⁶⌋ − ⌊p·price ÷ 10⁶⌋ for each piece at position p.
    mutating func decideFromLeases(_ event: UsageEvent, slot: Int, id: Int64) -> UsageAnswer {
        let grant = grantSlots[slot].grant
        let assignee = grantSlots[slot].assignee
        let dataset = grantSlots[slot].dataset
        let tokens = event.tokens
        let grantRoom = QuotaAllowance.total(allowance!.grants[grant.id])
        let assigneeRoom = assigneeSlots[assignee].cap.map { _ in QuotaAllowance.total(allowance!.assignees[grant.assignee]) }
        let datasetRoom = datasetSlots[dataset].cap.map { _ in QuotaAllowance.total(allowance!.datasets[grant.dataset]) }
        let fits = tokens <= grantRoom && assigneeRoom.map { tokens <= $0 } ?? true && datasetRoom.map { tokens <= $0 } ?? true
        if !fits, let (quota, reason) = RegistryState.quotaDenial(
            grant: grant, used: GrantUsage(tokens: grant.tokenQuota - grantRoom), tokens: tokens,
            assigneeToday: assigneeSlots[assignee].cap.map { $0 - (assigneeRoom ?? 0) } ?? 0, assigneeCap: assigneeSlots[assignee].cap,
            datasetToday: datasetSlots[dataset].cap.map { $0 - (datasetRoom ?? 0) } ?? 0, datasetCap: datasetSlots[dataset].cap)
        {
            return .denied(event: id, rule: .r27, quota: quota, reason: reason)
        }
        var amount: Int64 = 0
        for piece in QuotaAllowance.take(tokens, from: &allowance!.grants[grant.id, default: []]) {
            draws[piece.lease, default: 0] += piece.tokens
            if !grant.free {
                amount += RegistryState.charge(tokens: piece.position + piece.tokens, pricePerMillion: grant.pricePerMillionTokens)
                    - RegistryState.charge(tokens: piece.position, pricePerMillion: grant.pricePerMillionTokens)
            }
        }
        if assigneeRoom != nil {
            for piece in QuotaAllowance.take(tokens, from: &allowance!.assignees[grant.assignee, default: []]) { draws[piece.lease, default: 0] += piece.tokens }
        }
        if datasetRoom != nil {
            for piece in QuotaAllowance.take(tokens, from: &allowance!.datasets[grant.dataset, default: []]) { draws[piece.lease, default: 0] += piece.tokens }
        }
        // The counters as far as this replica knows them; settled again on the state the batch commits on.
        grantSlots[slot].usage.tokens += tokens
        grantSlots[slot].usage.charged += amount
        grantSlots[slot].settledEvents += 1
        grantSlots[slot].settledTokens += tokens
        grantSlots[slot].settledAmount += amount
        assigneeSlots[assignee].tokens += tokens
        assigneeSlots[assignee].touched = true
        datasetSlots[dataset].tokens += tokens
        datasetSlots[dataset].touched = true
        totalCharged += amount
        return .accepted(event: id, amount: amount)
    }

    /// Counts an event accepted on an allowance on the current counters, checking what must hold.
    mutating func settle(_ event: MeteredEvent, of grant: Grant) throws {
        let slot = self.slot(for: grant.number)
        let assignee = grantSlots[slot].assignee
        let dataset = grantSlots[slot].dataset
        let tokens = event.tokens
        let amount = event.answer.amount
        guard grantSlots[slot].usage.tokens <= grant.tokenQuota - tokens else {
            throw LeasedSettlementRefused(description: "grant \(grant.number)'s quota would be exceeded")
        }
        let assigneeLimit = min(assigneeSlots[assignee].cap ?? Limits.maxCounterTokens, Limits.maxCounterTokens)
        let datasetLimit = min(datasetSlots[dataset].cap ?? Limits.maxCounterTokens, Limits.maxCounterTokens)
        guard assigneeSlots[assignee].tokens <= assigneeLimit - tokens, datasetSlots[dataset].tokens <= datasetLimit - tokens else {
            throw LeasedSettlementRefused(description: "a daily cap of grant \(grant.number)'s assignee or dataset would be exceeded")
        }
        guard totalCharged <= Limits.maxLedgerChargeFen - amount, grantSlots[slot].usage.charged <= Limits.maxLedgerChargeFen - amount else {
            throw LeasedSettlementRefused(description: "the ledger has reached its capacity of \(Limits.maxLedgerChargeFen) fen of charges")
        }
        totalCharged += amount
        grantSlots[slot].usage.tokens += tokens
        grantSlots[slot].usage.charged += amount
        grantSlots[slot].settledEvents += 1
        grantSlots[slot].settledTokens += tokens
        grantSlots[slot].settledAmount += amount
        assigneeSlots[assignee].tokens += tokens
        assigneeSlots[assignee].touched = true
        datasetSlots[dataset].tokens += tokens
        datasetSlots[dataset].touched = true
    }
}

/// A quota a replica leases slices of: a grant's, or an assignee's or a dataset's daily cap on one day.
public struct QuotaSubject: Hashable, Sendable, Comparable {
    public enum Scope: String, Sendable, Comparable {
        case grant, assignee, dataset
        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public var scope: Scope
    public var id: Int64
    /// Days since 1970-01-01 for a daily cap; 0 for a grant.
    public var day: Int32

    public init(scope: Scope, id: Int64, day: Int32) {
        self.scope = scope
        self.id = id
        self.day = day
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.scope, lhs.id, lhs.day) < (rhs.scope, rhs.id, rhs.day) }
}

extension RegistryState {
    /// What a group of submissions may draw at most, per quota subject, with each subject's limit as this
    /// state knows it (the grant's quota, the cap today): the tokens of every event that names a grant of
    /// its party. Subjects without a cap are not leased.
    public func quotaDemand(of submissions: [UsageSubmission], at now: Timestamp) -> [QuotaSubject: (limit: Int64, tokens: Int64)] {
        let today = settings.calendar.date(at: now).daysSince1970
        var demand: [QuotaSubject: (limit: Int64, tokens: Int64)] = [:]
        func add(_ subject: QuotaSubject, _ limit: Int64, _ tokens: Int64) {
            let sum = (demand[subject]?.tokens ?? 0).addingReportingOverflow(tokens)
            demand[subject] = (limit, sum.overflow ? Int64.max : sum.partialValue)
        }
        var last: (number: String, grant: Grant?) = ("", nil)
        for submission in submissions {
            for event in submission.events {
                if event.grant != last.number { last = (event.grant, grant(number: event.grant)) }
                guard let grant = last.grant, grant.assignee == submission.party else { continue }
                add(QuotaSubject(scope: .grant, id: grant.id.rawValue, day: 0), grant.tokenQuota, event.tokens)
                if let cap = assigneeCaps[grant.assignee] { add(QuotaSubject(scope: .assignee, id: grant.assignee.rawValue, day: today), cap, event.tokens) }
                if let cap = market.policies[grant.dataset]?.dailyTokenCap {
                    add(QuotaSubject(scope: .dataset, id: grant.dataset.rawValue, day: today), cap, event.tokens)
                }
            }
        }
        return demand
    }
}
