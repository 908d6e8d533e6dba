/// The market domain: datasets' rule policies (R20–R22), access requests and the grants they become
/// (R13–R19, R24–R25), with the indexes decisions look up and R16's cross-border counts. Changed only by
/// ``apply(_:)`` with records the store has made durable.
public struct MarketState: Sendable {
    /// Each dataset's policy as set, and compiled for evaluation (R20).
    var policies = PolicyTable()
    public internal(set) var accessRequests = AccessRequestTable()
    public internal(set) var grants = GrantTable()
    /// Grants by assignee and dataset: what a decision looks up.
    var grantsByHolding = PairChainIndex()
    var grantsByDataset = ChainIndex()
    /// Requests waiting for their holder's reply (R19 overdue queries).
    var awaitingReply: Set<AccessRequestID> = []
    /// R16: individuals covered by cross-border grants, per processor and calendar year.
    var crossBorderIndividuals: [CrossBorderKey: CrossBorderCount] = [:]

    public init() {}

    /// Stores and compiles a policy; returns its shared template (the lineage takes its restrictions).
    mutating func apply(_ record: PolicyRecord) -> PolicyTemplate {
        let template = policies.template(for: record.policy.rules)
        policies.set(record, template: template)
        return template
    }

    /// A policy of a rebuild with the template the rebuild found by its stored text.
    mutating func apply(_ record: PolicyRecord, template: PolicyTemplate) {
        policies.set(record, template: template)
    }

    mutating func apply(_ request: AccessRequest) {
        accessRequests.upsert(request, id: request.id.rawValue)
        if request.state == .awaitingHolder { awaitingReply.insert(request.id) } else { awaitingReply.remove(request.id) }
    }

    /// `calendar` dates a new cross-border grant into its calendar year (R16).
    mutating func apply(_ grant: Grant, calendar: WorkingCalendar) {
        if grants[grant.id.rawValue] == nil {
            grantsByHolding.append(grant.id.rawValue, to: grant.assignee.rawValue, grant.dataset.rawValue)
            grantsByDataset.append(grant.id.rawValue, to: grant.dataset.rawValue)
            if grant.crossBorder && grant.individualsCovered > 0 {
                let key = CrossBorderKey(processor: grant.assignee, year: Int32(calendar.date(at: grant.createdAt).components.year))
                crossBorderIndividuals[key, default: CrossBorderCount()].add(grant.individualsCovered, sensitive: grant.sensitive)
            }
        }
        grants.upsert(grant, id: grant.id.rawValue)
    }

    /// Takes over `other`'s access requests and grants with their indexes, whole (a rebuild reads them on
    /// a second connection into a state of their own). Precondition: this market has none yet.
    mutating func adoptRequestsAndGrants(of other: MarketState) {
        precondition(grants.count == 0 && accessRequests.count == 0, "records are adopted into a market that has none")
        accessRequests = other.accessRequests
        grants = other.grants
        grantsByHolding = other.grantsByHolding
        grantsByDataset = other.grantsByDataset
        awaitingReply = other.awaitingReply
        crossBorderIndividuals = other.crossBorderIndividuals
    }

    public func accessRequest(_ id: AccessRequestID) -> AccessRequest? { accessRequests[id.rawValue] }
    public func accessRequest(number: String) -> AccessRequest? { accessRequests.id(number: number).flatMap { accessRequests[$0] } }
    public func grant(_ id: GrantID) -> Grant? { grants[id.rawValue] }
    public func grant(number: String) -> Grant? { grants.id(number: number).flatMap { grants[$0] } }
    public func policy(of dataset: DatasetID) -> PolicyRecord? { policies[dataset] }

    /// Grants on `dataset` (any state), oldest first.
    public func grants(on dataset: DatasetID) -> [Grant] {
        grantsByDataset.members(of: dataset.rawValue).compactMap { grants[$0] }
    }

    /// Requests waiting for their holder's reply, oldest first.
    public var requestsAwaitingReply: [AccessRequest] {
        awaitingReply.sorted().compactMap { accessRequests[$0.rawValue] }
    }

    /// R16: individuals covered by `processor`'s cross-border grants in `year`.
    public func crossBorderCount(of processor: PartyID, year: Int32) -> CrossBorderCount {
        crossBorderIndividuals[CrossBorderKey(processor: processor, year: year)] ?? CrossBorderCount()
    }
}
