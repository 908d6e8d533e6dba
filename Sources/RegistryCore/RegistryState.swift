/// One record to store, whole: the unit of every durable change. The store upserts it by id; the core
/// applies it the same way, so that state rebuilt from the database equals state built in memory.
public enum RecordChange: Sendable, Equatable {
    case party(Party)
    case apiKey(APIKey)
    case dataset(Dataset)
    case registration(Registration)
    case objection(Objection)
    case certificate(Certificate)
    case settings(RegistrySettings)
    case derivation(Derivation)
    case flagCascade(FlagCascade)
}

/// R25: a dataset flagged (source unlawful, or its registration revoked) and every descendant that
/// inherited the flag, as recorded when it happened.
public struct FlagCascade: Sendable, Equatable, Codable {
    public var id: Int64
    public var dataset: DatasetID
    public var reason: String
    public var descendants: [DatasetID]
    public var by: PartyID?
    public var at: Timestamp

    public init(id: Int64, dataset: DatasetID, reason: String, descendants: [DatasetID], by: PartyID?, at: Timestamp) {
        self.id = id
        self.dataset = dataset
        self.reason = reason
        self.descendants = descendants
        self.by = by
        self.at = at
    }
}

/// A state change as it will be audited: what happened and the record it left.
public struct ChangeEntry: Sendable, Equatable {
    /// e.g. `registration.submitted`, `certificate.superseded`.
    public var kind: String
    public var record: RecordChange

    public init(_ kind: String, _ record: RecordChange) {
        self.kind = kind
        self.record = record
    }
}

/// Everything the registry knows, held in memory. Changed only through ``apply(_:)`` by the single
/// writer; every decision reads it.
public struct RegistryState: Sendable {
    public internal(set) var parties = DenseTable<Party>()
    public internal(set) var apiKeys = DenseTable<APIKey>()
    public internal(set) var datasets = DenseTable<Dataset>()
    public internal(set) var registrations = DenseTable<Registration>()
    public internal(set) var objections = DenseTable<Objection>()
    public internal(set) var certificates = DenseTable<Certificate>()
    public internal(set) var settings = RegistrySettings()
    public internal(set) var derivations = DerivationTable()
    public internal(set) var flagCascades = DenseTable<FlagCascade>()
    /// The lineage of every dataset, with effective restrictions kept current.
    public internal(set) var lineage = LineageGraph()
    /// Working memory of the single writer's graph updates (readers bring their own).
    var writerScratch = TraversalScratch()
    public internal(set) var auditHead = AuditHead()

    // Indexes, derived from the tables on apply.
    var partyByCreditCode: [String: PartyID] = [:]
    var apiKeyByPrefix: [String: APIKeyID] = [:]
    var registrationByNumber: [String: RegistrationID] = [:]
    var certificateByNumber: [String: CertificateID] = [:]
    var registrationsByDataset: [DatasetID: [RegistrationID]] = [:]
    var certificatesByDataset: [DatasetID: [CertificateID]] = [:]
    var objectionsByRegistration: [RegistrationID: [ObjectionID]] = [:]
    /// Registrations in public notice, which the clock may complete.
    var inNotice: Set<RegistrationID> = []

    public init() {}

    /// Stores `change`'s record and keeps the indexes in step.
    public mutating func apply(_ change: RecordChange) {
        switch change {
        case .party(let party):
            parties.upsert(party, id: party.id.rawValue)
            if let code = party.creditCode { partyByCreditCode[code] = party.id }
        case .apiKey(let key):
            apiKeys.upsert(key, id: key.id.rawValue)
            apiKeyByPrefix[key.prefix] = key.id
        case .dataset(let dataset):
            datasets.upsert(dataset, id: dataset.id.rawValue)
            lineage.ensureNode(Int32(dataset.id.rawValue))
            var restrictions = lineage.ownRestrictions(of: Int32(dataset.id.rawValue))
            restrictions.grade = dataset.grade
            restrictions.personalInformation = dataset.personalInformation
            restrictions.flagged = dataset.flagged
            lineage.setOwnRestrictions(restrictions, of: Int32(dataset.id.rawValue), scratch: &writerScratch)
        case .derivation(let derivation):
            let source = Int32(derivation.source.rawValue)
            let target = Int32(derivation.target.rawValue)
            if derivations[derivation.id] == nil {
                do {
                    try lineage.addEdge(from: source, to: target, kind: derivation.kind, scratch: &writerScratch)
                } catch {
                    preconditionFailure("a planned derivation must fit the graph: \(error)")
                }
            } else {
                lineage.setKind(derivation.kind, from: source, to: target, scratch: &writerScratch)
            }
            derivations.upsert(derivation)
        case .flagCascade(let cascade):
            flagCascades.upsert(cascade, id: cascade.id)
        case .registration(let registration):
            if registrations[registration.id.rawValue] == nil {
                registrationsByDataset[registration.dataset, default: []].append(registration.id)
            }
            registrations.upsert(registration, id: registration.id.rawValue)
            registrationByNumber[registration.number] = registration.id
            if registration.status == .publicNotice { inNotice.insert(registration.id) } else { inNotice.remove(registration.id) }
        case .objection(let objection):
            if objections[objection.id.rawValue] == nil {
                objectionsByRegistration[objection.registration, default: []].append(objection.id)
            }
            objections.upsert(objection, id: objection.id.rawValue)
        case .certificate(let certificate):
            if certificates[certificate.id.rawValue] == nil {
                certificatesByDataset[certificate.dataset, default: []].append(certificate.id)
            }
            certificates.upsert(certificate, id: certificate.id.rawValue)
            certificateByNumber[certificate.number] = certificate.id
        case .settings(let settings):
            self.settings = settings
        }
    }

    /// Applies each entry and appends its audit entry to the chain; returns the audit entries.
    public mutating func apply(_ entries: [ChangeEntry], actor: String, at: Timestamp) -> [AuditEntry] {
        var audit: [AuditEntry] = []
        for entry in entries {
            apply(entry.record)
            audit.append(auditHead.append(at: at, actor: actor, kind: entry.kind, payload: CanonicalJSON.encode(entry.record)))
        }
        return audit
    }

    /// Loads derivations read back from the database: edges without cycle checks (they were checked when
    /// recorded), then one topological pass over the whole graph.
    public mutating func loadDerivations(_ loaded: [Derivation]) {
        for derivation in loaded { appendLoadedDerivation(derivation) }
        finishLoadingDerivations()
    }

    /// One derivation of a rebuild; call ``finishLoadingDerivations()`` after the last.
    public mutating func appendLoadedDerivation(_ derivation: Derivation) {
        derivations.upsert(derivation)
        lineage.appendTrustedEdge(from: Int32(derivation.source.rawValue), to: Int32(derivation.target.rawValue), kind: derivation.kind)
    }

    /// Computes every dataset's effective restrictions in one topological pass.
    public mutating func finishLoadingDerivations() {
        lineage.recomputeAll(scratch: &writerScratch)
        lineage.compact()
    }

    /// Sets the chain head after a rebuild from the database.
    public mutating func restoreAuditHead(_ head: AuditHead) {
        auditHead = head
    }

    // MARK: Lookups

    public func party(_ id: PartyID) -> Party? { parties[id.rawValue] }
    public func dataset(_ id: DatasetID) -> Dataset? { datasets[id.rawValue] }
    public func registration(_ id: RegistrationID) -> Registration? { registrations[id.rawValue] }
    public func registration(number: String) -> Registration? { registrationByNumber[number].flatMap { registrations[$0.rawValue] } }
    public func certificate(_ id: CertificateID) -> Certificate? { certificates[id.rawValue] }
    public func certificate(number: String) -> Certificate? { certificateByNumber[number].flatMap { certificates[$0.rawValue] } }
    public func objection(_ id: ObjectionID) -> Objection? { objections[id.rawValue] }
    public func apiKey(prefix: String) -> APIKey? { apiKeyByPrefix[prefix].flatMap { apiKeys[$0.rawValue] } }

    public func objections(of registration: RegistrationID) -> [Objection] {
        (objectionsByRegistration[registration] ?? []).compactMap { objections[$0.rawValue] }
    }

    public func registrations(of dataset: DatasetID) -> [Registration] {
        (registrationsByDataset[dataset] ?? []).compactMap { registrations[$0.rawValue] }
    }

    public func certificates(of dataset: DatasetID) -> [Certificate] {
        (certificatesByDataset[dataset] ?? []).compactMap { certificates[$0.rawValue] }
    }

    /// Registrations in public notice (for the clock).
    public var registrationsInNotice: [Registration] {
        inNotice.sorted().compactMap { registrations[$0.rawValue] }
    }
}
