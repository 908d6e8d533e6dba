/// The core's metering state: what each grant has used and been charged, today's tokens per assignee
/// and per dataset, every party's ledger account, and the answers given to recent idempotency keys.
///
/// Changed only by applying a committed ``UsageBatch``; a rebuild restores it from PostgreSQL.
public struct UsageMeter: Sendable {
    /// Indexed by grant id.
    var grantUsage: [GrantUsage] = []
    var assigneeDaily: [PartyID: DailyUsage] = [:]
    var datasetDaily: [DatasetID: DailyUsage] = [:]
    var accounts: [PartyID: LedgerAccount] = [:]
    /// Answers by key, in two generations: a key lives in `answers` for at least one retention period,
    /// then in `previousAnswers` for one more (so lookups never scan, and forgetting is a swap).
    var answers = RememberedAnswers()
    var previousAnswers = RememberedAnswers()
    var generationStartedAt: Timestamp?
    /// The sum of every grant's charge: all use postings ever made, in fen (R28). Royalties are paid out
    /// of charges and are never more than them, so every account and every total is at most twice this.
    public internal(set) var totalCharged: Int64 = 0
    public internal(set) var lastEvent: Int64 = 0
    public internal(set) var lastTransfer: Int64 = 0
    public internal(set) var lastBatch: Int64 = 0
    /// R26: events older than this when reported are refused.
    public internal(set) var reportWindowSeconds = Limits.defaultUsageReportWindowSeconds
    /// At most this many keys are remembered (both generations together): a generation is retired when
    /// it holds half of them, whatever the rate. A key forgotten sooner than the retention is still
    /// counted once: PostgreSQL's unique key on (assignee, key) refuses it, and the store then recalls
    /// its first answer (``remember(party:key:answer:)``).
    public internal(set) var keyMemory = Limits.defaultUsageKeyMemory
    /// The daily rollups of accepted use and of quota denials (issue 16).
    public internal(set) var rollup = UsageRollup()
    /// False only to measure what the rollups cost (a benchmark switch, ``Limits/usageRollups``): batches
    /// then carry no deltas and the rollup stays empty.
    public internal(set) var rollupsEnabled = true

    /// How long a key is remembered at least: the report window plus the clock skew, so that no event
    /// can still be admissible once its key is forgotten (a retry is never counted twice).
    public var keyRetentionSeconds: Int64 { reportWindowSeconds + Limits.usageClockSkewSeconds }

    public init() {}

    /// Sets the report window (a deployment limit, set at start-up before any usage is planned).
    public mutating func configure(reportWindowSeconds: Int64, keyMemory: Int = Limits.defaultUsageKeyMemory, rollups: Bool = true) {
        self.reportWindowSeconds = reportWindowSeconds
        self.keyMemory = keyMemory
        rollupsEnabled = rollups
    }

    public func usage(of grant: GrantID) -> GrantUsage {
        let index = Int(grant.rawValue)
        return index < grantUsage.count ? grantUsage[index] : GrantUsage()
    }

    public func assigneeTokens(of party: PartyID, on day: CivilDate) -> Int64 { assigneeDaily[party]?.tokens(on: day) ?? 0 }
    public func datasetTokens(of dataset: DatasetID, on day: CivilDate) -> Int64 { datasetDaily[dataset]?.tokens(on: day) ?? 0 }
    public func account(of party: PartyID) -> LedgerAccount { accounts[party] ?? LedgerAccount() }
    /// Every account with a posting, by party.
    public var allAccounts: [(party: PartyID, account: LedgerAccount)] {
        accounts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The answer given to `key`, when it is remembered.
    func answer(for key: UsageKey) -> UsageAnswer? {
        if let answer = answers[key] { return answer }
        return previousAnswers.isEmpty ? nil : previousAnswers[key]
    }

    /// Keys remembered now (both generations).
    public var rememberedKeys: Int { answers.count + previousAnswers.count }

    mutating func setGrantUsage(_ usage: GrantUsage, of grant: GrantID) {
        let index = Int(grant.rawValue)
        if index >= grantUsage.count {
            grantUsage.append(contentsOf: repeatElement(GrantUsage(), count: max(index + 1, grantUsage.count * 2) - grantUsage.count))
        }
        grantUsage[index] = usage
    }

    /// Starts a new generation when the current one is a retention period old, or holds half of
    /// ``keyMemory`` keys (before `incoming` more are remembered).
    mutating func rotateKeys(at now: Timestamp, incoming: Int = 0) {
        guard let started = generationStartedAt else {
            generationStartedAt = now
            return
        }
        if now.microsecondsSince1970 - started.microsecondsSince1970 >= keyRetentionSeconds * 1_000_000
            || answers.count + incoming > keyMemory / 2
        {
            previousAnswers = answers
            answers = RememberedAnswers()
            generationStartedAt = now
        }
    }

    mutating func apply(_ batch: UsageBatch) {
        rotateKeys(at: batch.at, incoming: batch.events.count)
        for event in batch.events { answers.remember(event.answer, for: event.fingerprint) }
        apply(UsageBatchEffects(batch))
    }

    /// A committed batch's effect on the counters, accounts, rollups and ids: what the writer applies
    /// with its batch, and what a replica following the log applies from the stored effects.
    mutating func apply(_ effects: UsageBatchEffects) {
        for (grant, usage) in effects.grants { setGrantUsage(usage, of: grant) }
        for (party, usage) in effects.assignees { assigneeDaily[party] = usage }
        for (dataset, usage) in effects.datasets { datasetDaily[dataset] = usage }
        for (party, account) in effects.accounts { accounts[party] = account }
        totalCharged = effects.totalCharged
        rollup.add(effects.rollup, denials: effects.quotaDenials)
        // Replicas number events and batches from blocks (schema 0015), so a batch applied later in the
        // chain may carry lower ids than one before it: the core keeps the highest, as a rebuild reads them.
        lastEvent = max(lastEvent, effects.lastEvent)
        if effects.lastTransfer != 0 { lastTransfer = effects.lastTransfer }
        lastBatch = max(lastBatch, effects.batch)
    }

    /// What the state digest covers of metering: every counter and account, and the last ids (the
    /// remembered keys are hashed with a per-process seed, so they are left out).
    struct Snapshot: Encodable {
        var grants: [[Int64]]
        var assignees: [[Int64]]
        var datasets: [[Int64]]
        var accounts: [[Int64]]
        var lastEvent: Int64
        var lastTransfer: Int64
        var lastBatch: Int64
        var rollup: UsageRollup.Snapshot?
    }

    var snapshot: Snapshot {
        Snapshot(
            grants: grantUsage.indices.filter { grantUsage[$0] != GrantUsage() }.map { [Int64($0), grantUsage[$0].tokens, grantUsage[$0].charged] },
            assignees: assigneeDaily.sorted { $0.key < $1.key }.map { [$0.key.rawValue, Int64($0.value.day.daysSince1970), $0.value.tokens] },
            datasets: datasetDaily.sorted { $0.key < $1.key }.map { [$0.key.rawValue, Int64($0.value.day.daysSince1970), $0.value.tokens] },
            accounts: accounts.sorted { $0.key < $1.key }.map { [$0.key.rawValue, $0.value.debits, $0.value.credits] },
            lastEvent: lastEvent, lastTransfer: lastTransfer, lastBatch: lastBatch, rollup: rollup.snapshot)
    }

    // MARK: Rebuild

    /// Restores counters read back from PostgreSQL (a rebuild); `keysSince` answers are remembered afresh.
    public mutating func restore(
        grants: [(GrantID, GrantUsage)], assignees: [(PartyID, DailyUsage)], datasets: [(DatasetID, DailyUsage)],
        accounts: [(PartyID, LedgerAccount)], lastEvent: Int64, lastTransfer: Int64, lastBatch: Int64, at now: Timestamp
    ) {
        for (grant, usage) in grants { setGrantUsage(usage, of: grant) }
        // Read back from a ledger the planner kept under its limit, so the sum cannot overflow.
        totalCharged = grantUsage.reduce(0) { $0 + $1.charged }
        for (party, usage) in assignees where (assigneeDaily[party]?.day ?? usage.day) <= usage.day { assigneeDaily[party] = usage }
        for (dataset, usage) in datasets where (datasetDaily[dataset]?.day ?? usage.day) <= usage.day { datasetDaily[dataset] = usage }
        for (party, account) in accounts { self.accounts[party] = account }
        self.lastEvent = lastEvent
        self.lastTransfer = lastTransfer
        self.lastBatch = lastBatch
        generationStartedAt = now
    }

    /// Restores rollup cells read back from PostgreSQL (a rebuild), added to what is there.
    public mutating func restoreRollup(
        _ cells: [(cell: UsageRollupCell, totals: UsageTotals)], denials: [(cell: QuotaDenialCell, totals: DenialTotals)]
    ) {
        rollup.add(cells, denials: denials)
    }

    /// Remembers the answer of an event recorded in PostgreSQL: within the retention period at a
    /// rebuild, or recalled because PostgreSQL refused the key again. Bounded like every key.
    public mutating func remember(party: PartyID, key: String, answer: UsageAnswer) {
        if let started = generationStartedAt { rotateKeys(at: started, incoming: 1) }
        answers.remember(answer, for: UsageKey(party: party, key: key))
    }
}

/// An assignee's idempotency key, as 128 bits of hash: no string is kept per remembered key.
///
/// Hashes are seeded per process (Swift's `Hasher`), so they are never stored; a rebuild hashes the
/// keys it reads back. Two distinct keys of one party collide with probability about n²/2¹²⁹.
struct UsageKey: Hashable, Sendable {
    var party: Int64
    var high: UInt64
    var low: UInt64

    /// The bits are already a seeded hash: one word of them is enough for a table.
    func hash(into hasher: inout Hasher) {
        hasher.combine(low)
    }

    init(party: PartyID, key: String) {
        self.party = party.rawValue
        var first = Hasher()
        first.combine(party.rawValue)
        first.combine(key)
        var second = Hasher()
        second.combine(0x5D5D_5D5D as UInt32)
        second.combine(key)
        second.combine(party.rawValue)
        high = UInt64(bitPattern: Int64(first.finalize()))
        low = UInt64(bitPattern: Int64(second.finalize()))
    }
}

/// Answers to remembered keys, compactly: an accepted use as its event id and amount (16 bytes); the
/// rarer denials whole, with their reasons.
///
/// Accepted answers are spread over 1,024 tables by the key's bits. One large table would double now
/// and then, moving millions of entries while the writer waits (seconds, seen as p99 spikes under
/// load); small ones each grow a little at a time, in cache. The tables get unequal shares of the keys
/// (the largest twice the smallest), so they reach their doubling points at different times rather
/// than all in the same few batches.
struct RememberedAnswers: Sendable {
    private static let shardCount = 1_024
    private var accepted = [[UsageKey: Accepted]](repeating: [:], count: RememberedAnswers.shardCount)
    private var denied: [UsageKey: UsageAnswer] = [:]
    private(set) var count = 0

    struct Accepted: Sendable {
        var event: Int64
        var amount: Int64
    }

    var isEmpty: Bool { count == 0 }

    /// Shard by the key's top 14 bits: table i gets a share of the 16,384 slots growing from about 11 to 21.
    private static let shardOfSlot: [UInt16] = {
        let slots = 1 << 14
        let weights = (0..<shardCount).map { 1.0 + Double($0) / Double(shardCount) }
        let total = weights.reduce(0, +)
        var table: [UInt16] = []
        table.reserveCapacity(slots)
        var cumulative = 0.0
        for (shard, weight) in weights.enumerated() {
            cumulative += weight
            let end = shard == shardCount - 1 ? slots : Int((cumulative / total * Double(slots)).rounded())
            while table.count < end { table.append(UInt16(shard)) }
        }
        return table
    }()

    private static func shard(_ key: UsageKey) -> Int { Int(shardOfSlot[Int(truncatingIfNeeded: key.high >> 50)]) }

    subscript(key: UsageKey) -> UsageAnswer? {
        if let answer = accepted[Self.shard(key)][key] { return .accepted(event: answer.event, amount: answer.amount) }
        return denied.isEmpty ? nil : denied[key]
    }

    mutating func remember(_ answer: UsageAnswer, for key: UsageKey) {
        if answer.accepted {
            if accepted[Self.shard(key)].updateValue(Accepted(event: answer.event, amount: answer.amount), forKey: key) == nil { count += 1 }
        } else {
            if denied.updateValue(answer, forKey: key) == nil { count += 1 }
        }
    }
}
