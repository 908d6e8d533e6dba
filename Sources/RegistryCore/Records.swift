/// A registration (R2, R3): one record per application; nothing is ever deleted.
public struct Registration: Sendable, Equatable, Codable {
    public var id: RegistrationID
    /// The public number, unique: `REG-<year>-<id>`.
    public var number: String
    public var dataset: DatasetID
    public var applicant: PartyID
    public var right: RightKind
    public var kind: RegistrationKind
    public var sourceType: SourceType?
    public var evidence: [Evidence]
    public var truthfulnessCommitment: Bool
    public var applicantRole: ApplicantRole
    /// The certificate a change, transfer, renewal, cancellation or revocation acts on.
    public var targetCertificate: CertificateID?
    /// Who receives the right in a transfer.
    public var transferee: PartyID?
    /// The end of the authorisation the right rests on, when it has one (caps the certificate's expiry, R9).
    public var authorisationEndsOn: CivilDate?
    /// A new content fingerprint, for a change registration.
    public var newFingerprint: String?
    /// Free text: grounds of a revocation, reason of a cancellation.
    public var statement: String?
    public var status: RegistrationStatus
    public var noticeEndsOn: CivilDate?
    public var pendingObjections: Int
    public var refusals: [Refusal]
    public var certificate: CertificateID?
    public var submittedAt: Timestamp
    public var updatedAt: Timestamp

    var lifecycle: RegistrationLifecycle {
        RegistrationLifecycle(kind: kind, status: status, noticeEndsOn: noticeEndsOn, pendingObjections: pendingObjections)
    }

    public init(id: RegistrationID, number: String, dataset: DatasetID, applicant: PartyID, right: RightKind, kind: RegistrationKind, sourceType: SourceType?, evidence: [Evidence], truthfulnessCommitment: Bool, applicantRole: ApplicantRole, targetCertificate: CertificateID?, transferee: PartyID?, authorisationEndsOn: CivilDate?, newFingerprint: String?, statement: String?, status: RegistrationStatus, noticeEndsOn: CivilDate?, pendingObjections: Int, refusals: [Refusal], certificate: CertificateID?, submittedAt: Timestamp, updatedAt: Timestamp) {
        self.id = id
        self.number = number
        self.dataset = dataset
        self.applicant = applicant
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
        self.status = status
        self.noticeEndsOn = noticeEndsOn
        self.pendingObjections = pendingObjections
        self.refusals = refusals
        self.certificate = certificate
        self.submittedAt = submittedAt
        self.updatedAt = updatedAt
    }
}

/// How the registrar ruled on an objection.
public enum ObjectionRuling: String, Sendable, Codable {
    case upheld, dismissed
}

/// An objection lodged during public notice (R4, R5).
public struct Objection: Sendable, Equatable, Codable {
    public var id: ObjectionID
    public var registration: RegistrationID
    public var objector: PartyID
    public var grounds: String
    public var lodgedAt: Timestamp
    public var ruling: ObjectionRuling?
    public var ruledBy: PartyID?
    public var rulingReason: String?
    public var ruledAt: Timestamp?

    public init(id: ObjectionID, registration: RegistrationID, objector: PartyID, grounds: String, lodgedAt: Timestamp, ruling: ObjectionRuling?, ruledBy: PartyID?, rulingReason: String?, ruledAt: Timestamp?) {
        self.id = id
        self.registration = registration
        self.objector = objector
        self.grounds = grounds
        self.lodgedAt = lodgedAt
        self.ruling = ruling
        self.ruledBy = ruledBy
        self.rulingReason = rulingReason
        self.ruledAt = ruledAt
    }
}

/// The stored status of a certificate; "expired" is derived from the date.
public enum CertificateState: String, Sendable, Codable, CaseIterable {
    case active, revoked, superseded
}

/// What anyone verifying a certificate is told (R9).
public enum CertificateStatus: String, Sendable, Codable, CaseIterable {
    case valid, expired, revoked, superseded
}

/// A registration certificate (R9): evidence of registration, not a final judgment of ownership.
public struct Certificate: Sendable, Equatable, Codable {
    public static let statement =
        "This certificate is evidence that the right was registered after review and public notice. It is not a final judgment of ownership of the data."

    public var id: CertificateID
    /// The public number, unique: `CERT-<year>-<id>`.
    public var number: String
    public var registration: RegistrationID
    public var dataset: DatasetID
    /// The dataset's content fingerprint when issued.
    public var fingerprint: String
    public var right: RightKind
    public var holders: [PartyID]
    public var sourceType: SourceType?
    public var issuedOn: CivilDate
    public var expiresOn: CivilDate
    public var state: CertificateState
    /// The certificate that replaced this one, when superseded.
    public var supersededBy: CertificateID?
    public var stateChangedAt: Timestamp

    /// The status on `today`.
    public func status(on today: CivilDate) -> CertificateStatus {
        switch state {
        case .revoked: .revoked
        case .superseded: .superseded
        case .active: today > expiresOn ? .expired : .valid
        }
    }

    /// R9: ``Limits/certificateValidityYears`` after issue, or the end of the underlying authorisation if
    /// sooner.
    public static func expiry(issuedOn: CivilDate, authorisationEndsOn: CivilDate?) -> CivilDate {
        let (year, month, day) = issuedOn.components
        let years = Limits.certificateValidityYears
        let validity = CivilDate(year: year + years, month: month, day: day)
            ?? CivilDate(year: year + years, month: month, day: day - 1)!  // 29 February → 28 February
        if let authorisationEndsOn, authorisationEndsOn < validity { return authorisationEndsOn }
        return validity
    }

    public init(id: CertificateID, number: String, registration: RegistrationID, dataset: DatasetID, fingerprint: String, right: RightKind, holders: [PartyID], sourceType: SourceType?, issuedOn: CivilDate, expiresOn: CivilDate, state: CertificateState, supersededBy: CertificateID?, stateChangedAt: Timestamp) {
        self.id = id
        self.number = number
        self.registration = registration
        self.dataset = dataset
        self.fingerprint = fingerprint
        self.right = right
        self.holders = holders
        self.sourceType = sourceType
        self.issuedOn = issuedOn
        self.expiresOn = expiresOn
        self.state = state
        self.supersededBy = supersededBy
        self.stateChangedAt = stateChangedAt
    }
}

/// An API key's record: never the secret, only its SHA-256.
public struct APIKey: Sendable, Equatable, Codable {
    public var id: APIKeyID
    public var party: PartyID
    /// The public part of the key, `drk_<prefix>_…`, used to find the record.
    public var prefix: String
    /// SHA-256 of the secret part, lowercase hex.
    public var secretHash: String
    public var label: String
    public var createdAt: Timestamp
    public var revokedAt: Timestamp?

    public init(id: APIKeyID, party: PartyID, prefix: String, secretHash: String, label: String, createdAt: Timestamp, revokedAt: Timestamp?) {
        self.id = id
        self.party = party
        self.prefix = prefix
        self.secretHash = secretHash
        self.label = label
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// Who may object during public notice (R5), a deployment setting.
public enum ObjectionPolicy: String, Sendable, Codable {
    case anyone
    /// Only a party with a registered right over the dataset or one of its sources.
    case interestedParties = "interested_parties"
}

/// The deployment's settings the core decides with.
public struct RegistrySettings: Sendable, Equatable, Codable {
    public var objectionPolicy: ObjectionPolicy = .anyone
    public var calendar = WorkingCalendar()
    /// Sandbox clock offset from the real clock, in seconds (0 outside sandbox mode).
    public var clockOffsetSeconds: Int64 = 0
    /// R23: the published ceiling on the price of public (government) data, in fen per million tokens.
    public var publicDataFeeCeiling: Int64 = Limits.defaultPublicDataFeeCeiling
    /// R28: the share of what a derived dataset earns that goes to each of its sources, in basis points.
    public var royaltyShareBasisPoints: Int64 = Limits.defaultRoyaltyShareBasisPoints
    /// R27: each assignee's daily token cap, where one is set (by an operator or regulator).
    public var assigneeDailyCaps: [AssigneeCap] = []


    public init() {}

    /// `party`'s daily cap, if it has one.
    public func assigneeDailyCap(of party: PartyID) -> Int64? {
        assigneeDailyCaps.first { $0.party == party }?.dailyTokens
    }

    enum CodingKeys: String, CodingKey {
        case objectionPolicy, calendar, clockOffsetSeconds, publicDataFeeCeiling, royaltyShareBasisPoints, assigneeDailyCaps
    }

    /// Settings stored before a field existed read it as its default.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        objectionPolicy = try container.decodeIfPresent(ObjectionPolicy.self, forKey: .objectionPolicy) ?? .anyone
        calendar = try container.decodeIfPresent(WorkingCalendar.self, forKey: .calendar) ?? WorkingCalendar()
        clockOffsetSeconds = try container.decodeIfPresent(Int64.self, forKey: .clockOffsetSeconds) ?? 0
        publicDataFeeCeiling = try container.decodeIfPresent(Int64.self, forKey: .publicDataFeeCeiling) ?? Limits.defaultPublicDataFeeCeiling
        royaltyShareBasisPoints =
            try container.decodeIfPresent(Int64.self, forKey: .royaltyShareBasisPoints) ?? Limits.defaultRoyaltyShareBasisPoints
        assigneeDailyCaps = try container.decodeIfPresent([AssigneeCap].self, forKey: .assigneeDailyCaps) ?? []
    }
}

/// R27: the most tokens one assignee may use in a day, across all its grants.
public struct AssigneeCap: Sendable, Equatable, Codable {
    public var party: PartyID
    public var dailyTokens: Int64

    public init(party: PartyID, dailyTokens: Int64) {
        self.party = party
        self.dailyTokens = dailyTokens
    }
}
