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

        public init(
            text: String? = nil, grade: Grade? = nil, personalInformation: PersonalInformationLevel? = nil, region: String? = nil,
            holder: PartyID? = nil, tag: String? = nil
        ) {
            self.text = text?.lowercased()
            self.grade = grade
            self.personalInformation = personalInformation
            self.region = region
            self.holder = holder
            self.tag = tag
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
        let page = datasets.page(after: cursor, limit: min(limit, Limits.maxPageSize), budget: Limits.maxScanPerPage, where: filter.matches)
        return (page.records, page.continueAfter)
    }

    /// A page of the registrations `party` may see, in id order after `cursor`.
    public func searchRegistrations(
        visibleTo party: Party, status: RegistrationStatus?, dataset: DatasetID?, after cursor: Int64, limit: Int
    ) -> (registrations: [Registration], next: Int64?) {
        let page = registrations.page(after: cursor, limit: min(limit, Limits.maxPageSize), budget: Limits.maxScanPerPage) { registration in
            if let status, registration.status != status { return false }
            if let dataset, registration.dataset != dataset { return false }
            return maySee(registration, party)
        }
        return (page.records, page.continueAfter)
    }
}
