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
        // Summed per party and grant number first (one lookup an event), then spread over each grant's
        // subjects (a few per grant).
        var byNumber: [PartyID: [String: Int64]] = [:]
        for submission in submissions {
            var sums = byNumber[submission.party] ?? [:]
            // Cannot overflow: a group holds at most maxUsageEventsPerCommit events of at most
            // maxTokensPerUsageEvent tokens (3.3 × 10¹⁶ together).
            for event in submission.events { sums[event.grant, default: 0] += event.tokens }
            byNumber[submission.party] = sums
        }
        for (party, sums) in byNumber {
            for (number, tokens) in sums {
                guard let grant = grant(number: number), grant.assignee == party else { continue }
                add(QuotaSubject(scope: .grant, id: grant.id.rawValue, day: 0), grant.tokenQuota, tokens)
                if let cap = assigneeCaps[grant.assignee] { add(QuotaSubject(scope: .assignee, id: grant.assignee.rawValue, day: today), cap, tokens) }
                if let cap = market.policies[grant.dataset]?.dailyTokenCap {
                    add(QuotaSubject(scope: .dataset, id: grant.dataset.rawValue, day: today), cap, tokens)
                }
            }
        }
        return demand
    }
}
