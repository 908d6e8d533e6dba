/// The decision API (R24): may a party use a dataset for a purpose now, for so many tokens? Every input
/// is already in the core — effective restrictions kept by the lineage (R21, R25), grants indexed by
/// party and dataset (R23), policies compiled (R20) — so a decision is a handful of lookups.
extension RegistryState {
    public func decide(_ query: DecisionQuery, at now: Timestamp) -> Decision {
        guard let dataset = datasets[query.dataset.rawValue] else {
            return Decision(allow: false, rule: "R24", reason: "no dataset \(query.dataset.rawValue)")
        }
        guard let party = parties[query.party.rawValue] else {
            return Decision(allow: false, rule: "R24", reason: "no party \(query.party.rawValue)")
        }
        guard let purposeBit = Purposes.vocabulary.existingBit(for: query.purpose) else {
            return Decision(allow: false, rule: "R20", decidedBy: dataset.id, reason: "\(query.purpose) is not a published purpose")
        }
        guard query.tokens >= 0 else { return Decision(allow: false, rule: "R24", reason: "tokens must not be negative") }
        let node = Int32(dataset.id.rawValue)
        let effective = lineage.effectiveRestrictions(of: node)
        // R25 first: a flagged dataset, or one derived from a flagged one, is not used at all.
        if effective.flagged {
            let origin = flagOrigin(of: dataset.id)
            return Decision(
                allow: false, rule: "R25", decidedBy: origin,
                reason: origin == dataset.id ? "dataset \(dataset.id.rawValue) is flagged" : "derived from dataset \(origin.rawValue), which is flagged")
        }
        let governmentSharing = dataset.sharing != nil && party.kind == .department
        // R21: prohibitions and permitted purposes, united and intersected along the lineage.
        if let restriction = purposeRestriction(on: dataset.id, purposeBit: purposeBit), !(governmentSharing && restriction.dataset == dataset.id) {
            return Decision(allow: false, rule: "R21", decidedBy: restriction.dataset, reason: restriction.reason)
        }
        let region = query.region ?? party.region
        let regionBit = RegionVocabulary.standard.existingBit(for: region) ?? PolicyRequest.unlisted
        if !effective.permittedRegions.isUnrestricted && !effective.permittedRegions.contains(bit: regionBit) {
            let origin = regionOrigin(of: dataset.id, regionBit: regionBit)
            if !(governmentSharing && origin == dataset.id) {
                return Decision(allow: false, rule: "R21", decidedBy: origin, reason: "use in \(region) is not permitted by dataset \(origin.rawValue)")
            }
        }
        if dataset.holder == party.id {
            return Decision(allow: true, rule: "holder", decidedBy: dataset.id, reason: "the holder uses its own dataset")
        }
        // R23: a grant in force for this purpose and action, with room for the tokens.
        var inForce: Grant?
        var closest: (rule: String, reason: String) = ("R23", "no grant to this party on this dataset")
        for id in grantsByHolding[Holding(party: party.id, dataset: dataset.id)] ?? [] {
            guard let grant = grants[id.rawValue] else { continue }
            guard grant.purpose == query.purpose, grant.action == query.action else {
                closest = ("R23", "no grant for \(query.action.rawValue) for \(query.purpose)")
                continue
            }
            guard grant.isInForce(at: now) else {
                closest = ("R23", "grant \(grant.number) is \(grant.state == .active ? "outside its validity window" : grant.state.rawValue)"
                    + (grant.stateReason.map { ": \($0)" } ?? ""))
                continue
            }
            guard query.tokens <= grant.tokenQuota else {
                closest = ("R27", "\(query.tokens) tokens exceed grant \(grant.number)'s quota of \(grant.tokenQuota)")
                continue
            }
            inForce = grant
            break
        }
        guard let grant = inForce else { return Decision(allow: false, rule: closest.rule, decidedBy: dataset.id, reason: closest.reason) }
        if governmentSharing {
            return Decision(allow: true, rule: "R18", decidedBy: dataset.id, grant: grant.id, reason: "shared government data under grant \(grant.number)")
        }
        // R20: the holder's policy, now, for these tokens.
        guard let compiled = compiledPolicies[dataset.id], let record = policies[dataset.id] else {
            return Decision(allow: false, rule: "R20", decidedBy: dataset.id, grant: grant.id, reason: "dataset \(dataset.id.rawValue) has no policy")
        }
        let verdict = compiled.evaluate(PolicyRequest(
            assignee: party.id, assigneeKind: party.kind, action: query.action, purposeBit: purposeBit, regionBit: regionBit, at: now,
            tokens: query.tokens, effectiveGrade: effective.grade))
        switch verdict {
        case .allow(let index):
            return Decision(
                allow: true, rule: "R20", policyRule: record.policy.rules[index].id, decidedBy: dataset.id, grant: grant.id,
                reason: "permitted under grant")
        case .deny(let index):
            return Decision(
                allow: false, rule: "R20", policyRule: record.policy.rules[index].id, decidedBy: dataset.id, grant: grant.id,
                reason: "prohibited by rule \(record.policy.rules[index].id)")
        case .notPermitted:
            return Decision(
                allow: false, rule: "R20", decidedBy: dataset.id, grant: grant.id,
                reason: "no rule of the policy permits this use now: what is not permitted is prohibited")
        }
    }

    // MARK: Where an inherited restriction comes from

    /// The nearest of `id` and its ancestors whose own restrictions satisfy `test` (R24: the ancestor that
    /// decided). Walks the lineage upwards, nearest first, within the traversal budget; `id` when none.
    func nearestSource(of id: DatasetID, where test: (Restrictions) -> Bool) -> DatasetID {
        let start = Int32(id.rawValue)
        if test(lineage.ownRestrictions(of: start)) { return id }
        var scratch = TraversalScratch()
        var found: Int32?
        lineage.walk(from: start, .ancestors, budget: Limits.maxTraversalBudget, scratch: &scratch) { node, _ in
            guard test(lineage.ownRestrictions(of: node)) else { return true }
            found = node
            return false
        }
        return found.map { DatasetID(rawValue: Int64($0)) } ?? id
    }

    func flagOrigin(of id: DatasetID) -> DatasetID {
        nearestSource(of: id) { $0.flagged }
    }

    func regionOrigin(of id: DatasetID, regionBit: Int) -> DatasetID {
        nearestSource(of: id) { !$0.permittedRegions.isUnrestricted && !$0.permittedRegions.contains(bit: regionBit) }
    }

    /// R21: the dataset whose prohibition, or whose narrower permitted purposes, rule out `purposeBit`.
    func purposeRestriction(on id: DatasetID, purposeBit: Int) -> (dataset: DatasetID, reason: String)? {
        let effective = lineage.effectiveRestrictions(of: Int32(id.rawValue))
        let name = purposeBit < Purposes.standard.count ? Purposes.standard[purposeBit] : "this purpose"
        if effective.prohibitions.contains(bit: purposeBit) {
            let origin = nearestSource(of: id) { $0.prohibitions.contains(bit: purposeBit) }
            return (origin, origin == id
                ? "\(name) is prohibited by dataset \(id.rawValue)'s policy"
                : "\(name) is prohibited by dataset \(origin.rawValue), a source of dataset \(id.rawValue)")
        }
        if !effective.permittedPurposes.isUnrestricted && !effective.permittedPurposes.contains(bit: purposeBit) {
            let origin = nearestSource(of: id) { !$0.permittedPurposes.isUnrestricted && !$0.permittedPurposes.contains(bit: purposeBit) }
            return (origin, origin == id
                ? "\(name) is not among the purposes dataset \(id.rawValue)'s policy permits"
                : "\(name) is not among the purposes dataset \(origin.rawValue), a source of dataset \(id.rawValue), permits")
        }
        return nil
    }

    /// ", inherited from dataset N" when `id`'s own grade is lower than `grade` (R12).
    func inheritedNote(grade: Grade, of id: DatasetID) -> String {
        guard lineage.ownRestrictions(of: Int32(id.rawValue)).grade < grade else { return "" }
        let origin = nearestSource(of: id) { $0.grade >= grade }
        return ", inherited from dataset \(origin.rawValue)"
    }
}
