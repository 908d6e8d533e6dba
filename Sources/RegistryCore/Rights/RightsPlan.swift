/// Planning rights: registrations, public notice, objections and certificates (R2–R9).
extension RegistryState {
    /// The changes a rights command makes.
    func planRights(_ command: RightsCommand, by actor: Party?, at now: Timestamp) throws(RegistryError) -> [ChangeEntry] {
        switch command {
        case .submitRegistration(let new):
            return try planSubmission(new, by: actor, at: now)
        case .startReview(let number):
            try require(actor, is: [.registrar], to: "review registrations")
            var registration = try registration(numbered: number)
            return try transition(&registration, .startReview, kind: .registrationReviewStarted, at: now)
        case .decide(let number, let accept, let reason):
            try require(actor, is: [.registrar], to: "decide registrations")
            var registration = try registration(numbered: number)
            if accept {
                // R2/R6 hold at every transition that could break them: a claim that would give a second valid
                // certificate is refused here rather than sent to notice.
                let conflicts = issuanceConflicts(of: registration, on: today(at: now))
                if !conflicts.isEmpty {
                    return try transition(&registration, .refuse(conflicts), kind: .registrationRefused, at: now)
                }
                return try transition(&registration, .accept(today: today(at: now)), kind: .registrationAccepted, at: now)
            }
            guard let reason, !reason.isEmpty, reason.count <= Limits.maxLongTextLength else {
                throw .invalid([FieldProblem("reason", "a refusal must give its reasons")])
            }
            return try transition(&registration, .refuse([Refusal(RefusalGround.review, reason)]), kind: .registrationRefused, at: now)
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
            var entries = [ChangeEntry(.objectionRuled, .objection(objection))]
            entries += try transition(
                &registration, .objectionRuled(upheld: ruling == .upheld, today: today(at: now)), kind: .registrationObjectionRuled, at: now)
            return entries
        }
    }

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
            refusals.append(Refusal(.r13, "dataset \(dataset.id.rawValue) is core data, which is neither registrable nor grantable outside its holder"))
        }
        if new.applicantRole == .entrustedProcessor {
            refusals.append(Refusal(.r7, "an entrusted processor (outsourced processing, cloud hosting) acquires no right over the data it processes"))
        }
        if (new.kind == .initial || new.kind == .transfer) && new.evidence.isEmpty {
            refusals.append(Refusal(.r6, "a claim must carry source evidence: at least one document digest (contract, authorisation, review report or notarised deposit)"))
        }
        if !new.truthfulnessCommitment && new.kind != .revocation {
            refusals.append(Refusal(.r8, "the applicant's truthfulness commitment is required"))
        }
        if new.kind == .initial && new.right == .hold, let dispute = holdDispute(over: dataset.id, excluding: actor.id) {
            refusals.append(Refusal(.r6, dispute))
        }
        if new.kind == .initial, rights.certificates(of: dataset.id).contains(where: {
            $0.right == new.right && $0.holders.contains(actor.id) && $0.status(on: today(at: now)) == .valid
        }) {
            refusals.append(Refusal(.r2, "the applicant already holds a valid \(new.right.rawValue) certificate for this dataset; apply for a change or a renewal"))
        }
        if new.kind == .initial, let pending = rights.registrations(of: dataset.id).first(where: {
            $0.applicant == actor.id && $0.right == new.right && ($0.kind == .initial || $0.kind == .transfer) && !$0.status.isFinal
        }) {
            refusals.append(Refusal(.r2, "the applicant's claim \(pending.number) to the \(new.right.rawValue) right over this dataset is not yet decided"))
        }
        if (new.right == .use || new.right == .operate) && new.kind == .initial {
            let lacking = sourcesLackingUseRight(
                of: dataset.id, applicant: actor.id, extraSources: new.derivedFrom.map(\.dataset), at: now)
            if !lacking.isEmpty {
                refusals.append(Refusal(
                    .r10,
                    "dataset \(dataset.id.rawValue) is derived; the applicant holds no registered use right, nor a grant in force that permits derivation, over source "
                        + lacking.map { "dataset \($0.rawValue)" }.joined(separator: ", ")))
            }
        }
        if let target, target.status(on: today(at: now)) != .valid, new.kind != .revocation || target.state != .active {
            refusals.append(Refusal(.r9, "certificate \(target.number) is \(target.status(on: today(at: now)).rawValue)"))
        }

        let id = RegistrationID(rawValue: rights.registrations.nextID)
        let registration = Registration(
            id: id, number: Self.registrationNumber(id, on: today(at: now)), dataset: dataset.id, applicant: actor.id,
            right: new.right, kind: new.kind, sourceType: new.sourceType, evidence: new.evidence,
            truthfulnessCommitment: new.truthfulnessCommitment, applicantRole: new.applicantRole, targetCertificate: target?.id,
            transferee: new.transferee, authorisationEndsOn: new.authorisationEndsOn, newFingerprint: new.newFingerprint,
            statement: new.statement, status: refusals.isEmpty ? .submitted : .refused, noticeEndsOn: nil, pendingObjections: 0,
            refusals: refusals, certificate: nil, submittedAt: now, updatedAt: now)
        let recorded = new.derivedFrom.isEmpty ? [] : try planDerivations(sources: new.derivedFrom, targets: [dataset.id], inPlace: false, by: actor, at: now)
        return [ChangeEntry(refusals.isEmpty ? .registrationSubmitted : .registrationRefused, .registration(registration))] + recorded
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
        for other in rights.certificates(of: registration.dataset)
        where other.id != replaced && other.right == registration.right && other.status(on: today) == .valid {
            if registration.right == .hold && !other.holders.allSatisfy(holders.contains) {
                refusals.append(Refusal(
                    .r6, "the hold right over dataset \(registration.dataset.rawValue) is registered to another party (certificate \(other.number)); resolve that first"))
            } else if other.holders.contains(where: holders.contains) {
                refusals.append(Refusal(
                    .r2, "a valid \(registration.right.rawValue) certificate over dataset \(registration.dataset.rawValue) is already held (certificate \(other.number)); apply for a change or a renewal"))
            }
        }
        return refusals
    }

    /// R6: why a new hold claim over `dataset` by someone other than `claimant` is disputed, if it is.
    func holdDispute(over dataset: DatasetID, excluding claimant: PartyID) -> String? {
        for certificate in rights.certificates(of: dataset) where certificate.right == .hold && certificate.state == .active {
            if !certificate.holders.contains(claimant) {
                return "the hold right over dataset \(dataset.rawValue) is registered to party \(certificate.holders.map { String($0.rawValue) }.joined(separator: ", ")) (certificate \(certificate.number)); resolve that first"
            }
        }
        for registration in rights.registrations(of: dataset)
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
            id: ObjectionID(rawValue: rights.objections.nextID), registration: registration.id, objector: actor.id, grounds: grounds,
            lodgedAt: now, ruling: nil, ruledBy: nil, rulingReason: nil, ruledAt: nil)
        let entries = try transition(&registration, .objectionLodged(today: today(at: now)), kind: .registrationObjectionLodged, at: now)
        return [ChangeEntry(.objectionLodged, .objection(objection))] + entries
    }

    /// R5: a party with a registered right over the dataset (its sources join with lineage).
    func isInterested(_ party: PartyID, in dataset: DatasetID, on today: CivilDate) -> Bool {
        rights.certificates(of: dataset).contains { $0.holders.contains(party) && $0.status(on: today) == .valid }
    }

    private func registration(numbered number: String) throws(RegistryError) -> Registration {
        guard let registration = registration(number: number) else { throw .notFound("registration \(number)") }
        return registration
    }

    /// Runs the lifecycle and turns its actions into changes.
    func transition(
        _ registration: inout Registration, _ event: RegistrationLifecycle.Event, kind: AuditKind, at now: Timestamp
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
            case .noticeStarted: eventKind = .registrationNoticeStarted
            case .suspended: eventKind = .registrationSuspended
            case .noticeResumed: eventKind = .registrationNoticeResumed
            case .refused(let reasons):
                registration.refusals += reasons
                eventKind = .registrationRefused
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
                registration.refusals.append(Refusal(.r9, "certificate \(current.number) became \(current.status(on: today).rawValue) before issuance"))
                return [ChangeEntry(.registrationRefused, .registration(registration))]
            }
        }
        let conflicts = issuanceConflicts(of: registration, on: today)
        if !conflicts.isEmpty {
            registration.status = .refused
            registration.refusals += conflicts
            return [ChangeEntry(.registrationRefused, .registration(registration))]
        }
        var entries: [ChangeEntry] = []
        let id = CertificateID(rawValue: rights.certificates.nextID)
        let holders = Self.holders(after: registration, replacing: old)
        if registration.kind == .change, let fingerprint = registration.newFingerprint, fingerprint != dataset.fingerprint {
            dataset.fingerprint = fingerprint
            dataset.updatedAt = now
            entries.append(ChangeEntry(.datasetFingerprintChanged, .dataset(dataset)))
        }
        if registration.kind == .transfer, registration.right == .hold, let transferee = registration.transferee {
            dataset.holder = transferee
            dataset.updatedAt = now
            entries.append(ChangeEntry(.datasetHolderChanged, .dataset(dataset)))
        }
        let certificate = Certificate(
            id: id, number: Self.certificateNumber(id, on: today), registration: registration.id, dataset: dataset.id,
            fingerprint: dataset.fingerprint, right: registration.right, holders: holders,
            sourceType: registration.sourceType ?? old?.sourceType, issuedOn: today,
            expiresOn: Certificate.expiry(issuedOn: today, authorisationEndsOn: authorisationEnd(of: registration)),
            state: .active, supersededBy: nil, stateChangedAt: now)
        entries.append(ChangeEntry(.certificateIssued, .certificate(certificate)))
        if var old {
            old.state = .superseded
            old.supersededBy = id
            old.stateChangedAt = now
            entries.append(ChangeEntry(.certificateSuperseded, .certificate(old)))
        }
        registration.status = .issued
        registration.certificate = id
        registration.updatedAt = now
        entries.insert(ChangeEntry(.registrationIssued, .registration(registration)), at: 0)
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
        var entries = [ChangeEntry(.registrationRecorded, .registration(registration))]
        if let targetID = registration.targetCertificate, var target = certificate(targetID), target.state == .active {
            target.state = .revoked
            target.stateChangedAt = now
            entries.append(ChangeEntry(.certificateRevoked, .certificate(target)))
        }
        // R25: a revocation (not a voluntary cancellation) flags the dataset and everything derived from it.
        if registration.kind == .revocation {
            entries += try flag(registration.dataset, reason: "registration \(registration.number) revoked", by: nil, at: now)
        }
        return entries
    }
}
