import Crypto

extension RegistryState {
    /// Plans one group commit of usage (R26–R28): answers every event of every submission in order,
    /// checking and debiting the grant's remaining tokens, the assignee's and the dataset's daily caps
    /// together; prices the accepted tokens and splits royalties up the lineage. Nothing changes until
    /// the batch is persisted and applied; a replayed key gets its first answer and counts nothing.
    ///
    /// Precondition: every submission passed ``UsageSubmission/validate()``.
    public func planUsage(_ submissions: [UsageSubmission], at now: Timestamp) -> UsageBatch {
        var planner = UsagePlanner(state: self, at: now)
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

    /// The audit entry `batch` will append once committed (the store persists it with the batch).
    public func usageAuditEntry(for batch: UsageBatch, actor: String) -> AuditEntry {
        var head = auditHead
        return head.append(at: batch.at, actor: actor, kind: Self.usageAuditKind, payload: CanonicalJSON.encode(batch.summary))
    }

    public static let usageAuditKind = "usage.batch"

    /// Restores the metering state of a rebuild (see ``UsageMeter/restore``).
    public mutating func restoreUsage(_ body: (inout UsageMeter) -> Void) {
        body(&usage)
    }

    /// R27: today's room under the assignee's and the dataset's daily caps, and the grant's remaining
    /// tokens: the first quota `tokens` would exceed, with the reason a denial gives.
    func quotaDenial(
        grant: Grant, used: GrantUsage, tokens: Int64, assigneeToday: Int64, datasetToday: Int64
    ) -> (quota: UsageQuota, reason: String)? {
        let remaining = grant.tokenQuota - used.tokens
        if tokens > remaining {
            return (.grant, "\(tokens) tokens exceed the \(max(0, remaining)) remaining of grant \(grant.number)'s quota of \(grant.tokenQuota)")
        }
        if let cap = assigneeCaps[grant.assignee], assigneeToday + tokens > cap {
            return (.assigneeDaily, "\(tokens) tokens exceed the \(max(0, cap - assigneeToday)) left today of party \(grant.assignee.rawValue)'s daily cap of \(cap)")
        }
        if let cap = policies[grant.dataset]?.dailyTokenCap, datasetToday + tokens > cap {
            return (.datasetDaily, "\(tokens) tokens exceed the \(max(0, cap - datasetToday)) left today of dataset \(grant.dataset.rawValue)'s daily cap of \(cap)")
        }
        return nil
    }

    /// Who is paid for use of `dataset` on `today` (R28): the first holder of its operate-right
    /// certificate valid that day (R9: not expired, revoked or superseded), or else its holder.
    public func operateHolder(of dataset: DatasetID, on today: CivilDate) -> PartyID? {
        for id in (certificatesByDataset[dataset] ?? []).reversed() {
            if let certificate = certificates[id.rawValue], certificate.right == .operate, certificate.status(on: today) == .valid,
                let holder = certificate.holders.first
            {
                return holder
            }
        }
        return datasets.holder(of: dataset.rawValue)
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
            lineage.forEachParent(node) { source, _ in
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
            lineage.forEachParent(node) { source, _ in if waiting[source] != nil { sources.append(source) } }
            sources.sort()
            let reached = received[node] ?? 0
            if reached > 0, !sources.isEmpty {
                let poolBasisPoints = min(settings.royaltyShareBasisPoints * Int64(sources.count), RegistrySettings.maxRoyaltyPoolBasisPoints)
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
private struct UsagePlanner {
    let state: RegistryState
    let now: Timestamp
    let today: CivilDate
    let batch: Int64
    var nextEvent: Int64
    var events: [MeteredEvent] = []
    var grants: [GrantID: GrantUsage] = [:]
    var assignees: [PartyID: DailyUsage] = [:]
    var datasets: [DatasetID: DailyUsage] = [:]
    /// Keys answered in this batch.
    var answered: [UsageKey: UsageAnswer] = [:]
    /// Tokens and fen accepted per grant in this batch, for the postings.
    var settled: [GrantID: (tokens: Int64, amount: Int64)] = [:]

    init(state: RegistryState, at now: Timestamp) {
        self.state = state
        self.now = now
        today = state.settings.calendar.date(at: now)
        batch = state.usage.lastBatch + 1
        nextEvent = state.usage.lastEvent + 1
    }

    mutating func meter(_ event: UsageEvent, by party: PartyID) -> UsageReply {
        let key = UsageKey(party: party, key: event.key)
        if let first = answered[key] ?? state.usage.answer(for: key) {
            return UsageReply(key: event.key, answer: first, replayed: true)
        }
        let id = nextEvent
        nextEvent += 1
        var recorded = MeteredEvent(
            id: id, assignee: party, grant: nil, dataset: nil, key: event.key, tokens: event.tokens, usedAt: event.usedAt,
            answer: .denied(event: id, rule: "R23", reason: "party \(party.rawValue) holds no grant \(event.grant)"), metadata: event.metadata)
        if let grant = state.grant(number: event.grant), grant.assignee == party {
            recorded.grant = grant.id
            recorded.dataset = grant.dataset
            recorded.answer = decide(event, on: grant, id: id)
        }
        events.append(recorded)
        answered[key] = recorded.answer
        return UsageReply(key: event.key, answer: recorded.answer, replayed: false)
    }

    private mutating func decide(_ event: UsageEvent, on grant: Grant, id: Int64) -> UsageAnswer {
        let skew = Limits.usageClockSkewSeconds * 1_000_000
        let window = Limits.usageReportWindowSeconds * 1_000_000
        if event.usedAt.microsecondsSince1970 > now.microsecondsSince1970 + skew {
            return .denied(event: id, rule: "R26", reason: "the use is dated \(event.usedAt), ahead of the registry's clock (\(now))")
        }
        if event.usedAt.microsecondsSince1970 < now.microsecondsSince1970 - window {
            return .denied(event: id, rule: "R26", reason: "the use is dated \(event.usedAt): usage is reported within 24 hours")
        }
        if grant.state != .active && grant.state != .agreed {
            let rule = grant.state == .suspended && (grant.stateReason?.hasPrefix("R25") ?? false) ? "R25" : "R23"
            return .denied(event: id, rule: rule, reason: "grant \(grant.number) is \(grant.state.rawValue)" + (grant.stateReason.map { ": \($0)" } ?? ""))
        }
        if event.usedAt < grant.validFrom || event.usedAt >= grant.validUntil {
            return .denied(event: id, rule: "R23", reason: "the use is dated \(event.usedAt), outside grant \(grant.number)'s validity window")
        }
        let used = grants[grant.id] ?? state.usage.usage(of: grant.id)
        let assignee = assignees[grant.assignee] ?? state.usage.assigneeDaily[grant.assignee] ?? DailyUsage(day: today, tokens: 0)
        let dataset = datasets[grant.dataset] ?? state.usage.datasetDaily[grant.dataset] ?? DailyUsage(day: today, tokens: 0)
        if let (quota, reason) = state.quotaDenial(
            grant: grant, used: used, tokens: event.tokens, assigneeToday: assignee.tokens(on: today), datasetToday: dataset.tokens(on: today))
        {
            return .denied(event: id, rule: "R27", quota: quota, reason: reason)
        }
        // Check and debit together: the counters move only for an accepted use.
        let tokens = used.tokens + event.tokens
        let charged = grant.free ? 0 : RegistryState.charge(tokens: tokens, pricePerMillion: grant.pricePerMillionTokens)
        let amount = charged - used.charged
        grants[grant.id] = GrantUsage(tokens: tokens, charged: charged)
        assignees[grant.assignee] = DailyUsage(day: today, tokens: assignee.tokens(on: today) + event.tokens)
        datasets[grant.dataset] = DailyUsage(day: today, tokens: dataset.tokens(on: today) + event.tokens)
        settled[grant.id, default: (0, 0)].tokens += event.tokens
        settled[grant.id, default: (0, 0)].amount += amount
        return .accepted(event: id, amount: amount)
    }

    /// Posts what was accepted — one use transfer per grant (zero-valued when free, so volumes show) and
    /// its royalties — and sums the batch up for the audit chain.
    mutating func finish(replies: [[UsageReply]]) -> UsageBatch {
        var transfers: [LedgerTransfer] = []
        var accounts: [PartyID: LedgerAccount] = [:]
        var nextTransfer = state.usage.lastTransfer + 1
        func post(_ kind: TransferKind, grant: GrantID, dataset: DatasetID, debit: PartyID, credit: PartyID, amount: Int64, tokens: Int64) {
            transfers.append(
                LedgerTransfer(
                    id: nextTransfer, batch: batch, kind: kind, grant: grant, dataset: dataset, debit: debit, credit: credit, amount: amount,
                    tokens: tokens, at: now))
            nextTransfer += 1
            accounts[debit, default: state.usage.account(of: debit)].debits += amount
            accounts[credit, default: state.usage.account(of: credit)].credits += amount
        }
        for (grantID, total) in settled.sorted(by: { $0.key < $1.key }) {
            guard let grant = state.grant(grantID) else { continue }
            let payee = state.operateHolder(of: grant.dataset, on: today) ?? grant.grantor
            post(.use, grant: grantID, dataset: grant.dataset, debit: grant.assignee, credit: payee, amount: total.amount, tokens: total.tokens)
            // Royalties on the grant's cumulative charge, less those on its charge before this batch: what a
            // source earns does not depend on how uses were batched (each split rounds down once).
            guard total.amount > 0, let charged = grants[grantID]?.charged else { continue }
            let before = Dictionary(
                state.royaltySplit(of: charged - total.amount, earnedBy: grant.dataset).map { (RoyaltyEdge($0), $0.amount) },
                uniquingKeysWith: +)
            for share in state.royaltySplit(of: charged, earnedBy: grant.dataset) {
                // Never negative: a split only shrinks when the lineage changed, and what was paid stands.
                let amount = share.amount - (before[RoyaltyEdge(share)] ?? 0)
                guard amount > 0, let from = state.operateHolder(of: share.from, on: today), let to = state.operateHolder(of: share.to, on: today),
                    from != to
                else { continue }
                post(.royalty, grant: grantID, dataset: share.to, debit: from, credit: to, amount: amount, tokens: total.tokens)
            }
        }
        var digest = SHA256()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        var accepted = 0
        var tokens: Int64 = 0
        var amount: Int64 = 0
        for event in events {
            event.appendCanonicalBytes(to: &bytes)
            digest.update(data: bytes)
            bytes.removeAll(keepingCapacity: true)
            if event.answer.accepted {
                accepted += 1
                tokens += event.tokens
                amount += event.answer.amount
            }
        }
        let summary = UsageBatchSummary(
            batch: batch, events: events.count, accepted: accepted, denied: events.count - accepted, tokens: tokens, amount: amount,
            transfers: transfers.count, firstEvent: events.first?.id ?? 0, lastEvent: events.last?.id ?? 0,
            eventsDigest: Array(digest.finalize()).hexString)
        return UsageBatch(
            id: batch, at: now, events: events, replies: replies, transfers: transfers,
            grantUsage: grants.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            assigneeDaily: assignees.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            datasetDaily: datasets.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            accounts: accounts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            summary: summary)
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
