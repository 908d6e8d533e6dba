import RegistryCore
import Testing

/// The compliance queries answered from the registry's state (R29), in the core: what each finds after
/// the changes that make a registry fall short of a rule it once met.
@Suite struct ComplianceRecordsTests {
    static let digest = AccessTests.digest

    static func all(_ state: RegistryState, _ filter: MissingRecordsFilter = MissingRecordsFilter()) -> [MissingRecord] {
        state.missingRecords(filter, after: 0, limit: Limits.maxPageSize).rows
    }

    static func summary(_ rows: [MissingRecord]) -> [String] {
        rows.map { "\($0.grant.number) \($0.record.rawValue) \($0.requirements.map(\.rule.rawValue).joined(separator: "+"))" }
    }

    /// Grants made through the request-time check lack nothing; a grade raised, a sensitive source added and
    /// a dataset's count raised after the grants each leave a grant lacking what it now needs, by the rule
    /// the request would now be refused under. Filters, pages and totals agree with the whole answer.
    @Test func R14_R15_R16_R29_missingRecordsJudgeLiveGrantsByWhatTheirDataIsNow() throws {
        var market = try AccessTests.Market()
        let abroad = try market.party("Overseas Lab", .modelLab, region: "SG", jurisdiction: .outside)
        let important = try market.dataset(grade: .important)
        let general = try market.dataset()
        let derived = try market.dataset()
        let sensitive = try market.dataset(pi: .sensitive, individuals: 500)
        let first = try market.dataset(pi: .personal, individuals: 60_000)
        let second = try market.dataset(pi: .personal, individuals: 60_000)
        for dataset in [important, general, derived, sensitive, first, second] { try market.permit(dataset, purposes: nil) }
        let grants = [
            try market.request(important, records: AccessRecords(riskAssessment: Self.digest)).1,
            try market.request(general).1, try market.request(derived).1, try market.request(first, by: abroad).1,
            try market.request(second, by: abroad, records: AccessRecords(standardContract: Self.digest)).1,
        ].compactMap { $0 }
        #expect(grants.count == 5)
        #expect(Self.all(market.world.state).isEmpty, "every grant passed the same check when it was requested")

        // R14: graded important after the grant. R12/R15: a sensitive source recorded after it. R16: the first
        // dataset abroad now covers 2,000,000 individuals, past the security-assessment threshold on its own;
        // the second grant's count is what its request was judged by (60,000 recorded before it + 60,000).
        try market.world.run(.updateDataset(general.id, DatasetPatch(grade: .important)), by: market.holder)
        try market.world.run(.recordDerivations(target: derived.id, sources: [DerivationSource(dataset: sensitive.id, kind: .joined)]), by: market.holder)
        try market.world.run(.updateDataset(first.id, DatasetPatch(individualsCovered: 2_000_000)), by: market.holder)
        let state = market.world.state
        let rows = Self.all(state)
        #expect(Self.summary(rows) == [
            "\(grants[1].number) riskAssessment R14", "\(grants[2].number) consentEvidence R15", "\(grants[2].number) impactAssessment R15",
            "\(grants[3].number) securityAssessment R16",
        ])
        #expect(rows[0].requirements[0].reason.contains("important data"))
        #expect(rows[0].grade == .important && rows[1].personalInformation == .sensitive)
        #expect(rows[3].crossBorderCount?.individuals == 2_000_000 && rows[3].individualsCovered == 2_000_000)
        #expect(rows[3].requirements[0].reason.contains("2000000 individuals"))
        // The request-time check, asked again now, names the same rules for the same records.
        for row in rows {
            let request = try #require(state.accessRequest(row.grant.request))
            let dataset = try #require(state.dataset(row.grant.dataset))
            let requester = try #require(state.party(row.grant.assignee))
            let situation = RecordSituation(
                dataset: dataset.id, datasetRegion: dataset.region, grade: row.grade, personalInformation: row.personalInformation,
                useRegion: request.useRegion, crossBorder: state.isCrossBorder(requester: requester, useRegion: request.useRegion),
                crossBorderCount: row.crossBorderCount ?? CrossBorderCount())
            let needed = RegistryState.requiredRecords(situation).filter { request.records[$0.record] == nil }
            #expect(needed.contains { $0.record == row.record && $0.rule == row.requirements[0].rule })
        }

        let totals = state.missingRecords(MissingRecordsFilter(), after: 0, limit: 1).totals
        #expect(totals.rows == 4 && totals.grants == 3)
        #expect(totals.byRecord == [1, 1, 1, 1, 0])
        // Pages of one row, cursor to cursor, give the whole answer once.
        var paged: [MissingRecord] = []
        var cursor: Int64? = 0
        while let after = cursor {
            let page = state.missingRecords(MissingRecordsFilter(), after: after, limit: 1)
            #expect(page.totals == totals)
            paged += page.rows
            cursor = page.next
        }
        #expect(paged == rows)
        #expect(Self.summary(Self.all(state, MissingRecordsFilter(record: .impactAssessment))) == ["\(grants[2].number) impactAssessment R15"])
        #expect(Self.all(state, MissingRecordsFilter(assignee: abroad.id)).map(\.grant.number) == [grants[3].number])
        #expect(Self.all(state, MissingRecordsFilter(holder: abroad.id)).isEmpty)
        #expect(Self.all(state, MissingRecordsFilter(holder: market.holder.id)).count == 4)

        // Only live grants: a suspended one stays (and filters by state), a revoked one is gone.
        try market.world.run(.changeGrant(number: grants[1].number, change: .suspend, reason: "audit"), by: market.regulator)
        try market.world.run(.changeGrant(number: grants[2].number, change: .revoke, reason: "no consent"), by: market.regulator)
        let later = market.world.state
        #expect(Self.summary(Self.all(later, MissingRecordsFilter(state: .suspended))) == ["\(grants[1].number) riskAssessment R14"])
        #expect(Self.all(later).map(\.grant.number) == [grants[1].number, grants[3].number])
    }

    /// Each processor's count against the three thresholds: over at the threshold, near from 80 % of it, and
    /// whether its grants carried the record; cross-border grants by processor and year with their totals.
    @Test func R16_R29_processorsStandAgainstTheThresholdsAndGrantsAreListedByYear() throws {
        var market = try AccessTests.Market()
        let contracted = try market.party("Overseas Lab A", .modelLab, region: "SG", jurisdiction: .outside)
        let nearing = try market.party("Overseas Lab B", .modelLab, region: "US", jurisdiction: .outside)
        func personal(_ individuals: Int64) throws -> Dataset {
            let dataset = try market.dataset(pi: .personal, individuals: individuals)
            try market.permit(dataset, purposes: nil)
            return dataset
        }
        let a1 = try market.request(try personal(60_000), by: contracted).1
        let a2 = try market.request(try personal(60_000), by: contracted, records: AccessRecords(standardContract: Self.digest)).1
        let b1 = try market.request(try personal(85_000), by: nearing).1
        // A mainland lab using data abroad is cross-border too (R16), without personal information: not counted.
        let general = try market.dataset()
        try market.permit(general, purposes: nil)
        let c1 = try market.request(general, region: "US").1
        #expect([a1, a2, b1, c1].allSatisfy { $0?.crossBorder == true })

        let state = market.world.state
        let answer = state.crossBorderProcessors(year: 2026, status: nil, after: 0, limit: 50)
        #expect(answer.rows.map(\.processor) == [contracted.id, nearing.id])
        let a = answer.rows[0]
        #expect(a.count.individuals == 120_000 && a.grants == 2)
        #expect(a.standardContract == .over && a.securityAssessment == .under && a.sensitiveSecurityAssessment == .under)
        #expect(a.status == .over && a.standardContractHeld && !a.securityAssessmentHeld)
        let b = answer.rows[1]
        #expect(b.count.individuals == 85_000 && b.standardContract == .near && b.status == .near && !b.standardContractHeld)
        #expect(answer.totals.processors == 2 && answer.totals.byStatus == [0, 1, 1])
        #expect(state.crossBorderProcessors(year: 2026, status: .near, after: 0, limit: 50).rows.map(\.processor) == [nearing.id])
        #expect(state.crossBorderProcessors(year: 2027, status: nil, after: 0, limit: 50).rows.isEmpty)
        let firstPage = state.crossBorderProcessors(year: 2026, status: nil, after: 0, limit: 1)
        #expect(firstPage.next == contracted.id.rawValue)
        #expect(state.crossBorderProcessors(year: 2026, status: nil, after: firstPage.next!, limit: 1).rows.map(\.processor) == [nearing.id])
        #expect(ThresholdStatus(799_999, threshold: 1_000_000) == .under && ThresholdStatus(800_000, threshold: 1_000_000) == .near)
        #expect(ThresholdStatus(1_000_000, threshold: 1_000_000) == .over && ThresholdStatus(.max, threshold: 1_000_000) == .over)

        let grants = state.crossBorderGrants(processor: nil, year: 2026, after: 0, limit: 50)
        #expect(grants.rows.map(\.grant.number) == [a1, a2, b1, c1].compactMap { $0?.number })
        #expect(grants.totals.grants == 4 && grants.totals.individuals.individuals == 205_000)
        #expect(grants.rows[1].recordsHeld == [.standardContract] && grants.rows[3].personalInformation == PersonalInformationLevel.none)
        #expect(state.crossBorderGrants(processor: nearing.id, year: nil, after: 0, limit: 50).rows.map(\.grant.number) == [b1?.number].compactMap { $0 })
        #expect(state.crossBorderGrants(processor: nil, year: 2025, after: 0, limit: 50).totals.grants == 0)
        let paged = state.crossBorderGrants(processor: nil, year: nil, after: 0, limit: 3)
        #expect(paged.rows.count == 3 && paged.next == paged.rows.last?.grant.id.rawValue)
        #expect(state.crossBorderGrants(processor: nil, year: nil, after: paged.next!, limit: 3).rows.map(\.grant.number) == [c1?.number].compactMap { $0 })
    }

    /// A grant that permits derivation is a basis for R10 as a registered use right is; when it ends, or an
    /// edge is recorded after the right was registered, the derived dataset's right rests on sources its
    /// holder has no basis over, and the query names each (dataset, holder, source).
    @Test func R10_R29_lineageGapsNameEachSourceARightHolderLacksABasisOver() throws {
        var market = try AccessTests.Market()
        let maker = market.holder
        let other = try market.party("Other Co", .enterprise)
        let registrar = try market.party("Registrar", .registrar)
        let own = try market.dataset(by: maker)
        let theirs = try market.dataset(by: other)
        let third = try market.dataset(by: other)
        let derived = try market.dataset(by: maker)
        try market.world.run(.recordDerivations(target: derived.id, sources: [
            DerivationSource(dataset: own.id, kind: .joined), DerivationSource(dataset: theirs.id, kind: .joined),
        ]), by: maker)
        let useOwn = try market.world.submit(World.claim(own, .use), by: maker)
        _ = try market.world.complete(useOwn, registrar: registrar)
        // The other party licenses derivation from its dataset to the maker.
        try market.world.run(.setPolicy(NewPolicy(
            policy: Policy(dataset: theirs.id, rules: [PolicyRule(id: "derive", kind: .permission, action: .derive, constraints: RuleConstraints())]),
            approval: .automatic, pricePerMillionTokens: 0)), by: other)
        let granted = try market.world.run(.requestAccess(NewAccessRequest(
            dataset: theirs.id, purpose: "product_development", action: .derive, tokens: 1_000,
            validUntil: market.world.now.adding(seconds: 60 * AccessTests.day))), by: maker)
        let grant = try #require(granted.compactMap { entry -> Grant? in if case .grant(let grant) = entry.record { grant } else { nil } }.first)
        #expect(market.world.state.hasDerivationBasis(maker.id, over: theirs.id, at: market.world.now))

        // R10 at registration: the use right over `own` and the derivation grant over `theirs` suffice.
        let claim = try market.world.submit(World.claim(derived, .use), by: maker)
        #expect(claim.status == .submitted, "\(claim.refusals)")
        #expect(market.world.state.lineageGaps(holder: nil, after: 0, limit: 50, at: market.world.now).rows.isEmpty)
        _ = try market.world.complete(claim, registrar: registrar)
        #expect(market.world.state.lineageGaps(holder: nil, after: 0, limit: 50, at: market.world.now).rows.isEmpty)

        // The grant ends; an edge from a third dataset is recorded after the registration; a lab claims operate.
        try market.world.run(.changeGrant(number: grant.number, change: .terminate, reason: nil), by: maker)
        try market.world.run(.recordDerivations(target: derived.id, sources: [DerivationSource(dataset: third.id, kind: .filtered)]), by: maker)
        let state = market.world.state
        let gaps = state.lineageGaps(holder: nil, after: 0, limit: 50, at: market.world.now)
        #expect(gaps.rows.map { "\($0.dataset.rawValue) \($0.holder.rawValue) \($0.source.rawValue)" } == [
            "\(derived.id.rawValue) \(maker.id.rawValue) \(theirs.id.rawValue)", "\(derived.id.rawValue) \(maker.id.rawValue) \(third.id.rawValue)",
        ])
        #expect(gaps.next == nil)
        let first = gaps.rows[0]
        #expect(first.rights == [.use] && first.basis == .certificate && first.numbers.count == 1 && first.sourceHolder == other.id)
        #expect(first.lastDerivationGrant?.number == grant.number && first.lastDerivationGrant?.state == .terminated)
        #expect(first.lastUseCertificate == nil && gaps.rows[1].edgeKind == .filtered)
        // A claim not yet decided counts too; the holder filter keeps one party's rows.
        let lab = market.lab
        let operate = try market.world.submit(World.claim(derived, .operate), by: lab)
        #expect(operate.status == .refused, "R10 at registration refuses the lab outright: \(operate.refusals)")
        #expect(state.lineageGaps(holder: lab.id, after: 0, limit: 50, at: market.world.now).rows.isEmpty)
        #expect(state.lineageGaps(holder: maker.id, after: 0, limit: 50, at: market.world.now).rows.count == 2)
        // Pages of one row.
        let page = state.lineageGaps(holder: nil, after: 0, limit: 1, at: market.world.now)
        #expect(page.rows == [first] && page.next == first.position)
        #expect(state.lineageGaps(holder: nil, after: first.position, limit: 1, at: market.world.now).rows == [gaps.rows[1]])
    }

    /// Conditional sharing requests past their reply date, with calendar and working days overdue, by holder;
    /// requests without a due date (a holder's own approval) are not R19's.
    @Test func R19_R29_overdueSharingRequestsCountWorkingDaysByHolder() throws {
        var market = try AccessTests.Market()
        let ministry = try market.party("Ministry of Health", .department)
        let bureau = try market.party("Statistics Bureau", .department)
        let conditional = try market.dataset(by: ministry, sharing: .conditional(condition: "aggregated use only"))
        let byHolder = try market.dataset()
        try market.permit(byHolder, purposes: nil, approval: .holder)
        let (waiting, _) = try market.request(conditional, by: bureau, purpose: "public_governance", duty: "census")
        let (alsoWaiting, _) = try market.request(byHolder)
        #expect(waiting.replyDueOn == CivilDate("2026-11-30") && alsoWaiting.replyDueOn == nil)
        let today = { market.world.state.today(at: market.world.now) }
        #expect(market.world.state.overdueSharing(holder: nil, on: today()).isEmpty)
        market.world.advance(days: 8)  // Tuesday 1 December
        var overdue = market.world.state.overdueSharing(holder: nil, on: today())
        #expect(overdue.map(\.request.number) == [waiting.number])
        #expect(overdue.first?.holder == ministry.id && overdue.first?.daysOverdue == 1 && overdue.first?.workingDaysOverdue == 1)
        market.world.advance(days: 4)  // Saturday 5 December
        overdue = market.world.state.overdueSharing(holder: ministry.id, on: today())
        #expect(overdue.first?.daysOverdue == 5 && overdue.first?.workingDaysOverdue == 4)
        #expect(market.world.state.overdueSharing(holder: bureau.id, on: today()).isEmpty)
        try market.world.run(.replyToAccessRequest(number: waiting.number, agree: false, reason: "not aggregated"), by: ministry)
        #expect(market.world.state.overdueSharing(holder: nil, on: today()).isEmpty)
    }

    /// The rights history of a dataset: a claim with an objection dismissed and its certificate, a transfer
    /// that supersedes it, a refused claim and a cancellation that revokes — in the order they happened.
    @Test func R3_R29_rightsHistoryListsEveryRegistrationObjectionRulingCertificateAndTransferInOrder() throws {
        var world = World()
        let ministry = try world.party("Ministry", .department, code: World.codes[0])
        let enterprise = try world.party("Enterprise", .enterprise, code: World.codes[1])
        let lab = try world.party("Lab", .modelLab, code: World.codes[2])
        let registrar = try world.party("Registrar", .registrar)
        let dataset = try world.dataset("Highway counts", by: ministry)
        let claim = try world.submit(World.claim(dataset), by: ministry)
        try world.run(.startReview(registration: claim.number), by: registrar)
        try world.run(.decide(registration: claim.number, accept: true, reason: nil), by: registrar)
        world.advance(days: 1)
        try world.run(.lodgeObjection(registration: claim.number, grounds: "we collected part of it"), by: enterprise)
        let objection = try #require(world.state.objections(of: claim.id).first)
        world.advance(days: 1)
        try world.run(.ruleObjection(objection.id, ruling: .dismissed, reason: "sole collection shown"), by: registrar)
        world.advance(days: 20)
        try world.run(.tick, by: nil)
        let first = try #require(world.state.registration(claim.id)?.certificate.flatMap(world.state.certificate))
        world.advance(days: 1)
        let refused = try world.submit(World.claim(dataset, evidence: false), by: enterprise)
        #expect(refused.status == .refused)
        var transfer = World.claim(dataset)
        transfer.kind = .transfer
        transfer.sourceType = .transferred
        transfer.targetCertificate = first.number
        transfer.transferee = lab.id
        world.advance(days: 1)
        let moved = try world.complete(try world.submit(transfer, by: ministry), registrar: registrar)
        let second = try #require(moved.certificate.flatMap(world.state.certificate))
        var cancellation = World.claim(dataset)
        cancellation.kind = .cancellation
        cancellation.targetCertificate = second.number
        cancellation.statement = "no longer held"
        world.advance(days: 1)
        let cancelled = try world.complete(try world.submit(cancellation, by: lab), registrar: registrar)
        #expect(cancelled.status == .recorded)

        let events = world.state.rightsHistory(of: dataset.id, on: world.state.today(at: world.now))
        #expect(events.map { "\($0.kind.rawValue) \($0.number)" } == [
            "registration.submitted \(claim.number)", "objection.lodged \(objection.id.rawValue)", "objection.ruled \(objection.id.rawValue)",
            "certificate.issued \(first.number)", "registration.submitted \(refused.number)", "registration.refused \(refused.number)",
            "registration.submitted \(moved.number)", "certificate.issued \(second.number)", "right.transferred \(moved.number)",
            "certificate.superseded \(first.number)", "registration.submitted \(cancelled.number)", "registration.recorded \(cancelled.number)",
            "certificate.revoked \(second.number)",
        ])
        #expect(events.map(\.at) == events.map(\.at).sorted())
        #expect(events[2].outcome == "dismissed" && events[2].parties == [registrar.id])
        #expect(events[3].outcome == "superseded" && events[7].outcome == "revoked")
        #expect(events[8].parties == [lab.id] && events[8].detail.contains("from party \(ministry.id.rawValue)"))
        #expect(events[5].detail.contains("R6"))
        #expect(world.state.rightsHistory(of: DatasetID(rawValue: 999), on: world.state.today(at: world.now)).isEmpty)
    }
}
