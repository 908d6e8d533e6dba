import RegistryCore
import Testing

/// The registry's rules, decided by the core in memory (the HTTP scenario repeats this on a real server).
@Suite struct RegistryPlanTests {
    @Test func R1_R4_R9_aHoldRightGoesFromClaimToCertificateAndTransfers() throws {
        var world = World()
        let ministry = try world.party("Ministry of Transport", .department, code: World.codes[0])
        let lab = try world.party("Deep Lab", .enterprise, code: World.codes[1])
        let registrar = try world.party("Registration Centre", .registrar)
        let dataset = try world.dataset("Highway traffic counts", by: ministry)

        let claim = try world.submit(World.claim(dataset), by: ministry)
        #expect(claim.status == .submitted)
        #expect(claim.number.hasPrefix("REG-2026-"))
        try world.run(.startReview(registration: claim.number), by: registrar)
        try world.run(.decide(registration: claim.number, accept: true, reason: nil), by: registrar)
        #expect(world.state.registration(claim.id)?.noticeEndsOn == CivilDate("2026-12-07"))

        world.advance(days: 15)  // past 7 December
        let due = try world.run(.tick, by: nil)
        #expect(due.contains { $0.kind == .certificateIssued })
        let issued = try #require(world.state.registration(claim.id))
        #expect(issued.status == .issued)
        let certificate = try #require(issued.certificate.flatMap(world.state.certificate))
        #expect(certificate.holders == [ministry.id])
        #expect(certificate.fingerprint == World.fingerprint)
        #expect(certificate.expiresOn == CivilDate("2029-12-08"))
        #expect(certificate.status(on: world.state.today(at: world.now)) == .valid)
        // R1: holding implies neither use nor operate.
        #expect(!world.state.rights.certificates(of: dataset.id).contains { $0.right != .hold })

        var transfer = World.claim(dataset)
        transfer.kind = .transfer
        transfer.sourceType = .transferred
        transfer.targetCertificate = certificate.number
        transfer.transferee = lab.id
        let move = try world.submit(transfer, by: ministry)
        try world.run(.startReview(registration: move.number), by: registrar)
        try world.run(.decide(registration: move.number, accept: true, reason: nil), by: registrar)
        world.advance(days: 20)
        try world.run(.tick, by: nil)
        let old = try #require(world.state.certificate(certificate.id))
        #expect(old.status(on: world.state.today(at: world.now)) == .superseded)
        let newCertificate = try #require(old.supersededBy.flatMap(world.state.certificate))
        #expect(newCertificate.holders == [lab.id])
        #expect(world.state.dataset(dataset.id)?.holder == lab.id)
    }

    @Test func R3_R9_changeRenewalAndCancellationActOnTheCertificate() throws {
        var world = World()
        let holder = try world.party("Holder", .enterprise, code: World.codes[0])
        let registrar = try world.party("Registrar", .registrar)
        let dataset = try world.dataset("Feed", by: holder)
        func complete(_ new: NewRegistration) throws -> Registration {
            let registration = try world.submit(new, by: holder)
            #expect(registration.status == .submitted, "\(registration.refusals)")
            return try world.complete(registration, registrar: registrar)
        }
        let first = try #require(try complete(World.claim(dataset, .operate)).certificate.flatMap(world.state.certificate))

        var change = World.claim(dataset, .operate)
        change.kind = .change
        change.targetCertificate = first.number
        change.newFingerprint = String(repeating: "fe", count: 32)
        let changed = try #require(try complete(change).certificate.flatMap(world.state.certificate))
        #expect(changed.fingerprint == String(repeating: "fe", count: 32))
        #expect(world.state.dataset(dataset.id)?.fingerprint == changed.fingerprint)
        #expect(world.state.certificate(first.id)?.state == .superseded)

        var renewal = World.claim(dataset, .operate)
        renewal.kind = .renewal
        renewal.targetCertificate = changed.number
        let renewed = try #require(try complete(renewal).certificate.flatMap(world.state.certificate))
        #expect(renewed.expiresOn > changed.expiresOn)

        var cancellation = World.claim(dataset, .operate)
        cancellation.kind = .cancellation
        cancellation.targetCertificate = renewed.number
        cancellation.statement = "We stop operating this dataset."
        let recorded = try complete(cancellation)
        #expect(recorded.status == .recorded)
        #expect(world.state.certificate(renewed.id)?.status(on: world.state.today(at: world.now)) == .revoked)
        // R3: every registration is still there.
        #expect(world.state.rights.registrations(of: dataset.id).count == 4)

        // A certificate past its expiry reads expired.
        world.advance(days: 3 * 366 + 1)
        #expect(world.state.certificate(first.id)?.status(on: world.state.today(at: world.now)) == .superseded)
    }

    @Test func R9_anAuthorisationEndingSoonerCapsTheExpiryAndExpiredReadsExpired() throws {
        var world = World()
        let holder = try world.party("Holder", .enterprise, code: World.codes[0])
        let registrar = try world.party("Registrar", .registrar)
        let dataset = try world.dataset("Feed", by: holder)
        var claim = World.claim(dataset, .use)
        claim.authorisationEndsOn = CivilDate("2027-03-31")
        let registration = try world.submit(claim, by: holder)
        try world.run(.startReview(registration: registration.number), by: registrar)
        try world.run(.decide(registration: registration.number, accept: true, reason: nil), by: registrar)
        world.advance(days: 20)
        try world.run(.tick, by: nil)
        let certificate = try #require(world.state.registration(registration.id)?.certificate.flatMap(world.state.certificate))
        #expect(certificate.expiresOn == CivilDate("2027-03-31"))
        #expect(certificate.status(on: CivilDate("2027-03-31")!) == .valid)
        #expect(certificate.status(on: CivilDate("2027-04-01")!) == .expired)
    }

    @Test func R13_R6_R7_R8_outrightRefusalsAreRecordedWithEveryReason() throws {
        var world = World()
        let ministry = try world.party("Ministry", .department, code: World.codes[0])
        let core = try world.dataset("National grid topology", by: ministry, grade: .core)
        let refused = try world.submit(World.claim(core, role: .entrustedProcessor, evidence: false), by: ministry)
        #expect(refused.status == .refused)
        #expect(Set(refused.refusals.map(\.rule)) == ["R13", "R7", "R6"])
        #expect(world.audit.last?.kind == AuditKind.registrationRefused.rawValue)
    }

    @Test func R6_aCompetingHoldClaimIsADispute() throws {
        var world = World()
        let first = try world.party("First", .enterprise, code: World.codes[0])
        let second = try world.party("Second", .enterprise, code: World.codes[1])
        let dataset = try world.dataset("Shared sensor feed", by: first)
        let pending = try world.submit(World.claim(dataset), by: first)
        let competing = try world.submit(World.claim(dataset), by: second)
        #expect(competing.status == .refused)
        #expect(competing.refusals.first?.rule == "R6")
        // The other party's claim may be unpublished: the refusal says it exists, not which it is (finding 14).
        #expect(competing.refusals.first?.reason.contains(pending.number) == false)
        #expect(competing.refusals.first?.reason.contains("another party") == true)
        // A use claim is not a hold dispute (R1: rights are separate).
        #expect(try world.submit(World.claim(dataset, .use), by: second).status == .submitted)
    }

    @Test func R5_interestedPartiesOnlyWhenTheDeploymentSaysSo() throws {
        var world = World()
        let operatorParty = try world.party("Operator", .operator)
        let holder = try world.party("Holder", .enterprise, code: World.codes[0])
        let stranger = try world.party("Stranger", .enterprise, code: World.codes[1])
        let registrar = try world.party("Registrar", .registrar)
        let dataset = try world.dataset("Feed", by: holder)
        let claim = try world.submit(World.claim(dataset, .use), by: holder)
        try world.run(.startReview(registration: claim.number), by: registrar)
        try world.run(.decide(registration: claim.number, accept: true, reason: nil), by: registrar)
        try world.run(.updateSettings(objectionPolicy: .interestedParties, calendar: nil), by: operatorParty)
        let error = #expect(throws: RegistryError.self) {
            try world.run(.lodgeObjection(registration: claim.number, grounds: "not theirs"), by: stranger)
        }
        guard case .forbidden(let reason) = error else {
            Issue.record("expected forbidden, got \(String(describing: error))")
            return
        }
        #expect(reason.hasPrefix("R5"))
        try world.run(.updateSettings(objectionPolicy: .anyone, calendar: nil), by: operatorParty)
        try world.run(.lodgeObjection(registration: claim.number, grounds: "not theirs"), by: stranger)
        #expect(world.state.registration(claim.id)?.status == .suspended)
    }

    @Test func R30_theChainVerifiesAndNamesTheFirstAlteredEntry() throws {
        var world = World()
        let ministry = try world.party("Ministry", .department, code: World.codes[0])
        for index in 0..<5 { _ = try world.dataset("Dataset \(index)", by: ministry) }
        #expect(world.audit.map(\.sequence) == Array(1...6))
        var verifier = AuditVerifier()
        for entry in world.audit { _ = verifier.check(entry) }
        #expect(verifier.outcome == .valid(entries: 6, head: world.state.auditHead.lastHash))

        var tampered = world.audit
        tampered[3].payload = tampered[3].payload.replacingFirst("Dataset 2", with: "Dataset X")
        var second = AuditVerifier()
        for entry in tampered { _ = second.check(entry) }
        #expect(second.outcome == .broken(sequence: 4, reason: "hash does not match the entry's contents"))

        var gap = world.audit
        gap.remove(at: 2)
        var third = AuditVerifier()
        for entry in gap { _ = third.check(entry) }
        guard case .broken(let sequence, _) = third.outcome else {
            Issue.record("a missing entry must break the chain")
            return
        }
        #expect(sequence == 3)
    }

    @Test func theDigestOfRecordsAppliedAgainEqualsTheLiveDigest() throws {
        var world = World()
        let ministry = try world.party("Ministry", .department, code: World.codes[0])
        let registrar = try world.party("Registrar", .registrar)
        let dataset = try world.dataset("Feed", by: ministry)
        let claim = try world.submit(World.claim(dataset), by: ministry)
        try world.run(.startReview(registration: claim.number), by: registrar)
        // A rebuild loads each table's latest records, in id order, and restores the audit head.
        var rebuilt = RegistryState()
        for party in world.state.catalog.parties.all { rebuilt.apply(.party(party)) }
        for dataset in world.state.catalog.datasets.all { rebuilt.apply(.dataset(dataset)) }
        for registration in world.state.rights.registrations.all { rebuilt.apply(.registration(registration)) }
        rebuilt.restoreAuditHead(world.state.auditHead)
        #expect(rebuilt.digest == world.state.digest)
        try world.run(.decide(registration: claim.number, accept: true, reason: nil), by: registrar)
        #expect(rebuilt.digest != world.state.digest)
    }

    @Test func authorityFollowsThePartyKind() throws {
        var world = World()
        let lab = try world.party("Lab", .modelLab, code: World.codes[0])
        let regulator = try world.party("Regulator", .regulator)
        let registrar = try world.party("Registrar", .registrar)
        #expect(throws: RegistryError.self) { _ = try world.dataset("Not allowed", by: registrar) }
        let dataset = try world.dataset("Lab corpus", by: lab)
        let claim = try world.submit(World.claim(dataset), by: lab)
        #expect(throws: RegistryError.forbidden("a regulator may not review registrations")) {
            try world.run(.startReview(registration: claim.number), by: regulator)
        }
        #expect(throws: RegistryError.forbidden("a model_lab may not register parties")) {
            try world.run(.registerParty(NewParty(name: "x", kind: .operator, region: "CN-BJ", jurisdiction: .mainland, creditCode: nil)), by: lab)
        }
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}

import Foundation

/// Lineage in the registry: R10 at registration, R25 on revocation and on unlawful sources.
@Suite struct RegistryLineageTests {
    @Test func R10_aUseClaimOverADerivedDatasetNeedsAUseRightOverEverySource() throws {
        var world = World()
        let maker = try world.party("Maker", .enterprise, code: World.codes[0])
        let other = try world.party("Other", .enterprise, code: World.codes[1])
        let registrar = try world.party("Registrar", .registrar)
        let mine = try world.dataset("Own source", by: maker)
        let theirs = try world.dataset("Their source", by: other)
        let derived = try world.dataset("Joined", by: maker)
        try world.run(.recordDerivations(target: derived.id, sources: [
            DerivationSource(dataset: mine.id, kind: .joined), DerivationSource(dataset: theirs.id, kind: .joined),
        ]), by: maker)

        let refused = try world.submit(World.claim(derived, .use), by: maker)
        #expect(refused.status == .refused)
        #expect(refused.refusals.map(\.rule) == ["R10"])
        #expect(refused.refusals.first?.reason.contains("dataset \(mine.id.rawValue), dataset \(theirs.id.rawValue)") == true)

        // With use rights registered over both sources, the claim goes through.
        for (source, owner) in [(mine, maker), (theirs, other)] {
            let claim = try world.submit(World.claim(source, .use), by: owner)
            try world.run(.startReview(registration: claim.number), by: registrar)
            try world.run(.decide(registration: claim.number, accept: true, reason: nil), by: registrar)
        }
        world.advance(days: 20)
        try world.run(.tick, by: nil)
        let stillLacking = try world.submit(World.claim(derived, .use), by: maker)
        #expect(stillLacking.refusals.map(\.rule) == ["R10"], "the other party's use right is not the maker's")
        #expect(stillLacking.refusals.first?.reason.contains("dataset \(theirs.id.rawValue)") == true)
        #expect(stillLacking.refusals.first?.reason.contains("dataset \(mine.id.rawValue)") == false)
    }

    @Test func R25_aRevocationFlagsTheDatasetAndEveryDescendant() throws {
        var world = World()
        let holder = try world.party("Holder", .enterprise, code: World.codes[0])
        let registrar = try world.party("Registrar", .registrar)
        let source = try world.dataset("Source", by: holder)
        let child = try world.dataset("Child", by: holder)
        let grandchild = try world.dataset("Grandchild", by: holder)
        let unrelated = try world.dataset("Unrelated", by: holder)
        try world.run(.recordDerivations(target: child.id, sources: [DerivationSource(dataset: source.id, kind: .derived)]), by: holder)
        try world.run(.recordDerivations(target: grandchild.id, sources: [DerivationSource(dataset: child.id, kind: .aggregated)]), by: holder)
        let claim = try world.submit(World.claim(source), by: holder)
        try world.run(.startReview(registration: claim.number), by: registrar)
        try world.run(.decide(registration: claim.number, accept: true, reason: nil), by: registrar)
        world.advance(days: 20)
        try world.run(.tick, by: nil)
        let certificate = try #require(world.state.registration(claim.id)?.certificate.flatMap(world.state.certificate))

        var revocation = World.claim(source)
        revocation.kind = .revocation
        revocation.targetCertificate = certificate.number
        revocation.statement = "The collection contract was void."
        let revoke = try world.submit(revocation, by: registrar)
        try world.run(.startReview(registration: revoke.number), by: registrar)
        let entries = try world.run(.decide(registration: revoke.number, accept: true, reason: nil), by: registrar)
        #expect(entries.map(\.kind).contains(.lineageFlagCascade))
        let flagged = [source, child, grandchild, unrelated].filter { world.state.lineage.graph.effectiveRestrictions(of: Int32($0.id.rawValue)).flagged }
        #expect(flagged.map(\.id) == [source.id, child.id, grandchild.id], "exactly the descendants")
        #expect(world.state.lineage.flagCascades.all.first?.descendants == [child.id, grandchild.id])
        #expect(world.state.certificate(certificate.id)?.state == .revoked)
    }

    @Test func lineageCyclesAreRefusedAndApprovedAnonymisationClearsPI() throws {
        var world = World()
        let holder = try world.party("Holder", .enterprise, code: World.codes[0])
        let registrar = try world.party("Registrar", .registrar)
        let a = try world.dataset("A", by: holder)
        let b = try world.dataset("B", by: holder)
        try world.run(.recordDerivations(target: b.id, sources: [DerivationSource(dataset: a.id, kind: .anonymisation)]), by: holder)
        let error = #expect(throws: RegistryError.self) {
            try world.run(.recordDerivations(target: a.id, sources: [DerivationSource(dataset: b.id, kind: .derived)]), by: holder)
        }
        guard case .refused(let refusals) = error else {
            Issue.record("expected a refusal, got \(String(describing: error))")
            return
        }
        #expect(refusals.first?.reason == "a cycle would close: dataset 2 → dataset 1 → dataset 2")

        var sensitive = try #require(world.state.dataset(a.id))
        sensitive.personalInformation = .sensitive
        sensitive.individualsCovered = 10
        world.state.apply(.dataset(sensitive))
        #expect(world.state.lineage.graph.effectiveRestrictions(of: 2).personalInformation == .sensitive, "unapproved anonymisation inherits PI")
        let derivation = try #require(world.state.lineage.derivations.all.first)
        #expect(throws: RegistryError.forbidden("an enterprise may not approve anonymisations")) {
            try world.run(.approveAnonymisation(derivation: derivation.id), by: holder)
        }
        try world.run(.approveAnonymisation(derivation: derivation.id), by: registrar)
        #expect(world.state.lineage.graph.effectiveRestrictions(of: 2).personalInformation == PersonalInformationLevel.none, "R12: approved anonymisation clears PI")
    }
}
