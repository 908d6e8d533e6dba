/// Where each restriction in effect on a dataset comes from (R12, R21, R25): what the console's dataset
/// page and `GET /v1/datasets/{id}/restrictions?origins=true` show beside each restriction.
extension RegistryState {
    /// One restriction in effect on a dataset and the dataset that imposes it: the dataset itself, or
    /// the nearest ancestor whose own restrictions impose it — the same answer a decision gives when it
    /// names "the ancestor that decided" (R24).
    public struct RestrictionOrigin: Sendable, Equatable {
        public enum Kind: String, Sendable, CaseIterable {
            /// The grade in effect (R12): from the nearest dataset whose own grade is that high.
            case grade
            /// The personal-information level in effect (R12), when not `none`: from the nearest dataset
            /// whose own level is that high (an approved anonymisation clears what passes through it, so
            /// the one named is the nearest holding that level, not always the path it came by).
            case piLevel
            /// R25: from the nearest dataset flagged itself.
            case flagged
            /// A prohibited purpose (R21, united along the lineage).
            case prohibition
            /// A purpose no longer permitted (permitted purposes are intersected along the lineage).
            case purposeNotPermitted
            /// A region no longer permitted (intersected along the lineage).
            case regionNotPermitted
        }

        public var kind: Kind
        public var value: String
        public var from: DatasetID
    }

    /// Every restriction in effect on `id` with its origin, in `Kind` order, then purposes and regions in
    /// their vocabularies' order; empty for a
    /// dataset that does not exist. One walk up the lineage, nearest first, within `budget` datasets: a
    /// restriction whose origin lies beyond it is named as the dataset's own.
    public func restrictionOrigins(of id: DatasetID, budget: Int = Limits.defaultTraversalBudget) -> [RestrictionOrigin] {
        let node = Int32(id.rawValue)
        let graph = lineage.graph
        guard graph.contains(node) else { return [] }
        let effective = graph.effectiveRestrictions(of: node)

        // What is to be traced, each with the test a dataset's own restrictions pass when it imposes it.
        var pending: [(kind: RestrictionOrigin.Kind, value: String, imposes: (Restrictions) -> Bool)] = []
        let grade = effective.grade
        pending.append((.grade, grade.rawValue, { $0.grade >= grade }))
        let level = effective.personalInformation
        if level != .none { pending.append((.piLevel, level.rawValue, { $0.personalInformation >= level })) }
        if effective.flagged { pending.append((.flagged, "true", { $0.flagged })) }
        for (bit, purpose) in Purposes.vocabulary.names.enumerated() where effective.prohibitions.contains(bit: bit) {
            pending.append((.prohibition, purpose, { $0.prohibitions.contains(bit: bit) }))
        }
        for (bit, purpose) in Purposes.vocabulary.names.enumerated()
        where !effective.permittedPurposes.isUnrestricted && !effective.permittedPurposes.contains(bit: bit) {
            pending.append((.purposeNotPermitted, purpose, { !$0.permittedPurposes.isUnrestricted && !$0.permittedPurposes.contains(bit: bit) }))
        }
        for (bit, region) in RegionVocabulary.standard.names.enumerated()
        where !effective.permittedRegions.isUnrestricted && !effective.permittedRegions.contains(bit: bit) {
            pending.append((.regionNotPermitted, region, { !$0.permittedRegions.isUnrestricted && !$0.permittedRegions.contains(bit: bit) }))
        }

        var origins: [RestrictionOrigin?] = Array(repeating: nil, count: pending.count)
        var unresolved = pending.count
        func visit(_ candidate: Int32) {
            let own = graph.ownRestrictions(of: candidate)
            for index in pending.indices where origins[index] == nil && pending[index].imposes(own) {
                origins[index] = RestrictionOrigin(kind: pending[index].kind, value: pending[index].value, from: DatasetID(rawValue: Int64(candidate)))
                unresolved -= 1
            }
        }
        visit(node)
        if unresolved > 0 {
            var scratch = ScratchPool.take()
            _ = graph.walk(from: node, .ancestors, budget: budget, scratch: &scratch) { ancestor, _ in
                visit(ancestor)
                return unresolved > 0
            }
            ScratchPool.giveBack(consume scratch)
        }
        return pending.indices.map { index in
            origins[index] ?? RestrictionOrigin(kind: pending[index].kind, value: pending[index].value, from: id)
        }
    }
}
