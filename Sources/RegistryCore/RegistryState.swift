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
    case policy(PolicyRecord)
    case accessRequest(AccessRequest)
    case grant(Grant)
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
    public internal(set) var datasets = DatasetTable()
    public internal(set) var registrations = RegistrationTable()
    public internal(set) var objections = DenseTable<Objection>()
    public internal(set) var certificates = CertificateTable()
    public internal(set) var settings = RegistrySettings()
    public internal(set) var derivations = DerivationTable()
    public internal(set) var flagCascades = DenseTable<FlagCascade>()
    /// The lineage of every dataset, with effective restrictions kept current.
    public internal(set) var lineage = LineageGraph()
    /// Working memory of the single writer's graph updates (readers bring their own).
    var writerScratch = TraversalScratch()
    public internal(set) var auditHead = AuditHead()
    public internal(set) var accessRequests = AccessRequestTable()
    public internal(set) var grants = GrantTable()
    /// Each dataset's policy as set, and compiled for evaluation (R20).
    var policies = PolicyTable()

    // Indexes, derived from the tables on apply.
    var partyByCreditCode: [String: PartyID] = [:]
    var apiKeyByPrefix: [String: APIKeyID] = [:]
    var registrationsByDataset = ChainIndex()
    var certificatesByDataset = ChainIndex()
    var objectionsByRegistration: [RegistrationID: [ObjectionID]] = [:]
    /// Registrations in public notice, which the clock may complete.
    var inNotice: Set<RegistrationID> = []
    /// Grants by assignee and dataset: what a decision looks up.
    var grantsByHolding = PairChainIndex()
    var grantsByDataset = ChainIndex()
    /// Requests waiting for their holder's reply (R19 overdue queries).
    var awaitingReply: Set<AccessRequestID> = []
    /// R16: individuals covered by cross-border grants, per processor and calendar year.
    var crossBorderIndividuals: [CrossBorderKey: CrossBorderCount] = [:]
    /// Metering: quotas used, daily counters, ledger accounts, remembered idempotency keys (R26–R28).
    public internal(set) var usage = UsageMeter()
    /// R27: assignees' daily caps from the settings, by party.
    var assigneeCaps: [PartyID: Int64] = [:]

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
            restrictions.individualsCovered = Restrictions.saturated(dataset.individualsCovered)
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
                registrationsByDataset.append(registration.id.rawValue, to: registration.dataset.rawValue)
            }
            registrations.upsert(registration, id: registration.id.rawValue)
            if registration.status == .publicNotice { inNotice.insert(registration.id) } else { inNotice.remove(registration.id) }
        case .objection(let objection):
            if objections[objection.id.rawValue] == nil {
                objectionsByRegistration[objection.registration, default: []].append(objection.id)
            }
            objections.upsert(objection, id: objection.id.rawValue)
        case .certificate(let certificate):
            if certificates[certificate.id.rawValue] == nil {
                certificatesByDataset.append(certificate.id.rawValue, to: certificate.dataset.rawValue)
            }
            certificates.upsert(certificate, id: certificate.id.rawValue)
        case .settings(let settings):
            self.settings = settings
            assigneeCaps = Dictionary(settings.assigneeDailyCaps.map { ($0.party, $0.dailyTokens) }, uniquingKeysWith: { _, last in last })
        case .policy(let record):
            let restrictions = storePolicy(record)
            lineage.setOwnRestrictions(restrictions, of: Int32(record.dataset.rawValue), scratch: &writerScratch)
        case .accessRequest(let request):
            accessRequests.upsert(request, id: request.id.rawValue)
            if request.state == .awaitingHolder { awaitingReply.insert(request.id) } else { awaitingReply.remove(request.id) }
        case .grant(let grant):
            if grants[grant.id.rawValue] == nil {
                grantsByHolding.append(grant.id.rawValue, to: grant.assignee.rawValue, grant.dataset.rawValue)
                grantsByDataset.append(grant.id.rawValue, to: grant.dataset.rawValue)
                if grant.crossBorder && grant.individualsCovered > 0 {
                    let key = CrossBorderKey(processor: grant.assignee, year: Int32(settings.calendar.date(at: grant.createdAt).components.year))
                    crossBorderIndividuals[key, default: CrossBorderCount()].add(grant.individualsCovered, sensitive: grant.sensitive)
                }
            }
            grants.upsert(grant, id: grant.id.rawValue)
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

    /// Stores and compiles a policy; returns its dataset's own restrictions with the policy's part (R21).
    private mutating func storePolicy(_ record: PolicyRecord) -> Restrictions {
        let template = policies.template(for: record.policy.rules)
        policies.set(record, template: template)
        return restrictions(of: record.dataset, with: template)
    }

    /// `dataset`'s own restrictions with the part its policy contributes (R21).
    private func restrictions(of dataset: DatasetID, with template: PolicyTemplate) -> Restrictions {
        let contribution = template.compiled.restrictionContribution()
        var restrictions = lineage.ownRestrictions(of: Int32(dataset.rawValue))
        restrictions.prohibitions = contribution.prohibitedPurposes
        restrictions.permittedPurposes = contribution.permittedPurposes
        restrictions.permittedRegions = contribution.permittedRegions
        return restrictions
    }

    /// The shared copy of `rules` with its compiled form, made the first time these rules are seen.
    /// Precondition: the rules are valid (they passed ``Policy/validate()`` when they were set).
    public mutating func policyTemplate(for rules: [PolicyRule]) -> PolicyTemplate {
        policies.template(for: rules)
    }

    /// One policy of a registry built in memory, before ``finishLoadingDerivations()``: its restrictions
    /// reach the descendants in that one topological pass rather than one propagation per policy.
    public mutating func applyLoadedPolicy(_ record: PolicyRecord) {
        let restrictions = storePolicy(record)
        lineage.setOwnRestrictionsForRebuild(restrictions, of: Int32(record.dataset.rawValue))
    }

    /// Computes every dataset's effective restrictions in one topological pass.
    public mutating func finishLoadingDerivations() {
        lineage.recomputeAll(scratch: &writerScratch)
        lineage.compact()
    }

    /// Takes over `other`'s registrations, objections, certificates, access requests and grants with
    /// their indexes, whole (a rebuild reads them on a second connection into a state of their own).
    /// Precondition: this state has none of them yet.
    public mutating func adoptRecords(of other: RegistryState) {
        precondition(registrations.count == 0 && certificates.count == 0 && grants.count == 0 && accessRequests.count == 0,
            "records are adopted into a state that has none")
        registrations = other.registrations
        objections = other.objections
        certificates = other.certificates
        accessRequests = other.accessRequests
        grants = other.grants
        registrationsByDataset = other.registrationsByDataset
        certificatesByDataset = other.certificatesByDataset
        objectionsByRegistration = other.objectionsByRegistration
        inNotice = other.inNotice
        grantsByHolding = other.grantsByHolding
        grantsByDataset = other.grantsByDataset
        awaitingReply = other.awaitingReply
        crossBorderIndividuals = other.crossBorderIndividuals
    }

    /// A policy of a rebuild with its template (which the rebuild found by the policy's stored text), after
    /// its dataset and before ``finishLoadingDerivations()``: as ``applyLoadedPolicy(_:)``.
    public mutating func applyLoadedPolicy(_ record: PolicyRecord, template: PolicyTemplate) {
        policies.set(record, template: template)
        lineage.setOwnRestrictionsForRebuild(restrictions(of: record.dataset, with: template), of: Int32(record.dataset.rawValue))
    }

    /// Sets the chain head after a rebuild from the database.
    public mutating func restoreAuditHead(_ head: AuditHead) {
        auditHead = head
    }

    // MARK: Lookups

    public func party(_ id: PartyID) -> Party? { parties[id.rawValue] }
    public func dataset(_ id: DatasetID) -> Dataset? { datasets[id.rawValue] }
    public func registration(_ id: RegistrationID) -> Registration? { registrations[id.rawValue] }
    public func registration(number: String) -> Registration? { registrations.id(number: number).flatMap { registrations[$0] } }
    public func certificate(_ id: CertificateID) -> Certificate? { certificates[id.rawValue] }
    public func certificate(number: String) -> Certificate? { certificates.id(number: number).flatMap { certificates[$0] } }
    public func objection(_ id: ObjectionID) -> Objection? { objections[id.rawValue] }
    public func apiKey(prefix: String) -> APIKey? { apiKeyByPrefix[prefix].flatMap { apiKeys[$0.rawValue] } }

    public func objections(of registration: RegistrationID) -> [Objection] {
        (objectionsByRegistration[registration] ?? []).compactMap { objections[$0.rawValue] }
    }

    public func registrations(of dataset: DatasetID) -> [Registration] {
        registrationsByDataset.members(of: dataset.rawValue).compactMap { registrations[$0] }
    }

    public func accessRequest(_ id: AccessRequestID) -> AccessRequest? { accessRequests[id.rawValue] }
    public func accessRequest(number: String) -> AccessRequest? { accessRequests.id(number: number).flatMap { accessRequests[$0] } }
    public func grant(_ id: GrantID) -> Grant? { grants[id.rawValue] }
    public func grant(number: String) -> Grant? { grants.id(number: number).flatMap { grants[$0] } }
    public func policy(of dataset: DatasetID) -> PolicyRecord? { policies[dataset] }
    /// The number of datasets with a policy.
    public var policyCount: Int { policies.count }
    /// The number of distinct rule lists among them (each held and compiled once).
    public var policyTemplateCount: Int { policies.templateCount }

    /// Grants on `dataset` (any state), oldest first.
    public func grants(on dataset: DatasetID) -> [Grant] {
        grantsByDataset.members(of: dataset.rawValue).compactMap { grants[$0] }
    }

    /// Requests waiting for their holder's reply, oldest first.
    public var requestsAwaitingReply: [AccessRequest] {
        awaitingReply.sorted().compactMap { accessRequests[$0.rawValue] }
    }

    /// R19: requests whose reply was due before `today` and has not come.
    public func overdueReplies(on today: CivilDate) -> [AccessRequest] {
        requestsAwaitingReply.filter { request in request.replyDueOn.map { $0 < today } ?? false }
    }

    /// R16: individuals covered by `processor`'s cross-border grants in `year`.
    public func crossBorderCount(of processor: PartyID, year: Int32) -> CrossBorderCount {
        crossBorderIndividuals[CrossBorderKey(processor: processor, year: year)] ?? CrossBorderCount()
    }

    public func certificates(of dataset: DatasetID) -> [Certificate] {
        certificatesByDataset.members(of: dataset.rawValue).compactMap { certificates[$0] }
    }

    /// Registrations in public notice (for the clock).
    public var registrationsInNotice: [Registration] {
        inNotice.sorted().compactMap { registrations[$0.rawValue] }
    }
}

/// A party's access to one dataset: the key of the grant index.
struct CrossBorderKey: Hashable, Sendable {
    var processor: PartyID
    var year: Int32
}

/// R16: individuals whose personal information one processor has received across the border in a year.
public struct CrossBorderCount: Sendable, Equatable {
    /// Every individual, sensitive or not.
    public var individuals: Int64 = 0
    /// Individuals whose sensitive personal information was included.
    public var sensitiveIndividuals: Int64 = 0

    public init() {}

    /// Adds `count` individuals, saturating at `Int64.max`: each grant's count is bounded, their number is not.
    mutating func add(_ count: Int64, sensitive: Bool) {
        func saturatingSum(_ a: Int64, _ b: Int64) -> Int64 {
            let (sum, overflow) = a.addingReportingOverflow(b)
            return overflow ? .max : sum
        }
        individuals = saturatingSum(individuals, count)
        if sensitive { sensitiveIndividuals = saturatingSum(sensitiveIndividuals, count) }
    }
}
