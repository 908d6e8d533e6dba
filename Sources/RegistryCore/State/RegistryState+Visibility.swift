/// Who may see what: the core decides reads as well as writes.
extension RegistryState {
    /// Registrars, regulators and operators see every registration; applicants and transferees see
    /// theirs; everyone sees registrations in public notice or completed (they are public record).
    public func maySee(_ registration: Registration, _ party: Party) -> Bool {
        switch party.kind {
        case .registrar, .regulator, .operator: return true
        default: break
        }
        if registration.applicant == party.id || registration.transferee == party.id { return true }
        switch registration.status {
        case .publicNotice, .suspended, .issued, .recorded: return true
        case .submitted, .underReview, .refused: return false
        }
    }

    /// Objectors, the applicant, and the registry's officers see an objection.
    public func maySee(_ objection: Objection, _ party: Party) -> Bool {
        switch party.kind {
        case .registrar, .regulator, .operator: return true
        default: break
        }
        if objection.objector == party.id { return true }
        return registration(objection.registration)?.applicant == party.id
    }

    /// Catalog filters.
    public struct DatasetFilter: Sendable {
        public var text: String?
        public var grade: Grade?
        public var personalInformation: PersonalInformationLevel?
        public var region: String?
        public var holder: PartyID?
        public var tag: String?
        /// R25: only datasets flagged in effect (`true`: their own source marked unlawful or an
        /// ancestor's), or only those not (`false`).
        public var flagged: Bool?

        public init(
            text: String? = nil, grade: Grade? = nil, personalInformation: PersonalInformationLevel? = nil, region: String? = nil,
            holder: PartyID? = nil, tag: String? = nil, flagged: Bool? = nil
        ) {
            self.text = text?.lowercased()
            self.grade = grade
            self.personalInformation = personalInformation
            self.region = region
            self.holder = holder
            self.tag = tag
            self.flagged = flagged
        }

        func matches(_ dataset: Dataset) -> Bool {
            if let grade, dataset.grade != grade { return false }
            if let personalInformation, dataset.personalInformation != personalInformation { return false }
            if let region, dataset.region != region { return false }
            if let holder, dataset.holder != holder { return false }
            if let tag, !dataset.tags.contains(tag) { return false }
            if let text, !dataset.title.lowercased().contains(text) && !dataset.description.lowercased().contains(text) { return false }
            return true
        }
    }

    /// A page of the catalog in id order after `cursor`.
    public func searchDatasets(_ filter: DatasetFilter, after cursor: Int64, limit: Int) -> (datasets: [Dataset], next: Int64?) {
        let page = catalog.datasets.page(after: cursor, limit: min(limit, Limits.maxPageSize), budget: Limits.maxScanPerPage) { dataset in
            guard filter.matches(dataset) else { return false }
            guard let flagged = filter.flagged else { return true }
            return lineage.graph.effectiveRestrictions(of: Int32(dataset.id.rawValue)).flagged == flagged
        }
        return (page.records, page.continueAfter)
    }

    /// A page of the registrations `party` may see, in id order after `cursor`.
    public func searchRegistrations(
        visibleTo party: Party, status: RegistrationStatus?, dataset: DatasetID?, after cursor: Int64, limit: Int
    ) -> (registrations: [Registration], next: Int64?) {
        let page = rights.registrations.page(after: cursor, limit: min(limit, Limits.maxPageSize), budget: Limits.maxScanPerPage) { registration in
            if let status, registration.status != status { return false }
            if let dataset, registration.dataset != dataset { return false }
            return maySee(registration, party)
        }
        return (page.records, page.continueAfter)
    }
}

// MARK: Access requests and grants

extension RegistryState {
    /// The requester, the dataset's holder and the registry's officers see a request.
    public func maySee(_ request: AccessRequest, _ party: Party) -> Bool {
        switch party.kind {
        case .registrar, .regulator, .operator: return true
        default: return request.requester == party.id || dataset(request.dataset)?.holder == party.id
        }
    }

    /// The assignee, the grantor, the dataset's holder and the registry's officers see a grant.
    public func maySee(_ grant: Grant, _ party: Party) -> Bool {
        switch party.kind {
        case .registrar, .regulator, .operator: return true
        default: return grant.assignee == party.id || grant.grantor == party.id || dataset(grant.dataset)?.holder == party.id
        }
    }

    /// Who may ask for a decision about `subject` on `dataset` (R24): the subject itself, the dataset's
    /// holder, and regulators and operators.
    public func mayAskDecision(by asker: Party, about subject: PartyID, on dataset: DatasetID) -> Bool {
        asker.id == subject || asker.kind == .regulator || asker.kind == .operator || self.dataset(dataset)?.holder == asker.id
    }

    public struct AccessRequestFilter: Sendable {
        public var state: AccessState?
        public var dataset: DatasetID?
        /// R19: only requests whose reply is overdue on this day.
        public var overdueOn: CivilDate?

        public init(state: AccessState? = nil, dataset: DatasetID? = nil, overdueOn: CivilDate? = nil) {
            self.state = state
            self.dataset = dataset
            self.overdueOn = overdueOn
        }
    }

    /// A page of the requests `party` may see, in id order after `cursor`.
    public func searchAccessRequests(
        visibleTo party: Party, _ filter: AccessRequestFilter, after cursor: Int64, limit: Int
    ) -> (requests: [AccessRequest], next: Int64?) {
        let page = market.accessRequests.page(after: cursor, limit: min(limit, Limits.maxPageSize), budget: Limits.maxScanPerPage) { request in
            if let state = filter.state, request.state != state { return false }
            if let dataset = filter.dataset, request.dataset != dataset { return false }
            if let today = filter.overdueOn {
                guard request.state == .awaitingHolder, let due = request.replyDueOn, due < today else { return false }
            }
            return maySee(request, party)
        }
        return (page.records, page.continueAfter)
    }

    /// A page of the grants `party` may see, in id order after `cursor`.
    public func searchGrants(
        visibleTo party: Party, state: AccessState?, dataset: DatasetID?, assignee: PartyID?, after cursor: Int64, limit: Int
    ) -> (grants: [Grant], next: Int64?) {
        let page = market.grants.page(after: cursor, limit: min(limit, Limits.maxPageSize), budget: Limits.maxScanPerPage) { grant in
            if let state, grant.state != state { return false }
            if let dataset, grant.dataset != dataset { return false }
            if let assignee, grant.assignee != assignee { return false }
            return maySee(grant, party)
        }
        return (page.records, page.continueAfter)
    }
}
