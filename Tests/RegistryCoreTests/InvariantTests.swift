import RegistryCore
import Testing

/// Rules held as invariants at every transition that could break them, and numbers from outside that
/// are bounded with checked arithmetic (issue 14, findings 1–3, 5, 5b, 7, 8, 10). Each test replays the
/// finding's reproduction in the core and states what must hold instead.
@Suite struct InvariantTests {
    static let day: Int64 = 86_400

    static func validCertificates(_ right: RightKind, of dataset: Dataset, in world: World) -> [Certificate] {
        let today = world.state.today(at: world.now)
        return world.state.rights.certificates(of: dataset.id).filter { $0.right == right && $0.status(on: today) == .valid }
    }

    // MARK: Finding 1: R2/R6 at submission, acceptance and issuance

    @Test func R2_R6_theSameHoldClaimTwiceBeforeEitherIsDecidedIsRefused() throws {
        var world = World()
        let holder = try world.party("Holder", .enterprise, code: World.codes[0])
        let registrar = try world.party("Registrar", .registrar)
        let dataset = try world.dataset("Feed", by: holder)
        let first = try world.submit(World.claim(dataset), by: holder)
        let second = try world.submit(World.claim(dataset), by: holder)
        #expect(first.status == .submitted)
        #expect(second.status == .refused)
        #expect(second.refusals.map(\.rule) == ["R2"])
        #expect(second.refusals.first?.reason.contains(first.number) == true)  // its own claim: no secret
        _ = try world.complete(first, registrar: registrar)
        #expect(Self.validCertificates(.hold, of: dataset, in: world).count == 1)
    }

    @Test func R2_R6_claimsThatPredateTheRuleIssueAtMostOneValidHoldCertificate() throws {
        // Two hold claims pending at once, as a database written before the submission check could hold
        // them: one of the same party, one of another. Acceptance and issuance keep the invariant.
        var world = World()
        let holder = try world.party("Holder", .enterprise, code: World.codes[0])
        let rival = try world.party("Rival", .enterprise, code: World.codes[1])
        let registrar = try world.party("Registrar", .registrar)
        let dataset = try world.dataset("Feed", by: holder)
        let first = try world.submit(World.claim(dataset), by: holder)
        var twin = first
        twin.id = RegistrationID(rawValue: first.id.rawValue + 1)
        twin.number = first.number.replacingOccurrences(of: "1", with: "2", lastOnly: true)
        var other = first
        other.id = RegistrationID(rawValue: first.id.rawValue + 2)
        other.number = first.number.replacingOccurrences(of: "1", with: "3", lastOnly: true)
        other.applicant = rival.id
        world.state.apply(.registration(twin))
        world.state.apply(.registration(other))

        for claim in [first, twin, other] {
            try world.run(.startReview(registration: claim.number), by: registrar)
            try world.run(.decide(registration: claim.number, accept: true, reason: nil), by: registrar)
        }
        world.advance(days: 20)
        try world.run(.tick, by: nil)

        let valid = Self.validCertificates(.hold, of: dataset, in: world)
        #expect(valid.count == 1, "\(valid.map(\.number))")
        let outcomes = [first, twin, other].compactMap { world.state.registration($0.id) }
        #expect(outcomes.filter { $0.status == .issued }.count == 1)
        let refused = outcomes.filter { $0.status == .refused }
        #expect(refused.count == 2)
        #expect(Set(refused.flatMap { $0.refusals.map(\.rule) }).isSubset(of: ["R2", "R6"]))
        #expect(refused.allSatisfy { !$0.refusals.isEmpty })

        // A transfer moves the one certificate: still one valid hold certificate, now the transferee's.
        let certificate = try #require(valid.first)
        var transfer = World.claim(dataset)
        transfer.kind = .transfer
        transfer.sourceType = .transferred
        transfer.targetCertificate = certificate.number
        transfer.transferee = rival.id
        let holderNow = try #require(world.state.party(certificate.holders[0]))
        let moved = try world.complete(try world.submit(transfer, by: holderNow), registrar: registrar)
        #expect(moved.status == .issued)
        #expect(Self.validCertificates(.hold, of: dataset, in: world).map(\.holders) == [[rival.id]])
    }

    // MARK: Finding 2: R25 when the edge comes after the flag

    @Test func R25_anEdgeToAFlaggedDatasetSuspendsTheDescendantsGrantsAndMeteringDenies() throws {
        var meter = try MeteringTests.Meter()
        let source = try meter.dataset()
        let otherHolder = try meter.party("Other Holder", .enterprise)
        let derived = try meter.dataset(by: otherHolder)
        let below = try meter.dataset(by: otherHolder)
        try meter.derive(below, from: [derived])
        try meter.offer(derived, price: 1_000)
        try meter.offer(below, price: 1_000)
        let onDerived = try meter.grant(on: derived, quota: 10_000)
        let onBelow = try meter.grant(on: below, quota: 10_000)
        #expect(meter.use(onDerived, 100, key: "before").answer.accepted)

        try meter.world.run(.flagDataset(source.id, reason: "collected without consent"), by: meter.regulator)
        // The holder of `derived` records it as derived from the flagged source after the flag.
        let entries = try meter.world.run(
            .recordDerivations(target: derived.id, sources: [DerivationSource(dataset: source.id, kind: .derived)]), by: otherHolder)
        let suspended = entries.compactMap { entry -> Grant? in
            if case .grant(let grant) = entry.record { return grant }
            return nil
        }
        #expect(Set(suspended.map(\.id)) == [onDerived.id, onBelow.id])
        #expect(suspended.allSatisfy { $0.state == .suspended && $0.stateReason?.hasPrefix("R25") == true })
        #expect(meter.world.state.lineage.graph.effectiveRestrictions(of: Int32(below.id.rawValue)).flagged)

        // Metering and the decision API agree: both deny under R25.
        for grant in [onDerived, onBelow] {
            let answer = meter.use(grant, 5_000, key: "after-\(grant.number)").answer
            #expect(!answer.accepted)
            #expect(answer.rule == "R25")
            let decision = meter.world.state.decide(
                DecisionQuery(party: grant.assignee, dataset: grant.dataset, purpose: grant.purpose, tokens: 100), at: meter.world.now)
            #expect(!decision.allow)
        }
        #expect(meter.usage.usage(of: onDerived.id).tokens == 100)
        // A suspended grant of flagged data is not resumed while the flag stands.
        #expect(throws: RegistryError.self) {
            try meter.world.run(.changeGrant(number: onDerived.number, change: .resume, reason: nil), by: otherHolder)
        }
    }

    @Test func R25_meteringDeniesOnFlaggedDataEvenWhenTheGrantReadsActive() throws {
        // A grant made active on data that became flagged without a cascade reaching it (a state loaded from
        // before this rule): metering reads the lineage's flag itself, as the decision API does.
        var meter = try MeteringTests.Meter()
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 1_000)
        let grant = try meter.grant(on: dataset, quota: 10_000)
        var flagged = try #require(meter.world.state.dataset(dataset.id))
        flagged.flagged = true
        flagged.flagReason = "loaded"
        meter.world.state.apply(.dataset(flagged))
        #expect(meter.world.state.grant(grant.id)?.state == .active)
        let answer = meter.use(grant, 100, key: "k").answer
        #expect(answer.rule == "R25")
    }

    // MARK: Finding 3: individuals covered are inherited (R12, R16)

    @Test func R12_R16_individualsCoveredAreInheritedSoTheCrossBorderGateHoldsThroughLineage() throws {
        var market = try AccessTests.Market()
        let abroad = try market.party("Overseas Lab", .modelLab, region: "SG", jurisdiction: .outside)
        let personal = try market.dataset(pi: .personal, individuals: 2_000_000)
        try market.permit(personal, purposes: nil)
        let (refused, _) = try market.request(personal, by: abroad)
        #expect(market.rules(refused) == ["R16"])

        // C derives from A and says it covers nobody; it inherits A's PI level and its 2,000,000 individuals.
        let derived = try market.dataset(pi: .none, individuals: 0)
        try market.world.run(
            .recordDerivations(target: derived.id, sources: [DerivationSource(dataset: personal.id, kind: .aggregated)]), by: market.holder)
        try market.permit(derived, purposes: nil)
        let effective = market.world.state.lineage.graph.effectiveRestrictions(of: Int32(derived.id.rawValue))
        #expect(effective.personalInformation == .personal)
        #expect(effective.individualsCovered == 2_000_000)
        let (alsoRefused, grant) = try market.request(derived, by: abroad)
        #expect(grant == nil)
        #expect(market.rules(alsoRefused) == ["R16"])
        #expect(alsoRefused.refusals[0].reason.contains("2000000 individuals"))

        // Two sources add up (an upper bound on their union); an approved anonymisation passes none on.
        let second = try market.dataset(pi: .personal, individuals: 500_000)
        let joined = try market.dataset()
        try market.world.run(
            .recordDerivations(
                target: joined.id,
                sources: [DerivationSource(dataset: personal.id, kind: .joined), DerivationSource(dataset: second.id, kind: .joined)]),
            by: market.holder)
        #expect(market.world.state.lineage.graph.effectiveRestrictions(of: Int32(joined.id.rawValue)).individualsCovered == 2_500_000)
        let anonymised = try market.dataset()
        let recorded = try market.world.run(
            .recordDerivations(target: anonymised.id, sources: [DerivationSource(dataset: personal.id, kind: .anonymisation)]), by: market.holder)
        guard case .derivation(let edge) = recorded[0].record else { Issue.record("derivation expected"); return }
        #expect(market.world.state.lineage.graph.effectiveRestrictions(of: Int32(anonymised.id.rawValue)).individualsCovered == 2_000_000)
        try market.world.run(.approveAnonymisation(derivation: edge.id), by: market.regulator)
        let cleared = market.world.state.lineage.graph.effectiveRestrictions(of: Int32(anonymised.id.rawValue))
        #expect(cleared.individualsCovered == 0)
        #expect(cleared.personalInformation == .none)
    }

    @Test func R11_individualsCoveredIsBoundedAndSaturatesAlongTheLineage() throws {
        var market = try AccessTests.Market()
        #expect(throws: RegistryError.self) { _ = try market.dataset(pi: .personal, individuals: 10_000_000_001) }
        let big = try (0..<3).map { _ in try market.dataset(pi: .personal, individuals: 10_000_000_000) }
        let sum = try market.dataset()
        try market.world.run(
            .recordDerivations(target: sum.id, sources: big.map { DerivationSource(dataset: $0.id, kind: .joined) }), by: market.holder)
        #expect(market.world.state.lineage.graph.effectiveRestrictions(of: Int32(sum.id.rawValue)).individualsCovered == UInt32.max)
    }

    // MARK: Finding 5: a change or renewal never outlives the authorisation (R9)

    @Test func R9_aChangeOrRenewalNeverOutlivesTheAuthorisationItsRightRestsOn() throws {
        var world = World()
        let holder = try world.party("Holder", .enterprise, code: World.codes[0])
        let registrar = try world.party("Registrar", .registrar)
        let dataset = try world.dataset("Feed", by: holder)
        var claim = World.claim(dataset)
        claim.authorisationEndsOn = CivilDate("2027-07-21")
        let first = try world.complete(try world.submit(claim, by: holder), registrar: registrar)
        let original = try #require(first.certificate.flatMap(world.state.certificate))
        #expect(original.expiresOn == CivilDate("2027-07-21"))

        var change = World.claim(dataset)
        change.kind = .change
        change.sourceType = nil
        change.targetCertificate = original.number
        change.newFingerprint = String(repeating: "fe", count: 32)
        let changed = try #require(try world.complete(try world.submit(change, by: holder), registrar: registrar).certificate
            .flatMap(world.state.certificate))
        #expect(changed.expiresOn == CivilDate("2027-07-21"))

        var renewal = World.claim(dataset)
        renewal.kind = .renewal
        renewal.sourceType = nil
        renewal.targetCertificate = changed.number
        let renewed = try #require(try world.complete(try world.submit(renewal, by: holder), registrar: registrar).certificate
            .flatMap(world.state.certificate))
        #expect(renewed.expiresOn == CivilDate("2027-07-21"))
    }

    // MARK: Finding 5b: a use is judged at its own time (R23)

    @Test func R23_aUseIsJudgedAtItsOwnTimeWithinTheWindowWithAClockSkewTolerance() throws {
        var meter = try MeteringTests.Meter()
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 1_000)
        let short = try meter.grant(on: dataset, quota: 10_000, days: 1)
        // Used while active, reported after the clock expired the grant (within the report window): counted.
        let usedAt = short.validUntil.adding(seconds: -600)
        meter.world.now = short.validUntil.adding(seconds: 3_600)
        try meter.world.run(.tick, by: nil)
        #expect(meter.world.state.grant(short.id)?.state == .expired)
        #expect(meter.use(short, 100, key: "late-report", at: usedAt).answer.accepted)
        // A use dated after the window still is not.
        #expect(meter.use(short, 100, key: "after", at: short.validUntil.adding(seconds: 1)).answer.rule == "R23")

        // A lab's clock a little behind: a use dated 30 seconds before a new grant's window begins counts;
        // one dated beyond the tolerance does not.
        let fresh = try meter.grant(on: dataset, quota: 10_000, days: 30)
        #expect(meter.use(fresh, 100, key: "skewed", at: fresh.validFrom.adding(seconds: -30)).answer.accepted)
        #expect(meter.use(fresh, 100, key: "too-early", at: fresh.validFrom.adding(seconds: -301)).answer.rule == "R23")
    }

    // MARK: Findings 7 and 8: dates and offsets from outside

    @Test func F7_datesAreFourDigitYearsInTheDocumentedRangeAndReadBackAsWritten() throws {
        for text in ["0999-01-01", "0000-01-01", "+999-01-01", "999-01-01", "2026-1-01", "2026-02-30", "2026-13-01", "10000-01-01",
                     "2026-01-0a", "2026-01-01 ", "١٩٩٩-01-01"] {
            #expect(CivilDate(text) == nil, "\(text)")
        }
        for text in ["1900-01-01", "2026-12-03", "2028-02-29", "9999-12-31"] {
            let date = try #require(CivilDate(text))
            #expect(date.description == text)
            #expect(CivilDate(date.description) == date)
        }
        // A date computed below the range still prints four digits.
        #expect(CivilDate(year: 999, month: 1, day: 1)?.description == "0999-01-01")
    }

    @Test func F8_theCalendarOffsetIsARealTimeZoneAndTheClockOffsetIsBounded() throws {
        var world = World()
        let operatorParty = try world.party("Operator", .operator)
        for offset in [4_611_686_018_427_387_904, 10 * 86_400, -13 * 3_600, 14 * 3_600 + 1] {
            #expect(throws: RegistryError.self, "\(offset)") {
                try world.run(
                    .updateSettings(objectionPolicy: nil, calendar: WorkingCalendar(utcOffsetSeconds: offset), publicDataFeeCeiling: nil),
                    by: operatorParty)
            }
        }
        try world.run(.updateSettings(objectionPolicy: nil, calendar: WorkingCalendar(utcOffsetSeconds: 14 * 3_600)), by: operatorParty)
        #expect(world.state.settings.calendar.utcOffsetSeconds == 14 * 3_600)
        // The sandbox clock: ten years at a time, a century in all; never an overflow.
        for _ in 0..<9 { try world.run(.advanceClock(seconds: 10 * 366 * 86_400), by: operatorParty) }
        #expect(throws: RegistryError.self) { try world.run(.advanceClock(seconds: 10 * 366 * 86_400 + 1), by: operatorParty) }
        try world.run(.advanceClock(seconds: 10 * 366 * 86_400), by: operatorParty)
        #expect(throws: RegistryError.self) { try world.run(.advanceClock(seconds: 1), by: operatorParty) }
    }

    // MARK: Finding 10: the ledger cannot overflow

    @Test func R28_theLedgerDeniesAUseThatWouldPassItsCapacityInsteadOfOverflowing() throws {
        // 2^61 fen of charges at the highest price (10^7 fen per million tokens) and the largest quota (10^15
        // tokens, 10^16 fen a grant): the 231st grant's uses reach it. Before the fix the sums passed 2^63
        // and the process trapped.
        var meter = try MeteringTests.Meter()
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 10_000_000)
        let capacity: Int64 = 1 << 61
        var denied: UsageAnswer?
        var grants = 0
        while denied == nil && grants < 260 {
            let grant = try meter.grant(on: dataset, quota: 1_000_000_000_000_000)
            grants += 1
            let events = (0..<1_000).map { meter.event(grant, 1_000_000_000_000, key: "g\(grants)-\($0)") }
            let batch = meter.commit([UsageSubmission(party: meter.lab.id, events: events)])
            denied = batch.replies[0].map(\.answer).first { !$0.accepted }
        }
        let answer = try #require(denied)
        #expect(answer.rule == "R28")
        #expect(answer.reason?.contains("capacity") == true)
        #expect(meter.usage.totalCharged <= capacity)
        #expect(meter.usage.totalCharged > capacity - 10_000_000_000_000_000)
        // The ledger still balances, every account below overflow.
        let accounts = meter.usage.allAccounts.map(\.account)
        let debits = accounts.reduce(Int64(0)) { $0 + $1.debits }
        let credits = accounts.reduce(Int64(0)) { $0 + $1.credits }
        #expect(debits == credits)
    }
}

extension String {
    /// This string with the last occurrence of `target` replaced (test helper for numbers).
    fileprivate func replacingOccurrences(of target: Character, with replacement: Character, lastOnly: Bool) -> String {
        guard let index = lastIndex(of: target) else { return self }
        var copy = self
        copy.replaceSubrange(index...index, with: String(replacement))
        return copy
    }
}
