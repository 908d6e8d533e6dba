// Listings of certificates and derivations (issue 16), and who may read a grant's usage. Like every
// list, a page walks ids in order after a cursor and scans at most `Limits.maxScanPerPage` of them.

/// Where a derivation edge stands on approval (R12): an anonymisation awaits a registrar's or
/// regulator's approval, and once approved it clears the personal-information level it would inherit;
/// every other kind of derivation needs none.
public enum DerivationApproval: String, Sendable, CaseIterable {
    case awaitingApproval = "awaiting_approval"
    case approved
    case notRequired = "not_required"
}

extension Derivation {
    public var approval: DerivationApproval {
        switch kind {
        case .anonymisation: .awaitingApproval
        case .approvedAnonymisation: .approved
        case .derived, .aggregated, .joined, .filtered, .sampled: .notRequired
        }
    }
}

extension RegistryState {
    public struct CertificateFilter: Sendable {
        public var dataset: DatasetID?
        /// Certificates naming this party among their holders.
        public var holder: PartyID?
        /// Their status on ``today``.
        public var status: CertificateStatus?
        public var today: CivilDate

        public init(dataset: DatasetID? = nil, holder: PartyID? = nil, status: CertificateStatus? = nil, today: CivilDate) {
            self.dataset = dataset
            self.holder = holder
            self.status = status
            self.today = today
        }

        func matches(_ certificate: Certificate) -> Bool {
            if let dataset, certificate.dataset != dataset { return false }
            if let holder, !certificate.holders.contains(holder) { return false }
            if let status, certificate.status(on: today) != status { return false }
            return true
        }
    }

    /// A page of certificates in id order after `cursor`. Certificates are public record (anyone
    /// verifies one by number, R9), so every party sees every one. With a dataset, only its own
    /// certificates are read (its chain in the index), not the whole table.
    public func searchCertificates(_ filter: CertificateFilter, after cursor: Int64, limit: Int) -> (certificates: [Certificate], next: Int64?) {
        let limit = min(limit, Limits.maxPageSize)
        guard let dataset = filter.dataset else {
            let page = rights.certificates.page(after: cursor, limit: limit, budget: Limits.maxScanPerPage, where: filter.matches)
            return (page.records, page.continueAfter)
        }
        var found: [Certificate] = []
        var next: Int64?
        var scanned = 0
        var lastScanned = cursor
        let chain = rights.certificatesByDataset
        var member = chain.firstMember(of: dataset.rawValue)
        while member != 0 {
            if member > cursor {
                guard found.count < limit, scanned < Limits.maxScanPerPage else {
                    next = lastScanned
                    break
                }
                scanned += 1
                lastScanned = member
                if let certificate = rights.certificates[member], filter.matches(certificate) { found.append(certificate) }
            }
            member = chain.member(after: member)
        }
        return (found, next)
    }

    /// A page of derivation edges in id order after `cursor`: those with `dataset` at either end, and in
    /// the approval state asked for. Derivations are visible to every party, as the lineage is.
    public func searchDerivations(
        touching dataset: DatasetID?, approval: DerivationApproval?, after cursor: Int64, limit: Int
    ) -> (derivations: [Derivation], next: Int64?) {
        let page = lineage.derivations.page(after: cursor, limit: min(limit, Limits.maxPageSize), budget: Limits.maxScanPerPage) { derivation in
            if let dataset, derivation.source != dataset && derivation.target != dataset { return false }
            if let approval, derivation.approval != approval { return false }
            return true
        }
        return (page.records, page.continueAfter)
    }

    /// Who reads a grant's usage — its totals and its events one by one: the assignee, the grantor, the
    /// dataset's holder, regulators and operators. To anyone else the grant is as if it did not exist.
    public func mayReadUsage(of grant: Grant, _ party: Party) -> Bool {
        party.id == grant.assignee || party.id == grant.grantor || dataset(grant.dataset)?.holder == party.id
            || party.kind == .regulator || party.kind == .operator
    }
}
