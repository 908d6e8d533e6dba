public struct AccessRequestID: RawRepresentable, Hashable, Comparable, Sendable, Codable {
    public var rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

public struct GrantID: RawRepresentable, Hashable, Comparable, Sendable, Codable {
    public var rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The assessment and consent records an access request carries (R14–R16), each the SHA-256 digest of
/// the document, as registration evidence is.
public struct AccessRecords: Sendable, Equatable, Codable {
    /// R14: important data granted to another party.
    public var riskAssessment: String?
    /// R14: important data used outside its region; R16: cross-border thresholds.
    public var securityAssessment: String?
    /// R15: separate consent of the individuals, for sensitive personal information.
    public var consentEvidence: String?
    /// R15: personal-information impact assessment, for sensitive personal information.
    public var impactAssessment: String?
    /// R16: the standard contract for personal information leaving the mainland.
    public var standardContract: String?

    public init(
        riskAssessment: String? = nil, securityAssessment: String? = nil, consentEvidence: String? = nil, impactAssessment: String? = nil,
        standardContract: String? = nil
    ) {
        self.riskAssessment = riskAssessment
        self.securityAssessment = securityAssessment
        self.consentEvidence = consentEvidence
        self.impactAssessment = impactAssessment
        self.standardContract = standardContract
    }

    /// Each record present, by its field name, for validation.
    var present: [(field: String, digest: String)] {
        [("riskAssessment", riskAssessment), ("securityAssessment", securityAssessment), ("consentEvidence", consentEvidence),
         ("impactAssessment", impactAssessment), ("standardContract", standardContract)]
            .compactMap { field, digest in digest.map { (field, $0) } }
    }
}

/// How a holder wants requests that its policy permits to be handled.
public enum ApprovalMode: String, Sendable, Codable, CaseIterable {
    /// Permitted requests that pass every gate become grants at once.
    case automatic
    /// Permitted requests wait for the holder's reply.
    case holder
}

/// A dataset's access policy as its holder set it (R20): the ODRL-shaped rules, how permitted requests are
/// approved, the price per million tokens and the dataset's daily token cap (R27).
public struct PolicyRecord: Sendable, Equatable, Codable {
    public var dataset: DatasetID
    /// 1 for the first policy, one more on each change.
    public var version: Int
    public var policy: Policy
    public var approval: ApprovalMode
    /// Price per million tokens in minor units (fen). Public data may not exceed the published ceiling (R23).
    public var pricePerMillionTokens: Int64
    /// Tokens the dataset may serve per day across all grants (R27); nil: no cap.
    public var dailyTokenCap: Int64?
    public var updatedBy: PartyID
    public var updatedAt: Timestamp

    public init(
        dataset: DatasetID, version: Int, policy: Policy, approval: ApprovalMode, pricePerMillionTokens: Int64, dailyTokenCap: Int64?,
        updatedBy: PartyID, updatedAt: Timestamp
    ) {
        self.dataset = dataset
        self.version = version
        self.policy = policy
        self.approval = approval
        self.pricePerMillionTokens = pricePerMillionTokens
        self.dailyTokenCap = dailyTokenCap
        self.updatedBy = updatedBy
        self.updatedAt = updatedAt
    }
}

/// A request for access to a dataset (R22), and what became of it.
public struct AccessRequest: Sendable, Equatable, Codable {
    public var id: AccessRequestID
    /// `AR-2026-000001`.
    public var number: String
    public var dataset: DatasetID
    public var requester: PartyID
    public var purpose: String
    public var action: PolicyAction
    /// Tokens asked for over the validity window: the grant's quota.
    public var tokens: Int64
    public var validFrom: Timestamp
    public var validUntil: Timestamp
    /// Where the data will be used: a provincial code, or a country code outside China.
    public var useRegion: String
    /// R18: the duty a department states when it asks for government data.
    public var duty: String?
    public var records: AccessRecords
    /// `requested` only while being evaluated; then `agreed`, `awaiting_holder` or `refused`.
    public var state: AccessState
    /// Every reason a refusal gave, each naming its rule.
    public var refusals: [Refusal]
    /// R19: the last working day for the holder's reply to a conditional sharing request.
    public var replyDueOn: CivilDate?
    /// What the holder said when it replied (a refusal must give reasons).
    public var reply: String?
    public var repliedBy: PartyID?
    public var repliedAt: Timestamp?
    public var grant: GrantID?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        id: AccessRequestID, number: String, dataset: DatasetID, requester: PartyID, purpose: String, action: PolicyAction, tokens: Int64,
        validFrom: Timestamp, validUntil: Timestamp, useRegion: String, duty: String?, records: AccessRecords, state: AccessState,
        refusals: [Refusal], replyDueOn: CivilDate?, reply: String?, repliedBy: PartyID?, repliedAt: Timestamp?, grant: GrantID?,
        createdAt: Timestamp, updatedAt: Timestamp
    ) {
        self.id = id
        self.number = number
        self.dataset = dataset
        self.requester = requester
        self.purpose = purpose
        self.action = action
        self.tokens = tokens
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.useRegion = useRegion
        self.duty = duty
        self.records = records
        self.state = state
        self.refusals = refusals
        self.replyDueOn = replyDueOn
        self.reply = reply
        self.repliedBy = repliedBy
        self.repliedAt = repliedAt
        self.grant = grant
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A grant of access (R23): what an agreed request became.
public struct Grant: Sendable, Equatable, Codable {
    public var id: GrantID
    /// `GR-2026-000001`.
    public var number: String
    public var request: AccessRequestID
    public var dataset: DatasetID
    public var assignee: PartyID
    /// The dataset's holder when the grant was made: the grantor.
    public var grantor: PartyID
    public var purpose: String
    public var action: PolicyAction
    public var tokenQuota: Int64
    public var validFrom: Timestamp
    public var validUntil: Timestamp
    public var useRegion: String
    /// Minor units (fen) per million tokens; 0 when free.
    public var pricePerMillionTokens: Int64
    /// R23: public-interest use of public data is free.
    public var free: Bool
    /// From the policy's delete duty: the assignee deletes the data within this many days after the grant ends.
    public var retentionDays: Int?
    /// R16: the assignee is outside the mainland jurisdiction, or uses the data outside it.
    public var crossBorder: Bool
    /// Individuals whose personal information the grant covers (R16 cumulative counts).
    public var individualsCovered: Int64
    public var sensitive: Bool
    /// `agreed` (not yet valid), `active`, `suspended`, `revoked`, `expired` or `terminated`.
    public var state: AccessState
    public var stateReason: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        id: GrantID, number: String, request: AccessRequestID, dataset: DatasetID, assignee: PartyID, grantor: PartyID, purpose: String,
        action: PolicyAction, tokenQuota: Int64, validFrom: Timestamp, validUntil: Timestamp, useRegion: String, pricePerMillionTokens: Int64,
        free: Bool, retentionDays: Int?, crossBorder: Bool, individualsCovered: Int64, sensitive: Bool, state: AccessState,
        stateReason: String?, createdAt: Timestamp, updatedAt: Timestamp
    ) {
        self.id = id
        self.number = number
        self.request = request
        self.dataset = dataset
        self.assignee = assignee
        self.grantor = grantor
        self.purpose = purpose
        self.action = action
        self.tokenQuota = tokenQuota
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.useRegion = useRegion
        self.pricePerMillionTokens = pricePerMillionTokens
        self.free = free
        self.retentionDays = retentionDays
        self.crossBorder = crossBorder
        self.individualsCovered = individualsCovered
        self.sensitive = sensitive
        self.state = state
        self.stateReason = stateReason
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// In force at `now`: inside its validity window and neither suspended nor ended. An agreed grant
    /// whose window has begun is in force before the clock records it as active.
    public func isInForce(at now: Timestamp) -> Bool {
        (state == .active || state == .agreed) && validFrom <= now && now < validUntil
    }
}

/// A request for a decision (R24): may `party` use `dataset` for `purpose` now, `tokens` tokens?
public struct DecisionQuery: Sendable, Equatable {
    public var party: PartyID
    public var dataset: DatasetID
    public var purpose: String
    public var tokens: Int64
    public var action: PolicyAction
    /// Where the use happens; nil: the party's own region.
    public var region: String?

    public init(party: PartyID, dataset: DatasetID, purpose: String, tokens: Int64, action: PolicyAction = .use, region: String? = nil) {
        self.party = party
        self.dataset = dataset
        self.purpose = purpose
        self.tokens = tokens
        self.action = action
        self.region = region
    }
}

/// The answer to a ``DecisionQuery``: allow or deny, the rule that decided, and where it came from.
public struct Decision: Sendable, Equatable {
    public var allow: Bool
    /// The deciding rule: a domain rule (`R21`, `R23`, `R25`, `R27` …) or, for the policy, `R20`.
    public var rule: String
    /// The id of the policy rule that decided, when a policy rule did.
    public var policyRule: String?
    /// The dataset whose restriction decided: an ancestor when inherited (R21, R25), else the dataset.
    public var decidedBy: DatasetID?
    /// The grant the use falls under.
    public var grant: GrantID?
    public var reason: String

    public init(allow: Bool, rule: Rule, policyRule: String? = nil, decidedBy: DatasetID? = nil, grant: GrantID? = nil, reason: String) {
        self.init(allow: allow, ground: rule.rawValue, policyRule: policyRule, decidedBy: decidedBy, grant: grant, reason: reason)
    }

    /// The holder's use of its own dataset: no rule decides it, so ``rule`` says `holder`.
    public static func holderUse(of dataset: DatasetID) -> Decision {
        Decision(allow: true, ground: "holder", policyRule: nil, decidedBy: dataset, grant: nil, reason: "the holder uses its own dataset")
    }

    private init(allow: Bool, ground: String, policyRule: String?, decidedBy: DatasetID?, grant: GrantID?, reason: String) {
        self.allow = allow
        self.rule = ground
        self.policyRule = policyRule
        self.decidedBy = decidedBy
        self.grant = grant
        self.reason = reason
    }
}
