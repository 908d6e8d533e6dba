/// Policies, access requests and grants (R13–R23): planned against the current state like every command.
/// Planning the market: policies, access requests and grants (R13–R25).
extension RegistryState {
    /// The changes a market command makes.
    func planMarket(_ command: MarketCommand, by actor: Party?, at now: Timestamp) throws(RegistryError) -> [ChangeEntry] {
        switch command {
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
            return [ChangeEntry(.accessRequestWithdrawn, .accessRequest(request))]
        case .changeGrant(let number, let change, let reason):
            return try planGrantChange(number: number, change: change, reason: reason, by: actor, at: now)
        }
    }

    // MARK: Policies (R20)

    func planPolicy(_ new: NewPolicy, by actor: Party?, at now: Timestamp) throws(RegistryError) -> [ChangeEntry] {
        guard let actor else { throw .forbidden("policies are set by dataset holders") }
        let datasetID = new.policy.dataset
        guard let dataset = dataset(datasetID) else { throw .notFound("dataset \(datasetID.rawValue)") }
        guard dataset.holder == actor.id else { throw .forbidden("only the holder of dataset \(datasetID.rawValue) sets its policy") }
        var problems = new.policy.validate().map { FieldProblem($0.field, $0.detail) }
        if new.pricePerMillionTokens < 0 || new.pricePerMillionTokens > Limits.maxPricePerMillionTokens {
            problems.append(FieldProblem("pricePerMillionTokens", "must be between 0 and \(Limits.maxPricePerMillionTokens) fen"))
        } else if isPublicData(dataset) && new.pricePerMillionTokens > settings.publicDataFeeCeiling {
            problems.append(FieldProblem(
                "pricePerMillionTokens",
                "public data may not cost more than the published ceiling of \(settings.publicDataFeeCeiling) fen per million tokens (R23)"))
        }
        if let cap = new.dailyTokenCap, cap < 1 || cap > Limits.maxTokens {
            problems.append(FieldProblem("dailyTokenCap", "must be between 1 and \(Limits.maxTokens), or absent for no cap"))
        }
        if !problems.isEmpty { throw .invalid(problems) }
        let record = PolicyRecord(
            dataset: datasetID, version: (market.policies[datasetID]?.version ?? 0) + 1, policy: new.policy, approval: new.approval,
            pricePerMillionTokens: new.pricePerMillionTokens, dailyTokenCap: new.dailyTokenCap, updatedBy: actor.id, updatedAt: now)
        return [ChangeEntry(.policySet, .policy(record))]
    }

    /// Public data (R23): a government department's dataset.
    public func isPublicData(_ dataset: Dataset) -> Bool {
        dataset.sharing != nil || party(dataset.holder)?.kind == .department
    }

    // MARK: Access requests (R13–R19, R22)

    func planAccessRequest(_ new: NewAccessRequest, by actor: Party?, at now: Timestamp) throws(RegistryError) -> [ChangeEntry] {
        guard let actor, actor.kind.mayHoldData else { throw .forbidden("access is requested by departments, enterprises and model labs") }
        guard let dataset = dataset(new.dataset) else { throw .invalid([FieldProblem("dataset", "no dataset \(new.dataset.rawValue)")]) }
        if dataset.holder == actor.id { throw .conflict("party \(actor.id.rawValue) holds dataset \(dataset.id.rawValue) and needs no grant") }

        var problems: [FieldProblem] = []
        if Purposes.vocabulary.existingBit(for: new.purpose) == nil {
            problems.append(FieldProblem("purpose", "must be one of the published purposes: " + Purposes.standard.joined(separator: ", ")))
        }
        if new.tokens < 1 || new.tokens > Limits.maxTokens { problems.append(FieldProblem("tokens", "must be between 1 and \(Limits.maxTokens)")) }
        let validFrom = new.validFrom ?? now
        if new.validUntil <= validFrom { problems.append(FieldProblem("validUntil", "must be after validFrom")) }
        if new.validUntil <= now { problems.append(FieldProblem("validUntil", "must be in the future")) }
        if new.validUntil.rawValue - validFrom.rawValue > Limits.maxAccessValiditySeconds * 1_000_000 {
            problems.append(FieldProblem("validUntil", "a grant lasts at most ten years"))
        }
        let useRegion = new.useRegion ?? actor.region
        if !Regions.isKnown(useRegion) {
            problems.append(FieldProblem("useRegion", "must be a provincial code such as CN-BJ, or a two-letter country code outside China"))
        }
        if let duty = new.duty, duty.count > Limits.maxLongTextLength {
            problems.append(FieldProblem("duty", "at most \(Limits.maxLongTextLength) characters"))
        }
        for (field, digest) in new.records.present where !Evidence.isDigest(digest) {
            problems.append(FieldProblem("records.\(field)", "must be the SHA-256 of the document: 64 lowercase hex digits"))
        }
        let governmentSharing = dataset.sharing != nil && actor.kind == .department
        if governmentSharing, dataset.sharing == .unconditional, (new.duty ?? "").trimmingWhitespace.isEmpty {
            problems.append(FieldProblem("duty", "a department asking for shared government data states the duty it serves (R18)"))
        }
        if !problems.isEmpty { throw .invalid(problems) }

        let id = AccessRequestID(rawValue: market.accessRequests.nextID)
        var request = AccessRequest(
            id: id, number: Self.number("AR", today(at: now), id.rawValue), dataset: dataset.id, requester: actor.id, purpose: new.purpose,
            action: new.action, tokens: new.tokens, validFrom: validFrom, validUntil: new.validUntil, useRegion: useRegion, duty: new.duty,
            records: new.records, state: .requested, refusals: [], replyDueOn: nil, reply: nil, repliedBy: nil, repliedAt: nil, grant: nil,
            createdAt: now, updatedAt: now)

        let outcome = evaluate(request, dataset: dataset, requester: actor, governmentSharing: governmentSharing)
        switch outcome {
        case .refuse(let refusals):
            request.state = try advance(request.state, .refuse)
            request.refusals = refusals
            return [ChangeEntry(.accessRequestRefused, .accessRequest(request))]
        case .awaitHolder(let dueOn):
            request.state = try advance(request.state, .awaitHolder)
            request.replyDueOn = dueOn.map { settings.calendar.adding(workingDays: $0, to: today(at: now)) }
            return [ChangeEntry(.accessRequestAwaitingHolder, .accessRequest(request))]
        case .approve:
            request.state = try advance(request.state, .approveAutomatically)
            return makeGrant(&request, dataset: dataset, requester: actor, kind: .accessRequestApproved, at: now)
        }
    }

    /// What the core decides about a request.
    enum AccessOutcome: Equatable {
        case approve
        /// Wait for the holder; with a reply deadline in working days (R19) when one applies.
        case awaitHolder(replyWithinWorkingDays: Int?)
        case refuse([Refusal])
    }

    /// Every gate a request must pass, with every failing reason (R13–R21).
    func evaluate(_ request: AccessRequest, dataset: Dataset, requester: Party, governmentSharing: Bool) -> AccessOutcome {
        let node = Int32(dataset.id.rawValue)
        let effective = lineage.graph.effectiveRestrictions(of: node)
        var refusals: [Refusal] = []

        if effective.flagged {
            let origin = flagOrigin(of: dataset.id)
            refusals.append(Refusal(.r25, origin == dataset.id
                ? "dataset \(dataset.id.rawValue) is flagged: \(self.dataset(origin)?.flagReason ?? "source unlawful or registration revoked")"
                : "dataset \(dataset.id.rawValue) derives from dataset \(origin.rawValue), which is flagged"))
        }
        // R13: core data stays with its holder.
        if effective.grade == .core {
            refusals.append(Refusal(.r13, "dataset \(dataset.id.rawValue) is core data\(inheritedNote(grade: .core, of: dataset.id)), which is not granted outside its holder"))
        }
        // R17: data not shared between departments, with its legal basis.
        if governmentSharing, case .notShared(let legalBasis) = dataset.sharing {
            refusals.append(Refusal(.r17, "dataset \(dataset.id.rawValue) is not shared: \(legalBasis)"))
        }
        // R21: restrictions inherited through the lineage (and the dataset's own purpose bans).
        let purposeBit = Purposes.vocabulary.existingBit(for: request.purpose) ?? PolicyRequest.unlisted
        let regionBit = RegionVocabulary.standard.existingBit(for: request.useRegion) ?? PolicyRequest.unlisted
        // Inherited restrictions are R21; the dataset's own policy is judged below as R20 (its purpose
        // bans and permitted purposes are part of it), so that a refusal names each reason once.
        if let origin = lineageRestriction(
            on: dataset.id, purposeBit: purposeBit, region: request.useRegion, regionBit: regionBit, exemptOwn: true)
        {
            refusals.append(Refusal(.r21, origin.reason))
        }
        // R20: the holder's own policy, over the whole validity window. Departments asking for government
        // data are governed by the sharing catalog instead (R17: no conditions beyond the catalog entry).
        if !governmentSharing {
            if let template = market.policies.template(of: dataset.id) {
                for at in [request.validFrom, Timestamp(rawValue: request.validUntil.rawValue - 1)] {
                    let verdict = template.compiled.evaluate(PolicyRequest(
                        assignee: requester.id, assigneeKind: requester.kind, action: request.action, purposeBit: purposeBit, regionBit: regionBit,
                        at: at, tokens: request.tokens, effectiveGrade: effective.grade))
                    if let refusal = refusal(for: verdict, rules: template.rules, dataset: dataset.id, at: at, window: request) {
                        refusals.append(refusal)
                        break
                    }
                }
            } else {
                refusals.append(Refusal(.r20, "dataset \(dataset.id.rawValue) has no policy: what is not permitted is prohibited"))
            }
        }
        refusals += gateRefusals(request, dataset: dataset, requester: requester, effective: effective)
        if !refusals.isEmpty { return .refuse(refusals) }

        if governmentSharing, let sharing = dataset.sharing {
            switch sharing {
            case .unconditional: return .approve  // R18
            case .conditional: return .awaitHolder(replyWithinWorkingDays: Limits.sharingReplyWorkingDays)  // R19
            case .notShared: return .refuse([Refusal(.r17, "not shared")])  // refused above; kept for exhaustiveness
            }
        }
        return market.policies.approval(of: dataset.id) == .holder ? .awaitHolder(replyWithinWorkingDays: nil) : .approve
    }

    private func refusal(for verdict: PolicyVerdict, rules: [PolicyRule], dataset: DatasetID, at: Timestamp, window: AccessRequest) -> Refusal? {
        switch verdict {
        case .allow: return nil
        case .deny(let index):
            return Refusal(.r20, "prohibited by rule \(rules[index].id) of dataset \(dataset.rawValue)'s policy")
        case .notPermitted:
            let when = at == window.validFrom ? "from \(window.validFrom)" : "until \(window.validUntil)"
            return Refusal(.r20, "no rule of dataset \(dataset.rawValue)'s policy permits \(window.action.rawValue) for \(window.purpose) by this party \(when): what is not permitted is prohibited")
        }
    }

    /// R14–R16: the records important, sensitive and cross-border access needs, as refusals for those the
    /// request does not carry (the rules themselves: ``requiredRecords(_:)``).
    func gateRefusals(_ request: AccessRequest, dataset: Dataset, requester: Party, effective: Restrictions) -> [Refusal] {
        let crossBorder = isCrossBorder(requester: requester, useRegion: request.useRegion)
        let count = crossBorder && effective.personalInformation != .none
            ? crossBorderCount(
                adding: Self.individualsCovered(by: dataset, effective: effective), sensitive: effective.personalInformation == .sensitive,
                to: requester.id, at: request.createdAt)
            : CrossBorderCount()
        let situation = RecordSituation(
            dataset: dataset.id, datasetRegion: dataset.region, grade: effective.grade, personalInformation: effective.personalInformation,
            useRegion: request.useRegion, crossBorder: crossBorder, crossBorderCount: count)
        return Self.requiredRecords(situation).filter { request.records[$0.record] == nil }.map { Refusal($0.rule, $0.reason) }
    }

    /// R16: the assignee is established outside the mainland, or will use the data outside it.
    public func isCrossBorder(requester: Party, useRegion: String) -> Bool {
        requester.jurisdiction == .outside || !Regions.isMainland(useRegion)
    }

    // MARK: Holder replies and grants

    func planReply(number: String, agree: Bool, reason: String?, by actor: Party?, at now: Timestamp) throws(RegistryError) -> [ChangeEntry] {
        guard let actor else { throw .forbidden("requests are answered by dataset holders") }
        guard var request = accessRequest(number: number) else { throw .notFound("access request \(number)") }
        guard let dataset = dataset(request.dataset), dataset.holder == actor.id else {
            throw .forbidden("only the holder of dataset \(request.dataset.rawValue) answers \(number)")
        }
        if let reason, reason.count > Limits.maxLongTextLength {
            throw .invalid([FieldProblem("reason", "at most \(Limits.maxLongTextLength) characters")])
        }
        request.reply = reason
        request.repliedBy = actor.id
        request.repliedAt = now
        request.updatedAt = now
        guard agree else {
            guard let reason, !reason.trimmingWhitespace.isEmpty else {
                throw .invalid([FieldProblem("reason", "a refusal must give its reasons (R19)")])
            }
            request.state = try advance(request.state, .holderRefuses)
            request.refusals = [Refusal(dataset.sharing != nil ? .r19 : .r22, "refused by the holder: \(reason)")]
            return [ChangeEntry(.accessRequestRefusedByHolder, .accessRequest(request))]
        }
        request.state = try advance(request.state, .holderAgrees)
        guard let requester = party(request.requester) else { throw .notFound("party \(request.requester.rawValue)") }
        // The gates are checked again: the lineage or the records' sufficiency may have changed meanwhile.
        let effective = lineage.graph.effectiveRestrictions(of: Int32(dataset.id.rawValue))
        var blocking = gateRefusals(request, dataset: dataset, requester: requester, effective: effective)
        if effective.flagged { blocking.insert(Refusal(.r25, "dataset \(dataset.id.rawValue) or a source of it has been flagged since the request"), at: 0) }
        if effective.grade == .core { blocking.insert(Refusal(.r13, "dataset \(dataset.id.rawValue) is core data"), at: 0) }
        if !blocking.isEmpty { throw .refused(blocking) }
        return makeGrant(&request, dataset: dataset, requester: requester, kind: .accessRequestAgreed, at: now)
    }

    /// Makes the grant an agreed request becomes (R23).
    private func makeGrant(_ request: inout AccessRequest, dataset: Dataset, requester: Party, kind: AuditKind, at now: Timestamp) -> [ChangeEntry] {
        let id = GrantID(rawValue: market.grants.nextID)
        request.grant = id
        let record = market.policies[dataset.id]
        let publicData = isPublicData(dataset)
        let governmentSharing = dataset.sharing != nil && requester.kind == .department
        let free = governmentSharing || (publicData && Purposes.isPublicInterest(request.purpose))
        var price = free ? 0 : record?.pricePerMillionTokens ?? 0
        if publicData { price = min(price, settings.publicDataFeeCeiling) }
        let effective = lineage.graph.effectiveRestrictions(of: Int32(dataset.id.rawValue))
        let grant = Grant(
            id: id, number: Self.number("GR", today(at: now), id.rawValue), request: request.id, dataset: dataset.id, assignee: requester.id,
            grantor: dataset.holder, purpose: request.purpose, action: request.action, tokenQuota: request.tokens,
            validFrom: request.validFrom, validUntil: request.validUntil, useRegion: request.useRegion, pricePerMillionTokens: price, free: free,
            retentionDays: record?.policy.retentionDays, crossBorder: isCrossBorder(requester: requester, useRegion: request.useRegion),
            individualsCovered: effective.personalInformation == .none ? 0 : Self.individualsCovered(by: dataset, effective: effective),
            sensitive: effective.personalInformation == .sensitive, state: request.validFrom <= now ? .active : .agreed, stateReason: nil,
            createdAt: now, updatedAt: now)
        return [ChangeEntry(kind, .accessRequest(request)), ChangeEntry(grant.state == .active ? .grantActive : .grantAgreed, .grant(grant))]
    }

    func planGrantChange(number: String, change: GrantChange, reason: String?, by actor: Party?, at now: Timestamp) throws(RegistryError) -> [ChangeEntry] {
        guard let actor else { throw .forbidden("grants are changed by parties") }
        guard var grant = grant(number: number) else { throw .notFound("grant \(number)") }
        let officer = actor.kind == .regulator
        switch change {
        case .suspend, .resume, .revoke:
            guard grant.grantor == actor.id || dataset(grant.dataset)?.holder == actor.id || officer else {
                throw .forbidden("only the dataset's holder or a regulator may \(change.rawValue) grant \(number)")
            }
        case .terminate:
            guard grant.assignee == actor.id else { throw .forbidden("only the assignee gives up grant \(number)") }
        }
        if let reason, reason.count > Limits.maxLongTextLength { throw .invalid([FieldProblem("reason", "at most \(Limits.maxLongTextLength) characters")]) }
        if change == .suspend || change == .revoke, (reason ?? "").trimmingWhitespace.isEmpty {
            throw .invalid([FieldProblem("reason", "a \(change == .suspend ? "suspension" : "revocation") states its reasons")])
        }
        let event: AccessEvent = switch change {
        case .suspend: .suspend
        case .resume: .resume
        case .revoke: .revoke
        case .terminate: .terminate
        }
        var next = try advance(grant.state, event)
        if change == .resume, lineage.graph.effectiveRestrictions(of: Int32(grant.dataset.rawValue)).flagged {
            throw .refused([Refusal(.r25, "dataset \(grant.dataset.rawValue) or a source of it is flagged: its grants stay suspended")])
        }
        // A resumed grant whose window has not begun waits as agreed; one whose window has ended expires.
        if next == .active && now < grant.validFrom { next = .agreed }
        if next == .active && now >= grant.validUntil { next = .expired }
        grant.state = next
        grant.stateReason = reason
        grant.updatedAt = now
        return [ChangeEntry(.grant(next), .grant(grant))]
    }

    /// Grants the clock activates (validity began) or expires (validity ended).
    func planGrantClock(at now: Timestamp) -> [ChangeEntry] {
        var entries: [ChangeEntry] = []
        for id in market.grants.dueForClock(at: now) {
            guard var grant = market.grants[id] else { continue }
            let event: AccessEvent
            if now >= grant.validUntil {
                event = .expire
            } else if grant.state == .agreed && now >= grant.validFrom {
                event = .activate
            } else {
                continue
            }
            guard case .success(let next) = grant.state.after(event) else { continue }
            grant.state = next
            grant.updatedAt = now
            entries.append(ChangeEntry(.grant(next), .grant(grant)))
        }
        return entries
    }

    func advance(_ state: AccessState, _ event: AccessEvent) throws(RegistryError) -> AccessState {
        switch state.after(event) {
        case .success(let next): return next
        case .failure(let refusal): throw .conflict(refusal.description)
        }
    }

    /// `AR-2026-000001`: prefix, year, id.
    static func number(_ prefix: String, _ today: CivilDate, _ id: Int64) -> String {
        let digits = String(id)
        return "\(prefix)-\(today.components.year)-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    /// R16: the individuals a grant on `dataset` may reach — its own count or, when larger, what it inherits
    /// from its sources (the sum over them, an upper bound on their union, until an approved anonymisation
    /// clears it; R12).
    static func individualsCovered(by dataset: Dataset, effective: Restrictions) -> Int64 {
        max(dataset.individualsCovered, Int64(effective.individualsCovered))
    }
}
