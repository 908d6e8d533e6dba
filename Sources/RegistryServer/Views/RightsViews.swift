import RegistryCore

// Registrations (claims, transfers, renewals…), objections, rulings and certificates (`RegistryController`):
// request bodies and views.

// MARK: Bodies

struct NewRegistrationBody: Decodable {
    let dataset: Int64
    let right: RightKind
    let kind: RegistrationKind
    let sourceType: SourceType?
    let evidence: [Evidence]?
    let truthfulnessCommitment: Bool
    let applicantRole: ApplicantRole?
    let certificate: String?
    let transferee: Int64?
    let authorisationEndsOn: CivilDate?
    let newFingerprint: String?
    let statement: String?
    let derivedFrom: [SourceBody]?
}

struct DecisionBody: Decodable {
    enum Decision: String, Decodable, CaseIterable { case accept, refuse }
    let decision: Decision
    let reason: String?
}

struct ObjectionBody: Decodable {
    let grounds: String
}

struct RulingBody: Decodable {
    let ruling: ObjectionRuling
    let reason: String
}

// MARK: Views

struct RegistrationView: Codable, Sendable {
    let number: String
    let dataset: Int64
    let applicant: Int64
    let right: String
    let kind: String
    let sourceType: String?
    let evidence: [Evidence]
    let truthfulnessCommitment: Bool
    let applicantRole: String
    let certificate: String?
    let transferee: Int64?
    let authorisationEndsOn: String?
    let newFingerprint: String?
    let statement: String?
    let status: String
    let noticeEndsOn: String?
    let pendingObjections: Int
    let refusals: [Refusal]
    let issuedCertificate: String?
    let submittedAt: String
    let updatedAt: String
    let objections: [ObjectionView]?
}

extension RegistrationView {
    init(_ registration: Registration, in state: RegistryState, objections: [Objection]? = nil) {
        number = registration.number
        dataset = registration.dataset.rawValue
        applicant = registration.applicant.rawValue
        right = registration.right.rawValue
        kind = registration.kind.rawValue
        sourceType = registration.sourceType?.rawValue
        evidence = registration.evidence
        truthfulnessCommitment = registration.truthfulnessCommitment
        applicantRole = registration.applicantRole.rawValue
        certificate = registration.targetCertificate.flatMap { state.certificate($0)?.number }
        transferee = registration.transferee?.rawValue
        authorisationEndsOn = registration.authorisationEndsOn?.description
        newFingerprint = registration.newFingerprint
        statement = registration.statement
        status = registration.status.rawValue
        noticeEndsOn = registration.noticeEndsOn?.description
        pendingObjections = registration.pendingObjections
        refusals = registration.refusals
        issuedCertificate = registration.certificate.flatMap { state.certificate($0)?.number }
        submittedAt = registration.submittedAt.description
        updatedAt = registration.updatedAt.description
        self.objections = objections?.map { ObjectionView($0, registrationNumber: registration.number) }
    }
}

struct ObjectionView: Codable, Sendable {
    let id: Int64
    let registration: String
    let objector: Int64
    let grounds: String
    let lodgedAt: String
    let ruling: String?
    let rulingReason: String?
    let ruledAt: String?
}

extension ObjectionView {
    init(_ objection: Objection, registrationNumber: String) {
        id = objection.id.rawValue
        registration = registrationNumber
        objector = objection.objector.rawValue
        grounds = objection.grounds
        lodgedAt = objection.lodgedAt.description
        ruling = objection.ruling?.rawValue
        rulingReason = objection.rulingReason
        ruledAt = objection.ruledAt?.description
    }
}

/// What anyone may learn about a certificate (R9).
struct CertificateView: Codable, Sendable {
    struct DatasetRef: Codable, Sendable {
        let id: Int64
        let title: String
    }
    struct HolderRef: Codable, Sendable {
        let id: Int64
        let name: String
    }

    let number: String
    let status: String
    let dataset: DatasetRef
    let fingerprint: String
    let fingerprintMatches: Bool?
    let right: String
    let holders: [HolderRef]
    let sourceType: String?
    let issuedOn: String
    let expiresOn: String
    let supersededBy: String?
    let registration: String?
    let statement: String
}

extension CertificateView {
    init(_ certificate: Certificate, in state: RegistryState, today: CivilDate, fingerprint presented: String?) {
        number = certificate.number
        status = certificate.status(on: today).rawValue
        dataset = DatasetRef(id: certificate.dataset.rawValue, title: state.dataset(certificate.dataset)?.title ?? "")
        fingerprint = certificate.fingerprint
        fingerprintMatches = presented.map { $0.lowercased() == certificate.fingerprint }
        right = certificate.right.rawValue
        holders = certificate.holders.map { HolderRef(id: $0.rawValue, name: state.party($0)?.name ?? "") }
        sourceType = certificate.sourceType?.rawValue
        issuedOn = certificate.issuedOn.description
        expiresOn = certificate.expiresOn.description
        supersededBy = certificate.supersededBy.flatMap { state.certificate($0)?.number }
        registration = state.registration(certificate.registration)?.number
        statement = Certificate.statement
    }
}

// MARK: CSV rows (`Respond.page`): examples with every optional object present and every array filled

extension ObjectionView {
    static let example = ObjectionView(
        id: 1, registration: "", objector: 1, grounds: "", lodgedAt: "", ruling: nil, rulingReason: nil, ruledAt: nil)
}

extension RegistrationView: CSVRow {
    static let csvExample = RegistrationView(
        number: "", dataset: 1, applicant: 1, right: "", kind: "", sourceType: nil, evidence: [Evidence(kind: .contract, sha256: "")],
        truthfulnessCommitment: true, applicantRole: "", certificate: nil, transferee: nil, authorisationEndsOn: nil, newFingerprint: nil,
        statement: nil, status: "", noticeEndsOn: nil, pendingObjections: 0, refusals: [Refusal(.r6, "")], issuedCertificate: nil,
        submittedAt: "", updatedAt: "", objections: [ObjectionView.example])
}

extension CertificateView: CSVRow {
    static let csvExample = CertificateView(
        number: "", status: "", dataset: DatasetRef(id: 1, title: ""), fingerprint: "", fingerprintMatches: nil, right: "",
        holders: [HolderRef(id: 1, name: "")], sourceType: nil, issuedOn: "", expiresOn: "", supersededBy: nil, registration: nil,
        statement: "")
}
