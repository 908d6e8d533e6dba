/// A field of a request that was wrong, and why.
public struct FieldProblem: Sendable, Equatable, Codable {
    public var field: String
    public var reason: String
    public init(_ field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }
}

/// Why the core would not carry out a command. Each case maps to one HTTP status.
public enum RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The actor may not do this (403).
    case forbidden(String)
    /// No such thing, or not visible to the actor (404).
    case notFound(String)
    /// The request is malformed; each field says why (400).
    case invalid([FieldProblem])
    /// The request conflicts with the current state (409).
    case conflict(String)
    /// A domain rule refused the request; each reason names its rule (422).
    case refused([Refusal])

    public var description: String {
        switch self {
        case .forbidden(let reason): "forbidden: \(reason)"
        case .notFound(let what): "not found: \(what)"
        case .invalid(let problems): "invalid: " + problems.map { "\($0.field) \($0.reason)" }.joined(separator: "; ")
        case .conflict(let reason): "conflict: \(reason)"
        case .refused(let refusals): "refused: " + refusals.map(\.description).joined(separator: "; ")
        }
    }
}

/// A party to be created.
public struct NewParty: Sendable, Equatable {
    public var name: String
    public var kind: PartyKind
    public var region: String
    public var jurisdiction: Jurisdiction
    public var creditCode: String?
    public var sector: Sector?

    public init(name: String, kind: PartyKind, region: String, jurisdiction: Jurisdiction, creditCode: String?, sector: Sector? = nil) {
        self.name = name
        self.kind = kind
        self.region = region
        self.jurisdiction = jurisdiction
        self.creditCode = creditCode
        self.sector = sector
    }
}

/// A dataset to be registered by the acting party, who becomes its holder.
public struct NewDataset: Sendable, Equatable {
    public var title: String
    public var description: String
    public var grade: Grade
    public var personalInformation: PersonalInformationLevel
    public var individualsCovered: Int64
    public var region: String
    public var sharing: SharingCategory?
    public var fingerprint: String
    public var format: String
    public var updateCycle: String
    public var sizeBytes: Int64
    public var tags: [String]

    public init(
        title: String, description: String, grade: Grade, personalInformation: PersonalInformationLevel, individualsCovered: Int64,
        region: String, sharing: SharingCategory?, fingerprint: String, format: String, updateCycle: String, sizeBytes: Int64,
        tags: [String]
    ) {
        self.title = title
        self.description = description
        self.grade = grade
        self.personalInformation = personalInformation
        self.individualsCovered = individualsCovered
        self.region = region
        self.sharing = sharing
        self.fingerprint = fingerprint
        self.format = format
        self.updateCycle = updateCycle
        self.sizeBytes = sizeBytes
        self.tags = tags
    }
}

/// Changes to a dataset's catalog entry, by its holder. Absent fields stay as they are.
public struct DatasetPatch: Sendable, Equatable {
    public var title: String?
    public var description: String?
    public var grade: Grade?
    public var personalInformation: PersonalInformationLevel?
    public var individualsCovered: Int64?
    public var sharing: SharingCategory?
    public var fingerprint: String?
    public var format: String?
    public var updateCycle: String?
    public var sizeBytes: Int64?
    public var tags: [String]?

    public init(
        title: String? = nil, description: String? = nil, grade: Grade? = nil, personalInformation: PersonalInformationLevel? = nil,
        individualsCovered: Int64? = nil, sharing: SharingCategory? = nil, fingerprint: String? = nil, format: String? = nil,
        updateCycle: String? = nil, sizeBytes: Int64? = nil, tags: [String]? = nil
    ) {
        self.title = title
        self.description = description
        self.grade = grade
        self.personalInformation = personalInformation
        self.individualsCovered = individualsCovered
        self.sharing = sharing
        self.fingerprint = fingerprint
        self.format = format
        self.updateCycle = updateCycle
        self.sizeBytes = sizeBytes
        self.tags = tags
    }
}

/// An application for registration.
public struct NewRegistration: Sendable, Equatable {
    public var dataset: DatasetID
    public var right: RightKind
    public var kind: RegistrationKind
    public var sourceType: SourceType?
    public var evidence: [Evidence]
    public var truthfulnessCommitment: Bool
    public var applicantRole: ApplicantRole
    /// The number of the certificate a non-initial registration acts on.
    public var targetCertificate: String?
    public var transferee: PartyID?
    public var authorisationEndsOn: CivilDate?
    public var newFingerprint: String?
    public var statement: String?
    /// R10: derivation edges recorded with the registration (by the dataset's holder).
    public var derivedFrom: [DerivationSource]

    public init(
        dataset: DatasetID, right: RightKind, kind: RegistrationKind, sourceType: SourceType?, evidence: [Evidence],
        truthfulnessCommitment: Bool, applicantRole: ApplicantRole, targetCertificate: String? = nil, transferee: PartyID? = nil,
        authorisationEndsOn: CivilDate? = nil, newFingerprint: String? = nil, statement: String? = nil,
        derivedFrom: [DerivationSource] = []
    ) {
        self.derivedFrom = derivedFrom
        self.dataset = dataset
        self.right = right
        self.kind = kind
        self.sourceType = sourceType
        self.evidence = evidence
        self.truthfulnessCommitment = truthfulnessCommitment
        self.applicantRole = applicantRole
        self.targetCertificate = targetCertificate
        self.transferee = transferee
        self.authorisationEndsOn = authorisationEndsOn
        self.newFingerprint = newFingerprint
        self.statement = statement
    }
}

/// One source of a derived dataset, as a request names it.
public struct DerivationSource: Sendable, Equatable {
    public var dataset: DatasetID
    public var kind: TransformationKind
    public init(dataset: DatasetID, kind: TransformationKind) {
        self.dataset = dataset
        self.kind = kind
    }
}

/// Everything that changes the registry, by the domain that plans it. Planned by
/// ``RegistryState/plan(_:by:at:)`` against the current state, persisted, then applied. The static
/// functions below build each command by its name (`.registerDataset(new)`), whatever its domain.
public enum RegistryCommand: Sendable, Equatable {
    case catalog(CatalogCommand)
    case rights(RightsCommand)
    case lineage(LineageCommand)
    case market(MarketCommand)
    case settings(SettingsCommand)
}

/// Parties, API keys and datasets (planned in Catalog/CatalogPlan.swift).
public enum CatalogCommand: Sendable, Equatable {
    case registerParty(NewParty)
    /// The shell makes the secret; the core sees only its hash.
    case issueAPIKey(party: PartyID, prefix: String, secretHash: String, label: String)
    case revokeAPIKey(prefix: String)
    case registerDataset(NewDataset)
    /// The holder edits its catalog entry.
    case updateDataset(DatasetID, DatasetPatch)
}

/// Registrations, objections and certificates (planned in Rights/RightsPlan.swift).
public enum RightsCommand: Sendable, Equatable {
    case submitRegistration(NewRegistration)
    case startReview(registration: String)
    case decide(registration: String, accept: Bool, reason: String?)
    case lodgeObjection(registration: String, grounds: String)
    case ruleObjection(ObjectionID, ruling: ObjectionRuling, reason: String)
}

/// Derivations and flags (planned in Lineage/LineagePlan.swift).
public enum LineageCommand: Sendable, Equatable {
    /// Records that `target` derives from each source (its holder, or a registrar).
    case recordDerivations(target: DatasetID, sources: [DerivationSource])
    /// Records that every target derives from every source (an OpenLineage run's inputs and outputs) as one
    /// write: all the edges, or on any refusal none. A dataset on both sides is updated in place, not
    /// derived from itself: that one pair is skipped.
    case recordLineage(sources: [DerivationSource], targets: [DatasetID])
    /// A registrar or regulator approves a recorded anonymisation (R12).
    case approveAnonymisation(derivation: Int64)
    /// R25: a registrar or regulator marks a dataset's source unlawful; every descendant is flagged.
    case flagDataset(DatasetID, reason: String)
}

/// Policies, access requests and grants (planned in Market/MarketPlan.swift).
public enum MarketCommand: Sendable, Equatable {
    /// The holder sets its dataset's policy (R20), replacing the previous one.
    case setPolicy(NewPolicy)
    /// A party asks for access to a dataset (R22); the core approves, refuses or sends it to the holder.
    case requestAccess(NewAccessRequest)
    /// The holder replies to a request awaiting it (R19: a refusal gives reasons).
    case replyToAccessRequest(number: String, agree: Bool, reason: String?)
    /// The requester withdraws a request still awaiting the holder.
    case withdrawAccessRequest(number: String)
    /// Suspends, resumes, revokes or terminates a grant (R23).
    case changeGrant(number: String, change: GrantChange, reason: String?)
}

/// The registry's settings and its clock (planned in State/SettingsPlan.swift).
public enum SettingsCommand: Sendable, Equatable {
    case updateSettings(
        objectionPolicy: ObjectionPolicy?, calendar: WorkingCalendar?, publicDataFeeCeiling: Int64?, royaltyShareBasisPoints: Int64?)
    /// R27: an operator or regulator sets (or, with nil, lifts) an assignee's daily token cap.
    case setAssigneeDailyCap(party: PartyID, dailyTokens: Int64?)
    /// Sandbox only: moves the registry's clock forward, then completes what became due.
    case advanceClock(seconds: Int64)
    /// Completes what the clock has made due (notice periods that ended, grants that expired).
    case tick
}

extension RegistryCommand {
    public static func registerParty(_ new: NewParty) -> Self { .catalog(.registerParty(new)) }
    public static func issueAPIKey(party: PartyID, prefix: String, secretHash: String, label: String) -> Self {
        .catalog(.issueAPIKey(party: party, prefix: prefix, secretHash: secretHash, label: label))
    }
    public static func revokeAPIKey(prefix: String) -> Self { .catalog(.revokeAPIKey(prefix: prefix)) }
    public static func registerDataset(_ new: NewDataset) -> Self { .catalog(.registerDataset(new)) }
    public static func updateDataset(_ id: DatasetID, _ patch: DatasetPatch) -> Self { .catalog(.updateDataset(id, patch)) }

    public static func submitRegistration(_ new: NewRegistration) -> Self { .rights(.submitRegistration(new)) }
    public static func startReview(registration: String) -> Self { .rights(.startReview(registration: registration)) }
    public static func decide(registration: String, accept: Bool, reason: String?) -> Self {
        .rights(.decide(registration: registration, accept: accept, reason: reason))
    }
    public static func lodgeObjection(registration: String, grounds: String) -> Self {
        .rights(.lodgeObjection(registration: registration, grounds: grounds))
    }
    public static func ruleObjection(_ id: ObjectionID, ruling: ObjectionRuling, reason: String) -> Self {
        .rights(.ruleObjection(id, ruling: ruling, reason: reason))
    }

    public static func recordDerivations(target: DatasetID, sources: [DerivationSource]) -> Self {
        .lineage(.recordDerivations(target: target, sources: sources))
    }
    public static func recordLineage(sources: [DerivationSource], targets: [DatasetID]) -> Self {
        .lineage(.recordLineage(sources: sources, targets: targets))
    }
    public static func approveAnonymisation(derivation: Int64) -> Self { .lineage(.approveAnonymisation(derivation: derivation)) }
    public static func flagDataset(_ id: DatasetID, reason: String) -> Self { .lineage(.flagDataset(id, reason: reason)) }

    public static func setPolicy(_ new: NewPolicy) -> Self { .market(.setPolicy(new)) }
    public static func requestAccess(_ new: NewAccessRequest) -> Self { .market(.requestAccess(new)) }
    public static func replyToAccessRequest(number: String, agree: Bool, reason: String?) -> Self {
        .market(.replyToAccessRequest(number: number, agree: agree, reason: reason))
    }
    public static func withdrawAccessRequest(number: String) -> Self { .market(.withdrawAccessRequest(number: number)) }
    public static func changeGrant(number: String, change: GrantChange, reason: String?) -> Self {
        .market(.changeGrant(number: number, change: change, reason: reason))
    }

    public static func updateSettings(
        objectionPolicy: ObjectionPolicy?, calendar: WorkingCalendar?, publicDataFeeCeiling: Int64? = nil, royaltyShareBasisPoints: Int64? = nil
    ) -> Self {
        .settings(.updateSettings(
            objectionPolicy: objectionPolicy, calendar: calendar, publicDataFeeCeiling: publicDataFeeCeiling,
            royaltyShareBasisPoints: royaltyShareBasisPoints))
    }
    public static func setAssigneeDailyCap(party: PartyID, dailyTokens: Int64?) -> Self {
        .settings(.setAssigneeDailyCap(party: party, dailyTokens: dailyTokens))
    }
    public static func advanceClock(seconds: Int64) -> Self { .settings(.advanceClock(seconds: seconds)) }
    public static var tick: Self { .settings(.tick) }
}

/// A dataset policy as its holder submits it.
public struct NewPolicy: Sendable, Equatable {
    public var policy: Policy
    public var approval: ApprovalMode
    public var pricePerMillionTokens: Int64
    public var dailyTokenCap: Int64?

    public init(policy: Policy, approval: ApprovalMode = .automatic, pricePerMillionTokens: Int64 = 0, dailyTokenCap: Int64? = nil) {
        self.policy = policy
        self.approval = approval
        self.pricePerMillionTokens = pricePerMillionTokens
        self.dailyTokenCap = dailyTokenCap
    }
}

/// A request for access, as the requester submits it.
public struct NewAccessRequest: Sendable, Equatable {
    public var dataset: DatasetID
    public var purpose: String
    public var action: PolicyAction
    public var tokens: Int64
    public var validFrom: Timestamp?
    public var validUntil: Timestamp
    /// Where the data will be used; nil: the requester's region.
    public var useRegion: String?
    public var duty: String?
    public var records: AccessRecords

    public init(
        dataset: DatasetID, purpose: String, action: PolicyAction = .use, tokens: Int64, validFrom: Timestamp? = nil, validUntil: Timestamp,
        useRegion: String? = nil, duty: String? = nil, records: AccessRecords = AccessRecords()
    ) {
        self.dataset = dataset
        self.purpose = purpose
        self.action = action
        self.tokens = tokens
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.useRegion = useRegion
        self.duty = duty
        self.records = records
    }
}

/// What a party does to a grant.
public enum GrantChange: String, Sendable, Equatable, CaseIterable {
    /// The holder or a regulator suspends it.
    case suspend
    /// The holder or a regulator lifts a suspension (not one the R25 cascade made while the flag stands).
    case resume
    /// The holder or a regulator revokes it for good.
    case revoke
    /// The assignee gives it up.
    case terminate
}
