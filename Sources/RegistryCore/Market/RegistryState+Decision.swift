/// The decision API (R24): may a party use a dataset for a purpose now, for so many tokens? Every input
/// is already in the core — effective restrictions kept by the lineage (R21, R25), grants indexed by
/// party and dataset (R23), policies compiled (R20) — so a decision is a handful of lookups.
extension RegistryState {
    public func decide(_ query: DecisionQuery, at now: Timestamp) -> Decision {
        // Two columns of the dataset, not the whole record: this is the serving path.
        guard let holder = catalog.datasets.holder(of: query.dataset.rawValue) else {
            return Decision(allow: false, rule: .r24, reason: "no dataset \(query.dataset.rawValue)")
        }
        let dataset = (id: query.dataset, holder: holder, isGovernmentData: catalog.datasets.isGovernmentData(query.dataset.rawValue))
        guard let party = catalog.parties[query.party.rawValue] else {
            return Decision(allow: false, rule: .r24, reason: "no party \(query.party.rawValue)")
        }
        guard let purposeBit = Purposes.vocabulary.existingBit(for: query.purpose) else {
            return Decision(allow: false, rule: .r20, decidedBy: dataset.id, reason: "\(query.purpose) is not a published purpose")
        }
        guard query.tokens >= 0 else { return Decision(allow: false, rule: .r24, reason: "tokens must not be negative") }
        let node = Int32(dataset.id.rawValue)
        let effective = lineage.graph.effectiveRestrictions(of: node)
        // R25 first: a flagged dataset, or one derived from a flagged one, is not used at all.
        if effective.flagged {
            let origin = flagOrigin(of: dataset.id)
            return Decision(
                allow: false, rule: .r25, decidedBy: origin,
                reason: origin == dataset.id ? "dataset \(dataset.id.rawValue) is flagged" : "derived from dataset \(origin.rawValue), which is flagged")
        }
        let governmentSharing = dataset.isGovernmentData && party.kind == .department
        // R21: what the sources impose — prohibitions united, permitted purposes and regions intersected
        // along the lineage. The dataset's own policy is judged last (R20), and binds neither its holder
        // (it is the holder's offer to others) nor a department asking for government data (R17).
        let region = query.region ?? party.region
        let regionBit = RegionVocabulary.standard.existingBit(for: region) ?? PolicyRequest.unlisted
        if let restriction = lineageRestriction(on: dataset.id, purposeBit: purposeBit, region: region, regionBit: regionBit, exemptOwn: true) {
            return Decision(allow: false, rule: .r21, decidedBy: restriction.dataset, reason: restriction.reason)
        }
        if dataset.holder == party.id {
            return .holderUse(of: dataset.id)
        }
        // R23: a grant in force for this purpose and action, with room for the tokens.
        var inForce: Grant?
        var closest: (rule: Rule, reason: String) = (.r23, "no grant to this party on this dataset")
        // A loop, not `forEachMember` with a closure: through a closure's capture of the state, every
        // table read here was copied (a retain of each of its arrays) before the call.
        var member = market.grantsByHolding.firstMember(of: party.id.rawValue, dataset.id.rawValue)
        while member != 0 {
            let id = member
            member = market.grantsByHolding.member(after: id)
            guard let grant = market.grants[id] else { continue }
            guard grant.purpose == query.purpose, grant.action == query.action else {
                closest = (.r23, "no grant for \(query.action.rawValue) for \(query.purpose)")
                continue
            }
            guard grant.isInForce(at: now) else {
                closest = (.r23, "grant \(grant.number) is \(grant.state == .active ? "outside its validity window" : grant.state.rawValue)"
                    + (grant.stateReason.map { ": \($0)" } ?? ""))
                continue
            }
            // R27: headroom under the grant's remaining tokens and today's caps, as metered so far.
            let today = settings.calendar.date(at: now)
            if let denial = quotaDenial(
                grant: grant, used: usage.usage(of: grant.id), tokens: query.tokens,
                assigneeToday: usage.assigneeTokens(of: party.id, on: today), datasetToday: usage.datasetTokens(of: dataset.id, on: today))
            {
                closest = (.r27, denial.reason)
                continue
            }
            inForce = grant
            break
        }
        let policyRequest = PolicyRequest(
            assignee: party.id, assigneeKind: party.kind, action: query.action, purposeBit: purposeBit, regionBit: regionBit, at: now,
            tokens: query.tokens, effectiveGrade: effective.grade)
        guard let grant = inForce else {
            // Without a grant, say so — unless the policy itself rules the use out, which is the more
            // useful answer: no grant could ever allow it (R20).
            if !governmentSharing, let template = market.policies.template(of: dataset.id) {
                switch template.compiled.evaluate(policyRequest) {
                case .deny(let index):
                    return Decision(
                        allow: false, rule: .r20, policyRule: template.rules[index].id, decidedBy: dataset.id,
                        reason: "prohibited by rule \(template.rules[index].id)")
                case .notPermitted:
                    return Decision(
                        allow: false, rule: .r20, decidedBy: dataset.id,
                        reason: "no rule of the policy permits this use now: what is not permitted is prohibited")
                case .allow:
                    break
                }
            }
            return Decision(allow: false, rule: closest.rule, decidedBy: dataset.id, reason: closest.reason)
        }
        if governmentSharing {
            return Decision(allow: true, rule: .r18, decidedBy: dataset.id, grant: grant.id, reason: "shared government data under grant \(grant.number)")
        }
        // R20: the holder's policy, now, for these tokens.
        guard let template = market.policies.template(of: dataset.id) else {
            return Decision(allow: false, rule: .r20, decidedBy: dataset.id, grant: grant.id, reason: "dataset \(dataset.id.rawValue) has no policy")
        }
        switch template.compiled.evaluate(policyRequest) {
        case .allow(let index):
            return Decision(
                allow: true, rule: .r20, policyRule: template.rules[index].id, decidedBy: dataset.id, grant: grant.id,
                reason: "permitted under grant")
        case .deny(let index):
            return Decision(
                allow: false, rule: .r20, policyRule: template.rules[index].id, decidedBy: dataset.id, grant: grant.id,
                reason: "prohibited by rule \(template.rules[index].id)")
        case .notPermitted:
            return Decision(
                allow: false, rule: .r20, decidedBy: dataset.id, grant: grant.id,
                reason: "no rule of the policy permits this use now: what is not permitted is prohibited")
        }
    }

    // MARK: Where an inherited restriction comes from

    /// The nearest of `id` and its ancestors whose own restrictions satisfy `test` (R24: the ancestor that
    /// decided). Walks the lineage upwards, nearest first, within the traversal budget; `id` when none.
    func nearestSource(of id: DatasetID, skippingSelf: Bool = false, where test: (Restrictions) -> Bool) -> DatasetID {
        let start = Int32(id.rawValue)
        if !skippingSelf && test(lineage.graph.ownRestrictions(of: start)) { return id }
        let found = lineage.graph.nearestAncestor(of: start, budget: Limits.maxTraversalBudget, where: test)
        return found.map { DatasetID(rawValue: Int64($0)) } ?? id
    }

    func flagOrigin(of id: DatasetID) -> DatasetID {
        nearestSource(of: id) { $0.flagged }
    }

    /// R21: the dataset whose prohibition, or whose narrower permitted purposes or regions, rule out this
    /// use, and why; nil when the lineage allows it. With `exemptOwn`, only what the sources impose counts.
    func lineageRestriction(
        on id: DatasetID, purposeBit: Int, region: String, regionBit: Int, exemptOwn: Bool
    ) -> (dataset: DatasetID, reason: String)? {
        let node = Int32(id.rawValue)
        func rulesOut(_ restrictions: Restrictions) -> Bool {
            restrictions.prohibitions.contains(bit: purposeBit)
                || (!restrictions.permittedPurposes.isUnrestricted && !restrictions.permittedPurposes.contains(bit: purposeBit))
                || (!restrictions.permittedRegions.isUnrestricted && !restrictions.permittedRegions.contains(bit: regionBit))
        }
        // The effective restrictions include everything inherited: when they allow the use (the common
        // case, O(1)), nothing inherited forbids it.
        var restrictions = lineage.graph.effectiveRestrictions(of: node)
        guard rulesOut(restrictions) else { return nil }
        if exemptOwn {
            restrictions = lineage.graph.inheritedRestrictions(of: node)
            guard rulesOut(restrictions) else { return nil }
        }
        let name = purposeBit < Purposes.standard.count ? Purposes.standard[purposeBit] : "this purpose"
        func described(_ origin: DatasetID, _ what: String) -> (DatasetID, String) {
            (origin, origin == id ? "\(what) by dataset \(id.rawValue)'s policy" : "\(what) by dataset \(origin.rawValue), a source of dataset \(id.rawValue)")
        }
        if restrictions.prohibitions.contains(bit: purposeBit) {
            let origin = nearestSource(of: id, skippingSelf: exemptOwn) { $0.prohibitions.contains(bit: purposeBit) }
            return described(origin, "\(name) is prohibited")
        }
        if !restrictions.permittedPurposes.isUnrestricted && !restrictions.permittedPurposes.contains(bit: purposeBit) {
            let origin = nearestSource(of: id, skippingSelf: exemptOwn) {
                !$0.permittedPurposes.isUnrestricted && !$0.permittedPurposes.contains(bit: purposeBit)
            }
            return described(origin, "\(name) is not among the permitted purposes")
        }
        if !restrictions.permittedRegions.isUnrestricted && !restrictions.permittedRegions.contains(bit: regionBit) {
            let origin = nearestSource(of: id, skippingSelf: exemptOwn) {
                !$0.permittedRegions.isUnrestricted && !$0.permittedRegions.contains(bit: regionBit)
            }
            return described(origin, "use in \(region) is not permitted")
        }
        return nil
    }

    /// ", inherited from dataset N" when `id`'s own grade is lower than `grade` (R12).
    func inheritedNote(grade: Grade, of id: DatasetID) -> String {
        guard lineage.graph.ownRestrictions(of: Int32(id.rawValue)).grade < grade else { return "" }
        let origin = nearestSource(of: id) { $0.grade >= grade }
        return ", inherited from dataset \(origin.rawValue)"
    }
}
