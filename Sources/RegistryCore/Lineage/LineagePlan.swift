/// Planning lineage: derivations, anonymisations and flags (R10, R12, R25).
extension RegistryState {
    /// The changes a lineage command makes.
    func planLineage(_ command: LineageCommand, by actor: Party?, at now: Timestamp) throws(RegistryError) -> [ChangeEntry] {
        switch command {
        case .recordDerivations(let target, let sources):
            return try planDerivations(sources: sources, targets: [target], inPlace: false, by: actor, at: now)
        case .recordLineage(let sources, let targets):
            return try planDerivations(sources: sources, targets: targets, inPlace: true, by: actor, at: now)
        case .approveAnonymisation(let id):
            try require(actor, is: [.registrar, .regulator], to: "approve anonymisations")
            guard var derivation = lineage.derivations[id] else { throw .notFound("derivation \(id)") }
            guard derivation.kind == .anonymisation else {
                throw .conflict("derivation \(id) is \(derivation.kind.rawValue), not an anonymisation awaiting approval")
            }
            derivation.kind = .approvedAnonymisation
            derivation.approvedBy = actor?.id
            return [ChangeEntry(.derivationAnonymisationApproved, .derivation(derivation))]
        case .flagDataset(let id, let reason):
            try require(actor, is: [.registrar, .regulator], to: "mark a dataset's source unlawful")
            guard !reason.isEmpty, reason.count <= Limits.maxLongTextLength else {
                throw .invalid([FieldProblem("reason", "required, at most \(Limits.maxLongTextLength) characters")])
            }
            return try flag(id, reason: reason, by: actor, at: now)
        }
    }

    /// R25: flags a dataset and records the cascade over its descendants.
    func flag(_ id: DatasetID, reason: String, by actor: Party?, at now: Timestamp) throws(RegistryError) -> [ChangeEntry] {
        guard var dataset = dataset(id) else { throw .notFound("dataset \(id.rawValue)") }
        guard !dataset.flagged else { return [] }
        dataset.flagged = true
        dataset.flagReason = reason
        dataset.updatedAt = now
        // Every descendant, from the reachability index where it holds, in id order.
        var descendants: [Int32] = []
        ScratchPool.withScratch { scratch in
            lineage.graph.descendantSet(of: Int32(id.rawValue), budget: lineage.graph.nodeCount, scratch: &scratch) { node in
                descendants.append(node)
                return true
            }
        }
        descendants.sort()
        let cascade = FlagCascade(
            id: lineage.flagCascades.nextID, dataset: id, reason: reason, descendants: descendants.map { DatasetID(rawValue: Int64($0)) },
            by: actor?.id, at: now)
        var entries = [ChangeEntry(.datasetFlagged, .dataset(dataset)), ChangeEntry(.lineageFlagCascade, .flagCascade(cascade))]
        // R25: every grant on the dataset and on its descendants is suspended at once, in the same change.
        entries += suspendingGrants(on: [Int32(id.rawValue)] + descendants, reason: "R25: dataset \(id.rawValue) flagged (\(reason))", at: now)
        return entries
    }

    /// R25: every grant on `nodes` that can be suspended, suspended with `reason` (which starts "R25").
    func suspendingGrants(on nodes: [Int32], reason: String, at now: Timestamp) -> [ChangeEntry] {
        var entries: [ChangeEntry] = []
        for node in nodes {
            for grantID in market.grantsByDataset.members(of: Int64(node)) {
                guard var grant = market.grants[grantID], case .success(let next) = grant.state.after(.suspend) else { continue }
                grant.state = next
                grant.stateReason = reason
                grant.updatedAt = now
                entries.append(ChangeEntry(.grantSuspended, .grant(grant)))
            }
        }
        return entries
    }

    /// Plans the edges from every source to every target as one change: everything is checked (holder,
    /// sources, cycles) before anything is planned, so one refusal refuses all. An edge already recorded
    /// is skipped. A dataset never derives from itself: with `inPlace` (a run that read and wrote it) that
    /// pair is skipped, otherwise it is refused.
    ///
    /// A cycle that several new edges close either passes through an existing path from one new edge's
    /// target to another's source — and then the new edge between those two (every source meets every
    /// target) closes a cycle alone, which the per-edge check finds — or runs through new edges only,
    /// among datasets on both sides, of which two suffice (A → B and B → A). So each edge is checked
    /// against the current graph, and two datasets on both sides are refused.
    func planDerivations(
        sources: [DerivationSource], targets: [DatasetID], inPlace: Bool, by actor: Party?, at now: Timestamp
    ) throws(RegistryError) -> [ChangeEntry] {
        guard !targets.isEmpty, targets.count <= Limits.maxSourcesPerDerivation else {
            throw .invalid([FieldProblem("outputs", "1 to \(Limits.maxSourcesPerDerivation) targets")])
        }
        guard !sources.isEmpty, sources.count <= Limits.maxSourcesPerDerivation else {
            throw .invalid([FieldProblem("sources", "1 to \(Limits.maxSourcesPerDerivation) sources")])
        }
        for target in targets {
            guard let targetDataset = dataset(target) else { throw .notFound("dataset \(target.rawValue)") }
            if let actor, actor.kind != .registrar, targetDataset.holder != actor.id {
                throw .forbidden("only the holder of dataset \(target.rawValue) (or a registrar) records what it derives from")
            }
        }
        var problems: [FieldProblem] = []
        for (index, source) in sources.enumerated() {
            if dataset(source.dataset) == nil { problems.append(FieldProblem("sources[\(index)].dataset", "no dataset \(source.dataset.rawValue)")) }
            if !inPlace && targets.contains(source.dataset) {
                problems.append(FieldProblem("sources[\(index)].dataset", "a dataset does not derive from itself"))
            }
            if source.kind == .approvedAnonymisation {
                problems.append(FieldProblem("sources[\(index)].kind", "record an anonymisation; a registrar or regulator approves it (R12)"))
            }
        }
        if !problems.isEmpty { throw .invalid(problems) }
        let both = Set(targets).intersection(sources.map(\.dataset)).sorted()
        if both.count >= 2 {
            throw .refused([Refusal(RefusalGround.lineage, "a cycle would close: dataset \(both[0].rawValue) → dataset \(both[1].rawValue) → dataset \(both[0].rawValue)")])
        }
        var scratch = TraversalScratch()
        var entries: [ChangeEntry] = []
        var nextID = lineage.derivations.nextID
        var planned: Set<[Int32]> = []
        for target in targets {
            let targetNode = Int32(target.rawValue)
            let existing = Set(lineage.graph.parents(of: targetNode).map(\.source))
            for source in sources where source.dataset != target {
                let sourceNode = Int32(source.dataset.rawValue)
                if existing.contains(sourceNode) || !planned.insert([sourceNode, targetNode]).inserted { continue }  // already recorded
                if let path = lineage.graph.cycle(closedBy: sourceNode, to: targetNode, scratch: &scratch) {
                    throw .refused([Refusal(RefusalGround.lineage, "a cycle would close: " + path.map { "dataset \($0)" }.joined(separator: " → "))])
                }
                let derivation = Derivation(
                    id: nextID, source: source.dataset, target: target, kind: source.kind, recordedBy: actor?.id ?? PartyID(rawValue: 0),
                    approvedBy: nil, recordedAt: now)
                nextID += 1
                entries.append(ChangeEntry(.derivationRecorded, .derivation(derivation)))
            }
        }
        return entries + suspensionsForFlagsReached(by: entries, at: now)
    }

    /// R25 holds for edges recorded after a flag too: a target that comes to derive from a flagged dataset
    /// is flagged in effect, with everything derived from it, so their grants are suspended in the same
    /// change. Targets reached through other new edges of the batch count as well.
    private func suspensionsForFlagsReached(by entries: [ChangeEntry], at now: Timestamp) -> [ChangeEntry] {
        let edges = entries.compactMap { entry -> (source: Int32, target: Int32)? in
            guard case .derivation(let derivation) = entry.record else { return nil }
            return (Int32(derivation.source.rawValue), Int32(derivation.target.rawValue))
        }
        var newlyFlagged: [Int32: Int32] = [:]  // target → the flagged source it now derives from
        var changed = true
        while changed {
            changed = false
            for edge in edges where newlyFlagged[edge.target] == nil && !lineage.graph.effectiveRestrictions(of: edge.target).flagged {
                if lineage.graph.effectiveRestrictions(of: edge.source).flagged || newlyFlagged[edge.source] != nil {
                    newlyFlagged[edge.target] = edge.source
                    changed = true
                }
            }
        }
        var suspended: [ChangeEntry] = []
        var reached: Set<Int32> = []
        for (target, source) in newlyFlagged.sorted(by: { $0.key < $1.key }) {
            var nodes: [Int32] = reached.insert(target).inserted ? [target] : []
            ScratchPool.withScratch { scratch in
                lineage.graph.descendantSet(of: target, budget: lineage.graph.nodeCount, scratch: &scratch) { node in
                    if reached.insert(node).inserted { nodes.append(node) }
                    return true
                }
            }
            suspended += suspendingGrants(
                on: nodes, reason: "R25: dataset \(target) now derives from dataset \(source), which is flagged or derives from flagged data", at: now)
        }
        return suspended
    }

    /// R10: the sources of a derived dataset over which `applicant` has no basis to derive
    /// (``hasDerivationBasis(_:over:at:)``): its recorded sources and `extraSources`, in id order.
    func sourcesLackingUseRight(of dataset: DatasetID, applicant: PartyID, extraSources: [DatasetID], at now: Timestamp) -> [DatasetID] {
        let recorded = lineage.graph.parents(of: Int32(dataset.rawValue)).map { DatasetID(rawValue: Int64($0.source)) }
        let sources = Set(recorded + extraSources).sorted()
        return sources.filter { !hasDerivationBasis(applicant, over: $0, at: now) }
    }

    /// R10: whether `party` may derive from `source` at `now`: it holds a valid registered use right over
    /// it, or a grant in force that permits derivation. The one statement of that test, read when use or
    /// operate rights over a derived dataset are claimed and when regulators ask which are lacking.
    public func hasDerivationBasis(_ party: PartyID, over source: DatasetID, at now: Timestamp) -> Bool {
        let today = today(at: now)
        if rights.certificates(of: source).contains(where: { $0.right == .use && $0.holders.contains(party) && $0.status(on: today) == .valid }) {
            return true
        }
        var member = market.grantsByHolding.firstMember(of: party.rawValue, source.rawValue)
        while member != 0 {
            let id = member
            member = market.grantsByHolding.member(after: id)
            if let grant = market.grants[id], grant.action == .derive, grant.isInForce(at: now) { return true }
        }
        return false
    }
}
