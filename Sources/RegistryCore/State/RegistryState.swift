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
    public var kind: AuditKind
    public var record: RecordChange

    public init(_ kind: AuditKind, _ record: RecordChange) {
        self.kind = kind
        self.record = record
    }
}

/// Everything the registry knows, held in memory, by domain. Each domain owns its tables and indexes,
/// applies its own records and plans its own commands (``plan(_:by:at:)`` dispatches); the state is
/// changed only through ``apply(_:)`` by the single writer, and every decision reads it.
///
/// The catalog, rights, market and usage domains live in ``CopyOnWrite`` boxes (the lineage inline, see
/// ``lineage``): a copy of the whole state is a few dozen retains rather than one per table and index, and a
/// copy a planner makes to try changes out (``planDue(at:)``) copies only the domains it writes.
public struct RegistryState: Sendable {
    private var catalogBox = CopyOnWrite(CatalogState())
    private var rightsBox = CopyOnWrite(RightsState())
    private var marketBox = CopyOnWrite(MarketState())
    private var usageBox = CopyOnWrite(UsageMeter())

    public internal(set) var catalog: CatalogState {
        unsafeAddress { catalogBox.address }
        unsafeMutableAddress { catalogBox.uniqueAddress() }
    }
    public internal(set) var rights: RightsState {
        unsafeAddress { rightsBox.address }
        unsafeMutableAddress { rightsBox.uniqueAddress() }
    }
    /// Held inline, not boxed: decisions read the graph in place on every request, and through a box the
    /// compiler copied it (a retain of each of its arrays) wherever a closure reads it — a fifth of the
    /// decision path (DecisionBench). A copy of the state retains its arrays instead (about twenty).
    public internal(set) var lineage = LineageState()
    public internal(set) var market: MarketState {
        unsafeAddress { marketBox.address }
        unsafeMutableAddress { marketBox.uniqueAddress() }
    }
    /// Metering: quotas used, daily counters, ledger accounts, remembered idempotency keys (R26–R28).
    public internal(set) var usage: UsageMeter {
        unsafeAddress { usageBox.address }
        unsafeMutableAddress { usageBox.uniqueAddress() }
    }
    public internal(set) var settings = RegistrySettings()
    /// R27: assignees' daily caps from the settings, by party.
    var assigneeCaps: [PartyID: Int64] = [:]
    public internal(set) var auditHead = AuditHead()

    public init() {}

    /// Stores `change`'s record in its domain and keeps the indexes in step. A dataset's and a policy's
    /// records reach the lineage too (they set a node's own restrictions); a grant is dated by the settings.
    public mutating func apply(_ change: RecordChange) {
        switch change {
        case .party(let party): catalog.apply(party)
        case .apiKey(let key): catalog.apply(key)
        case .dataset(let dataset):
            catalog.apply(dataset)
            lineage.apply(dataset)
        case .derivation(let derivation): lineage.apply(derivation)
        case .flagCascade(let cascade): lineage.apply(cascade)
        case .registration(let registration): rights.apply(registration)
        case .objection(let objection): rights.apply(objection)
        case .certificate(let certificate): rights.apply(certificate)
        case .settings(let settings):
            self.settings = settings
            assigneeCaps = Dictionary(settings.assigneeDailyCaps.map { ($0.party, $0.dailyTokens) }, uniquingKeysWith: { _, last in last })
        case .policy(let record):
            let template = market.apply(record)
            lineage.applyPolicy(template, to: record.dataset, rebuilding: false)
        case .accessRequest(let request): market.apply(request)
        case .grant(let grant): market.apply(grant, calendar: settings.calendar)
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

    // MARK: Rebuilding from the database

    /// Loads derivations read back from the database: edges without cycle checks (they were checked when
    /// recorded), then one topological pass over the whole graph.
    public mutating func loadDerivations(_ loaded: [Derivation]) {
        for derivation in loaded { appendLoadedDerivation(derivation) }
        finishLoadingDerivations()
    }

    /// One derivation of a rebuild; call ``finishLoadingDerivations()`` after the last.
    public mutating func appendLoadedDerivation(_ derivation: Derivation) {
        lineage.appendLoaded(derivation)
    }

    /// The shared copy of `rules` with its compiled form, made the first time these rules are seen.
    /// Precondition: the rules are valid (they passed ``Policy/validate()`` when they were set).
    public mutating func policyTemplate(for rules: [PolicyRule]) -> PolicyTemplate {
        market.policies.template(for: rules)
    }

    /// One policy of a registry built in memory, before ``finishLoadingDerivations()``: its restrictions
    /// reach the descendants in that one topological pass rather than one propagation per policy.
    public mutating func applyLoadedPolicy(_ record: PolicyRecord) {
        let template = market.apply(record)
        lineage.applyPolicy(template, to: record.dataset, rebuilding: true)
    }

    /// A policy of a rebuild with its template (which the rebuild found by the policy's stored text), after
    /// its dataset and before ``finishLoadingDerivations()``: as ``applyLoadedPolicy(_:)``.
    public mutating func applyLoadedPolicy(_ record: PolicyRecord, template: PolicyTemplate) {
        market.apply(record, template: template)
        lineage.applyPolicy(template, to: record.dataset, rebuilding: true)
    }

    /// Computes every dataset's effective restrictions in one topological pass.
    public mutating func finishLoadingDerivations() {
        lineage.finishLoading()
    }

    /// Takes over `other`'s registrations, objections, certificates, access requests and grants with
    /// their indexes, whole (a rebuild reads them on a second connection into a state of their own).
    /// Precondition: this state has none of them yet.
    public mutating func adoptRecords(of other: RegistryState) {
        precondition(rights.registrations.count == 0 && rights.certificates.count == 0, "records are adopted into a state that has none")
        rights = other.rights
        market.adoptRequestsAndGrants(of: other.market)
    }

    /// Sets the chain head after a rebuild from the database.
    public mutating func restoreAuditHead(_ head: AuditHead) {
        auditHead = head
    }

    // MARK: Lookups (each domain's, for readers that hold the whole state)

    public func party(_ id: PartyID) -> Party? { catalog.party(id) }
    public func dataset(_ id: DatasetID) -> Dataset? { catalog.dataset(id) }
    public func apiKey(prefix: String) -> APIKey? { catalog.apiKey(prefix: prefix) }
    public func registration(_ id: RegistrationID) -> Registration? { rights.registration(id) }
    public func registration(number: String) -> Registration? { rights.registration(number: number) }
    public func certificate(_ id: CertificateID) -> Certificate? { rights.certificate(id) }
    public func certificate(number: String) -> Certificate? { rights.certificate(number: number) }
    public func objection(_ id: ObjectionID) -> Objection? { rights.objection(id) }
    public func objections(of registration: RegistrationID) -> [Objection] { rights.objections(of: registration) }
    public func registrations(of dataset: DatasetID) -> [Registration] { rights.registrations(of: dataset) }
    public func certificates(of dataset: DatasetID) -> [Certificate] { rights.certificates(of: dataset) }
    /// Registrations in public notice (for the clock).
    public var registrationsInNotice: [Registration] { rights.registrationsInNotice }
    public func accessRequest(_ id: AccessRequestID) -> AccessRequest? { market.accessRequest(id) }
    public func accessRequest(number: String) -> AccessRequest? { market.accessRequest(number: number) }
    public func grant(_ id: GrantID) -> Grant? { market.grant(id) }
    public func grant(number: String) -> Grant? { market.grant(number: number) }
    public func policy(of dataset: DatasetID) -> PolicyRecord? { market.policy(of: dataset) }
    /// The number of datasets with a policy.
    public var policyCount: Int { market.policies.count }
    /// The number of distinct rule lists among them (each held and compiled once).
    public var policyTemplateCount: Int { market.policies.templateCount }
    /// Grants on `dataset` (any state), oldest first.
    public func grants(on dataset: DatasetID) -> [Grant] { market.grants(on: dataset) }
    /// Requests waiting for their holder's reply, oldest first.
    public var requestsAwaitingReply: [AccessRequest] { market.requestsAwaitingReply }

    /// R19: requests whose reply was due before `today` and has not come.
    public func overdueReplies(on today: CivilDate) -> [AccessRequest] {
        requestsAwaitingReply.filter { request in request.replyDueOn.map { $0 < today } ?? false }
    }

    /// R16: individuals covered by `processor`'s cross-border grants in `year`.
    public func crossBorderCount(of processor: PartyID, year: Int32) -> CrossBorderCount {
        market.crossBorderCount(of: processor, year: year)
    }
}

/// R16: the key of the cross-border counts: one processor in one calendar year.
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
