/// What an audit entry records: every kind of state change the chain holds (R30), by domain. The raw
/// value is the kind stored in each entry (and hashed with it), so it never changes once written.
public enum AuditKind: String, CaseIterable, Sendable, Codable {
    // access_request
    case accessRequestAgreed = "access_request.agreed"
    case accessRequestApproved = "access_request.approved"
    case accessRequestAwaitingHolder = "access_request.awaiting_holder"
    case accessRequestRefused = "access_request.refused"
    case accessRequestRefusedByHolder = "access_request.refused_by_holder"
    case accessRequestWithdrawn = "access_request.withdrawn"
    // api_key
    case apiKeyIssued = "api_key.issued"
    case apiKeyRevoked = "api_key.revoked"
    // certificate
    case certificateIssued = "certificate.issued"
    case certificateRevoked = "certificate.revoked"
    case certificateSuperseded = "certificate.superseded"
    // clock
    case clockAdvanced = "clock.advanced"
    // dataset
    case datasetFingerprintChanged = "dataset.fingerprint_changed"
    case datasetFlagged = "dataset.flagged"
    case datasetHolderChanged = "dataset.holder_changed"
    case datasetRegistered = "dataset.registered"
    case datasetUpdated = "dataset.updated"
    // derivation
    case derivationAnonymisationApproved = "derivation.anonymisation_approved"
    case derivationRecorded = "derivation.recorded"
    // grant
    case grantActive = "grant.active"
    case grantAgreed = "grant.agreed"
    case grantExpired = "grant.expired"
    case grantRequested = "grant.requested"
    case grantAwaitingHolder = "grant.awaiting_holder"
    case grantRefused = "grant.refused"
    case grantRevoked = "grant.revoked"
    case grantSuspended = "grant.suspended"
    case grantTerminated = "grant.terminated"
    // lineage
    case lineageFlagCascade = "lineage.flag_cascade"
    // objection
    case objectionLodged = "objection.lodged"
    case objectionRuled = "objection.ruled"
    // party
    case partyRegistered = "party.registered"
    // policy
    case policySet = "policy.set"
    // registration
    case registrationAccepted = "registration.accepted"
    case registrationIssued = "registration.issued"
    case registrationNoticeResumed = "registration.notice_resumed"
    case registrationNoticeStarted = "registration.notice_started"
    case registrationObjectionLodged = "registration.objection_lodged"
    case registrationObjectionRuled = "registration.objection_ruled"
    case registrationPublicNotice = "registration.public_notice"
    case registrationRecorded = "registration.recorded"
    case registrationRefused = "registration.refused"
    case registrationReviewStarted = "registration.review_started"
    case registrationSubmitted = "registration.submitted"
    case registrationSuspended = "registration.suspended"
    case registrationUnderReview = "registration.under_review"
    // settings
    case settingsAssigneeCapChanged = "settings.assignee_cap_changed"
    case settingsChanged = "settings.changed"
    // usage
    case usageBatch = "usage.batch"
}

extension AuditKind {
    /// The kind that records a grant entering `state`.
    public static func grant(_ state: AccessState) -> AuditKind {
        switch state {
        case .requested: .grantRequested
        case .awaitingHolder: .grantAwaitingHolder
        case .refused: .grantRefused
        case .agreed: .grantAgreed
        case .active: .grantActive
        case .suspended: .grantSuspended
        case .revoked: .grantRevoked
        case .expired: .grantExpired
        case .terminated: .grantTerminated
        }
    }

    /// The kind that records a registration entering `status` (a registry built in memory records each
    /// registration once, in the status it has reached).
    public static func registration(_ status: RegistrationStatus) -> AuditKind {
        switch status {
        case .submitted: .registrationSubmitted
        case .underReview: .registrationUnderReview
        case .publicNotice: .registrationPublicNotice
        case .suspended: .registrationSuspended
        case .issued: .registrationIssued
        case .recorded: .registrationRecorded
        case .refused: .registrationRefused
        }
    }
}
