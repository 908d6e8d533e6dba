/// R29, R3: the full rights history of a dataset — every registration of each kind, objection, ruling,
/// certificate and transfer — as one list of events in time order, read from the records the registry
/// keeps (nothing is deleted, R3). The steps between submission and decision (review, notice) are in the
/// audit chain (R30), not here.

/// What happened.
public enum RightsEventKind: String, Sendable, Codable, CaseIterable {
    /// A registration of any kind was submitted (its outcome: the registration's status now).
    case registrationSubmitted = "registration.submitted"
    case objectionLodged = "objection.lodged"
    case objectionRuled = "objection.ruled"
    /// It was refused: at submission, on review, or on an upheld objection.
    case registrationRefused = "registration.refused"
    /// A cancellation or revocation took effect.
    case registrationRecorded = "registration.recorded"
    case certificateIssued = "certificate.issued"
    /// A transfer registration moved the right to its transferee.
    case rightTransferred = "right.transferred"
    case certificateSuperseded = "certificate.superseded"
    case certificateRevoked = "certificate.revoked"

    /// Among events at the same instant, the order they happen in (a ruling before the refusal or issue it
    /// brings, an issue before the supersession it causes).
    public var order: Int { Self.allCases.firstIndex(of: self)! }
}

/// One event of a dataset's rights history.
public struct RightsEvent: Sendable, Equatable {
    public var at: Timestamp
    public var kind: RightsEventKind
    /// The registration or certificate number; an objection's id as text.
    public var number: String
    /// Who acted or holds: the applicant, objector, registrar that ruled, certificate holders, transferee.
    public var parties: [PartyID]
    public var right: RightKind
    /// The registration's kind, for registration events and the transfer.
    public var registrationKind: RegistrationKind?
    /// The registration's status now, the ruling, or the certificate's status today.
    public var outcome: String
    public var detail: String
    /// The record it comes from, to order events at the same instant.
    var recordID: Int64
}

extension RegistryState {
    /// Every rights event of `dataset`, oldest first (events at the same instant in ``RightsEventKind/order``,
    /// then by record id). A certificate is issued when its registration completed (the registration's
    /// last update); a certificate loaded without that record is dated the start of its issue day.
    public func rightsHistory(of dataset: DatasetID, on today: CivilDate) -> [RightsEvent] {
        var events: [RightsEvent] = []
        let registrations = rights.registrations(of: dataset)
        for registration in registrations {
            let target = registration.targetCertificate.flatMap { certificate($0)?.number }
            var detail: [String] = []
            if let sourceType = registration.sourceType { detail.append("source type \(sourceType.rawValue)") }
            if let target { detail.append("acts on \(target)") }
            if let transferee = registration.transferee { detail.append("to party \(transferee.rawValue)") }
            if let statement = registration.statement { detail.append(statement) }
            events.append(RightsEvent(
                at: registration.submittedAt, kind: .registrationSubmitted, number: registration.number, parties: [registration.applicant],
                right: registration.right, registrationKind: registration.kind, outcome: registration.status.rawValue,
                detail: detail.joined(separator: "; "), recordID: registration.id.rawValue))
            switch registration.status {
            case .refused:
                events.append(RightsEvent(
                    at: registration.updatedAt, kind: .registrationRefused, number: registration.number, parties: [registration.applicant],
                    right: registration.right, registrationKind: registration.kind, outcome: registration.status.rawValue,
                    detail: registration.refusals.map(\.description).joined(separator: "; "), recordID: registration.id.rawValue))
            case .recorded:
                events.append(RightsEvent(
                    at: registration.updatedAt, kind: .registrationRecorded, number: registration.number, parties: [registration.applicant],
                    right: registration.right, registrationKind: registration.kind, outcome: registration.status.rawValue,
                    detail: target.map { "\($0) ends" } ?? "", recordID: registration.id.rawValue))
            case .submitted, .underReview, .publicNotice, .suspended, .issued:
                break
            }
            for objection in objections(of: registration.id) {
                events.append(RightsEvent(
                    at: objection.lodgedAt, kind: .objectionLodged, number: String(objection.id.rawValue), parties: [objection.objector],
                    right: registration.right, registrationKind: registration.kind, outcome: objection.ruling?.rawValue ?? "pending",
                    detail: "against \(registration.number): \(objection.grounds)", recordID: objection.id.rawValue))
                if let ruling = objection.ruling, let ruledAt = objection.ruledAt {
                    events.append(RightsEvent(
                        at: ruledAt, kind: .objectionRuled, number: String(objection.id.rawValue), parties: objection.ruledBy.map { [$0] } ?? [],
                        right: registration.right, registrationKind: registration.kind, outcome: ruling.rawValue,
                        detail: "on \(registration.number): \(objection.rulingReason ?? "")", recordID: objection.id.rawValue))
                }
            }
        }
        for certificate in certificates(of: dataset) {
            let issuing = registration(certificate.registration)
            let issuedAt = issuing.flatMap { $0.status == .issued && $0.certificate == certificate.id ? $0.updatedAt : nil }
                ?? settings.calendar.startOfDay(certificate.issuedOn)
            events.append(RightsEvent(
                at: issuedAt, kind: .certificateIssued, number: certificate.number, parties: certificate.holders, right: certificate.right,
                registrationKind: issuing?.kind, outcome: certificate.status(on: today).rawValue,
                detail: "issued on \(certificate.issuedOn) by \(issuing?.number ?? "registration \(certificate.registration.rawValue)"), expires on \(certificate.expiresOn)",
                recordID: certificate.id.rawValue))
            if let issuing, issuing.kind == .transfer, let transferee = issuing.transferee {
                let from = issuing.targetCertificate.flatMap { self.certificate($0) }
                events.append(RightsEvent(
                    at: issuedAt, kind: .rightTransferred, number: issuing.number, parties: [transferee], right: certificate.right,
                    registrationKind: .transfer, outcome: certificate.status(on: today).rawValue,
                    detail: "from party " + (from?.holders.map { String($0.rawValue) }.joined(separator: ", ") ?? "?")
                        + " (\(from?.number ?? "?")) to party \(transferee.rawValue) (\(certificate.number))",
                    recordID: certificate.id.rawValue))
            }
            switch certificate.state {
            case .superseded:
                events.append(RightsEvent(
                    at: certificate.stateChangedAt, kind: .certificateSuperseded, number: certificate.number, parties: certificate.holders,
                    right: certificate.right, registrationKind: nil, outcome: certificate.state.rawValue,
                    detail: certificate.supersededBy.flatMap { self.certificate($0) }.map { "by \($0.number)" } ?? "", recordID: certificate.id.rawValue))
            case .revoked:
                events.append(RightsEvent(
                    at: certificate.stateChangedAt, kind: .certificateRevoked, number: certificate.number, parties: certificate.holders,
                    right: certificate.right, registrationKind: nil, outcome: certificate.state.rawValue, detail: "", recordID: certificate.id.rawValue))
            case .active:
                break
            }
        }
        events.sort { ($0.at, $0.kind.order, $0.recordID) < ($1.at, $1.kind.order, $1.recordID) }
        return events
    }
}

extension WorkingCalendar {
    /// The first instant of `date` in the calendar's offset.
    public func startOfDay(_ date: CivilDate) -> Timestamp {
        Timestamp(rawValue: (Int64(date.daysSince1970) * 86_400 - Int64(utcOffsetSeconds)) * 1_000_000)
    }
}
