/// The rights domain: registrations, the objections lodged in their public notice and the certificates
/// they issue (R2–R9), with the indexes that find them. Changed only by ``apply(_:)`` with records the
/// store has made durable.
public struct RightsState: Sendable {
    public internal(set) var registrations = RegistrationTable()
    public internal(set) var objections = DenseTable<Objection>()
    public internal(set) var certificates = CertificateTable()
    var registrationsByDataset = ChainIndex()
    var certificatesByDataset = ChainIndex()
    var objectionsByRegistration: [RegistrationID: [ObjectionID]] = [:]
    /// Registrations in public notice, which the clock may complete.
    var inNotice: Set<RegistrationID> = []

    public init() {}

    mutating func apply(_ registration: Registration) {
        if registrations[registration.id.rawValue] == nil {
            registrationsByDataset.append(registration.id.rawValue, to: registration.dataset.rawValue)
        }
        registrations.upsert(registration, id: registration.id.rawValue)
        if registration.status == .publicNotice { inNotice.insert(registration.id) } else { inNotice.remove(registration.id) }
    }

    mutating func apply(_ objection: Objection) {
        if objections[objection.id.rawValue] == nil {
            objectionsByRegistration[objection.registration, default: []].append(objection.id)
        }
        objections.upsert(objection, id: objection.id.rawValue)
    }

    mutating func apply(_ certificate: Certificate) {
        if certificates[certificate.id.rawValue] == nil {
            certificatesByDataset.append(certificate.id.rawValue, to: certificate.dataset.rawValue)
        }
        certificates.upsert(certificate, id: certificate.id.rawValue)
    }

    public func registration(_ id: RegistrationID) -> Registration? { registrations[id.rawValue] }
    public func registration(number: String) -> Registration? { registrations.id(number: number).flatMap { registrations[$0] } }
    public func certificate(_ id: CertificateID) -> Certificate? { certificates[id.rawValue] }
    public func certificate(number: String) -> Certificate? { certificates.id(number: number).flatMap { certificates[$0] } }
    public func objection(_ id: ObjectionID) -> Objection? { objections[id.rawValue] }

    public func objections(of registration: RegistrationID) -> [Objection] {
        (objectionsByRegistration[registration] ?? []).compactMap { objections[$0.rawValue] }
    }

    public func registrations(of dataset: DatasetID) -> [Registration] {
        registrationsByDataset.members(of: dataset.rawValue).compactMap { registrations[$0] }
    }

    public func certificates(of dataset: DatasetID) -> [Certificate] {
        certificatesByDataset.members(of: dataset.rawValue).compactMap { certificates[$0] }
    }

    /// Registrations in public notice (for the clock).
    public var registrationsInNotice: [Registration] {
        inNotice.sorted().compactMap { registrations[$0.rawValue] }
    }
}
