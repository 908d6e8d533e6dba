/// One use of data under a grant, as its assignee reports it (R26).
public struct UsageEvent: Sendable, Equatable {
    /// The grant's number.
    public var grant: String
    public var tokens: Int64
    /// When the use happened, by the assignee's clock.
    public var usedAt: Timestamp
    /// The assignee's idempotency key: the same key again counts once and gets the first answer.
    public var key: String
    /// Optional request metadata: a JSON object, kept as sent.
    public var metadata: String?

    public init(grant: String, tokens: Int64, usedAt: Timestamp, key: String, metadata: String? = nil) {
        self.grant = grant
        self.tokens = tokens
        self.usedAt = usedAt
        self.key = key
        self.metadata = metadata
    }
}

/// The events of one request, from one party. Requests from many parties commit together.
public struct UsageSubmission: Sendable, Equatable {
    public var party: PartyID
    public var events: [UsageEvent]

    public init(party: PartyID, events: [UsageEvent]) {
        self.party = party
        self.events = events
    }

    /// What the core needs to be true of every event before it plans; each problem names its field.
    public func validate() -> [FieldProblem] {
        var problems: [FieldProblem] = []
        if events.isEmpty { problems.append(FieldProblem("events", "must hold at least one event")) }
        if events.count > Limits.maxUsageEventsPerRequest {
            problems.append(FieldProblem("events", "at most \(Limits.maxUsageEventsPerRequest) events a request, got \(events.count)"))
        }
        for (index, event) in events.enumerated() where problems.count < 20 {
            let path = "events[\(index)]"
            if event.grant.isEmpty || event.grant.utf8.count > Limits.maxShortTextLength {
                problems.append(FieldProblem("\(path).grant", "must be a grant number"))
            }
            if event.tokens < 1 || event.tokens > Limits.maxTokensPerUsageEvent {
                problems.append(FieldProblem("\(path).tokens", "must be between 1 and \(Limits.maxTokensPerUsageEvent)"))
            }
            let keyBytes = event.key.utf8.count
            if keyBytes < 1 || keyBytes > Limits.maxIdempotencyKeyBytes {
                problems.append(FieldProblem("\(path).key", "must be 1 to \(Limits.maxIdempotencyKeyBytes) bytes"))
            }
            if let metadata = event.metadata, metadata.utf8.count > Limits.maxUsageMetadataBytes {
                problems.append(FieldProblem("\(path).metadata", "at most \(Limits.maxUsageMetadataBytes) bytes of JSON"))
            }
        }
        return problems
    }
}

/// The quota that denied a use (R27).
public enum UsageQuota: String, Sendable, Codable, CaseIterable {
    /// The grant's remaining tokens.
    case grant
    /// The assignee's tokens today, across every grant.
    case assigneeDaily = "assignee_daily"
    /// The dataset's tokens today, across every assignee (set by its holder in the policy).
    case datasetDaily = "dataset_daily"
}

/// The registry's answer to one usage event. A retry with the same key gets this answer again.
public struct UsageAnswer: Sendable, Equatable {
    /// The recorded event's id (accepted or denied).
    public var event: Int64
    public var accepted: Bool
    /// The rule that denied the use (nil when accepted).
    public var rule: String?
    /// The quota that denied it, when a quota did (R27).
    public var quota: UsageQuota?
    public var reason: String?
    /// What the use cost the assignee, in fen (0 when denied or free).
    public var amount: Int64

    public static func accepted(event: Int64, amount: Int64) -> UsageAnswer {
        UsageAnswer(event: event, accepted: true, rule: nil, quota: nil, reason: nil, amount: amount)
    }

    public static func denied(event: Int64, rule: Rule, quota: UsageQuota? = nil, reason: String) -> UsageAnswer {
        UsageAnswer(event: event, accepted: false, rule: rule.rawValue, quota: quota, reason: reason, amount: 0)
    }

    public init(event: Int64, accepted: Bool, rule: String?, quota: UsageQuota?, reason: String?, amount: Int64) {
        self.event = event
        self.accepted = accepted
        self.rule = rule
        self.quota = quota
        self.reason = reason
        self.amount = amount
    }
}

/// An answer as returned: `replayed` when the key was seen before and nothing was counted again.
public struct UsageReply: Sendable, Equatable {
    public var key: String
    public var answer: UsageAnswer
    public var replayed: Bool

    public init(key: String, answer: UsageAnswer, replayed: Bool) {
        self.key = key
        self.answer = answer
        self.replayed = replayed
    }
}

/// A usage event as recorded: accepted or denied, never a replay.
public struct MeteredEvent: Sendable, Equatable {
    public var id: Int64
    public var assignee: PartyID
    /// Nil when the event named no grant of its assignee's.
    public var grant: GrantID?
    public var dataset: DatasetID?
    public var key: String
    public var tokens: Int64
    public var usedAt: Timestamp
    public var answer: UsageAnswer
    public var metadata: String?
    /// The key as the meter remembers it (hashed once, when planned).
    let fingerprint: UsageKey
}

public enum TransferKind: String, Sendable, Codable {
    /// The assignee pays the operate-right holder for use under a grant (R28).
    case use
    /// A holder pays a source's holder its share of what a derived dataset earned (R28).
    case royalty
}

/// One double-entry posting: `amount` fen leave `debit`'s account and reach `credit`'s.
public struct LedgerTransfer: Sendable, Equatable {
    public var id: Int64
    public var batch: Int64
    public var kind: TransferKind
    public var grant: GrantID
    /// For a use, the grant's dataset; for a royalty, the source dataset whose holder is paid.
    public var dataset: DatasetID
    public var debit: PartyID
    public var credit: PartyID
    public var amount: Int64
    /// Tokens the posting settles (for a royalty, the tokens of the use it came from).
    public var tokens: Int64
    public var at: Timestamp

    public init(
        id: Int64, batch: Int64, kind: TransferKind, grant: GrantID, dataset: DatasetID, debit: PartyID, credit: PartyID, amount: Int64,
        tokens: Int64, at: Timestamp
    ) {
        self.id = id
        self.batch = batch
        self.kind = kind
        self.grant = grant
        self.dataset = dataset
        self.debit = debit
        self.credit = credit
        self.amount = amount
        self.tokens = tokens
        self.at = at
    }
}

/// A party's ledger account: everything it paid and was paid, in fen.
public struct LedgerAccount: Sendable, Equatable {
    public var debits: Int64 = 0
    public var credits: Int64 = 0

    public init(debits: Int64 = 0, credits: Int64 = 0) {
        self.debits = debits
        self.credits = credits
    }

    public var balance: Int64 { credits - debits }
}

/// What a grant has used and been charged, since it was made.
public struct GrantUsage: Sendable, Equatable {
    public var tokens: Int64 = 0
    /// Fen charged so far: always ⌊tokens × price ÷ 1,000,000⌋, so no rounding accumulates.
    public var charged: Int64 = 0

    public init(tokens: Int64 = 0, charged: Int64 = 0) {
        self.tokens = tokens
        self.charged = charged
    }
}

/// Tokens counted against a daily cap on one calendar day (the registry's time zone).
public struct DailyUsage: Sendable, Equatable {
    public var day: CivilDate
    public var tokens: Int64

    public init(day: CivilDate, tokens: Int64) {
        self.day = day
        self.tokens = tokens
    }

    /// Tokens counted on `today`: zero once the day has turned.
    func tokens(on today: CivilDate) -> Int64 { day == today ? tokens : 0 }
}

/// The audit chain's record of a committed batch: its counts and a digest of its events (R30).
public struct UsageBatchSummary: Sendable, Equatable, Codable {
    public var batch: Int64
    public var events: Int
    public var accepted: Int
    public var denied: Int
    public var tokens: Int64
    public var amount: Int64
    public var transfers: Int
    public var firstEvent: Int64
    public var lastEvent: Int64
    /// SHA-256 over the events' canonical bytes, hex.
    public var eventsDigest: String
}

/// Everything one group commit changes: the events, the postings, the counters' new values and the
/// answers for every submission, planned by the core before anything is written.
public struct UsageBatch: Sendable {
    public var id: Int64
    public var at: Timestamp
    public var events: [MeteredEvent]
    /// Per submission, in order: the answer to each of its events.
    public var replies: [[UsageReply]]
    public var transfers: [LedgerTransfer]
    public var grantUsage: [(grant: GrantID, usage: GrantUsage)]
    public var assigneeDaily: [(party: PartyID, usage: DailyUsage)]
    public var datasetDaily: [(dataset: DatasetID, usage: DailyUsage)]
    public var accounts: [(party: PartyID, account: LedgerAccount)]
    /// What the batch adds to the usage rollup, one delta a cell (all on the batch's day), in cell order;
    /// empty when rollups are off (``UsageMeter/rollupsEnabled``).
    public var rollup: [(cell: UsageRollupCell, totals: UsageTotals)]
    /// What the batch adds to the quota-denial rollup, in cell order.
    public var quotaDenials: [(cell: QuotaDenialCell, totals: DenialTotals)]
    public var summary: UsageBatchSummary
    /// What every grant together has been charged once this batch is applied: the ledger's use volume,
    /// held under ``Limits/maxLedgerChargeFen`` so that no account or total can overflow.
    public var totalCharged: Int64
    /// Every key this batch answered anew, for a plan made before this batch is applied.
    let answered: [UsageKey: UsageAnswer]

    /// True when nothing is to be written: every event was a replay.
    public var isReplayOnly: Bool { events.isEmpty }
}
