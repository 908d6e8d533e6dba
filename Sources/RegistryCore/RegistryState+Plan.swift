/// Planning: the core decides every rule here, against the current state, and returns the whole
/// records that change. Nothing is applied until the store has made them durable.
extension RegistryState {
    /// The changes `command` makes when `actor` issues it at `now` (nil actor: the system or a local
    /// operator tool). Throws when the command must not happen.
    public func plan(_ command: RegistryCommand, by actor: Party?, at now: Timestamp) throws(RegistryError) -> [ChangeEntry] {
        switch command {
        case .registerParty(let new):
            try require(actor, is: [.operator], to: "register parties")
            return [ChangeEntry("party.registered", .party(try validParty(new, at: now)))]

        case .issueAPIKey(let partyID, let prefix, let secretHash, let label):
            try require(actor, is: [.operator], to: "issue API keys")
            guard party(partyID) != nil else { throw .notFound("party \(partyID.rawValue)") }
            guard apiKey(prefix: prefix) == nil else { throw .conflict("an API key with prefix \(prefix) exists") }
            guard label.count <= Limits.maxShortTextLength else { throw .invalid([FieldProblem("label", "at most \(Limits.maxShortTextLength) characters")]) }
            let key = APIKey(
                id: APIKeyID(rawValue: apiKeys.nextID), party: partyID, prefix: prefix, secretHash: secretHash, label: label,
                createdAt: now, revokedAt: nil)
            return [ChangeEntry("api_key.issued", .apiKey(key))]

        case .revokeAPIKey(let prefix):
            try require(actor, is: [.operator], to: "revoke API keys")
            guard var key = apiKey(prefix: prefix) else { throw .notFound("API key \(prefix)") }
            guard key.revokedAt == nil else { throw .conflict("API key \(prefix) is already revoked") }
            key.revokedAt = now
            return [ChangeEntry("api_key.revoked", .apiKey(key))]

        case .registerDataset(let new):
            guard let actor, actor.kind.mayHoldData else {
                throw .forbidden("only departments, enterprises and model labs hold datasets")
            }
            return [ChangeEntry("dataset.registered", .dataset(try validDataset(new, holder: actor, at: now)))]

        case .updateDataset(let id, let patch):
            guard let actor else { throw .forbidden("datasets are edited by their holders") }
            guard let dataset = dataset(id) else { throw .notFound("dataset \(id.rawValue)") }
            guard dataset.holder == actor.id else { throw .forbidden("only the holder of dataset \(id.rawValue) edits it") }
            return [ChangeEntry("dataset.updated", .dataset(try patched(dataset, with: patch, holder: actor, at: now)))]

        case .submitRegistration(let new):
            return try planSubmission(new, by: actor, at: now)

        case .recordDerivations(let target, let sources):
            return try planDerivations(sources: sources, targets: [target], inPlace: false, by: actor, at: now)

        case .recordLineage(let sources, let targets):
            return try planDerivations(sources: sources, targets: targets, inPlace: true, by: actor, at: now)

        case .approveAnonymisation(let id):
            try require(actor, is: [.registrar, .regulator], to: "approve anonymisations")
            guard var derivation = derivations[id] else { throw .notFound("derivation \(id)") }
            guard derivation.kind == .anonymisation else {
                throw .conflict("derivation \(id) is \(derivation.kind.rawValue), not an anonymisation awaiting approval")
            }
            derivation.kind = .approvedAnonymisation
            derivation.approvedBy = actor?.id
            return [ChangeEntry("derivation.anonymisation_approved", .derivation(derivation))]

        case .flagDataset(let id, let reason):
            try require(actor, is: [.registrar, .regulator], to: "mark a dataset's source unlawful")
            guard !reason.isEmpty, reason.count <= Limits.maxLongTextLength else {
                throw .invalid([FieldProblem("reason", "required, at most \(Limits.maxLongTextLength) characters")])
            }
            return try flag(id, reason: reason, by: actor, at: now)

        case .startReview(let number):
            try require(actor, is: [.registrar], to: "review registrations")
            var registration = try registration(numbered: number)
            return try transition(&registration, .startReview, kind: "registration.review_started", at: now)

        case .decide(let number, let accept, let reason):
            try require(actor, is: [.registrar], to: "decide registrations")
            var registration = try registration(numbered: number)
            if accept {
                // R2/R6 hold at every transition that could break them: a claim that would give a second valid
                // certificate is refused here rather than sent to notice.
                let conflicts = issuanceConflicts(of: registration, on: today(at: now))
                if !conflicts.isEmpty {
                    return try transition(&registration, .refuse(conflicts), kind: "registration.refused", at: now)
                }
                return try transition(&registration, .accept(today: today(at: now)), kind: "registration.accepted", at: now)
            }
            guard let reason, !reason.isEmpty, reason.count <= Limits.maxLongTextLength else {
                throw .invalid([FieldProblem("reason", "a refusal must give its reasons")])
            }
            return try transition(&registration, .refuse([Refusal("review", reason)]), kind: "registration.refused", at: now)

        case .lodgeObjection(let number, let grounds):
            return try planObjection(number: number, grounds: grounds, by: actor, at: now)

        case .ruleObjection(let objectionID, let ruling, let reason):
            try require(actor, is: [.registrar], to: "rule on objections")
            guard var objection = objection(objectionID) else { throw .notFound("objection \(objectionID.rawValue)") }
            guard objection.ruling == nil else { throw .conflict("objection \(objectionID.rawValue) was already ruled \(objection.ruling!.rawValue)") }
            guard !reason.isEmpty, reason.count <= Limits.maxLongTextLength else {
                throw .invalid([FieldProblem("reason", "a ruling must give its reasons")])
            }
            guard var registration = registration(objection.registration) else { throw .notFound("registration of objection") }
            objection.ruling = ruling
            objection.ruledBy = actor?.id
            objection.rulingReason = reason
            objection.ruledAt = now
            var entries = [ChangeEntry("objection.ruled", .objection(objection))]
            entries += try transition(
                &registration, .objectionRuled(upheld: ruling == .upheld, today: today(at: now)), kind: "registration.objection_ruled", at: now)
            return entries

        case .updateSettings(let policy, let calendar, let feeCeiling, let royaltyShare):
            try require(actor, is: [.operator], to: "change settings")
            var updated = settings
            if let royaltyShare {
                guard royaltyShare >= 0, royaltyShare <= RegistrySettings.maxRoyaltyPoolBasisPoints else {
                    throw .invalid([FieldProblem("royaltyShareBasisPoints", "must be between 0 and \(RegistrySettings.maxRoyaltyPoolBasisPoints)")])
                }
                updated.royaltyShareBasisPoints = royaltyShare
            }
            if let policy { updated.objectionPolicy = policy }
            if let feeCeiling {
                guard feeCeiling >= 0, feeCeiling <= Limits.maxPricePerMillionTokens else {
                    throw .invalid([FieldProblem("publicDataFeeCeiling", "must be between 0 and \(Limits.maxPricePerMillionTokens) fen per million tokens")])
                }
                updated.publicDataFeeCeiling = feeCeiling
            }
            if let calendar {
                guard calendar.holidays.count + calendar.workingWeekendDays.count <= Limits.maxCalendarDays else {
                    throw .invalid([FieldProblem("calendar", "at most \(Limits.maxCalendarDays) listed days")])
                }
                guard WorkingCalendar.utcOffsetRange.contains(calendar.utcOffsetSeconds) else {
                    throw .invalid([FieldProblem(
                        "calendar.utcOffsetSeconds",
                        "must be between \(WorkingCalendar.utcOffsetRange.lowerBound) and \(WorkingCalendar.utcOffsetRange.upperBound) (UTC−12:00 to UTC+14:00)")])
                }
                let outside = (calendar.holidays.map { ("calendar.holidays", $0) } + calendar.workingWeekendDays.map { ("calendar.workingWeekendDays", $0) })
                    .first { $0.1 < CivilDate.earliest || $0.1 > CivilDate.latest }
                if let (field, _) = outside { throw .invalid([FieldProblem(field, "every day must be \(CivilDate.rangeDescription)")]) }
                updated.calendar = calendar
            }
            return [ChangeEntry("settings.changed", .settings(updated))]

        case .setAssigneeDailyCap(let party, let dailyTokens):
            try require(actor, is: [.operator, .regulator], to: "set an assignee's daily cap")
            guard self.party(party) != nil else { throw .notFound("party \(party.rawValue)") }
            if let dailyTokens, dailyTokens < 1 || dailyTokens > Limits.maxTokens {
                throw .invalid([FieldProblem("dailyTokens", "must be between 1 and \(Limits.maxTokens), or null to lift the cap")])
            }
            var updated = settings
            updated.assigneeDailyCaps.removeAll { $0.party == party }
            if let dailyTokens {
                guard updated.assigneeDailyCaps.count < Limits.maxAssigneeDailyCaps else {
                    throw .conflict("at most \(Limits.maxAssigneeDailyCaps) assignees may have their own daily cap")
                }
                updated.assigneeDailyCaps.append(AssigneeCap(party: party, dailyTokens: dailyTokens))
                updated.assigneeDailyCaps.sort { $0.party < $1.party }
            }
            return [ChangeEntry("settings.assignee_cap_changed", .settings(updated))]

        case .advanceClock(let seconds):
            try require(actor, is: [.operator], to: "move the sandbox clock")
            guard seconds > 0, seconds <= Limits.maxClockAdvanceSeconds else {
                throw .invalid([FieldProblem("seconds", "must be between 1 and \(Limits.maxClockAdvanceSeconds)")])
            }
            guard settings.clockOffsetSeconds <= Limits.maxClockOffsetSeconds - seconds else {
                throw .invalid([FieldProblem("seconds", "the sandbox clock runs at most \(Limits.maxClockOffsetSeconds / 86_400) days ahead of the wall clock")])
            }
            var updated = settings
            updated.clockOffsetSeconds += seconds
            var advanced = self
            advanced.apply(.settings(updated))
            return [ChangeEntry("clock.advanced", .settings(updated))]
                + advanced.planDue(at: now.adding(seconds: seconds))

        case .tick:
            return planDue(at: now)

        case .setPolicy(let new):
            return try planPolicy(new, by: actor, at: now)

        case .requestAccess(let new):
            return try planAccessRequest(new, by: actor, at: now)

        case .replyToAccessRequest(let number, let agree, let reason):
            return try planReply(number: number, agree: agree, reason: reason, by: actor, at: now)

        case .withdrawAccessRequest(let number):
            guard let actor else { throw .forbidden("requests are withdrawn by their requesters") }
            guard var request = accessRequest(number: number) else { throw .notFound("access request \(number)") }
            guard request.requester == actor.id else { throw .forbidden("only the requester withdraws \(number)") }
            guard request.state == .awaitingHolder else {
                throw .conflict("access request \(number) is \(request.state.rawValue): only a request awaiting its holder is withdrawn (a grant is terminated instead)")
            }
            request.state = try advance(request.state, .terminate)
            request.updatedAt = now
            return [ChangeEntry("access_request.withdrawn", .accessRequest(request))]

        case .changeGrant(let number, let change, let reason):
            return try planGrantChange(number: number, change: change, reason: reason, by: actor, at: now)
        }
    }

    /// The local date at `now` in the registry's calendar.
    public func today(at now: Timestamp) -> CivilDate {
        settings.calendar.date(at: now)
    }

    // MARK: Registration

    private func planSubmission(_ new: NewRegistration, by actor: Party?, at now: Timestamp) throws(RegistryError) -> [ChangeEntry] {
        guard let actor else { throw .forbidden("registrations are submitted by parties") }
        let mayApply = actor.kind.mayHoldData || (new.kind == .revocation && (actor.kind == .registrar || actor.kind == .regulator))
        guard mayApply else { throw .forbidden("\(actor.kind.withArticle) does not apply for data rights") }

        var problems: [FieldProblem] = []
        guard let dataset = dataset(new.dataset) else { throw .invalid([FieldProblem("dataset", "no dataset \(new.dataset.rawValue)")]) }
        var target: Certificate?
        if new.kind.targetsCertificate {
            if let number = new.targetCertificate {
                target = certificate(number: number)
                if target == nil { problems.append(FieldProblem("certificate", "no certificate \(number)")) }
                if let target, target.dataset != dataset.id { problems.append(FieldProblem("certificate", "belongs to another dataset")) }
                if let target, target.right != new.right { problems.append(FieldProblem("right", "the certificate is for the \(target.right.rawValue) right")) }
            } else {
                problems.append(FieldProblem("certificate", "required for a \(new.kind.rawValue) registration"))
            }
        } else if new.targetCertificate != nil {
            problems.append(FieldProblem("certificate", "an initial registration does not act on a certificate"))
        }
        if new.kind == .transfer {
            if let transferee = new.transferee {
                if let party = party(transferee) {
                    if !party.kind.mayHoldData { problems.append(FieldProblem("transferee", "\(party.kind.withArticle) cannot hold data rights")) }
                    if party.id == actor.id { problems.append(FieldProblem("transferee", "must be another party")) }
                } else {
                    problems.append(FieldProblem("transferee", "no party \(transferee.rawValue)"))
                }
            } else {
                problems.append(FieldProblem("transferee", "required for a transfer"))
            }
        } else if new.transferee != nil {
            problems.append(FieldProblem("transferee", "only a transfer names a transferee"))
        }
        if (new.kind == .initial || new.kind == .transfer) && new.sourceType == nil {
            problems.append(FieldProblem("sourceType", "required for a \(new.kind.rawValue) registration (R8)"))
        }
        if new.evidence.count > Limits.maxEvidencePerRegistration {
            problems.append(FieldProblem("evidence", "at most \(Limits.maxEvidencePerRegistration) documents"))
        }
        for (index, item) in new.evidence.enumerated() where !Evidence.isDigest(item.sha256) {
            problems.append(FieldProblem("evidence[\(index)].sha256", "must be a SHA-256 digest: 64 lowercase hex digits"))
        }
        if let fingerprint = new.newFingerprint {
            if new.kind != .change { problems.append(FieldProblem("newFingerprint", "only a change registration updates the fingerprint")) }
            if !Evidence.isDigest(fingerprint) { problems.append(FieldProblem("newFingerprint", "must be a SHA-256 digest: 64 lowercase hex digits")) }
        }
        if new.kind == .cancellation || new.kind == .revocation {
            if (new.statement ?? "").isEmpty { problems.append(FieldProblem("statement", "a \(new.kind.rawValue) must state its grounds")) }
        }
        if let statement = new.statement, statement.count > Limits.maxLongTextLength {
            problems.append(FieldProblem("statement", "at most \(Limits.maxLongTextLength) characters"))
        }
        if !problems.isEmpty { throw .invalid(problems) }

        // Acting on a certificate needs to hold it, except a revocation, which interested parties and
        // registrars may seek.
        if let target, new.kind != .revocation, !target.holders.contains(actor.id) {
            throw .forbidden("only a holder of \(target.number) may apply to \(new.kind.rawValue) it")
        }

        // Outright refusals: recorded as a refused registration with every failing reason.
        var refusals: [Refusal] = []
        if dataset.grade == .core {
            refusals.append(Refusal("R13", "dataset \(dataset.id.rawValue) is core data, which is neither registrable nor grantable outside its holder"))
        }
        if new.applicantRole == .entrustedProcessor {
            refusals.append(Refusal("R7", "an entrusted processor (outsourced processing, cloud hosting) acquires no right over the data it processes"))
        }
        if (new.kind == .initial || new.kind == .transfer) && new.evidence.isEmpty {
            refusals.append(Refusal("R6", "a claim must carry source evidence: at least one document digest (contract, authorisation, review report or notarised deposit)"))
        }
        if !new.truthfulnessCommitment && new.kind != .revocation {
            refusals.append(Refusal("R8", "the applicant's truthfulness commitment is required"))
        }
        if new.kind == .initial && new.right == .hold, let dispute = holdDispute(over: dataset.id, excluding: actor.id) {
            refusals.append(Refusal("R6", dispute))
        }
        if new.kind == .initial, certificates(of: dataset.id).contains(where: {
            $0.right == new.right && $0.holders.contains(actor.id) && $0.status(on: today(at: now)) == .valid
        }) {
            refusals.append(Refusal("R2", "the applicant already holds a valid \(new.right.rawValue) certificate for this dataset; apply for a change or a renewal"))
        }
        if new.kind == .initial, let pending = registrations(of: dataset.id).first(where: {
            $0.applicant == actor.id && $0.right == new.right && ($0.kind == .initial || $0.kind == .transfer) && !$0.status.isFinal
        }) {
            refusals.append(Refusal("R2", "the applicant's claim \(pending.number) to the \(new.right.rawValue) right over this dataset is not yet decided"))
        }
        if (new.right == .use || new.right == .operate) && new.kind == .initial {
            let lacking = sourcesLackingUseRight(
                of: dataset.id, applicant: actor.id, extraSources: new.derivedFrom.map(\.dataset), on: today(at: now))
            if !lacking.isEmpty {
                refusals.append(Refusal(
                    "R10",
                    "dataset \(dataset.id.rawValue) is derived; the applicant holds no registered use right over source "
                        + lacking.map { "dataset \($0.rawValue)" }.joined(separator: ", ")))
            }
        }
        if let target, target.status(on: today(at: now)) != .valid, new.kind != .revocation || target.state != .active {
            refusals.append(Refusal("R9", "certificate \(target.number) is \(target.status(on: today(at: now)).rawValue)"))
        }

        let id = RegistrationID(rawValue: registrations.nextID)
        let registration = Registration(
            id: id, number: Self.registrationNumber(id, on: today(at: now)), dataset: dataset.id, applicant: actor.id,
            right: new.right, kind: new.kind, sourceType: new.sourceType, evidence: new.evidence,
            truthfulnessCommitment: new.truthfulnessCommitment, applicantRole: new.applicantRole, targetCertificate: target?.id,
            transferee: new.transferee, authorisationEndsOn: new.authorisationEndsOn, newFingerprint: new.newFingerprint,
            statement: new.statement, status: refusals.isEmpty ? .submitted : .refused, noticeEndsOn: nil, pendingObjections: 0,
            refusals: refusals, certificate: nil, submittedAt: now, updatedAt: now)
        let recorded = new.derivedFrom.isEmpty ? [] : try planDerivations(sources: new.derivedFrom, targets: [dataset.id], inPlace: false, by: actor, at: now)
        return [ChangeEntry(refusals.isEmpty ? "registration.submitted" : "registration.refused", .registration(registration))] + recorded
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
            lineage.descendantSet(of: Int32(id.rawValue), budget: lineage.nodeCount, scratch: &scratch) { node in
                descendants.append(node)
                return true
            }
        }
        descendants.sort()
        let cascade = FlagCascade(
            id: flagCascades.nextID, dataset: id, reason: reason, descendants: descendants.map { DatasetID(rawValue: Int64($0)) },
            by: actor?.id, at: now)
        var entries = [ChangeEntry("dataset.flagged", .dataset(dataset)), ChangeEntry("lineage.flag_cascade", .flagCascade(cascade))]
        // R25: every grant on the dataset and on its descendants is suspended at once, in the same change.
        entries += suspendingGrants(on: [Int32(id.rawValue)] + descendants, reason: "R25: dataset \(id.rawValue) flagged (\(reason))", at: now)
        return entries
    }

    /// R25: every grant on `nodes` that can be suspended, suspended with `reason` (which starts "R25").
    func suspendingGrants(on nodes: [Int32], reason: String, at now: Timestamp) -> [ChangeEntry] {
        var entries: [ChangeEntry] = []
        for node in nodes {
            for grantID in grantsByDataset.members(of: Int64(node)) {
                guard var grant = grants[grantID], case .success(let next) = grant.state.after(.suspend) else { continue }
                grant.state = next
                grant.stateReason = reason
                grant.updatedAt = now
                entries.append(ChangeEntry("grant.suspended", .grant(grant)))
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
    private func planDerivations(
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
            throw .refused([Refusal("lineage", "a cycle would close: dataset \(both[0].rawValue) → dataset \(both[1].rawValue) → dataset \(both[0].rawValue)")])
        }
        var scratch = TraversalScratch()
        var entries: [ChangeEntry] = []
        var nextID = derivations.nextID
        var planned: Set<[Int32]> = []
        for target in targets {
            let targetNode = Int32(target.rawValue)
            let existing = Set(lineage.parents(of: targetNode).map(\.source))
            for source in sources where source.dataset != target {
                let sourceNode = Int32(source.dataset.rawValue)
                if existing.contains(sourceNode) || !planned.insert([sourceNode, targetNode]).inserted { continue }  // already recorded
                if let path = lineage.cycle(closedBy: sourceNode, to: targetNode, scratch: &scratch) {
                    throw .refused([Refusal("lineage", "a cycle would close: " + path.map { "dataset \($0)" }.joined(separator: " → "))])
                }
                let derivation = Derivation(
                    id: nextID, source: source.dataset, target: target, kind: source.kind, recordedBy: actor?.id ?? PartyID(rawValue: 0),
                    approvedBy: nil, recordedAt: now)
                nextID += 1
                entries.append(ChangeEntry("derivation.recorded", .derivation(derivation)))
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
            for edge in edges where newlyFlagged[edge.target] == nil && !lineage.effectiveRestrictions(of: edge.target).flagged {
                if lineage.effectiveRestrictions(of: edge.source).flagged || newlyFlagged[edge.source] != nil {
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
                lineage.descendantSet(of: target, budget: lineage.nodeCount, scratch: &scratch) { node in
                    if reached.insert(node).inserted { nodes.append(node) }
                    return true
                }
            }
            suspended += suspendingGrants(
                on: nodes, reason: "R25: dataset \(target) now derives from dataset \(source), which is flagged or derives from flagged data", at: now)
        }
        return suspended
    }

    /// R10: the sources of a derived dataset over which `applicant` lacks a registered use right.
    func sourcesLackingUseRight(of dataset: DatasetID, applicant: PartyID, extraSources: [DatasetID], on today: CivilDate) -> [DatasetID] {
        let recorded = lineage.parents(of: Int32(dataset.rawValue)).map { DatasetID(rawValue: Int64($0.source)) }
        let sources = Set(recorded + extraSources).sorted()
        return sources.filter { source in
            !certificates(of: source).contains { $0.right == .use && $0.holders.contains(applicant) && $0.status(on: today) == .valid }
        }
    }

    /// Who holds the certificate `registration` issues: the transferee of a transfer, the holders of the
    /// certificate it replaces, or else its applicant.
    static func holders(after registration: Registration, replacing old: Certificate?) -> [PartyID] {
        if registration.kind == .transfer, let transferee = registration.transferee { return [transferee] }
        return old?.holders ?? [registration.applicant]
    }

    /// R2 and R6 as invariants of the certificates: one dataset has at most one valid hold certificate,
    /// and a party at most one valid certificate of each right over it. What issuing `registration`'s
    /// certificate (replacing the one it acts on) would break, as refusals; checked when a registrar
    /// accepts it and again when it issues, because other claims may have been decided in between.
    /// Certificates are public (anyone verifies them by number), so a refusal may name one.
    func issuanceConflicts(of registration: Registration, on today: CivilDate) -> [Refusal] {
        guard registration.kind == .initial || registration.kind == .transfer || registration.kind == .change
            || registration.kind == .renewal
        else { return [] }
        let replaced = registration.targetCertificate
        let holders = Self.holders(after: registration, replacing: replaced.flatMap { certificate($0) })
        var refusals: [Refusal] = []
        for other in certificates(of: registration.dataset)
        where other.id != replaced && other.right == registration.right && other.status(on: today) == .valid {
            if registration.right == .hold && !other.holders.allSatisfy(holders.contains) {
                refusals.append(Refusal(
                    "R6", "the hold right over dataset \(registration.dataset.rawValue) is registered to another party (certificate \(other.number)); resolve that first"))
            } else if other.holders.contains(where: holders.contains) {
                refusals.append(Refusal(
                    "R2", "a valid \(registration.right.rawValue) certificate over dataset \(registration.dataset.rawValue) is already held (certificate \(other.number)); apply for a change or a renewal"))
            }
        }
        return refusals
    }

    /// R6: why a new hold claim over `dataset` by someone other than `claimant` is disputed, if it is.
    func holdDispute(over dataset: DatasetID, excluding claimant: PartyID) -> String? {
        for certificate in certificates(of: dataset) where certificate.right == .hold && certificate.state == .active {
            if !certificate.holders.contains(claimant) {
                return "the hold right over dataset \(dataset.rawValue) is registered to party \(certificate.holders.map { String($0.rawValue) }.joined(separator: ", ")) (certificate \(certificate.number)); resolve that first"
            }
        }
        for registration in registrations(of: dataset)
        where registration.right == .hold && !registration.status.isFinal && registration.applicant != claimant
            && (registration.kind == .initial || registration.kind == .transfer)
        {
            // Another party's claim may not be published yet: say that it exists, not which it is.
            return "the hold right over dataset \(dataset.rawValue) is claimed by another party in a registration not yet resolved"
        }
        return nil
    }

    private func planObjection(number: String, grounds: String, by actor: Party?, at now: Timestamp) throws(RegistryError) -> [ChangeEntry] {
        guard let actor, actor.kind != .operator else { throw .forbidden("objections are lodged by parties") }
        var registration = try registration(numbered: number)
        guard registration.applicant != actor.id else { throw .conflict("an applicant cannot object to its own registration") }
        guard !grounds.isEmpty, grounds.count <= Limits.maxLongTextLength else {
            throw .invalid([FieldProblem("grounds", "required, at most \(Limits.maxLongTextLength) characters")])
        }
        if settings.objectionPolicy == .interestedParties && !isInterested(actor.id, in: registration.dataset, on: today(at: now)) {
            throw .forbidden("R5: only interested parties (holders of a registered right over the dataset) may object in this deployment")
        }
        let objection = Objection(
            id: ObjectionID(rawValue: objections.nextID), registration: registration.id, objector: actor.id, grounds: grounds,
            lodgedAt: now, ruling: nil, ruledBy: nil, rulingReason: nil, ruledAt: nil)
        let entries = try transition(&registration, .objectionLodged(today: today(at: now)), kind: "registration.objection_lodged", at: now)
        return [ChangeEntry("objection.lodged", .objection(objection))] + entries
    }

    /// R5: a party with a registered right over the dataset (its sources join with lineage).
    func isInterested(_ party: PartyID, in dataset: DatasetID, on today: CivilDate) -> Bool {
        certificates(of: dataset).contains { $0.holders.contains(party) && $0.status(on: today) == .valid }
    }

    private func registration(numbered number: String) throws(RegistryError) -> Registration {
        guard let registration = registration(number: number) else { throw .notFound("registration \(number)") }
        return registration
    }

    /// Runs the lifecycle and turns its actions into changes.
    private func transition(
        _ registration: inout Registration, _ event: RegistrationLifecycle.Event, kind: String, at now: Timestamp
    ) throws(RegistryError) -> [ChangeEntry] {
        var lifecycle = registration.lifecycle
        let actions: [RegistrationLifecycle.Action]
        do {
            actions = try lifecycle.handle(event, calendar: settings.calendar)
        } catch {
            throw .refused([error])
        }
        registration.status = lifecycle.status
        registration.noticeEndsOn = lifecycle.noticeEndsOn
        registration.pendingObjections = lifecycle.pendingObjections
        registration.updatedAt = now
        var entries: [ChangeEntry] = []
        var eventKind = kind
        for action in actions {
            switch action {
            case .noticeStarted: eventKind = "registration.notice_started"
            case .suspended: eventKind = "registration.suspended"
            case .noticeResumed: eventKind = "registration.notice_resumed"
            case .refused(let reasons):
                registration.refusals += reasons
                eventKind = "registration.refused"
            case .issueCertificate:
                return try issueCertificate(for: registration, at: now)
            case .takeEffect:
                return try takeEffect(of: registration, at: now)
            }
        }
        entries.append(ChangeEntry(eventKind, .registration(registration)))
        return entries
    }

    // MARK: Effects

    /// R9: issues the certificate of a registration whose notice has ended, superseding the one it acts on.
    private func issueCertificate(for registration: Registration, at now: Timestamp) throws(RegistryError) -> [ChangeEntry] {
        var registration = registration
        let today = today(at: now)
        guard var dataset = dataset(registration.dataset) else { throw .notFound("dataset \(registration.dataset.rawValue)") }
        var old: Certificate?
        if let targetID = registration.targetCertificate {
            old = certificate(targetID)
            if let current = old, current.status(on: today) != .valid {
                registration.status = .refused
                registration.refusals.append(Refusal("R9", "certificate \(current.number) became \(current.status(on: today).rawValue) before issuance"))
                return [ChangeEntry("registration.refused", .registration(registration))]
            }
        }
        let conflicts = issuanceConflicts(of: registration, on: today)
        if !conflicts.isEmpty {
            registration.status = .refused
            registration.refusals += conflicts
            return [ChangeEntry("registration.refused", .registration(registration))]
        }
        var entries: [ChangeEntry] = []
        let id = CertificateID(rawValue: certificates.nextID)
        let holders = Self.holders(after: registration, replacing: old)
        if registration.kind == .change, let fingerprint = registration.newFingerprint, fingerprint != dataset.fingerprint {
            dataset.fingerprint = fingerprint
            dataset.updatedAt = now
            entries.append(ChangeEntry("dataset.fingerprint_changed", .dataset(dataset)))
        }
        if registration.kind == .transfer, registration.right == .hold, let transferee = registration.transferee {
            dataset.holder = transferee
            dataset.updatedAt = now
            entries.append(ChangeEntry("dataset.holder_changed", .dataset(dataset)))
        }
        let certificate = Certificate(
            id: id, number: Self.certificateNumber(id, on: today), registration: registration.id, dataset: dataset.id,
            fingerprint: dataset.fingerprint, right: registration.right, holders: holders,
            sourceType: registration.sourceType ?? old?.sourceType, issuedOn: today,
            expiresOn: Certificate.expiry(issuedOn: today, authorisationEndsOn: authorisationEnd(of: registration)),
            state: .active, supersededBy: nil, stateChangedAt: now)
        entries.append(ChangeEntry("certificate.issued", .certificate(certificate)))
        if var old {
            old.state = .superseded
            old.supersededBy = id
            old.stateChangedAt = now
            entries.append(ChangeEntry("certificate.superseded", .certificate(old)))
        }
        registration.status = .issued
        registration.certificate = id
        registration.updatedAt = now
        entries.insert(ChangeEntry("registration.issued", .registration(registration)), at: 0)
        return entries
    }

    /// R9: the end of the authorisation a registration's right rests on. A change or a renewal rests on
    /// the right it acts on, so the earliest end along its chain of certificates counts: neither ever
    /// outlives the authorisation of the claim it came from. The chain is walked with a bound.
    func authorisationEnd(of registration: Registration) -> CivilDate? {
        var end = registration.authorisationEndsOn
        var current = registration
        var steps = 0
        while current.kind == .change || current.kind == .renewal, steps < Limits.maxCertificateChain,
            let targetID = current.targetCertificate, let target = certificate(targetID), let basis = self.registration(target.registration)
        {
            if let basisEnd = basis.authorisationEndsOn { end = min(end ?? basisEnd, basisEnd) }
            current = basis
            steps += 1
        }
        return end
    }

    /// A cancellation or revocation accepted by the registrar revokes its certificate.
    private func takeEffect(of registration: Registration, at now: Timestamp) throws(RegistryError) -> [ChangeEntry] {
        var entries = [ChangeEntry("registration.recorded", .registration(registration))]
        if let targetID = registration.targetCertificate, var target = certificate(targetID), target.state == .active {
            target.state = .revoked
            target.stateChangedAt = now
            entries.append(ChangeEntry("certificate.revoked", .certificate(target)))
        }
        // R25: a revocation (not a voluntary cancellation) flags the dataset and everything derived from it.
        if registration.kind == .revocation {
            entries += try flag(registration.dataset, reason: "registration \(registration.number) revoked", by: nil, at: now)
        }
        return entries
    }

    /// Issues every certificate whose notice has ended by `now`.
    func planDue(at now: Timestamp) -> [ChangeEntry] {
        let today = today(at: now)
        var state = self
        var entries = planGrantClock(at: now)
        for registration in registrationsInNotice where registration.noticeEndsOn.map({ today > $0 }) ?? false {
            var current = registration
            // Each issuance sees the ones before it (certificate ids, superseded certificates).
            guard let due = try? state.transition(&current, .clock(today: today), kind: "registration.issued", at: now) else { continue }
            for entry in due { state.apply(entry.record) }
            entries += due
        }
        return entries
    }

    // MARK: Validation

    private func validParty(_ new: NewParty, at now: Timestamp) throws(RegistryError) -> Party {
        var problems: [FieldProblem] = []
        let name = new.name.trimmingWhitespace
        if name.isEmpty || name.count > Limits.maxShortTextLength {
            problems.append(FieldProblem("name", "required, at most \(Limits.maxShortTextLength) characters"))
        }
        if !Regions.isKnown(new.region) {
            problems.append(FieldProblem("region", "must be a provincial code such as CN-BJ, or a two-letter country code outside China"))
        } else if new.jurisdiction == .mainland && !Regions.isMainland(new.region) {
            problems.append(FieldProblem("region", "\(new.region) is outside the mainland jurisdiction"))
        } else if new.jurisdiction == .outside && Regions.isMainland(new.region) {
            problems.append(FieldProblem("jurisdiction", "\(new.region) is in the mainland jurisdiction"))
        }
        if let code = new.creditCode {
            if let problem = CreditCode.problem(with: code) {
                problems.append(FieldProblem("creditCode", problem))
            } else if let existing = partyByCreditCode[code] {
                throw .conflict("credit code \(code) is already registered to party \(existing.rawValue)")
            }
        } else if new.jurisdiction == .mainland && new.kind.mayHoldData {
            problems.append(FieldProblem("creditCode", "required for a mainland \(new.kind.rawValue) (GB 32100-2015)"))
        }
        if !problems.isEmpty { throw .invalid(problems) }
        return Party(
            id: PartyID(rawValue: parties.nextID), name: name, kind: new.kind, region: new.region, jurisdiction: new.jurisdiction,
            creditCode: new.creditCode, createdAt: now)
    }

    private func validDataset(_ new: NewDataset, holder: Party, at now: Timestamp) throws(RegistryError) -> Dataset {
        var problems: [FieldProblem] = []
        let title = new.title.trimmingWhitespace
        if title.isEmpty || title.count > Limits.maxShortTextLength {
            problems.append(FieldProblem("title", "required, at most \(Limits.maxShortTextLength) characters"))
        }
        if new.description.count > Limits.maxLongTextLength {
            problems.append(FieldProblem("description", "at most \(Limits.maxLongTextLength) characters"))
        }
        if new.individualsCovered < 0 || new.individualsCovered > Limits.maxIndividualsCovered {
            problems.append(FieldProblem("individualsCovered", "must be between 0 and \(Limits.maxIndividualsCovered)"))
        }
        if new.personalInformation != .none && new.individualsCovered == 0 {
            problems.append(FieldProblem("individualsCovered", "a dataset with personal information covers at least one individual (R11)"))
        }
        if Regions.provincial[new.region] == nil { problems.append(FieldProblem("region", "must be a provincial code such as CN-BJ")) }
        if !Evidence.isDigest(new.fingerprint) {
            problems.append(FieldProblem("fingerprint", "must be the SHA-256 of the manifest: 64 lowercase hex digits"))
        }
        if new.format.isEmpty || new.format.count > Limits.maxTagLength { problems.append(FieldProblem("format", "required, at most \(Limits.maxTagLength) characters")) }
        if new.updateCycle.isEmpty || new.updateCycle.count > Limits.maxTagLength {
            problems.append(FieldProblem("updateCycle", "required, at most \(Limits.maxTagLength) characters"))
        }
        if new.sizeBytes < 0 || new.sizeBytes > Limits.maxDatasetSizeBytes {
            problems.append(FieldProblem("sizeBytes", "must be between 0 and \(Limits.maxDatasetSizeBytes)"))
        }
        if new.tags.count > Limits.maxTagsPerDataset { problems.append(FieldProblem("tags", "at most \(Limits.maxTagsPerDataset) tags")) }
        for (index, tag) in new.tags.enumerated() where tag.isEmpty || tag.count > Limits.maxTagLength {
            problems.append(FieldProblem("tags[\(index)]", "1 to \(Limits.maxTagLength) characters"))
        }
        if holder.kind == .department && new.sharing == nil {
            problems.append(FieldProblem("sharing", "government data needs a sharing category: unconditional, conditional or not_shared (R17)"))
        }
        if holder.kind != .department && new.sharing != nil {
            problems.append(FieldProblem("sharing", "only government departments' data has a sharing category (R17)"))
        }
        if !problems.isEmpty { throw .invalid(problems) }
        let id = DatasetID(rawValue: datasets.nextID)
        return Dataset(
            id: id, holder: holder.id, title: title, description: new.description, grade: new.grade,
            personalInformation: new.personalInformation, individualsCovered: new.individualsCovered, region: new.region,
            sharing: new.sharing, fingerprint: new.fingerprint, format: new.format, updateCycle: new.updateCycle,
            sizeBytes: new.sizeBytes, tags: new.tags, createdAt: now, updatedAt: now)
    }

    /// A dataset with `patch` applied, validated like a new one. A certified fingerprint changes only
    /// through a change registration (R9: certificates bind to it).
    private func patched(_ dataset: Dataset, with patch: DatasetPatch, holder: Party, at now: Timestamp) throws(RegistryError) -> Dataset {
        if let fingerprint = patch.fingerprint, fingerprint != dataset.fingerprint,
            certificates(of: dataset.id).contains(where: { $0.state == .active })
        {
            throw .conflict("the fingerprint of dataset \(dataset.id.rawValue) is certified; register a change to update it")
        }
        let merged = NewDataset(
            title: patch.title ?? dataset.title, description: patch.description ?? dataset.description, grade: patch.grade ?? dataset.grade,
            personalInformation: patch.personalInformation ?? dataset.personalInformation,
            individualsCovered: patch.individualsCovered ?? dataset.individualsCovered, region: dataset.region,
            sharing: patch.sharing ?? dataset.sharing, fingerprint: patch.fingerprint ?? dataset.fingerprint,
            format: patch.format ?? dataset.format, updateCycle: patch.updateCycle ?? dataset.updateCycle,
            sizeBytes: patch.sizeBytes ?? dataset.sizeBytes, tags: patch.tags ?? dataset.tags)
        var updated = try validDataset(merged, holder: holder, at: now)
        updated.id = dataset.id
        updated.createdAt = dataset.createdAt
        return updated
    }

    private func require(_ actor: Party?, is kinds: Set<PartyKind>, to action: String) throws(RegistryError) {
        guard let actor else { return }  // local operator tools act as the system
        guard kinds.contains(actor.kind) else {
            throw .forbidden("\(actor.kind.withArticle) may not \(action)")
        }
    }

    static func registrationNumber(_ id: RegistrationID, on date: CivilDate) -> String {
        "REG-\(date.components.year)-" + zeroPadded(id.rawValue, width: 8)
    }

    static func certificateNumber(_ id: CertificateID, on date: CivilDate) -> String {
        "CERT-\(date.components.year)-" + zeroPadded(id.rawValue, width: 8)
    }

    static func zeroPadded(_ value: Int64, width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

extension String {
    var trimmingWhitespace: String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
