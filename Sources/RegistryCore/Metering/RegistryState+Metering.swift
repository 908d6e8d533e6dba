import Crypto

extension RegistryState {
    /// Plans one group commit of usage (R26–R28): answers every event of every submission in order,
    /// checking and debiting the grant's remaining tokens, the assignee's and the dataset's daily caps
    /// together; prices the accepted tokens and splits royalties up the lineage. Nothing changes until
    /// the batch is persisted and applied; a replayed key gets its first answer and counts nothing.
    ///
    /// Precondition: every submission passed ``UsageSubmission/validate()``.
    ///
    /// - Parameter pending: a batch planned before this one and not yet applied (its transaction is still
    ///   in PostgreSQL): this plan counts its events, keys, counters and ids as if applied. The caller
    ///   must then persist and apply the two in order, and fail this one if `pending` fails.
    public func planUsage(_ submissions: [UsageSubmission], at now: Timestamp, after pending: UsageBatch? = nil) -> UsageBatch {
        var planner = UsagePlanner(
            state: self, meter: MeterView(meter: usage, pending: pending), at: now, events: submissions.reduce(0) { $0 + $1.events.count })
        let replies = submissions.map { submission in
            submission.events.map { planner.meter($0, by: submission.party) }
        }
        return planner.finish(replies: replies)
    }

    /// Applies a committed batch to the counters, accounts and remembered keys, and appends its one
    /// audit entry (kind `usage.batch`, payload the batch summary with the digest of its events).
    public mutating func applyUsage(_ batch: UsageBatch, actor: String) -> AuditEntry {
        usage.apply(batch)
        return auditHead.append(at: batch.at, actor: actor, kind: Self.usageAuditKind, payload: CanonicalJSON.encode(batch.summary))
    }

    /// Applies a batch another replica committed, from its stored effects, and appends its audit entry
    /// with the payload as stored (issue 18). The caller holds the result to the stored entry.
    public mutating func applyCommittedUsage(_ effects: UsageBatchEffects, actor: String, payload: String) -> AuditEntry {
        usage.apply(effects)
        return auditHead.append(at: effects.at, actor: actor, kind: Self.usageAuditKind, payload: payload)
    }

    /// The audit entry `batch` will append once committed (the store persists it with the batch), after
    /// `pending`'s entry when a batch before it is not applied yet.
    public func usageAuditEntry(for batch: UsageBatch, actor: String, after pending: AuditEntry? = nil) -> AuditEntry {
        var head = pending.map { AuditHead(lastSequence: $0.sequence, lastHash: $0.hash) } ?? auditHead
        return head.append(at: batch.at, actor: actor, kind: Self.usageAuditKind, payload: CanonicalJSON.encode(batch.summary))
    }

    public static let usageAuditKind = AuditKind.usageBatch

    /// Restores the metering state of a rebuild (see ``UsageMeter/restore``).
    public mutating func restoreUsage(_ body: (inout UsageMeter) -> Void) {
        body(&usage)
    }

    /// R27: today's room under the assignee's and the dataset's daily caps, and the grant's remaining
    /// tokens: the first quota `tokens` would exceed, with the reason a denial gives.
    func quotaDenial(
        grant: Grant, used: GrantUsage, tokens: Int64, assigneeToday: Int64, datasetToday: Int64
    ) -> (quota: UsageQuota, reason: String)? {
        Self.quotaDenial(
            grant: grant, used: used, tokens: tokens, assigneeToday: assigneeToday, assigneeCap: assigneeCaps[grant.assignee],
            datasetToday: datasetToday, datasetCap: market.policies[grant.dataset]?.dailyTokenCap)
    }

    static func quotaDenial(
        grant: Grant, used: GrantUsage, tokens: Int64, assigneeToday: Int64, assigneeCap: Int64?, datasetToday: Int64, datasetCap: Int64?
    ) -> (quota: UsageQuota, reason: String)? {
        let remaining = grant.tokenQuota - used.tokens
        if tokens > remaining {
            return (.grant, "\(tokens) tokens exceed the \(max(0, remaining)) remaining of grant \(grant.number)'s quota of \(grant.tokenQuota)")
        }
        if let cap = assigneeCap, assigneeToday + tokens > cap {
            return (.assigneeDaily, "\(tokens) tokens exceed the \(max(0, cap - assigneeToday)) left today of party \(grant.assignee.rawValue)'s daily cap of \(cap)")
        }
        if let cap = datasetCap, datasetToday + tokens > cap {
            return (.datasetDaily, "\(tokens) tokens exceed the \(max(0, cap - datasetToday)) left today of dataset \(grant.dataset.rawValue)'s daily cap of \(cap)")
        }
        return nil
    }

    /// Who is paid for use of `dataset` on `today` (R28): the first holder of its operate-right
    /// certificate valid that day (R9: not expired, revoked or superseded), or else its holder.
    public func operateHolder(of dataset: DatasetID, on today: CivilDate) -> PartyID? {
        var holder: PartyID?
        // The newest valid one: the chain runs oldest first, so the last match wins.
        rights.certificatesByDataset.forEachMember(of: dataset.rawValue) { id in
            if let valid = rights.certificates.validOperateHolder(of: id, on: today) { holder = valid }
            return true
        }
        return holder ?? catalog.datasets.holder(of: dataset.rawValue)
    }

    /// R28: how `amount` fen earned by `dataset` flows up its lineage. Each derivation edge takes the
    /// royalty share (10 % by default) of what reached the derived dataset — all of a dataset's sources
    /// together at most half, split equally — and each source passes on its share the same way.
    /// Splits are in whole fen: a pool is ⌊amount × share⌋ and its remainder goes one fen each to the
    /// sources in ascending id order, so every fen is accounted for. A dataset reached along several
    /// paths is paid once, with the sum (sources before their datasets, in topological order).
    public func royaltySplit(of amount: Int64, earnedBy dataset: DatasetID) -> [RoyaltyShare] {
        guard amount > 0, settings.royaltyShareBasisPoints > 0 else { return [] }
        let root = Int32(dataset.rawValue)
        // The ancestors, and how many of their derived datasets (in the set) each waits for.
        var waiting: [Int32: Int] = [root: 0]
        var order: [Int32] = [root]
        var next = 0
        while next < order.count {
            let node = order[next]
            next += 1
            lineage.graph.forEachParent(node) { source, _ in
                if let count = waiting[source] {
                    waiting[source] = count + 1
                } else if order.count < Limits.maxRoyaltyAncestors {
                    waiting[source] = 1
                    order.append(source)
                }
            }
        }
        var received: [Int32: Int64] = [root: amount]
        var shares: [RoyaltyShare] = []
        var ready: [Int32] = [root]
        while let node = ready.popLast() {
            var sources: [Int32] = []
            lineage.graph.forEachParent(node) { source, _ in if waiting[source] != nil { sources.append(source) } }
            sources.sort()
            let reached = received[node] ?? 0
            if reached > 0, !sources.isEmpty {
                let poolBasisPoints = min(settings.royaltyShareBasisPoints * Int64(sources.count), Limits.maxRoyaltyPoolBasisPoints)
                let pool = Self.fraction(reached, basisPoints: poolBasisPoints)
                let each = pool / Int64(sources.count)
                let remainder = Int(pool % Int64(sources.count))
                for (index, source) in sources.enumerated() {
                    let share = each + (index < remainder ? 1 : 0)
                    guard share > 0 else { continue }
                    received[source, default: 0] += share
                    shares.append(RoyaltyShare(from: DatasetID(rawValue: Int64(node)), to: DatasetID(rawValue: Int64(source)), amount: share))
                }
            }
            for source in sources {
                let count = waiting[source]! - 1
                waiting[source] = count
                if count == 0 { ready.append(source) }
            }
        }
        return shares
    }

    /// ⌊value × basisPoints ÷ 10,000⌋ without overflow.
    static func fraction(_ value: Int64, basisPoints: Int64) -> Int64 {
        let product = value.multipliedFullWidth(by: basisPoints)
        return (10_000 as Int64).dividingFullWidth(product).quotient
    }

    /// ⌊tokens × price ÷ 1,000,000⌋: what `tokens` cost at `price` fen per million, without overflow.
    static func charge(tokens: Int64, pricePerMillion: Int64) -> Int64 {
        let product = tokens.multipliedFullWidth(by: pricePerMillion)
        return (1_000_000 as Int64).dividingFullWidth(product).quotient
    }
}

/// One royalty of a split: `amount` fen from the holder of `from` (derived) to the holder of `to` (source).
public struct RoyaltyShare: Sendable, Equatable {
    public var from: DatasetID
    public var to: DatasetID
    public var amount: Int64
}

/// The derivation edge a royalty share travels.
private struct RoyaltyEdge: Hashable {
    var from: DatasetID
    var to: DatasetID

    init(_ share: RoyaltyShare) {
        from = share.from
        to = share.to
    }
}

/// The working state of one ``RegistryState/planUsage(_:at:)``: the counters as the batch changes them.
///
/// Each grant, assignee and dataset the batch touches is looked up once and given a slot; events then
/// work on the slots (no dictionary per counter per event, no strings unless an event is denied).
/// The meter as a plan sees it: the core's, with a pending batch's changes over it.
private struct MeterView {
    let meter: UsageMeter
    let grants: [GrantID: GrantUsage]
    let assignees: [PartyID: DailyUsage]
    let datasets: [DatasetID: DailyUsage]
    let accounts: [PartyID: LedgerAccount]
    let answered: [UsageKey: UsageAnswer]
    let lastBatch: Int64
    let lastEvent: Int64
    let lastTransfer: Int64
    let totalCharged: Int64

    init(meter: UsageMeter, pending: UsageBatch?) {
        self.meter = meter
        func index<K: Hashable, V>(_ pairs: [(K, V)]) -> [K: V] { Dictionary(pairs, uniquingKeysWith: { _, last in last }) }
        grants = index(pending?.grantUsage.map { ($0.grant, $0.usage) } ?? [])
        assignees = index(pending?.assigneeDaily.map { ($0.party, $0.usage) } ?? [])
        datasets = index(pending?.datasetDaily.map { ($0.dataset, $0.usage) } ?? [])
        accounts = index(pending?.accounts.map { ($0.party, $0.account) } ?? [])
        answered = pending?.answered ?? [:]
        lastBatch = pending?.id ?? meter.lastBatch
        lastEvent = pending?.events.last?.id ?? meter.lastEvent
        lastTransfer = pending?.transfers.last?.id ?? meter.lastTransfer
        totalCharged = pending?.totalCharged ?? meter.totalCharged
    }

    func usage(of grant: GrantID) -> GrantUsage { grants[grant] ?? meter.usage(of: grant) }
    func assigneeTokens(of party: PartyID, on day: CivilDate) -> Int64 {
        assignees[party].map { $0.tokens(on: day) } ?? meter.assigneeTokens(of: party, on: day)
    }
    func datasetTokens(of dataset: DatasetID, on day: CivilDate) -> Int64 {
        datasets[dataset].map { $0.tokens(on: day) } ?? meter.datasetTokens(of: dataset, on: day)
    }
    func account(of party: PartyID) -> LedgerAccount { accounts[party] ?? meter.account(of: party) }
    func answer(for key: UsageKey) -> UsageAnswer? {
        if !answered.isEmpty, let answer = answered[key] { return answer }
        return meter.answer(for: key)
    }
}

private struct UsagePlanner {
    /// A grant as the batch sees it: its terms, counters and what it settled in this batch.
    struct GrantSlot {
        var grant: Grant
        var usable: Bool
        /// R25: the grant's dataset, or one it derives from, is flagged.
        var flagged: Bool
        var usage: GrantUsage
        var assignee: Int
        var dataset: Int
        var settledEvents: Int64 = 0
        var settledTokens: Int64 = 0
        var settledAmount: Int64 = 0
        /// With quota leases: this replica's slices of the grant, and the tokens they hold together.
        var slices: [LeaseSlice] = []
        var room: Int64 = 0
    }

    /// A daily counter as the batch changes it.
    struct DailySlot {
        var tokens: Int64
        var cap: Int64?
        var touched = false
        /// With quota leases and a cap: this replica's slices of the day's cap, and their tokens together.
        var slices: [LeaseSlice] = []
        var room: Int64 = 0
    }

    /// A slice of a lease as the batch draws from it.
    struct LeaseSlice {
        var lease: Int64
        var position: Int64
        var remaining: Int64
        var drawn: Int64 = 0
    }

    static func leaseSlices(_ slices: [QuotaAllowance.Slice]?) -> (slices: [LeaseSlice], room: Int64) {
        guard let slices else { return ([], 0) }
        return (slices.map { LeaseSlice(lease: $0.lease, position: $0.position, remaining: $0.remaining) }, slices.reduce(0) { $0 + $1.remaining })
    }

    let state: RegistryState
    let meter: MeterView
    let now: Timestamp
    let today: CivilDate
    var batch: Int64
    let earliest: Int64
    let latest: Int64
    var nextEvent: Int64
    var events: [MeteredEvent] = []
    var grantSlots: [GrantSlot] = []
    /// Slot by grant number; -1 for a number that names no grant.
    var slotByNumber: [String: Int] = [:]
    var lastNumber = ""
    var lastSlot = -1
    var assigneeSlots: [DailySlot] = []
    var assigneeIDs: [PartyID] = []
    var assigneeSlotByParty: [PartyID: Int] = [:]
    var datasetSlots: [DailySlot] = []
    var datasetIDs: [DatasetID] = []
    var datasetSlotByID: [DatasetID: Int] = [:]
    /// Keys answered in this batch.
    var answered: [UsageKey: UsageAnswer] = [:]
    /// Every grant's charge together, with this batch's uses so far.
    var totalCharged: Int64
    /// Quota denials of this batch, for the denial rollup (nil when rollups are off).
    var quotaDenials: [QuotaDenialCell: DenialTotals]?
    /// With quota leases (issue 18): the slices this replica holds, which the batch's events draw from
    /// instead of the counters (nil: the counters are current and checked directly).
    var allowance: QuotaAllowance?
    /// When settling a batch planned on slices: the digest of its events, already computed.
    var knownDigest: String?

    init(state: RegistryState, meter: MeterView, at now: Timestamp, events: Int) {
        self.state = state
        self.meter = meter
        self.now = now
        today = state.settings.calendar.date(at: now)
        batch = meter.lastBatch + 1
        nextEvent = meter.lastEvent + 1
        totalCharged = meter.totalCharged
        quotaDenials = state.usage.rollupsEnabled ? [:] : nil
        earliest = now.microsecondsSince1970 - state.usage.reportWindowSeconds * 1_000_000
        latest = now.microsecondsSince1970 + Limits.usageClockSkewSeconds * 1_000_000
        self.events.reserveCapacity(events)
        answered.reserveCapacity(events)
    }

    mutating func meter(_ event: UsageEvent, by party: PartyID) -> UsageReply {
        let key = UsageKey(party: party, key: event.key)
        if let first = answered[key] ?? meter.answer(for: key) {
            return UsageReply(key: event.key, answer: first, replayed: true)
        }
        let id = nextEvent
        nextEvent += 1
        let slot = self.slot(for: event.grant)
        let answer: UsageAnswer
        if slot >= 0, grantSlots[slot].grant.assignee == party {
            answer = decide(event, slot: slot, id: id)
        } else {
            answer = .denied(event: id, rule: .r23, reason: "party \(party.rawValue) holds no grant \(event.grant)")
        }
        let owned = slot >= 0 && grantSlots[slot].grant.assignee == party
        if let quota = answer.quota, owned, quotaDenials != nil {
            quotaDenials![QuotaDenialCell(day: today, assignee: party, dataset: grantSlots[slot].grant.dataset, quota: quota), default: DenialTotals()]
                .add(DenialTotals(events: 1, tokens: event.tokens))
        }
        events.append(MeteredEvent(
            id: id, assignee: party, grant: owned ? grantSlots[slot].grant.id : nil, dataset: owned ? grantSlots[slot].grant.dataset : nil,
            key: event.key, tokens: event.tokens, usedAt: event.usedAt, answer: answer, metadata: event.metadata, fingerprint: key))
        answered[key] = answer
        return UsageReply(key: event.key, answer: answer, replayed: false)
    }

    /// The slot of the grant numbered `number`, made on first sight; -1 when there is no such grant.
    private mutating func slot(for number: String) -> Int {
        if number == lastNumber { return lastSlot }
        let slot: Int
        if let known = slotByNumber[number] {
            slot = known
        } else if let grant = state.grant(number: number) {
            slot = grantSlots.count
            grantSlots.append(GrantSlot(
                // R23: a use is judged by its own time against the window, so a grant the clock has not yet
                // activated, or has expired since, still answers for uses dated inside its window.
                grant: grant, usable: grant.state == .active || grant.state == .agreed || grant.state == .expired,
                flagged: state.lineage.graph.effectiveRestrictions(of: Int32(grant.dataset.rawValue)).flagged, usage: meter.usage(of: grant.id),
                assignee: assigneeSlot(grant.assignee), dataset: datasetSlot(grant.dataset)))
            if let allowance { (grantSlots[slot].slices, grantSlots[slot].room) = Self.leaseSlices(allowance.grants[grant.id]) }
            slotByNumber[number] = slot
        } else {
            slot = -1
            slotByNumber[number] = slot
        }
        lastNumber = number
        lastSlot = slot
        return slot
    }

    private mutating func assigneeSlot(_ party: PartyID) -> Int {
        if let slot = assigneeSlotByParty[party] { return slot }
        assigneeSlots.append(DailySlot(tokens: meter.assigneeTokens(of: party, on: today), cap: state.assigneeCaps[party]))
        if let allowance { (assigneeSlots[assigneeSlots.count - 1].slices, assigneeSlots[assigneeSlots.count - 1].room) = Self.leaseSlices(allowance.assignees[party]) }
        assigneeIDs.append(party)
        assigneeSlotByParty[party] = assigneeSlots.count - 1
        return assigneeSlots.count - 1
    }

    private mutating func datasetSlot(_ dataset: DatasetID) -> Int {
        if let slot = datasetSlotByID[dataset] { return slot }
        datasetSlots.append(DailySlot(tokens: meter.datasetTokens(of: dataset, on: today), cap: state.market.policies[dataset]?.dailyTokenCap))
        if let allowance { (datasetSlots[datasetSlots.count - 1].slices, datasetSlots[datasetSlots.count - 1].room) = Self.leaseSlices(allowance.datasets[dataset]) }
        datasetIDs.append(dataset)
        datasetSlotByID[dataset] = datasetSlots.count - 1
        return datasetSlots.count - 1
    }

    private mutating func decide(_ event: UsageEvent, slot: Int, id: Int64) -> UsageAnswer {
        let usedAt = event.usedAt.microsecondsSince1970
        if usedAt > latest {
            return .denied(event: id, rule: .r26, reason: "the use is dated \(event.usedAt), ahead of the registry's clock (\(now))")
        }
        if usedAt < earliest {
            return .denied(
                event: id, rule: .r26,
                reason: "the use is dated \(event.usedAt): usage is reported within \(Self.duration(meter.meter.reportWindowSeconds)) of it")
        }
        let grant = grantSlots[slot].grant
        if !grantSlots[slot].usable {
            let rule = grant.state == .suspended && (grant.stateReason?.hasPrefix(Rule.r25.rawValue) ?? false) ? Rule.r25 : Rule.r23
            return .denied(event: id, rule: rule, reason: "grant \(grant.number) is \(grant.state.rawValue)" + (grant.stateReason.map { ": \($0)" } ?? ""))
        }
        // R25, whatever the grant's state says: the decision API and metering answer alike.
        if grantSlots[slot].flagged {
            return .denied(event: id, rule: .r25, reason: "dataset \(grant.dataset.rawValue) or a source of it is flagged: its grants may not be used")
        }
        // The window, with the clock-skew tolerance at its start (a lab's clock a little behind ours).
        if usedAt < grant.validFrom.microsecondsSince1970 - Limits.usageClockSkewSeconds * 1_000_000 || event.usedAt >= grant.validUntil {
            return .denied(event: id, rule: .r23, reason: "the use is dated \(event.usedAt), outside grant \(grant.number)'s validity window")
        }
        if allowance != nil { return decideFromLeases(event, slot: slot, id: id) }
        let used = grantSlots[slot].usage
        let assignee = grantSlots[slot].assignee
        let dataset = grantSlots[slot].dataset
        let tokens = event.tokens
        // Check all three quotas; only a denial builds a reason.
        let fits = tokens <= grant.tokenQuota - used.tokens
            && assigneeSlots[assignee].cap.map { assigneeSlots[assignee].tokens + tokens <= $0 } ?? true
            && datasetSlots[dataset].cap.map { datasetSlots[dataset].tokens + tokens <= $0 } ?? true
        if !fits, let (quota, reason) = RegistryState.quotaDenial(
            grant: grant, used: used, tokens: tokens, assigneeToday: assigneeSlots[assignee].tokens, assigneeCap: assigneeSlots[assignee].cap,
            datasetToday: datasetSlots[dataset].tokens, datasetCap: datasetSlots[dataset].cap)
        {
            return .denied(event: id, rule: .r27, quota: quota, reason: reason)
        }
        // Counters without a cap still have a capacity: no sum of tokens may overflow, however many grants
        // an assignee or a dataset has (each grant's quota is bounded, their number is not).
        if assigneeSlots[assignee].tokens > Limits.maxCounterTokens - tokens {
            return .denied(event: id, rule: .r27, quota: .assigneeDaily,
                reason: "party \(grant.assignee.rawValue)'s tokens today would exceed the registry's counter capacity of \(Limits.maxCounterTokens)")
        }
        if datasetSlots[dataset].tokens > Limits.maxCounterTokens - tokens {
            return .denied(event: id, rule: .r27, quota: .datasetDaily,
                reason: "dataset \(grant.dataset.rawValue)'s tokens today would exceed the registry's counter capacity of \(Limits.maxCounterTokens)")
        }
        // Check and debit together: the counters move only for an accepted use. The grant's tokens stay
        // within its quota (≤ Limits.maxTokens) and its charge within quota × price ceiling ÷ 10⁶.
        let total = used.tokens + tokens
        let charged = grant.free ? 0 : RegistryState.charge(tokens: total, pricePerMillion: grant.pricePerMillionTokens)
        let amount = charged - used.charged
        // R28: the ledger's whole use volume stays under its capacity, so no account, total or statement
        // can overflow (royalties never exceed the charges they come from).
        guard totalCharged <= Limits.maxLedgerChargeFen - amount else {
            return .denied(event: id, rule: .r28, reason: "the ledger has reached its capacity of \(Limits.maxLedgerChargeFen) fen of charges; the operator must be told")
        }
        totalCharged += amount
        grantSlots[slot].usage = GrantUsage(tokens: total, charged: charged)
        grantSlots[slot].settledEvents += 1
        grantSlots[slot].settledTokens += tokens
        grantSlots[slot].settledAmount += amount
        assigneeSlots[assignee].tokens += tokens
        assigneeSlots[assignee].touched = true
        datasetSlots[dataset].tokens += tokens
        datasetSlots[dataset].touched = true
        return .accepted(event: id, amount: amount)
    }

    /// `seconds` as people say it: "24 hours", "10 minutes", "90 seconds".
    static func duration(_ seconds: Int64) -> String {
        if seconds % 3_600 == 0 { return seconds == 3_600 ? "1 hour" : "\(seconds / 3_600) hours" }
        if seconds % 60 == 0 { return seconds == 60 ? "1 minute" : "\(seconds / 60) minutes" }
        return "\(seconds) seconds"
    }

    /// Posts what was accepted — one use transfer per grant (zero-valued when free, so volumes show) and
    /// its royalties — and sums the batch up for the audit chain.
    mutating func finish(replies: [[UsageReply]]) -> UsageBatch {
        var transfers: [LedgerTransfer] = []
        var accounts: [PartyID: LedgerAccount] = [:]
        var nextTransfer = meter.lastTransfer + 1
        func post(_ kind: TransferKind, grant: GrantID, dataset: DatasetID, debit: PartyID, credit: PartyID, amount: Int64, tokens: Int64) {
            transfers.append(
                LedgerTransfer(
                    id: nextTransfer, batch: batch, kind: kind, grant: grant, dataset: dataset, debit: debit, credit: credit, amount: amount,
                    tokens: tokens, at: now))
            nextTransfer += 1
            accounts[debit, default: meter.account(of: debit)].debits += amount
            accounts[credit, default: meter.account(of: credit)].credits += amount
        }
        let settled = grantSlots.filter { $0.settledTokens > 0 }.sorted { $0.grant.id < $1.grant.id }
        // A plan on quota slices posts nothing: its transfers are made when it is settled, on the state it commits on.
        for slot in settled where allowance == nil {
            let grant = slot.grant
            let payee = state.operateHolder(of: grant.dataset, on: today) ?? grant.grantor
            post(.use, grant: grant.id, dataset: grant.dataset, debit: grant.assignee, credit: payee, amount: slot.settledAmount, tokens: slot.settledTokens)
            // Royalties on the grant's cumulative charge, less those on its charge before this batch: what a
            // source earns does not depend on how uses were batched (each split rounds down once).
            guard slot.settledAmount > 0 else { continue }
            let charged = slot.usage.charged
            let before = Dictionary(
                state.royaltySplit(of: charged - slot.settledAmount, earnedBy: grant.dataset).map { (RoyaltyEdge($0), $0.amount) },
                uniquingKeysWith: +)
            for share in state.royaltySplit(of: charged, earnedBy: grant.dataset) {
                // Never negative: a split only shrinks when the lineage changed, and what was paid stands.
                let amount = share.amount - (before[RoyaltyEdge(share)] ?? 0)
                guard amount > 0, let from = state.operateHolder(of: share.from, on: today), let to = state.operateHolder(of: share.to, on: today),
                    from != to
                else { continue }
                post(.royalty, grant: grant.id, dataset: share.to, debit: from, credit: to, amount: amount, tokens: slot.settledTokens)
            }
        }
        var accepted = 0
        var tokens: Int64 = 0
        var amount: Int64 = 0
        let eventsDigest: String
        if let knownDigest {
            // Settling a batch planned on quota slices: the events, and so their digest, are as planned.
            for event in events where event.answer.accepted {
                accepted += 1
                tokens += event.tokens
                amount += event.answer.amount
            }
            eventsDigest = knownDigest
        } else {
            var digest = SHA256()
            var bytes: [UInt8] = []
            bytes.reserveCapacity(64 * 1024)
            for event in events {
                event.appendCanonicalBytes(to: &bytes)
                if bytes.count >= 60 * 1024 {
                    digest.update(data: bytes)
                    bytes.removeAll(keepingCapacity: true)
                }
                if event.answer.accepted {
                    accepted += 1
                    tokens += event.tokens
                    amount += event.answer.amount
                }
            }
            digest.update(data: bytes)
            eventsDigest = Array(digest.finalize()).hexString
        }
        let (rollup, denials) = rollupDeltas(settled)
        let summary = UsageBatchSummary(
            batch: batch, events: events.count, accepted: accepted, denied: events.count - accepted, tokens: tokens, amount: amount,
            transfers: transfers.count, firstEvent: events.first?.id ?? 0, lastEvent: events.last?.id ?? 0,
            eventsDigest: eventsDigest)
        return UsageBatch(
            id: batch, at: now, events: events, replies: replies, transfers: transfers,
            grantUsage: settled.map { ($0.grant.id, $0.usage) },
            assigneeDaily: assigneeSlots.indices.filter { assigneeSlots[$0].touched }.map { (assigneeIDs[$0], DailyUsage(day: today, tokens: assigneeSlots[$0].tokens)) }
                .sorted { $0.0 < $1.0 },
            datasetDaily: datasetSlots.indices.filter { datasetSlots[$0].touched }.map { (datasetIDs[$0], DailyUsage(day: today, tokens: datasetSlots[$0].tokens)) }
                .sorted { $0.0 < $1.0 },
            accounts: accounts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, rollup: rollup, quotaDenials: denials,
            summary: summary, totalCharged: totalCharged, answered: answered)
    }
}

extension UsagePlanner {
    /// The batch's rollup deltas (issue 16): its settled grants' events, tokens and charges summed by
    /// cell (grants of one assignee on one dataset for the same purpose and region share a cell), and
    /// its quota denials; each in cell order, so that the store writes them in a stable order.
    func rollupDeltas(_ settled: [GrantSlot]) -> ([(cell: UsageRollupCell, totals: UsageTotals)], [(cell: QuotaDenialCell, totals: DenialTotals)]) {
        guard let quotaDenials else { return ([], []) }
        var cells: [UsageRollupCell: UsageTotals] = [:]
        cells.reserveCapacity(settled.count)
        for slot in settled {
            let grant = slot.grant
            let cell = UsageRollupCell(day: today, dataset: grant.dataset, assignee: grant.assignee, purpose: grant.purpose, useRegion: grant.useRegion)
            cells[cell, default: UsageTotals()].add(UsageTotals(events: slot.settledEvents, tokens: slot.settledTokens, amount: slot.settledAmount))
        }
        return (cells.map { ($0.key, $0.value) }.sorted { $0.cell < $1.cell }, quotaDenials.map { ($0.key, $0.value) }.sorted { $0.cell < $1.cell })
    }
}

extension MeteredEvent {
    /// The bytes the batch digest covers: id, assignee, grant, tokens, time, outcome, amount and key.
    func appendCanonicalBytes(to bytes: inout [UInt8]) {
        func append(_ value: Int64) { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }
        append(id)
        append(assignee.rawValue)
        append(grant?.rawValue ?? 0)
        append(tokens)
        append(usedAt.microsecondsSince1970)
        bytes.append(answer.accepted ? 1 : 0)
        append(answer.amount)
        append(Int64(key.utf8.count))
        bytes.append(contentsOf: key.utf8)
    }
}

// MARK: Quota leases (issue 18, schema 0015)

extension RegistryState {
    /// Plans a group commit of usage without the turn (issue 18): like ``planUsage(_:at:after:)``, but R27's
    /// quotas are checked against `allowance` — this replica's slices — and each accepted event draws from
    /// them; an event is charged by its position in the grant's cumulative tokens. Event ids start at
    /// `firstEvent` and the batch is numbered `batch` (blocks this replica took from PostgreSQL).
    /// The counters, transfers and audit entry are settled later on the state the batch commits on
    /// (``settleLeasedUsage(_:)``).
    ///
    /// - Parameter pending: a batch planned before this one and not applied yet: its keys are replays here.
    ///   (Its slices are the caller's to leave out of `allowance`; its counters are settled before this
    ///   batch's.)
    public func planLeasedUsage(
        _ submissions: [UsageSubmission], at now: Timestamp, after pending: UsageBatch?, allowance: QuotaAllowance, batch: Int64, firstEvent: Int64
    ) -> LeasedUsagePlan {
        var planner = UsagePlanner(
            state: self, meter: MeterView(meter: usage, pending: pending), at: now, events: submissions.reduce(0) { $0 + $1.events.count })
        planner.batch = batch
        planner.nextEvent = firstEvent
        planner.allowance = allowance
        var replies: [[UsageReply]] = []
        replies.reserveCapacity(submissions.count)
        for submission in submissions {
            var answers: [UsageReply] = []
            answers.reserveCapacity(submission.events.count)
            for event in submission.events { answers.append(planner.meter(event, by: submission.party)) }
            replies.append(answers)
        }
        return LeasedUsagePlan(batch: planner.finish(replies: replies), draws: planner.leaseDraws)
    }

    /// Settles a batch planned on an allowance on this state — the state it commits on, current under the
    /// turn: each accepted event counted on the counters as they are now, the use and royalty transfers
    /// posted (numbered after this state's last), the ledger's totals. Also checks what the leases
    /// guarantee: no quota or cap exceeded, no counter beyond its capacity; a refusal means nothing may
    /// be written (a cap lowered since the slices were reserved).
    public func settleLeasedUsage(_ planned: UsageBatch) throws -> UsageBatch {
        var planner = UsagePlanner(
            state: self, meter: MeterView(meter: usage, pending: nil), at: planned.at, events: planned.events.count)
        planner.batch = planned.id
        planner.events = planned.events
        planner.answered = planned.answered
        if planner.quotaDenials != nil {
            planner.quotaDenials = Dictionary(planned.quotaDenials.map { ($0.cell, $0.totals) }, uniquingKeysWith: { $0.adding($1) })
        }
        planner.knownDigest = planned.summary.eventsDigest
        // Summed per grant first: one lookup and one check per grant, not per event.
        var sums: [GrantID: (events: Int64, tokens: Int64, amount: Int64)] = [:]
        for event in planned.events where event.answer.accepted {
            guard let id = event.grant else { throw LeasedSettlementRefused(description: "an accepted event names no grant") }
            let sum = sums[id] ?? (0, 0, 0)
            sums[id] = (sum.events + 1, sum.tokens + event.tokens, sum.amount + event.answer.amount)
        }
        for id in sums.keys.sorted() {
            guard let grant = grant(id), let sum = sums[id] else { throw LeasedSettlementRefused(description: "an accepted event names no grant") }
            try planner.settle(grant, events: sum.events, tokens: sum.tokens, amount: sum.amount)
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
        let assigneeCap = assigneeSlots[assignee].cap
        let datasetCap = datasetSlots[dataset].cap
        let fits = tokens <= grantSlots[slot].room && (assigneeCap == nil || tokens <= assigneeSlots[assignee].room)
            && (datasetCap == nil || tokens <= datasetSlots[dataset].room)
        if !fits, let (quota, reason) = RegistryState.quotaDenial(
            grant: grant, used: GrantUsage(tokens: grant.tokenQuota - grantSlots[slot].room), tokens: tokens,
            assigneeToday: assigneeCap.map { $0 - assigneeSlots[assignee].room } ?? 0, assigneeCap: assigneeCap,
            datasetToday: datasetCap.map { $0 - datasetSlots[dataset].room } ?? 0, datasetCap: datasetCap)
        {
            return .denied(event: id, rule: .r27, quota: quota, reason: reason)
        }
        var amount: Int64 = 0
        var left = tokens
        var index = 0
        while left > 0 {
            let piece = min(left, grantSlots[slot].slices[index].remaining)
            if piece > 0 {
                let position = grantSlots[slot].slices[index].position
                if !grant.free {
                    amount += RegistryState.charge(tokens: position + piece, pricePerMillion: grant.pricePerMillionTokens)
                        - RegistryState.charge(tokens: position, pricePerMillion: grant.pricePerMillionTokens)
                }
                grantSlots[slot].slices[index].position += piece
                grantSlots[slot].slices[index].remaining -= piece
                grantSlots[slot].slices[index].drawn += piece
                left -= piece
            }
            index += 1
        }
        grantSlots[slot].room -= tokens
        if assigneeCap != nil { Self.draw(tokens, from: &assigneeSlots[assignee]) }
        if datasetCap != nil { Self.draw(tokens, from: &datasetSlots[dataset]) }
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

    /// Takes `tokens` from a daily slot's slices, oldest first (the caller checked its room).
    private static func draw(_ tokens: Int64, from slot: inout DailySlot) {
        var left = tokens
        var index = 0
        while left > 0 {
            let piece = min(left, slot.slices[index].remaining)
            slot.slices[index].remaining -= piece
            slot.slices[index].drawn += piece
            left -= piece
            index += 1
        }
        slot.room -= tokens
    }

    /// What the batch drew from each lease, in lease order.
    var leaseDraws: [(lease: Int64, tokens: Int64)] {
        var draws: [(lease: Int64, tokens: Int64)] = []
        for slot in grantSlots { for slice in slot.slices where slice.drawn > 0 { draws.append((slice.lease, slice.drawn)) } }
        for slot in assigneeSlots { for slice in slot.slices where slice.drawn > 0 { draws.append((slice.lease, slice.drawn)) } }
        for slot in datasetSlots { for slice in slot.slices where slice.drawn > 0 { draws.append((slice.lease, slice.drawn)) } }
        return draws.sorted { $0.lease < $1.lease }
    }

    /// Counts a grant's events accepted on an allowance on the current counters, checking what must hold.
    mutating func settle(_ grant: Grant, events: Int64, tokens: Int64, amount: Int64) throws {
        let slot = self.slot(for: grant.number)
        let assignee = grantSlots[slot].assignee
        let dataset = grantSlots[slot].dataset
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
        grantSlots[slot].settledEvents += events
        grantSlots[slot].settledTokens += tokens
        grantSlots[slot].settledAmount += amount
        assigneeSlots[assignee].tokens += tokens
        assigneeSlots[assignee].touched = true
        datasetSlots[dataset].tokens += tokens
        datasetSlots[dataset].touched = true
    }
}

