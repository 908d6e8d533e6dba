import RegistryCore
import Testing

/// Policies, access requests, grants and decisions (R13–R25), decided by the core in memory.
@Suite struct AccessTests {
    static let digest = String(repeating: "d1", count: 32)
    static let day: Int64 = 86_400

    /// A world with a holder, a lab and a regulator, and helpers for datasets and policies.
    struct Market {
        var world = World()
        var holder: Party
        var lab: Party
        var regulator: Party
        var codes = 0

        init() throws {
            holder = try world.party("Holder Co", .enterprise, code: Self.code(1))
            lab = try world.party("Model Lab", .modelLab, code: Self.code(2))
            regulator = try world.party("Cyberspace Administration", .regulator)
            codes = 2
        }

        /// A valid unified social credit code (GB 32100-2015) for the `n`th party.
        static func code(_ n: Int) -> String { CreditCode.make(organisation: Int64(n)) }

        mutating func party(_ name: String, _ kind: PartyKind, region: String = "CN-BJ", jurisdiction: Jurisdiction = .mainland) throws -> Party {
            codes += 1
            let code = jurisdiction == .mainland && kind.mayHoldData ? Self.code(codes) : nil
            let entries = try world.run(
                .registerParty(NewParty(name: name, kind: kind, region: region, jurisdiction: jurisdiction, creditCode: code)), by: nil)
            guard case .party(let party) = entries[0].record else { fatalError("party expected") }
            return party
        }

        mutating func dataset(
            by owner: Party? = nil, grade: Grade = .general, pi: PersonalInformationLevel = .none, individuals: Int64 = 0,
            region: String = "CN-BJ", sharing: SharingCategory? = nil
        ) throws -> Dataset {
            let new = NewDataset(
                title: "Dataset", description: "", grade: grade, personalInformation: pi, individualsCovered: individuals, region: region,
                sharing: sharing, fingerprint: World.fingerprint, format: "parquet", updateCycle: "daily", sizeBytes: 1, tags: [])
            guard case .dataset(let dataset) = try world.run(.registerDataset(new), by: owner ?? holder)[0].record else { fatalError() }
            return dataset
        }

        /// A policy permitting `use` for `purposes` (nil: any), with optional extra rules.
        mutating func permit(
            _ dataset: Dataset, purposes: [String]? = ["model_training"], extra: [PolicyRule] = [], approval: ApprovalMode = .automatic,
            price: Int64 = 500, by owner: Party? = nil
        ) throws {
            let rules = [PolicyRule(id: "permit-use", kind: .permission, action: .use, constraints: RuleConstraints(purposes: purposes))] + extra
            try world.run(
                .setPolicy(NewPolicy(policy: Policy(dataset: dataset.id, rules: rules), approval: approval, pricePerMillionTokens: price)),
                by: owner ?? holder)
        }

        mutating func request(
            _ dataset: Dataset, by requester: Party? = nil, purpose: String = "model_training", tokens: Int64 = 1_000_000,
            region: String? = nil, duty: String? = nil, records: AccessRecords = AccessRecords(), days: Int64 = 30, startingIn: Int64 = 0
        ) throws -> (AccessRequest, Grant?) {
            let entries = try world.run(
                .requestAccess(NewAccessRequest(
                    dataset: dataset.id, purpose: purpose, tokens: tokens,
                    validFrom: startingIn > 0 ? world.now.adding(seconds: startingIn * AccessTests.day) : nil,
                    validUntil: world.now.adding(seconds: days * AccessTests.day),
                    useRegion: region, duty: duty, records: records)),
                by: requester ?? lab)
            guard case .accessRequest(let request) = entries[0].record else { fatalError("request expected") }
            let grant = entries.compactMap { entry -> Grant? in
                if case .grant(let grant) = entry.record { return grant }
                return nil
            }.first
            return (request, grant)
        }

        func decide(_ dataset: Dataset, by party: Party? = nil, purpose: String = "model_training", tokens: Int64 = 1_000) -> Decision {
            world.state.decide(DecisionQuery(party: (party ?? lab).id, dataset: dataset.id, purpose: purpose, tokens: tokens), at: world.now)
        }

        func rules(_ request: AccessRequest) -> [String] { request.refusals.map(\.rule) }
    }

    // MARK: R22: the lifecycle as a value type

    @Test func R22_theLifecycleMovesOnlyAlongItsEdgesAndTerminalStatesAreFinal() {
        let allowed: [AccessState: [AccessEvent: AccessState]] = [
            .requested: [.approveAutomatically: .agreed, .awaitHolder: .awaitingHolder, .refuse: .refused],
            .awaitingHolder: [.holderAgrees: .agreed, .holderRefuses: .refused, .terminate: .terminated],
            .agreed: [.activate: .active, .suspend: .suspended, .revoke: .revoked, .expire: .expired, .terminate: .terminated],
            .active: [.suspend: .suspended, .revoke: .revoked, .expire: .expired, .terminate: .terminated],
            .suspended: [.resume: .active, .revoke: .revoked, .expire: .expired, .terminate: .terminated],
        ]
        for state in AccessState.allCases {
            for event in AccessEvent.allCases {
                let result = try? state.after(event).get()
                #expect(result == allowed[state]?[event], "\(state) + \(event)")
                if state.isTerminal { #expect(result == nil, "terminal \(state) moved on \(event)") }
            }
        }
        #expect(AccessState.allCases.filter(\.isTerminal) == [.refused, .revoked, .expired, .terminated])
    }

    // MARK: Policies and decisions (R20, R21, R24)

    @Test func R20_R23_R24_aPermittedRequestBecomesAGrantAndDecisionsNameTheRule() throws {
        var market = try Market()
        let dataset = try market.dataset()
        // R20: no policy, nothing permitted.
        let (refused, _) = try market.request(dataset)
        #expect(refused.state == .refused)
        #expect(market.rules(refused) == ["R20"])

        try market.permit(dataset, price: 800)
        let (request, grant) = try market.request(dataset)
        #expect(request.state == .agreed)
        let made = try #require(grant)
        #expect(made.state == .active)
        #expect(made.pricePerMillionTokens == 800)
        #expect(!made.free)
        #expect(made.tokenQuota == 1_000_000)

        let allowed = market.decide(dataset)
        #expect(allowed.allow)
        #expect(allowed.rule == "R20")
        #expect(allowed.policyRule == "permit-use")
        #expect(allowed.grant == made.id)
        // Another purpose has no grant; more tokens than the quota is a quota denial (R27).
        let unpermitted = market.decide(dataset, purpose: "marketing")
        #expect(unpermitted.rule == "R20")
        #expect(unpermitted.reason.contains("not permitted"))
        let over = market.decide(dataset, tokens: 2_000_000)
        #expect(!over.allow)
        #expect(over.rule == "R27")
        // Someone without a grant.
        let stranger = try market.party("Other Lab", .modelLab)
        #expect(market.decide(dataset, by: stranger).rule == "R23")
        // The holder uses its own data.
        #expect(market.decide(dataset, by: market.holder).allow)
    }

    @Test func R20_aProhibitionInThePolicyRefusesTheRequestNamingTheRule() throws {
        var market = try Market()
        let dataset = try market.dataset()
        let ban = PolicyRule(
            id: "no-labs", kind: .prohibition, action: .use, constraints: RuleConstraints(assigneeKinds: [.modelLab]))
        try market.permit(dataset, purposes: nil, extra: [ban])
        let (request, _) = try market.request(dataset)
        #expect(request.state == .refused)
        #expect(request.refusals.count == 1)
        #expect(request.refusals[0].rule == "R20")
        #expect(request.refusals[0].reason.contains("no-labs"))
    }

    @Test func R21_R24_anInheritedProhibitionFromAGrandparentDeniesNamingThatAncestor() throws {
        var market = try Market()
        let grandparent = try market.dataset()
        let parent = try market.dataset()
        let child = try market.dataset()
        try market.world.run(.recordDerivations(target: parent.id, sources: [DerivationSource(dataset: grandparent.id, kind: .derived)]), by: market.holder)
        try market.world.run(.recordDerivations(target: child.id, sources: [DerivationSource(dataset: parent.id, kind: .aggregated)]), by: market.holder)
        try market.permit(child, purposes: nil)
        let (before, grant) = try market.request(child)
        #expect(before.state == .agreed)
        #expect(grant != nil)
        #expect(market.decide(child).allow)

        // The grandparent's holder bans model training: the grandchild's decisions deny, naming it.
        let ban = PolicyRule(id: "no-training", kind: .prohibition, action: .use, constraints: RuleConstraints(purposes: ["model_training"]))
        try market.permit(grandparent, purposes: nil, extra: [ban])
        let decision = market.decide(child)
        #expect(!decision.allow)
        #expect(decision.rule == "R21")
        #expect(decision.decidedBy == grandparent.id)
        #expect(decision.reason.contains("dataset \(grandparent.id.rawValue)"))
        // New requests are refused the same way.
        let (after, _) = try market.request(child)
        #expect(after.refusals.map(\.rule) == ["R21"])
        #expect(after.refusals[0].reason.contains("dataset \(grandparent.id.rawValue), a source of"))
        // Permitted purposes intersect: the parent permits only statistics; training is no longer permitted.
        try market.permit(grandparent, purposes: nil)
        try market.permit(parent, purposes: ["statistics"])
        let narrowed = market.decide(child)
        #expect(narrowed.rule == "R21")
        #expect(narrowed.decidedBy == parent.id)
    }

    @Test func R21_R24_aHolderIsBoundByItsSourcesRestrictionsButNotByItsOwnOffer() throws {
        var market = try Market()
        let upstream = try market.party("Upstream Co", .enterprise)
        let source = try market.dataset(by: upstream)
        let derived = try market.dataset()
        try market.world.run(.recordDerivations(target: derived.id, sources: [DerivationSource(dataset: source.id, kind: .derived)]), by: market.holder)
        // The holder's own policy permits only statistics to others; the holder itself trains on its data.
        try market.permit(derived, purposes: ["statistics"])
        #expect(market.decide(derived, by: market.holder).allow)
        #expect(market.decide(derived, purpose: "model_training").rule == "R20")
        // The source's holder prohibits training: that binds the derived dataset's holder too.
        let ban = PolicyRule(id: "no-training", kind: .prohibition, action: .use, constraints: RuleConstraints(purposes: ["model_training"]))
        try market.permit(source, purposes: nil, extra: [ban], by: upstream)
        let denied = market.decide(derived, by: market.holder)
        #expect(denied.rule == "R21")
        #expect(denied.decidedBy == source.id)
        // …and the source's own holder is not bound by its own ban.
        #expect(market.decide(source, by: upstream).allow)
    }

    // MARK: Grading gates (R13–R16)

    @Test func R13_coreDataIsNeverGrantedOutsideItsHolder() throws {
        var market = try Market()
        let core = try market.dataset(grade: .core)
        try market.permit(core, purposes: nil)
        let (request, grant) = try market.request(core)
        #expect(request.state == .refused)
        #expect(market.rules(request).contains("R13"))
        #expect(grant == nil)
        // Derived data inherits the core grade (R12) and with it the refusal, naming the source.
        let derived = try market.dataset()
        try market.world.run(.recordDerivations(target: derived.id, sources: [DerivationSource(dataset: core.id, kind: .derived)]), by: market.holder)
        try market.permit(derived, purposes: nil)
        let (inherited, _) = try market.request(derived)
        let refusal = try #require(inherited.refusals.first { $0.rule == "R13" })
        #expect(refusal.reason.contains("inherited from dataset \(core.id.rawValue)"))
    }

    @Test func R14_importantDataNeedsARiskAssessmentAndASecurityAssessmentOutsideItsRegion() throws {
        var market = try Market()
        let important = try market.dataset(grade: .important, region: "CN-BJ")
        try market.permit(important, purposes: nil)
        let (missing, _) = try market.request(important)
        #expect(market.rules(missing) == ["R14"])
        #expect(missing.refusals[0].reason.contains("risk-assessment"))

        let (granted, grant) = try market.request(important, records: AccessRecords(riskAssessment: AccessTests.digest))
        #expect(granted.state == .agreed)
        #expect(grant != nil)

        let (elsewhere, _) = try market.request(important, region: "CN-SH", records: AccessRecords(riskAssessment: AccessTests.digest))
        #expect(market.rules(elsewhere) == ["R14"])
        #expect(elsewhere.refusals[0].reason.contains("security-assessment"))
        let (assessed, _) = try market.request(
            important, region: "CN-SH", records: AccessRecords(riskAssessment: AccessTests.digest, securityAssessment: AccessTests.digest))
        #expect(assessed.state == .agreed)
    }

    @Test func R15_sensitivePersonalInformationNeedsConsentAndAnImpactAssessment() throws {
        var market = try Market()
        let sensitive = try market.dataset(pi: .sensitive, individuals: 500)
        try market.permit(sensitive, purposes: nil)
        let (missing, _) = try market.request(sensitive)
        #expect(market.rules(missing) == ["R15", "R15"])
        let (half, _) = try market.request(sensitive, records: AccessRecords(consentEvidence: AccessTests.digest))
        #expect(market.rules(half) == ["R15"])
        #expect(half.refusals[0].reason.contains("impact-assessment"))
        let (complete, grant) = try market.request(
            sensitive, records: AccessRecords(consentEvidence: AccessTests.digest, impactAssessment: AccessTests.digest))
        #expect(complete.state == .agreed)
        #expect(grant?.sensitive == true)
    }

    @Test func R16_crossBorderThresholdsCountPerProcessorSinceFirstJanuary() throws {
        var market = try Market()
        let abroad = try market.party("Overseas Lab", .modelLab, region: "SG", jurisdiction: .outside)
        // Important data leaving the mainland always needs a security assessment.
        let important = try market.dataset(grade: .important)
        try market.permit(important, purposes: nil)
        let (importantAbroad, _) = try market.request(important, by: abroad, records: AccessRecords(riskAssessment: AccessTests.digest))
        #expect(importantAbroad.refusals.contains { $0.rule == "R16" && $0.reason.contains("security-assessment") })

        // Personal information: 60,000 individuals pass; the next 60,000 reach 120,000 and need the standard contract.
        let first = try market.dataset(pi: .personal, individuals: 60_000)
        let second = try market.dataset(pi: .personal, individuals: 60_000)
        try market.permit(first, purposes: nil)
        try market.permit(second, purposes: nil)
        let (one, grant) = try market.request(first, by: abroad)
        #expect(one.state == .agreed)
        #expect(grant?.crossBorder == true)
        #expect(market.world.state.crossBorderCount(of: abroad.id, year: 2026).individuals == 60_000)
        let (two, _) = try market.request(second, by: abroad)
        #expect(market.rules(two) == ["R16"])
        #expect(two.refusals[0].reason.contains("120000 individuals"))
        #expect(two.refusals[0].reason.contains("standard contract"))
        let (contracted, _) = try market.request(second, by: abroad, records: AccessRecords(standardContract: AccessTests.digest))
        #expect(contracted.state == .agreed)
        // A mainland lab is not counted.
        #expect(market.world.state.crossBorderCount(of: market.lab.id, year: 2026).individuals == 0)

        // Sensitive information: 10,000 individuals need a security assessment.
        let sensitive = try market.dataset(pi: .sensitive, individuals: 10_000)
        try market.permit(sensitive, purposes: nil)
        let consent = AccessRecords(consentEvidence: AccessTests.digest, impactAssessment: AccessTests.digest, standardContract: AccessTests.digest)
        let (sensitiveAbroad, _) = try market.request(sensitive, by: abroad, records: consent)
        #expect(sensitiveAbroad.refusals.map(\.rule) == ["R16"])
        #expect(sensitiveAbroad.refusals[0].reason.contains("sensitive personal information of 10000"))

        // The count starts again on 1 January (2027-01-01 in UTC+8).
        market.world.now = Timestamp(microsecondsSince1970: 1_798_732_800 * 1_000_000)
        let third = try market.dataset(pi: .personal, individuals: 60_000)
        try market.permit(third, purposes: nil)
        let (newYear, _) = try market.request(third, by: abroad)
        #expect(newYear.state == .agreed)
        #expect(market.world.state.crossBorderCount(of: abroad.id, year: 2027).individuals == 60_000)
    }

    // MARK: Sharing between departments (R17–R19)

    @Test func R17_R18_R19_governmentSharingFollowsTheCatalogEntry() throws {
        var market = try Market()
        let ministry = try market.party("Ministry of Health", .department)
        let bureau = try market.party("Statistics Bureau", .department)
        let open = try market.dataset(by: ministry, sharing: .unconditional)
        let conditional = try market.dataset(by: ministry, sharing: .conditional(condition: "aggregated use only"))
        let closed = try market.dataset(by: ministry, sharing: .notShared(legalBasis: "Statistics Law art. 25"))

        // R18: unconditional sharing for a stated duty is granted at once, free, without a policy.
        let (granted, grant) = try market.request(open, by: bureau, purpose: "public_governance", duty: "national census")
        #expect(granted.state == .agreed)
        #expect(grant?.free == true)
        #expect(grant?.pricePerMillionTokens == 0)
        #expect(market.decide(open, by: bureau, purpose: "public_governance").allow)
        // …but a duty must be stated.
        #expect(throws: RegistryError.self) { try market.request(open, by: bureau, purpose: "public_governance") }

        // R17: not shared, with its legal basis.
        let (refused, _) = try market.request(closed, by: bureau, purpose: "public_governance", duty: "census")
        #expect(refused.refusals.map(\.rule) == ["R17"])
        #expect(refused.refusals[0].reason.contains("Statistics Law art. 25"))

        // R19: conditional sharing waits for the holder, who replies within 5 working days.
        let (waiting, none) = try market.request(conditional, by: bureau, purpose: "public_governance", duty: "census")
        #expect(waiting.state == .awaitingHolder)
        #expect(none == nil)
        // Monday 2026-11-23 + 5 working days = Monday 2026-11-30.
        #expect(waiting.replyDueOn == CivilDate("2026-11-30"))
        #expect(market.world.state.overdueReplies(on: market.world.state.today(at: market.world.now)).isEmpty)
        market.world.advance(days: 8)  // Tuesday 1 December
        let overdue = market.world.state.overdueReplies(on: market.world.state.today(at: market.world.now))
        #expect(overdue.map(\.number) == [waiting.number])
        // A refusal must give reasons.
        #expect(throws: RegistryError.self) {
            try market.world.run(.replyToAccessRequest(number: waiting.number, agree: false, reason: nil), by: ministry)
        }
        try market.world.run(.replyToAccessRequest(number: waiting.number, agree: true, reason: "aggregated only"), by: ministry)
        let agreed = try #require(market.world.state.accessRequest(number: waiting.number))
        #expect(agreed.state == .agreed)
        #expect(agreed.grant != nil)
        #expect(market.world.state.overdueReplies(on: market.world.state.today(at: market.world.now)).isEmpty)
        // Terminal: a second reply is a conflict.
        #expect(throws: RegistryError.self) {
            try market.world.run(.replyToAccessRequest(number: waiting.number, agree: false, reason: "changed mind"), by: ministry)
        }
    }

    // MARK: Grants (R23, R25)

    @Test func R23_publicInterestUseOfPublicDataIsFreeAndPricesRespectTheCeiling() throws {
        var market = try Market()
        let ministry = try market.party("Ministry of Transport", .department)
        let publicData = try market.dataset(by: ministry, sharing: .unconditional)
        #expect(throws: RegistryError.self) { try market.permit(publicData, purposes: nil, price: 5_000, by: ministry) }
        try market.permit(publicData, purposes: nil, price: 1_500, by: ministry)
        let (_, welfare) = try market.request(publicData, purpose: "public_welfare")
        #expect(welfare?.free == true)
        #expect(welfare?.pricePerMillionTokens == 0)
        let (_, industry) = try market.request(publicData, purpose: "commercial_analytics")
        #expect(industry?.free == false)
        #expect(industry?.pricePerMillionTokens == 1_500)
    }

    @Test func R23_grantsAreSuspendedResumedRevokedAndExpireWithTheClock() throws {
        var market = try Market()
        let dataset = try market.dataset()
        try market.permit(dataset)
        let (_, made) = try market.request(dataset, days: 10)
        let grant = try #require(made)
        #expect(throws: RegistryError.self) {  // a suspension states its reasons
            try market.world.run(.changeGrant(number: grant.number, change: .suspend, reason: nil), by: market.holder)
        }
        #expect(throws: RegistryError.self) {  // only the holder or a regulator suspends
            try market.world.run(.changeGrant(number: grant.number, change: .suspend, reason: "audit"), by: market.lab)
        }
        try market.world.run(.changeGrant(number: grant.number, change: .suspend, reason: "audit"), by: market.regulator)
        let suspended = market.decide(dataset)
        #expect(!suspended.allow)
        #expect(suspended.reason.contains("suspended: audit"))
        try market.world.run(.changeGrant(number: grant.number, change: .resume, reason: nil), by: market.holder)
        #expect(market.decide(dataset).allow)

        market.world.advance(days: 11)
        #expect(!market.decide(dataset).allow)  // outside the window even before the clock records it
        let due = try market.world.run(.tick, by: nil)
        #expect(due.map(\.kind) == [.grantExpired])
        #expect(market.world.state.grant(grant.id)?.state == .expired)
        #expect(throws: RegistryError.self) {  // terminal
            try market.world.run(.changeGrant(number: grant.number, change: .resume, reason: nil), by: market.holder)
        }
    }

    @Test func R23_aGrantWhoseWindowIsAheadIsAgreedAndComesIntoForceWithItsWindow() throws {
        var market = try Market()
        let dataset = try market.dataset()
        try market.permit(dataset)
        let (_, made) = try market.request(dataset, days: 30, startingIn: 2)
        let grant = try #require(made)
        #expect(grant.state == .agreed)
        #expect(market.decide(dataset).rule == "R23")
        market.world.advance(days: 3)
        // In force as soon as its window begins, before the clock records it…
        #expect(market.decide(dataset).allow)
        // …which it does on its next tick.
        #expect(try market.world.run(.tick, by: nil).map(\.kind) == [.grantActive])
        #expect(market.world.state.grant(grant.id)?.state == .active)
    }

    @Test func R25_flaggingASourceSuspendsGrantsOnItAndEveryDescendant() throws {
        var market = try Market()
        let source = try market.dataset()
        let middle = try market.dataset()
        let leaf = try market.dataset()
        let unrelated = try market.dataset()
        try market.world.run(.recordDerivations(target: middle.id, sources: [DerivationSource(dataset: source.id, kind: .derived)]), by: market.holder)
        try market.world.run(.recordDerivations(target: leaf.id, sources: [DerivationSource(dataset: middle.id, kind: .joined)]), by: market.holder)
        var grants: [DatasetID: Grant] = [:]
        for dataset in [source, middle, leaf, unrelated] {
            try market.permit(dataset, purposes: nil)
            let (_, made) = try market.request(dataset)
            grants[dataset.id] = made
        }
        let entries = try market.world.run(.flagDataset(source.id, reason: "collected without consent"), by: market.regulator)
        let suspended = Set(entries.compactMap { entry -> GrantID? in
            if case .grant(let grant) = entry.record, grant.state == .suspended { return grant.id }
            return nil
        })
        #expect(suspended == Set([source, middle, leaf].compactMap { grants[$0.id]?.id }))
        #expect(market.world.state.grant(grants[unrelated.id]!.id)?.state == .active)
        let decision = market.decide(leaf)
        #expect(decision.rule == "R25")
        #expect(decision.decidedBy == source.id)
        // The holder cannot lift a cascade's suspension while the flag stands.
        #expect(throws: RegistryError.self) {
            try market.world.run(.changeGrant(number: grants[leaf.id]!.number, change: .resume, reason: nil), by: market.holder)
        }
        // New requests on descendants are refused.
        let (refused, _) = try market.request(leaf)
        #expect(refused.refusals.first?.rule == "R25")
    }
}
