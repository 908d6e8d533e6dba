import RegistryCore
import Testing

/// Usage metering and settlement (R23–R28), decided by the core in memory: usage is planned in batches
/// and applied the way the store applies a committed batch; quotas, idempotency, prices, royalties and
/// the ledger's balance are checked against hand-computed numbers.
@Suite struct MeteringTests {
    static let day: Int64 = 86_400

    /// A registry with an operator, a regulator, a registrar, a holder and two labs that meters usage as
    /// the store does (plan, then apply) and keeps every event and posting it made.
    struct Meter {
        var world = World()
        var operatorParty: Party
        var regulator: Party
        var registrar: Party
        var holder: Party
        var lab: Party
        var otherLab: Party
        var codes = 3
        var events: [MeteredEvent] = []
        var transfers: [LedgerTransfer] = []

        init() throws {
            operatorParty = try world.party("Registry Operator", .operator)
            regulator = try world.party("Cyberspace Administration", .regulator)
            registrar = try world.party("Registration Centre", .registrar)
            holder = try world.party("Holder Co", .enterprise, code: Self.code(1))
            lab = try world.party("Model Lab", .modelLab, code: Self.code(2))
            otherLab = try world.party("Other Lab", .modelLab, code: Self.code(3))
        }

        /// A valid unified social credit code (GB 32100-2015) for the `n`th party.
        static func code(_ n: Int) -> String { CreditCode.make(organisation: Int64(n)) }

        var state: RegistryState { world.state }
        var usage: UsageMeter { world.state.usage }
        var today: CivilDate { world.state.settings.calendar.date(at: world.now) }

        /// The first instant of the next day in the registry's calendar.
        var nextMidnight: Timestamp {
            let calendar = world.state.settings.calendar
            let days = Int64(calendar.date(at: world.now).daysSince1970) + 1
            return Timestamp(microsecondsSince1970: (days * MeteringTests.day - Int64(calendar.utcOffsetSeconds)) * 1_000_000)
        }

        mutating func party(_ name: String, _ kind: PartyKind) throws -> Party {
            codes += 1
            return try world.party(name, kind, code: kind.mayHoldData ? Self.code(codes) : nil)
        }

        mutating func dataset(by owner: Party? = nil) throws -> Dataset {
            try world.dataset("Dataset", by: owner ?? holder)
        }

        func holder(of dataset: Dataset) throws -> Party {
            try #require(world.state.dataset(dataset.id).flatMap { world.state.party($0.holder) })
        }

        /// The holder's policy: use for any purpose, at `price` fen per million tokens, with an optional daily cap.
        mutating func offer(_ dataset: Dataset, price: Int64, dailyCap: Int64? = nil) throws {
            let rules = [PolicyRule(id: "permit-use", kind: .permission, action: .use, constraints: RuleConstraints())]
            let policy = NewPolicy(
                policy: Policy(dataset: dataset.id, rules: rules), approval: .automatic, pricePerMillionTokens: price, dailyTokenCap: dailyCap)
            try world.run(.setPolicy(policy), by: try holder(of: dataset))
        }

        /// Records, by the target's holder, that `target` derives from each of `sources`.
        mutating func derive(_ target: Dataset, from sources: [Dataset]) throws {
            try world.run(
                .recordDerivations(target: target.id, sources: sources.map { DerivationSource(dataset: $0.id, kind: .derived) }),
                by: try holder(of: target))
        }

        /// A grant made by automatic approval of `party`'s request.
        mutating func grant(
            on dataset: Dataset, to party: Party? = nil, quota: Int64, purpose: String = "model_training", days: Int64 = 30,
            startingIn: Int64 = 0
        ) throws -> Grant {
            let entries = try world.run(
                .requestAccess(NewAccessRequest(
                    dataset: dataset.id, purpose: purpose, tokens: quota,
                    validFrom: startingIn > 0 ? world.now.adding(seconds: startingIn * MeteringTests.day) : nil,
                    validUntil: world.now.adding(seconds: days * MeteringTests.day))),
                by: party ?? lab)
            let grant = entries.compactMap { entry -> Grant? in
                if case .grant(let grant) = entry.record { return grant }
                return nil
            }.first
            return try #require(grant, "the request was not granted: \(entries.map(\.kind))")
        }

        func event(_ grant: Grant, _ tokens: Int64, key: String, at usedAt: Timestamp? = nil) -> UsageEvent {
            UsageEvent(grant: grant.number, tokens: tokens, usedAt: usedAt ?? world.now, key: key)
        }

        /// Plans one group commit of `submissions` at the world's clock and applies it, as the store does
        /// after its commit; keeps the events and postings.
        @discardableResult
        mutating func commit(_ submissions: [UsageSubmission]) -> UsageBatch {
            let batch = world.state.planUsage(submissions, at: world.now)
            world.audit.append(world.state.applyUsage(batch, actor: "system"))
            events += batch.events
            transfers += batch.transfers
            return batch
        }

        /// One event in a batch of its own, by the grant's assignee unless `party` says otherwise.
        @discardableResult
        mutating func use(_ grant: Grant, _ tokens: Int64, key: String, by party: Party? = nil, at usedAt: Timestamp? = nil) -> UsageReply {
            let event = event(grant, tokens, key: key, at: usedAt)
            let submission = UsageSubmission(party: party?.id ?? grant.assignee, events: [event])
            #expect(submission.validate().isEmpty)
            return commit([submission]).replies[0][0]
        }

        /// Credits less debits per party, over `transfers` (all kept postings by default).
        func net(_ transfers: [LedgerTransfer]? = nil) -> [PartyID: Int64] {
            var net: [PartyID: Int64] = [:]
            for transfer in transfers ?? self.transfers {
                net[transfer.debit, default: 0] -= transfer.amount
                net[transfer.credit, default: 0] += transfer.amount
            }
            return net
        }
    }

    /// Every counter a use can move, to show that a denial moved none.
    struct Counters: Equatable {
        var grant: GrantUsage
        var assigneeToday: Int64
        var datasetToday: Int64
        var accounts: [[Int64]]
        var lastTransfer: Int64

        init(_ meter: Meter, _ grant: Grant) {
            self.grant = meter.usage.usage(of: grant.id)
            assigneeToday = meter.usage.assigneeTokens(of: grant.assignee, on: meter.today)
            datasetToday = meter.usage.datasetTokens(of: grant.dataset, on: meter.today)
            accounts = meter.usage.allAccounts.map { [$0.party.rawValue, $0.account.debits, $0.account.credits] }
            lastTransfer = meter.usage.lastTransfer
        }
    }

    /// A royalty share as comparable text: `from>to:amount`.
    static func shares(_ shares: [RoyaltyShare]) -> [String] {
        shares.map { "\($0.from.rawValue)>\($0.to.rawValue):\($0.amount)" }.sorted()
    }

    static func share(_ from: Dataset, _ to: Dataset, _ amount: Int64) -> String {
        "\(from.id.rawValue)>\(to.id.rawValue):\(amount)"
    }

    /// ⌊tokens × price ÷ 1,000,000⌋, the charge R28 defines, computed without overflow.
    static func charge(_ tokens: Int64, _ price: Int64) -> Int64 {
        (1_000_000 as Int64).dividingFullWidth(tokens.multipliedFullWidth(by: price)).quotient
    }

    // MARK: R26: what an event must carry

    @Test("R26: a usage event names a grant, 1 or more tokens and a key of at most 128 bytes")
    func anEventNamesGrantTokensAndKey() throws {
        let meter = try Meter()
        let now = meter.world.now
        let good = UsageEvent(grant: "GR-2026-000001", tokens: 1, usedAt: now, key: String(repeating: "k", count: 128))
        #expect(UsageSubmission(party: meter.lab.id, events: [good]).validate().isEmpty)
        #expect(UsageSubmission(party: meter.lab.id, events: []).validate().map(\.field) == ["events"])
        let bad = [
            UsageEvent(grant: "", tokens: 1, usedAt: now, key: "a"),
            UsageEvent(grant: "GR-2026-000001", tokens: 0, usedAt: now, key: "b"),
            UsageEvent(grant: "GR-2026-000001", tokens: Limits.maxTokensPerUsageEvent + 1, usedAt: now, key: "c"),
            UsageEvent(grant: "GR-2026-000001", tokens: 1, usedAt: now, key: ""),
            UsageEvent(grant: "GR-2026-000001", tokens: 1, usedAt: now, key: String(repeating: "k", count: 129)),
        ]
        #expect(
            UsageSubmission(party: meter.lab.id, events: bad).validate().map(\.field)
                == ["events[0].grant", "events[1].tokens", "events[2].tokens", "events[3].key", "events[4].key"])
    }

    // MARK: R27: the grant's quota

    @Test("R27: a grant's quota accepts uses exactly up to its tokens and denies the rest naming the grant; a denial moves nothing")
    func aGrantQuotaAcceptsUpToItsTokens() throws {
        var meter = try Meter()
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 500)
        let grant = try meter.grant(on: dataset, quota: 10_000)

        #expect(meter.use(grant, 4_000, key: "a").answer.accepted)
        #expect(meter.use(grant, 5_000, key: "b").answer.accepted)
        #expect(meter.usage.usage(of: grant.id).tokens == 9_000)

        // 2,000 more would pass the quota: denied, recorded, and no counter or account moves.
        let before = Counters(meter, grant)
        let over = meter.commit([UsageSubmission(party: meter.lab.id, events: [meter.event(grant, 2_000, key: "c")])])
        let denied = over.replies[0][0].answer
        #expect(!denied.accepted)
        #expect(denied.rule == "R27")
        #expect(denied.quota == .grant)
        #expect(denied.reason?.contains(grant.number) == true)
        #expect(denied.amount == 0)
        #expect(over.events.map(\.answer) == [denied])
        #expect(over.transfers.isEmpty)
        #expect(over.grantUsage.isEmpty && over.assigneeDaily.isEmpty && over.datasetDaily.isEmpty && over.accounts.isEmpty)
        #expect(Counters(meter, grant) == before)

        // Exactly the remainder is accepted; one token more is not.
        #expect(meter.use(grant, 1_000, key: "d").answer.accepted)
        let one = meter.use(grant, 1, key: "e").answer
        #expect(one.rule == "R27")
        #expect(one.quota == .grant)
        #expect(meter.usage.usage(of: grant.id).tokens == 10_000)
        let accepted = meter.events.filter(\.answer.accepted).reduce(0) { $0 + $1.tokens }
        #expect(accepted == 10_000)
        #expect(meter.usage.assigneeTokens(of: meter.lab.id, on: meter.today) == 10_000)
        #expect(meter.usage.datasetTokens(of: dataset.id, on: meter.today) == 10_000)
        // Charged at 500 fen per million: ⌊10,000 × 500 ÷ 10⁶⌋ = 5 fen.
        #expect(meter.usage.usage(of: grant.id).charged == 5)
        #expect(meter.usage.account(of: meter.lab.id).debits == 5)
    }

    @Test("R27: the planner counts the events already in its batch against the grant's quota")
    func theQuotaCountsEventsOfTheSameBatch() throws {
        var meter = try Meter()
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 1_000_000)
        let grant = try meter.grant(on: dataset, quota: 1_000)
        let batch = meter.commit([
            UsageSubmission(
                party: meter.lab.id, events: [meter.event(grant, 600, key: "a"), meter.event(grant, 600, key: "b"), meter.event(grant, 400, key: "c")]),
            UsageSubmission(party: meter.lab.id, events: [meter.event(grant, 1, key: "d")]),
        ])
        let answers = batch.replies.flatMap { $0 }.map(\.answer)
        #expect(answers.map(\.accepted) == [true, false, true, false])
        #expect(answers.map(\.quota) == [nil, .grant, nil, .grant])
        #expect(answers.map(\.amount) == [600, 0, 400, 0])
        #expect(batch.grantUsage.count == 1)
        #expect(batch.grantUsage.first?.usage == GrantUsage(tokens: 1_000, charged: 1_000))
        #expect(batch.summary.accepted == 2 && batch.summary.denied == 2 && batch.summary.tokens == 1_000)
        #expect(meter.usage.usage(of: grant.id) == GrantUsage(tokens: 1_000, charged: 1_000))
        // One use transfer per grant and batch, carrying both accepted uses.
        #expect(batch.transfers.map(\.amount) == [1_000])
        #expect(batch.transfers.map(\.tokens) == [1_000])
    }

    @Test("R26, R27, R28: a batch planned while the one before it is still committing counts that one's quota, keys, caps, accounts and ids")
    func aPipelinedPlanCountsThePendingBatch() throws {
        var meter = try Meter()
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 1_000_000, dailyCap: 1_500)
        let grant = try meter.grant(on: dataset, quota: 1_000)
        let lab = meter.lab.id
        // The first batch is planned and not applied (its transaction is in PostgreSQL) when the second is planned.
        let first = meter.world.state.planUsage(
            [UsageSubmission(party: lab, events: [meter.event(grant, 700, key: "a"), meter.event(grant, 100, key: "b")])], at: meter.world.now)
        let second = meter.world.state.planUsage(
            [UsageSubmission(party: lab, events: [meter.event(grant, 300, key: "c"), meter.event(grant, 100, key: "a"), meter.event(grant, 200, key: "d")])],
            at: meter.world.now, after: first)
        let answers = second.replies[0]
        #expect(answers[0].answer.accepted == false && answers[0].answer.quota == .grant, "800 of 1,000 are taken by the pending batch")
        #expect(answers[1].replayed && answers[1].answer == first.replies[0][0].answer, "a key of the pending batch is a replay")
        #expect(answers[2].answer.accepted && answers[2].answer.amount == 200)
        #expect(second.id == first.id + 1)
        #expect(answers[0].answer.event == first.events.last!.id + 1, "event ids continue after the pending batch's")
        #expect(second.transfers.first?.id == first.transfers.last!.id + 1)
        #expect(second.grantUsage.first?.usage == GrantUsage(tokens: 1_000, charged: 1_000))
        #expect(second.datasetDaily.first?.usage.tokens == 1_000)
        #expect(second.accounts.first { $0.party == lab }?.account.debits == 1_000)
        let audit = meter.world.state.usageAuditEntry(for: first, actor: "system")
        let chained = meter.world.state.usageAuditEntry(for: second, actor: "system", after: audit)
        #expect(chained.sequence == audit.sequence + 1 && chained.previousHash == audit.hash)
        // Applied in order, they leave the core as planning them one after the other would have.
        #expect(meter.world.state.applyUsage(first, actor: "system") == audit)
        #expect(meter.world.state.applyUsage(second, actor: "system") == chained)
        #expect(meter.usage.usage(of: grant.id) == GrantUsage(tokens: 1_000, charged: 1_000))
        #expect(meter.usage.account(of: lab).debits == 1_000)
        #expect(meter.usage.lastEvent == second.events.last!.id)
    }

    // MARK: Quota leases (issue 18)

    @Test("R27, R28: a batch planned on quota slices draws only from them, charges each piece by its position, and settles on the current counters")
    func aBatchPlannedOnSlicesChargesByPositionAndSettlesOnTheCurrentState() throws {
        var meter = try Meter()
        let dataset = try meter.dataset()
        let price: Int64 = 333_333
        try meter.offer(dataset, price: price)
        let grant = try meter.grant(on: dataset, quota: 1_000)
        let lab = meter.lab.id
        // This replica holds positions 0..<300 and 500..<900 of the grant; 300..<500 is another replica's.
        var allowance = QuotaAllowance()
        allowance.grants[grant.id] = [
            QuotaAllowance.Slice(lease: 7, position: 0, remaining: 300), QuotaAllowance.Slice(lease: 9, position: 500, remaining: 400),
        ]
        let plan = meter.world.state.planLeasedUsage(
            [UsageSubmission(party: lab, events: [
                meter.event(grant, 250, key: "a"), meter.event(grant, 100, key: "b"), meter.event(grant, 400, key: "c"), meter.event(grant, 350, key: "d"),
            ])], at: meter.world.now, after: nil, allowance: allowance, batch: 70_000, firstEvent: 1_000_000)
        let answers = plan.batch.replies[0].map(\.answer)
        let c = Self.charge
        #expect(answers[0].accepted && answers[0].amount == c(250, price) - c(0, price))
        #expect(answers[1].accepted && answers[1].amount == (c(300, price) - c(250, price)) + (c(550, price) - c(500, price)), "straddles both slices")
        #expect(!answers[2].accepted && answers[2].quota == .grant && (answers[2].reason ?? "").contains("350 remaining"), "\(answers[2])")
        #expect(answers[3].accepted && answers[3].amount == c(900, price) - c(550, price))
        #expect(plan.draws.map(\.lease) == [7, 9] && plan.draws.map(\.tokens) == [300, 400], "\(plan.draws)")
        #expect(plan.batch.id == 70_000 && plan.batch.events.map(\.id) == [1_000_000, 1_000_001, 1_000_002, 1_000_003])
        // Settled on a state where another replica's 200 tokens (its slice 300..<500, partly used) committed first.
        let other = meter.world.state.planUsage([UsageSubmission(party: lab, events: [meter.event(grant, 200, key: "x")])], at: meter.world.now)
        _ = meter.world.state.applyUsage(other, actor: "system")
        let settled = try meter.world.state.settleLeasedUsage(plan.batch)
        let charged = answers.filter(\.accepted).reduce(0) { $0 + $1.amount }
        #expect(settled.grantUsage.first?.usage == GrantUsage(tokens: 900, charged: other.grantUsage[0].usage.charged + charged))
        #expect(settled.transfers.first?.id == other.transfers.last!.id + 1, "transfers numbered after the state's last")
        #expect(settled.transfers.first?.amount == charged && settled.transfers.first?.tokens == 700)
        _ = meter.world.state.applyUsage(settled, actor: "system")
        #expect(meter.usage.lastEvent == 1_000_003 && meter.usage.lastBatch == 70_000)
        // A later batch with lower ids (another replica's block) leaves the highest ids in place.
        let late = meter.world.state.planLeasedUsage(
            [UsageSubmission(party: lab, events: [meter.event(grant, 100, key: "e")])], at: meter.world.now, after: nil,
            allowance: QuotaAllowance(), batch: 5, firstEvent: 10)
        _ = meter.world.state.applyUsage(try meter.world.state.settleLeasedUsage(late.batch), actor: "system")
        #expect(meter.usage.lastEvent == 1_000_003 && meter.usage.lastBatch == 70_000)
    }

    @Test("R27: settling refuses a batch that would take the grant past its quota on the state it commits on")
    func settlingRefusesABatchBeyondTheQuota() throws {
        var meter = try Meter()
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 1_000)
        let grant = try meter.grant(on: dataset, quota: 1_000)
        let lab = meter.lab.id
        var allowance = QuotaAllowance()
        allowance.grants[grant.id] = [QuotaAllowance.Slice(lease: 1, position: 0, remaining: 600)]
        let plan = meter.world.state.planLeasedUsage(
            [UsageSubmission(party: lab, events: [meter.event(grant, 600, key: "a")])], at: meter.world.now, after: nil, allowance: allowance, batch: 1, firstEvent: 1)
        // Tokens committed outside the slices (no replica could, with every use drawn from leases).
        let outside = meter.world.state.planUsage([UsageSubmission(party: lab, events: [meter.event(grant, 500, key: "b")])], at: meter.world.now)
        _ = meter.world.state.applyUsage(outside, actor: "system")
        #expect(throws: LeasedSettlementRefused.self) { try meter.world.state.settleLeasedUsage(plan.batch) }
    }

    // MARK: R27: daily caps

    @Test("R27: an assignee's daily cap counts across its grants, names the quota and resets at local midnight; the grant's quota does not")
    func anAssigneeDailyCapResetsAtMidnight() throws {
        var meter = try Meter()
        let first = try meter.dataset()
        let second = try meter.dataset()
        try meter.offer(first, price: 100)
        try meter.offer(second, price: 100)
        let small = try meter.grant(on: first, quota: 1_500)
        let large = try meter.grant(on: second, quota: 10_000)
        let others = try meter.grant(on: second, to: meter.otherLab, quota: 10_000)

        // Only an operator or a regulator sets a cap.
        #expect(throws: RegistryError.self) {
            try meter.world.run(.setAssigneeDailyCap(party: meter.lab.id, dailyTokens: 1_000), by: meter.holder)
        }
        try meter.world.run(.setAssigneeDailyCap(party: meter.lab.id, dailyTokens: 1_000), by: meter.operatorParty)
        #expect(meter.state.settings.assigneeDailyCap(of: meter.lab.id) == 1_000)

        #expect(meter.use(small, 700, key: "a").answer.accepted)
        let over = meter.use(large, 400, key: "b").answer
        #expect(!over.accepted)
        #expect(over.rule == "R27")
        #expect(over.quota == .assigneeDaily)
        #expect(over.reason?.contains("party \(meter.lab.id.rawValue)") == true)
        #expect(meter.use(large, 300, key: "c").answer.accepted)
        #expect(meter.use(large, 1, key: "d").answer.quota == .assigneeDaily)
        #expect(meter.usage.assigneeTokens(of: meter.lab.id, on: meter.today) == 1_000)
        // Another assignee has no cap.
        #expect(meter.use(others, 5_000, key: "a").answer.accepted)

        // A minute before local midnight (UTC+8) the day has not turned; a minute after, it has.
        let day = meter.today
        let midnight = meter.nextMidnight
        let calendar = meter.state.settings.calendar
        #expect(calendar.date(at: midnight) == day.adding(days: 1))
        #expect(calendar.date(at: Timestamp(microsecondsSince1970: midnight.microsecondsSince1970 - 1)) == day)
        meter.world.now = midnight.adding(seconds: -60)
        #expect(meter.use(large, 1, key: "e").answer.quota == .assigneeDaily)
        meter.world.now = midnight.adding(seconds: 60)
        #expect(meter.usage.assigneeTokens(of: meter.lab.id, on: meter.today) == 0)
        #expect(meter.usage.assigneeTokens(of: meter.lab.id, on: day) == 1_000)

        // The cap has room again, but the grant's quota has not reset: 800 of its 1,500 remain.
        let beyondGrant = meter.use(small, 900, key: "f").answer
        #expect(beyondGrant.quota == .grant)
        #expect(beyondGrant.reason?.contains(small.number) == true)
        #expect(meter.use(small, 800, key: "g").answer.accepted)
        #expect(meter.use(large, 300, key: "h").answer.quota == .assigneeDaily)
        #expect(meter.use(large, 200, key: "i").answer.accepted)
        #expect(meter.usage.usage(of: small.id).tokens == 1_500)
        #expect(meter.usage.usage(of: large.id).tokens == 500)
        #expect(meter.usage.assigneeTokens(of: meter.lab.id, on: meter.today) == 1_000)

        // Lifting the cap lifts the limit.
        try meter.world.run(.setAssigneeDailyCap(party: meter.lab.id, dailyTokens: nil), by: meter.regulator)
        #expect(meter.use(large, 5_000, key: "j").answer.accepted)
    }

    @Test("R27: a dataset's daily cap from its policy counts every assignee's use, names the quota and resets at local midnight")
    func aDatasetDailyCapCountsEveryAssignee() throws {
        var meter = try Meter()
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 100, dailyCap: 2_000)
        let mine = try meter.grant(on: dataset, quota: 10_000)
        let theirs = try meter.grant(on: dataset, to: meter.otherLab, quota: 10_000)

        // Two parties' requests in one commit share the dataset's day.
        let batch = meter.commit([
            UsageSubmission(party: meter.lab.id, events: [meter.event(mine, 1_500, key: "a")]),
            UsageSubmission(party: meter.otherLab.id, events: [meter.event(theirs, 600, key: "a"), meter.event(theirs, 500, key: "b")]),
        ])
        #expect(batch.replies[0][0].answer.accepted)
        let denied = batch.replies[1][0].answer
        #expect(!denied.accepted)
        #expect(denied.rule == "R27")
        #expect(denied.quota == .datasetDaily)
        #expect(denied.reason?.contains("dataset \(dataset.id.rawValue)") == true)
        #expect(batch.replies[1][1].answer.accepted)
        #expect(meter.usage.datasetTokens(of: dataset.id, on: meter.today) == 2_000)
        #expect(meter.use(theirs, 1, key: "c").answer.quota == .datasetDaily)

        meter.world.now = meter.nextMidnight.adding(seconds: 1)
        #expect(meter.usage.datasetTokens(of: dataset.id, on: meter.today) == 0)
        #expect(meter.use(theirs, 600, key: "d").answer.accepted)
        #expect(meter.use(mine, 1_401, key: "b").answer.quota == .datasetDaily)
        #expect(meter.use(mine, 1_400, key: "c").answer.accepted)
        #expect(meter.usage.usage(of: mine.id).tokens == 2_900)
        #expect(meter.usage.usage(of: theirs.id).tokens == 1_100)
    }

    // MARK: R26: idempotency

    @Test("R26: the same key counts once and gets the same answer, in a later batch, in the same batch and across submissions")
    func theSameKeyCountsOnce() throws {
        var meter = try Meter()
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 1_000)
        let grant = try meter.grant(on: dataset, quota: 100_000)
        let others = try meter.grant(on: dataset, to: meter.otherLab, quota: 100_000)

        let first = meter.use(grant, 3_000, key: "k1")
        #expect(first.answer.accepted && !first.replayed)
        let lastEvent = meter.usage.lastEvent
        let lastBatch = meter.usage.lastBatch
        let account = meter.usage.account(of: meter.lab.id)

        // A later batch, even one claiming other tokens: the first answer, replayed, counting nothing.
        let later = meter.commit([UsageSubmission(party: meter.lab.id, events: [meter.event(grant, 9_999, key: "k1")])])
        #expect(later.replies[0][0] == UsageReply(key: "k1", answer: first.answer, replayed: true))
        #expect(later.isReplayOnly)
        #expect(later.transfers.isEmpty)
        #expect(meter.usage.usage(of: grant.id).tokens == 3_000)
        #expect(meter.usage.lastEvent == lastEvent)
        #expect(meter.usage.account(of: meter.lab.id) == account)
        #expect(meter.usage.lastBatch == lastBatch + 1)

        // Twice in one submission, and again in a second submission of the same party, in one batch.
        let same = meter.commit([
            UsageSubmission(party: meter.lab.id, events: [meter.event(grant, 1_000, key: "k2"), meter.event(grant, 1_000, key: "k2")]),
            UsageSubmission(party: meter.lab.id, events: [meter.event(grant, 1_000, key: "k2")]),
        ])
        let answer = same.replies[0][0]
        #expect(answer.answer.accepted && !answer.replayed)
        #expect(same.replies[0][1] == UsageReply(key: "k2", answer: answer.answer, replayed: true))
        #expect(same.replies[1][0] == UsageReply(key: "k2", answer: answer.answer, replayed: true))
        #expect(same.events.count == 1)
        #expect(same.summary.tokens == 1_000)
        #expect(same.transfers.map(\.tokens) == [1_000])
        #expect(meter.usage.usage(of: grant.id).tokens == 4_000)
        #expect(meter.usage.assigneeTokens(of: meter.lab.id, on: meter.today) == 4_000)

        // The same key from another party is another event.
        let theirs = meter.use(others, 500, key: "k1")
        #expect(!theirs.replayed)
        #expect(theirs.answer.accepted)
        #expect(theirs.answer.event != first.answer.event)
        #expect(meter.usage.usage(of: others.id).tokens == 500)
        #expect(meter.usage.usage(of: grant.id).tokens == 4_000)
    }

    @Test("R26: a denied event replayed stays denied, even once there is room for it")
    func aDeniedEventReplayedStaysDenied() throws {
        var meter = try Meter()
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 1_000)
        let grant = try meter.grant(on: dataset, quota: 100_000)
        try meter.world.run(.setAssigneeDailyCap(party: meter.lab.id, dailyTokens: 1_000), by: meter.operatorParty)

        let usedAt = meter.world.now
        let denied = meter.use(grant, 1_200, key: "big", at: usedAt)
        #expect(denied.answer.quota == .assigneeDaily)
        // The cap is lifted: the replay is still the first answer.
        try meter.world.run(.setAssigneeDailyCap(party: meter.lab.id, dailyTokens: nil), by: meter.operatorParty)
        #expect(meter.use(grant, 1_200, key: "big", at: usedAt) == UsageReply(key: "big", answer: denied.answer, replayed: true))
        #expect(meter.usage.usage(of: grant.id).tokens == 0)
        // The same use under a new key is a new event, and fits now.
        #expect(meter.use(grant, 1_200, key: "big-again", at: usedAt).answer.accepted)
        // A new day: still the first answer.
        meter.world.now = meter.nextMidnight.adding(seconds: 60)
        #expect(meter.use(grant, 1_200, key: "big", at: usedAt) == UsageReply(key: "big", answer: denied.answer, replayed: true))
        #expect(meter.usage.usage(of: grant.id).tokens == 1_200)
    }

    @Test("R26: a key is remembered for as long as an event bearing it could still be accepted, so a late retry counts once")
    func aKeyOutlivesTheEventsAdmissibility() throws {
        // An event may be dated up to 5 minutes ahead of the registry's clock and is admissible until it
        // is 24 hours old; its key must be remembered at least that long. Batches at chosen instants
        // rotate the key generations so that the key is forgotten as early as the meter allows.
        var meter = try Meter()
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 1_000_000)
        let grant = try meter.grant(on: dataset, quota: 1_000_000)
        let start = meter.world.now
        #expect(meter.use(grant, 1, key: "opening").answer.accepted)

        meter.world.now = start.adding(seconds: MeteringTests.day - 1)
        let usedAt = meter.world.now.adding(seconds: 299)
        let first = meter.use(grant, 100, key: "late", at: usedAt)
        #expect(first.answer.accepted)
        meter.world.now = start.adding(seconds: MeteringTests.day)
        #expect(meter.use(grant, 1, key: "next-day").answer.accepted)
        meter.world.now = start.adding(seconds: 2 * MeteringTests.day)
        #expect(meter.use(grant, 1, key: "day-after").answer.accepted)

        // The retry is still within 24 hours of its use: admissible, so it must be a replay.
        meter.world.now = start.adding(seconds: 2 * MeteringTests.day + 100)
        let retry = meter.use(grant, 100, key: "late", at: usedAt)
        #expect(retry == UsageReply(key: "late", answer: first.answer, replayed: true))
        #expect(meter.usage.usage(of: grant.id).tokens == 103)
    }

    // MARK: R23, R25, R26: events that are not counted

    @Test("R23: an event on a grant that is not the caller's, or on no grant, is denied and counts nothing")
    func anEventOnSomeoneElsesGrantIsDenied() throws {
        var meter = try Meter()
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 1_000)
        let theirs = try meter.grant(on: dataset, to: meter.otherLab, quota: 10_000)

        let batch = meter.commit([
            UsageSubmission(
                party: meter.lab.id,
                events: [meter.event(theirs, 100, key: "x"), UsageEvent(grant: "GR-2099-999999", tokens: 100, usedAt: meter.world.now, key: "y")])
        ])
        for reply in batch.replies[0] {
            #expect(!reply.answer.accepted)
            #expect(reply.answer.rule == "R23")
            #expect(reply.answer.quota == nil)
            #expect(reply.answer.reason?.contains("holds no grant") == true)
        }
        #expect(batch.events.map(\.grant) == [nil, nil])
        #expect(batch.events.map(\.assignee) == [meter.lab.id, meter.lab.id])
        #expect(batch.transfers.isEmpty)
        #expect(meter.usage.usage(of: theirs.id).tokens == 0)
        // Its assignee uses it.
        #expect(meter.use(theirs, 100, key: "x").answer.accepted)
    }

    @Test("R23, R25: an event on a suspended or revoked grant is denied; a suspension by a flag cascade is denied as R25")
    func anEventOnASuspendedGrantIsDenied() throws {
        var meter = try Meter()
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 1_000)
        let grant = try meter.grant(on: dataset, quota: 10_000)

        try meter.world.run(.changeGrant(number: grant.number, change: .suspend, reason: "audit"), by: meter.holder)
        let suspended = meter.use(grant, 100, key: "a").answer
        #expect(suspended.rule == "R23")
        #expect(suspended.reason?.contains("suspended: audit") == true)
        try meter.world.run(.changeGrant(number: grant.number, change: .resume, reason: nil), by: meter.holder)
        #expect(meter.use(grant, 100, key: "b").answer.accepted)
        try meter.world.run(.changeGrant(number: grant.number, change: .revoke, reason: "breach"), by: meter.regulator)
        let revoked = meter.use(grant, 100, key: "c").answer
        #expect(revoked.rule == "R23")
        #expect(revoked.reason?.contains("revoked") == true)
        #expect(meter.usage.usage(of: grant.id).tokens == 100)

        // R25: the source of a derived dataset is flagged; the grant on the derived dataset is suspended.
        let upstream = try meter.party("Upstream Co", .enterprise)
        let source = try meter.dataset(by: upstream)
        let derived = try meter.dataset()
        try meter.derive(derived, from: [source])
        try meter.offer(derived, price: 1_000)
        let downstream = try meter.grant(on: derived, quota: 10_000)
        #expect(meter.use(downstream, 100, key: "d").answer.accepted)
        try meter.world.run(.flagDataset(source.id, reason: "collected without consent"), by: meter.regulator)
        let flagged = meter.use(downstream, 100, key: "e").answer
        #expect(!flagged.accepted)
        #expect(flagged.rule == "R25")
        #expect(flagged.reason?.contains(downstream.number) == true)
        #expect(meter.usage.usage(of: downstream.id).tokens == 100)
    }

    @Test("R23: an event dated outside the grant's validity window is denied, at the window's exact edges")
    func anEventOutsideTheWindowIsDenied() throws {
        var meter = try Meter()
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 1_000)
        let opened = meter.world.now
        let short = try meter.grant(on: dataset, quota: 10_000, days: 1)
        let ahead = try meter.grant(on: dataset, quota: 10_000, days: 30, startingIn: 2)
        #expect(ahead.state == .agreed)

        // Before the window: dated a minute more than the clock-skew tolerance before the grant was made, and
        // a grant not yet begun.
        let early = meter.use(short, 100, key: "a", at: opened.adding(seconds: -Limits.usageClockSkewSeconds - 60)).answer
        #expect(early.rule == "R23")
        #expect(early.reason?.contains("validity window") == true)
        #expect(meter.use(ahead, 100, key: "b").answer.rule == "R23")

        // After the window (the clock has not expired the grant yet): the last microsecond inside counts.
        meter.world.now = short.validUntil.adding(seconds: 60)
        #expect(meter.use(short, 100, key: "c").answer.rule == "R23")
        #expect(meter.use(short, 100, key: "d", at: short.validUntil).answer.rule == "R23")
        let last = Timestamp(microsecondsSince1970: short.validUntil.microsecondsSince1970 - 1)
        #expect(meter.use(short, 100, key: "e", at: last).answer.accepted)
        #expect(meter.usage.usage(of: short.id).tokens == 100)

        // The agreed grant is used once its window begins, before the clock records it as active.
        meter.world.now = ahead.validFrom.adding(seconds: 60)
        #expect(meter.use(ahead, 100, key: "f").answer.accepted)
    }

    @Test("R26: an event dated more than 24 hours back or more than 5 minutes ahead of the registry's clock is denied")
    func anEventTooOldOrTooFarAheadIsDenied() throws {
        var meter = try Meter()
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 1_000)
        let grant = try meter.grant(on: dataset, quota: 10_000)
        meter.world.advance(days: 2)
        let now = meter.world.now.microsecondsSince1970
        let dayMicros = MeteringTests.day * 1_000_000

        let old = meter.use(grant, 100, key: "a", at: Timestamp(microsecondsSince1970: now - dayMicros - 1)).answer
        #expect(old.rule == "R26")
        #expect(old.reason?.contains("24 hours") == true)
        #expect(meter.use(grant, 100, key: "b", at: Timestamp(microsecondsSince1970: now - dayMicros)).answer.accepted)
        #expect(meter.use(grant, 100, key: "c", at: Timestamp(microsecondsSince1970: now + 300_000_000)).answer.accepted)
        let ahead = meter.use(grant, 100, key: "d", at: Timestamp(microsecondsSince1970: now + 300_000_000 + 1)).answer
        #expect(ahead.rule == "R26")
        #expect(!ahead.accepted)
        #expect(meter.usage.usage(of: grant.id).tokens == 200)
    }

    // MARK: R28: prices

    @Test("R28: the cumulative charge is ⌊tokens × price ÷ 1,000,000⌋ after many small uses, with no drift")
    func theChargeDoesNotDrift() throws {
        var meter = try Meter()
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 333)
        let grant = try meter.grant(on: dataset, quota: 10_000_000)
        // Each use alone costs ⌊777 × 333 ÷ 10⁶⌋ = 0 fen; together they cost something.
        var key = 0
        var answered: Int64 = 0
        for batchSize in [1, 7, 50, 1, 200, 3, 738] {
            var events: [UsageEvent] = []
            for _ in 0..<batchSize {
                key += 1
                events.append(meter.event(grant, 777, key: "u\(key)"))
            }
            let batch = meter.commit([UsageSubmission(party: meter.lab.id, events: events)])
            answered += batch.replies[0].reduce(0) { $0 + $1.answer.amount }
            let used = meter.usage.usage(of: grant.id)
            #expect(used.tokens == 777 * Int64(key))
            #expect(used.charged == MeteringTests.charge(used.tokens, 333))
        }
        // 1,000 uses of 777 tokens: ⌊777,000 × 333 ÷ 10⁶⌋ = 258 fen.
        #expect(key == 1_000)
        #expect(meter.usage.usage(of: grant.id) == GrantUsage(tokens: 777_000, charged: 258))
        #expect(answered == 258)
        #expect(meter.transfers.filter { $0.kind == .use }.reduce(0) { $0 + $1.amount } == 258)
        #expect(meter.usage.account(of: meter.lab.id) == LedgerAccount(debits: 258, credits: 0))
        #expect(meter.usage.account(of: meter.holder.id) == LedgerAccount(debits: 0, credits: 258))
    }

    @Test("R28: charges at the highest price and the largest events are exact and do not overflow")
    func chargesDoNotOverflow() throws {
        var meter = try Meter()
        let dataset = try meter.dataset()
        let price = Limits.maxPricePerMillionTokens - 1
        try meter.offer(dataset, price: price)
        let grant = try meter.grant(on: dataset, quota: Limits.maxTokens)
        let tokens = Limits.maxTokensPerUsageEvent - 1
        #expect(meter.use(grant, tokens, key: "a").answer.amount == MeteringTests.charge(tokens, price))
        let second = meter.use(grant, tokens, key: "b").answer.amount
        #expect(second == MeteringTests.charge(2 * tokens, price) - MeteringTests.charge(tokens, price))
        #expect(meter.usage.usage(of: grant.id).charged == MeteringTests.charge(2 * tokens, price))
        // (2 × 10¹² − 2) × (10⁷ − 1) ÷ 10⁶ = 2 × 10¹³ − 2 × 10⁶ − 20 + 2 × 10⁻⁶: 19,999,997,999,980 fen.
        #expect(meter.usage.usage(of: grant.id).charged == 19_999_997_999_980)
    }

    @Test("R23, R28: a free grant posts a zero-amount use transfer carrying its tokens; a paid grant on the same data pays")
    func aFreeGrantPostsAZeroTransfer() throws {
        var meter = try Meter()
        let ministry = try meter.party("Ministry of Transport", .department)
        let publicData = try meter.dataset(by: ministry)
        try meter.offer(publicData, price: 1_500)
        let free = try meter.grant(on: publicData, quota: 1_000_000, purpose: "public_welfare")
        let paid = try meter.grant(on: publicData, quota: 10_000_000, purpose: "commercial_analytics")
        #expect(free.free)
        #expect(!paid.free)

        let batch = meter.commit([
            UsageSubmission(party: meter.lab.id, events: [meter.event(free, 5_000, key: "f"), meter.event(paid, 2_000_000, key: "p")])
        ])
        #expect(batch.replies[0].map(\.answer.accepted) == [true, true])
        #expect(batch.replies[0].map(\.answer.amount) == [0, 3_000])
        let freeUse = try #require(batch.transfers.first { $0.grant == free.id })
        #expect(freeUse.kind == .use)
        #expect(freeUse.amount == 0)
        #expect(freeUse.tokens == 5_000)
        #expect(freeUse.debit == meter.lab.id)
        #expect(freeUse.credit == ministry.id)
        #expect(freeUse.dataset == publicData.id)
        #expect(meter.usage.usage(of: free.id) == GrantUsage(tokens: 5_000, charged: 0))
        #expect(meter.usage.usage(of: paid.id) == GrantUsage(tokens: 2_000_000, charged: 3_000))
        #expect(meter.usage.account(of: ministry.id) == LedgerAccount(debits: 0, credits: 3_000))
    }

    // MARK: R28: who is paid

    @Test("R28: a use pays the operate-right holder, or the dataset's holder when there is none; so do royalties")
    func theOperateRightHolderIsPaid() throws {
        var meter = try Meter()
        let upstream = try meter.party("Upstream Co", .enterprise)
        let operatorCo = try meter.party("Operator Co", .enterprise)
        let source = try meter.dataset(by: upstream)
        let derived = try meter.dataset()
        try meter.derive(derived, from: [source])
        try meter.offer(source, price: 1_000_000)
        try meter.offer(derived, price: 1_000_000)
        let onDerived = try meter.grant(on: derived, quota: 1_000_000, days: 60)
        let onSource = try meter.grant(on: source, quota: 1_000_000, days: 60)

        // No operate certificate yet: the holders are paid.
        #expect(meter.state.operateHolder(of: source.id, on: meter.state.settings.calendar.date(at: meter.world.now)) == upstream.id)
        #expect(meter.use(onDerived, 1_000, key: "a").answer.amount == 1_000)
        #expect(meter.use(onSource, 500, key: "b").answer.amount == 500)
        #expect(meter.net()[meter.holder.id] == 900)
        #expect(meter.net()[upstream.id] == 600)

        // Operator Co registers the operate right over the source.
        let claim = try meter.world.submit(World.claim(source, .operate), by: operatorCo)
        #expect(claim.status == .submitted, "\(claim.refusals)")
        try meter.world.run(.startReview(registration: claim.number), by: meter.registrar)
        try meter.world.run(.decide(registration: claim.number, accept: true, reason: nil), by: meter.registrar)
        meter.world.advance(days: 20)
        try meter.world.run(.tick, by: nil)
        #expect(meter.state.operateHolder(of: source.id, on: meter.state.settings.calendar.date(at: meter.world.now)) == operatorCo.id)
        #expect(meter.state.operateHolder(of: derived.id, on: meter.state.settings.calendar.date(at: meter.world.now)) == meter.holder.id)

        let before = meter.transfers.count
        #expect(meter.use(onDerived, 1_000, key: "c").answer.amount == 1_000)
        #expect(meter.use(onSource, 500, key: "d").answer.amount == 500)
        let after = Array(meter.transfers[before...])
        #expect(after.map(\.kind) == [.use, .royalty, .use])
        #expect(after.map(\.debit) == [meter.lab.id, meter.holder.id, meter.lab.id])
        #expect(after.map(\.credit) == [meter.holder.id, operatorCo.id, operatorCo.id])
        #expect(after.map(\.amount) == [1_000, 100, 500])
        #expect(meter.net() == [meter.lab.id: -3_000, meter.holder.id: 1_800, upstream.id: 600, operatorCo.id: 600])
    }

    @Test("R28: once the operate-right certificate has expired, uses pay the dataset's holder again")
    func anExpiredOperateCertificateNoLongerDirectsPayments() throws {
        var meter = try Meter()
        let operatorCo = try meter.party("Operator Co", .enterprise)
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 1_000_000)
        let grant = try meter.grant(on: dataset, quota: 1_000_000, days: 120)
        // The operate right rests on an authorisation ending in 40 days, which caps the certificate (R9).
        var claim = World.claim(dataset, .operate)
        claim.authorisationEndsOn = meter.today.adding(days: 40)
        let registration = try meter.world.submit(claim, by: operatorCo)
        try meter.world.run(.startReview(registration: registration.number), by: meter.registrar)
        try meter.world.run(.decide(registration: registration.number, accept: true, reason: nil), by: meter.registrar)
        meter.world.advance(days: 20)
        try meter.world.run(.tick, by: nil)
        let certificate = try #require(meter.state.registration(registration.id)?.certificate.flatMap(meter.state.certificate))
        #expect(certificate.right == .operate)
        #expect(meter.use(grant, 100, key: "a").answer.accepted)
        #expect(meter.transfers.last?.credit == operatorCo.id)

        meter.world.advance(days: 25)
        #expect(certificate.status(on: meter.today) == .expired)
        #expect(meter.state.operateHolder(of: dataset.id, on: meter.state.settings.calendar.date(at: meter.world.now)) == meter.holder.id)
        #expect(meter.use(grant, 100, key: "b").answer.accepted)
        #expect(meter.transfers.last?.credit == meter.holder.id)
    }

    // MARK: R28: royalties

    @Test("R28: royalties flow up a three-level lineage at 10 % per edge; every party's postings sum to the hand-computed amount")
    func royaltiesFlowUpAThreeLevelLineage() throws {
        var meter = try Meter()
        let partyA = try meter.party("Source Co", .enterprise)
        let partyB = try meter.party("Refiner Co", .enterprise)
        let partyC = try meter.party("Product Co", .enterprise)
        let a = try meter.dataset(by: partyA)
        let b = try meter.dataset(by: partyB)
        let c = try meter.dataset(by: partyC)
        try meter.derive(b, from: [a])
        try meter.derive(c, from: [b])
        try meter.offer(c, price: 1_000_000)  // one fen a token
        let grant = try meter.grant(on: c, quota: 1_000_000)

        // 12,345 fen reach C; B takes ⌊12,345 ÷ 10⌋ = 1,234 of it and A ⌊1,234 ÷ 10⌋ = 123 of that.
        #expect(MeteringTests.shares(meter.state.royaltySplit(of: 12_345, earnedBy: c.id))
            == [MeteringTests.share(c, b, 1_234), MeteringTests.share(b, a, 123)].sorted())
        let batch = meter.commit([UsageSubmission(party: meter.lab.id, events: [meter.event(grant, 12_345, key: "a")])])
        #expect(batch.replies[0][0].answer.amount == 12_345)
        #expect(batch.transfers.map(\.kind) == [.use, .royalty, .royalty])
        #expect(batch.transfers.map(\.debit) == [meter.lab.id, partyC.id, partyB.id])
        #expect(batch.transfers.map(\.credit) == [partyC.id, partyB.id, partyA.id])
        #expect(batch.transfers.map(\.dataset) == [c.id, b.id, a.id])
        #expect(batch.transfers.map(\.amount) == [12_345, 1_234, 123])
        #expect(batch.transfers.allSatisfy { $0.tokens == 12_345 && $0.grant == grant.id })
        #expect(meter.net() == [meter.lab.id: -12_345, partyC.id: 11_111, partyB.id: 1_111, partyA.id: 123])

        // 10 fen more: B's share is 1 fen, A's rounds to nothing and no empty royalty is posted.
        let small = meter.commit([UsageSubmission(party: meter.lab.id, events: [meter.event(grant, 10, key: "b")])])
        #expect(small.transfers.map(\.amount) == [10, 1])
        #expect(meter.net() == [meter.lab.id: -12_355, partyC.id: 11_120, partyB.id: 1_112, partyA.id: 123])
        #expect(meter.usage.account(of: partyC.id) == LedgerAccount(debits: 1_235, credits: 12_355))
        #expect(meter.usage.account(of: partyB.id) == LedgerAccount(debits: 123, credits: 1_235))
        #expect(meter.usage.account(of: partyA.id) == LedgerAccount(debits: 0, credits: 123))
        #expect(meter.usage.account(of: meter.lab.id) == LedgerAccount(debits: 12_355, credits: 0))

        // The share is a setting: at 20 %, B takes 2,469 of 12,345 and A ⌊2,469 × 0.2⌋ = 493.
        try meter.world.run(
            .updateSettings(objectionPolicy: nil, calendar: nil, royaltyShareBasisPoints: 2_000), by: meter.operatorParty)
        #expect(MeteringTests.shares(meter.state.royaltySplit(of: 12_345, earnedBy: c.id))
            == [MeteringTests.share(c, b, 2_469), MeteringTests.share(b, a, 493)].sorted())
        try meter.world.run(.updateSettings(objectionPolicy: nil, calendar: nil, royaltyShareBasisPoints: 0), by: meter.operatorParty)
        #expect(meter.state.royaltySplit(of: 12_345, earnedBy: c.id).isEmpty)
        let unshared = meter.commit([UsageSubmission(party: meter.lab.id, events: [meter.event(grant, 100, key: "c")])])
        #expect(unshared.transfers.map(\.kind) == [.use])
    }

    @Test("R28: in a diamond each source takes its share of what reached the derived dataset, the odd fen goes to the lowest id, and the common ancestor is paid along both paths")
    func royaltiesInADiamond() throws {
        var meter = try Meter()
        let partyA = try meter.party("Root Co", .enterprise)
        let partyB1 = try meter.party("Left Co", .enterprise)
        let partyB2 = try meter.party("Right Co", .enterprise)
        let partyD = try meter.party("Join Co", .enterprise)
        let a = try meter.dataset(by: partyA)
        let b1 = try meter.dataset(by: partyB1)
        let b2 = try meter.dataset(by: partyB2)
        let d = try meter.dataset(by: partyD)
        #expect(b1.id < b2.id)
        try meter.derive(b1, from: [a])
        try meter.derive(b2, from: [a])
        try meter.derive(d, from: [b2, b1])
        try meter.offer(d, price: 1_000_000)
        let grant = try meter.grant(on: d, quota: 1_000_000)

        // D's two sources take 10 % each: a pool of ⌊12,345 × 0.2⌋ = 2,469, 1,234 each and the odd fen to B1.
        // Each passes on 10 % of what it received: ⌊1,235 ÷ 10⌋ = 123 and ⌊1,234 ÷ 10⌋ = 123 to A.
        let expected = [
            MeteringTests.share(d, b1, 1_235), MeteringTests.share(d, b2, 1_234), MeteringTests.share(b1, a, 123),
            MeteringTests.share(b2, a, 123),
        ].sorted()
        #expect(MeteringTests.shares(meter.state.royaltySplit(of: 12_345, earnedBy: d.id)) == expected)
        let batch = meter.commit([UsageSubmission(party: meter.lab.id, events: [meter.event(grant, 12_345, key: "a")])])
        let royalties = batch.transfers.filter { $0.kind == .royalty }
        #expect(royalties.count == 4)
        #expect(royalties.reduce(0) { $0 + $1.amount } == 2_715)
        #expect(meter.net() == [meter.lab.id: -12_345, partyD.id: 9_876, partyB1.id: 1_112, partyB2.id: 1_111, partyA.id: 246])
        #expect(meter.net().values.reduce(0, +) == 0)
        #expect(meter.usage.account(of: partyA.id) == LedgerAccount(debits: 0, credits: 246))
    }

    @Test("R28: royaltySplit gives nothing for nothing, splits remainders to the lowest ids and caps a dataset's sources at half together")
    func royaltySplitRemaindersAndTheCap() throws {
        var meter = try Meter()
        let three = try meter.dataset()
        let threeSources = [try meter.dataset(), try meter.dataset(), try meter.dataset()]
        try meter.derive(three, from: threeSources.reversed())
        // 3 × 10 % of 1,009 is ⌊302.7⌋ = 302: 100 each and the 2 left to the two lowest ids.
        #expect(MeteringTests.shares(meter.state.royaltySplit(of: 1_009, earnedBy: three.id))
            == [MeteringTests.share(three, threeSources[0], 101), MeteringTests.share(three, threeSources[1], 101),
                MeteringTests.share(three, threeSources[2], 100)].sorted())
        #expect(meter.state.royaltySplit(of: 0, earnedBy: three.id).isEmpty)
        // 9 fen: the pool is ⌊2.7⌋ = 2, no whole fen each, so the two lowest ids take one fen each.
        #expect(MeteringTests.shares(meter.state.royaltySplit(of: 9, earnedBy: three.id))
            == [MeteringTests.share(three, threeSources[0], 1), MeteringTests.share(three, threeSources[1], 1)].sorted())
        // Over a single edge, 10 % of 9 fen is no whole fen: nothing is shared.
        let single = try meter.dataset()
        try meter.derive(single, from: [threeSources[0]])
        #expect(meter.state.royaltySplit(of: 9, earnedBy: single.id).isEmpty)
        #expect(MeteringTests.shares(meter.state.royaltySplit(of: 10, earnedBy: single.id)) == [MeteringTests.share(single, threeSources[0], 1)])

        // Six sources at 10 % would take 60 %: together they take at most half, split equally.
        let six = try meter.dataset()
        var sixSources: [Dataset] = []
        for _ in 0..<6 { sixSources.append(try meter.dataset()) }
        try meter.derive(six, from: sixSources)
        for amount: Int64 in [10_000, 12_345, 999_999] {
            let split = meter.state.royaltySplit(of: amount, earnedBy: six.id)
            let amounts = sixSources.map { source in split.filter { $0.to == source.id }.reduce(0) { $0 + $1.amount } }
            #expect(split.count == 6)
            #expect(split.allSatisfy { $0.from == six.id })
            #expect(amounts.reduce(0, +) <= amount / 2)
            #expect(amounts.allSatisfy { $0 * 10 < amount })  // less than a full 10 % each
            #expect(amounts.max()! - amounts.min()! <= 1)
            #expect(amounts == amounts.sorted(by: >))  // any odd fen to the lowest ids
        }
    }

    @Test("R28: royalties on many small uses add up to the share of their total, however the uses were batched")
    func royaltiesDoNotDriftAcrossBatches() throws {
        // Each use costs 1 fen (2,000 tokens at 500 fen per million); 10 % of a single fen is no whole
        // fen, but 10 % of 1,000 fen is 100. The source's holder is owed its share of the total, as the
        // assignee is charged on its total (R28), whether the uses were committed one by one or together.
        var meter = try Meter()
        let upstream = try meter.party("Upstream Co", .enterprise)
        let source = try meter.dataset(by: upstream)
        let derived = try meter.dataset()
        try meter.derive(derived, from: [source])
        try meter.offer(derived, price: 500)
        let alone = try meter.grant(on: derived, quota: 100_000_000)
        let together = try meter.grant(on: derived, to: meter.otherLab, quota: 100_000_000)
        for index in 0..<1_000 { meter.use(alone, 2_000, key: "a\(index)") }
        meter.commit([UsageSubmission(party: meter.otherLab.id, events: (0..<1_000).map { meter.event(together, 2_000, key: "t\($0)") })])
        #expect(meter.usage.usage(of: alone.id).charged == 1_000)
        #expect(meter.usage.usage(of: together.id).charged == 1_000)
        let royalty = { (grant: Grant) in meter.transfers.filter { $0.kind == .royalty && $0.grant == grant.id }.reduce(0) { $0 + $1.amount } }
        #expect(royalty(together) == 100)
        #expect(royalty(alone) == royalty(together))
    }

    // MARK: R27, R28: a long random run

    @Test("R27, R28: 100,000 random events in batches keep the ledger balanced, every grant within its quota and every cap kept")
    func aRandomRunKeepsTheLedgerBalanced() throws {
        var meter = try Meter()
        var random = SplitMix64(state: 0xDA7A_2026_0528)
        var holders = [meter.holder]
        for index in 1...3 { holders.append(try meter.party("Holder \(index)", .enterprise)) }
        var labs = [meter.lab, meter.otherLab]
        for index in 1...2 { labs.append(try meter.party("Lab \(index)", .modelLab)) }
        let ministry = try meter.party("Ministry", .department)

        // Two roots, a diamond below them, a chain below that, and a separate pair that gets flagged.
        var datasets: [Dataset] = []
        for index in 0..<8 { datasets.append(try meter.dataset(by: holders[index % holders.count])) }
        let publicData = try meter.dataset(by: ministry)
        try meter.derive(datasets[2], from: [datasets[0]])
        try meter.derive(datasets[3], from: [datasets[0], datasets[1]])
        try meter.derive(datasets[4], from: [datasets[2], datasets[3]])
        try meter.derive(datasets[5], from: [datasets[4]])
        try meter.derive(datasets[7], from: [datasets[6]])
        let prices: [Int64] = [0, 1, 333, 500, 7_777, 1_000_000]
        let datasetCap: Int64 = 2_000_000
        let cappedDatasets: Set<DatasetID> = [datasets[4].id, datasets[6].id]
        for (index, dataset) in datasets.enumerated() {
            try meter.offer(dataset, price: prices[index % prices.count], dailyCap: cappedDatasets.contains(dataset.id) ? datasetCap : nil)
        }
        try meter.offer(publicData, price: 1_500)
        let assigneeCap: Int64 = 3_000_000
        try meter.world.run(.setAssigneeDailyCap(party: labs[0].id, dailyTokens: assigneeCap), by: meter.operatorParty)

        let quotas: [Int64] = [200_000, 2_000_000, 20_000_000, 500_000_000]
        var grants: [Grant] = []
        for lab in labs {
            for dataset in datasets where random.chance(70) {
                grants.append(try meter.grant(on: dataset, to: lab, quota: random.pick(quotas)))
            }
            grants.append(try meter.grant(on: publicData, to: lab, quota: random.pick(quotas), purpose: random.pick(["public_welfare", "statistics"])))
        }
        let grantsOf = Dictionary(grouping: grants, by: \.assignee)
        let calendar = meter.state.settings.calendar

        let total = 100_000
        var produced = 0
        var serial = 0
        var recent: [PartyID: [UsageEvent]] = [:]
        var firstAnswers: [String: UsageAnswer] = [:]
        var replays = 0
        var badReplies = 0
        var acceptedTokens: Int64 = 0
        var acceptedAmount: Int64 = 0
        var assigneeDays: [PartyID: [CivilDate: Int64]] = [:]
        var datasetDays: [DatasetID: [CivilDate: Int64]] = [:]
        var denials: [String: Int] = [:]
        var quotaDenials: [UsageQuota: Int] = [:]
        var flaggedDatasets: Set<DatasetID> = []
        var acceptedWhileFlagged = 0
        var lastEvent = meter.usage.lastEvent
        var gaps = 0

        while produced < total {
            if flaggedDatasets.isEmpty && produced >= total / 2 {
                try meter.world.run(.flagDataset(datasets[6].id, reason: "source unlawful"), by: meter.regulator)
                flaggedDatasets = [datasets[6].id, datasets[7].id]
            }
            meter.world.now = meter.world.now.adding(seconds: Int64(random.below(1_800)))
            let now = meter.world.now
            var remaining = min(random.chance(20) ? 1 + random.below(8) : 50 + random.below(1_500), total - produced)
            produced += remaining
            var submissions: [UsageSubmission] = []
            while remaining > 0 {
                let lab = random.pick(labs)
                let count = min(remaining, 1 + random.below(400))
                remaining -= count
                var events: [UsageEvent] = []
                events.reserveCapacity(count)
                for _ in 0..<count {
                    if random.chance(8), let earlier = recent[lab.id], !earlier.isEmpty {
                        events.append(random.pick(earlier))
                        continue
                    }
                    serial += 1
                    let roll = random.below(100)
                    let number = roll < 2 ? random.pick(grants).number : roll < 3 ? "GR-1999-000000" : random.pick(grantsOf[lab.id]!).number
                    let tokens = Int64(random.chance(5) ? 10_000 + random.below(200_000) : 1 + random.below(5_000))
                    let event = UsageEvent(grant: number, tokens: tokens, usedAt: now.adding(seconds: -Int64(random.below(3_600))), key: "e\(serial)")
                    events.append(event)
                    recent[lab.id, default: []].append(event)
                    if recent[lab.id]!.count > 256 { recent[lab.id]!.removeFirst(128) }
                }
                submissions.append(UsageSubmission(party: lab.id, events: events))
            }
            let batch = meter.commit(submissions)

            // Every key's first answer is given again to every retry, which is marked replayed.
            for (index, submission) in submissions.enumerated() {
                for (position, event) in submission.events.enumerated() {
                    let reply = batch.replies[index][position]
                    if let first = firstAnswers[event.key] {
                        replays += 1
                        if !reply.replayed || reply.answer != first { badReplies += 1 }
                    } else {
                        if reply.replayed { badReplies += 1 }
                        firstAnswers[event.key] = reply.answer
                    }
                }
            }
            let day = calendar.date(at: batch.at)
            for event in batch.events {
                if event.id != lastEvent + 1 { gaps += 1 }
                lastEvent = event.id
                guard event.answer.accepted, let dataset = event.dataset else {
                    denials[event.answer.rule ?? "none", default: 0] += 1
                    if let quota = event.answer.quota { quotaDenials[quota, default: 0] += 1 }
                    continue
                }
                acceptedTokens += event.tokens
                acceptedAmount += event.answer.amount
                assigneeDays[event.assignee, default: [:]][day, default: 0] += event.tokens
                datasetDays[dataset, default: [:]][day, default: 0] += event.tokens
                if flaggedDatasets.contains(dataset) { acceptedWhileFlagged += 1 }
            }
        }

        // The ledger balances, and each account is exactly the transfers that touch it.
        let accounts = meter.usage.allAccounts
        #expect(accounts.reduce(0) { $0 + $1.account.debits } == accounts.reduce(0) { $0 + $1.account.credits })
        var fromTransfers: [PartyID: LedgerAccount] = [:]
        var useAmounts: [GrantID: Int64] = [:]
        var useTokens: [GrantID: Int64] = [:]
        for transfer in meter.transfers {
            #expect(transfer.amount >= 0)
            fromTransfers[transfer.debit, default: LedgerAccount()].debits += transfer.amount
            fromTransfers[transfer.credit, default: LedgerAccount()].credits += transfer.amount
            if transfer.kind == .use {
                useAmounts[transfer.grant, default: 0] += transfer.amount
                useTokens[transfer.grant, default: 0] += transfer.tokens
            }
        }
        #expect(Dictionary(uniqueKeysWithValues: accounts.map { ($0.party, $0.account) }) == fromTransfers)
        #expect(meter.transfers.map(\.id) == Array(1...Int64(meter.transfers.count)))

        // Every grant stays within its quota, is charged its exact price, and its use transfers carry both.
        var grantTokens: Int64 = 0
        for grant in grants {
            let used = meter.usage.usage(of: grant.id)
            #expect(used.tokens <= grant.tokenQuota, "grant \(grant.number)")
            #expect(used.charged == (grant.free ? 0 : MeteringTests.charge(used.tokens, grant.pricePerMillionTokens)), "grant \(grant.number)")
            #expect(useAmounts[grant.id, default: 0] == used.charged, "grant \(grant.number)")
            #expect(useTokens[grant.id, default: 0] == used.tokens, "grant \(grant.number)")
            grantTokens += used.tokens
        }
        #expect(acceptedTokens == grantTokens)
        #expect(acceptedAmount == grants.reduce(0) { $0 + meter.usage.usage(of: $1.id).charged })

        // Daily caps held on every day, and the run crossed days.
        #expect(assigneeDays[labs[0].id, default: [:]].values.allSatisfy { $0 <= assigneeCap })
        for dataset in cappedDatasets { #expect(datasetDays[dataset, default: [:]].values.allSatisfy { $0 <= datasetCap }) }
        #expect(Set(assigneeDays.values.flatMap(\.keys)).count >= 2)

        // Replays counted nothing and got their first answers; ids have no gaps; the run exercised every rule.
        #expect(badReplies == 0)
        #expect(gaps == 0)
        #expect(acceptedWhileFlagged == 0)
        #expect(firstAnswers.count == serial)
        #expect(meter.events.count == serial)
        #expect(replays > 1_000)
        #expect(Set(denials.keys).isSubset(of: ["R23", "R25", "R27"]))
        #expect(denials["R23", default: 0] > 0 && denials["R25", default: 0] > 0 && denials["R27", default: 0] > 0)
        #expect(Set(quotaDenials.keys) == Set(UsageQuota.allCases))
        #expect(meter.transfers.contains { $0.kind == .royalty })
    }

    // MARK: R24, R27: decisions see what metering used

    @Test("R24, R27: after metering, a decision for more tokens than the grant or today's caps leave is denied as R27; within them, allowed")
    func decisionsCompareWithTheRemainingQuota() throws {
        var meter = try Meter()
        let dataset = try meter.dataset()
        try meter.offer(dataset, price: 500, dailyCap: 8_000)
        let grant = try meter.grant(on: dataset, quota: 10_000)
        func decide(_ tokens: Int64) -> Decision {
            meter.state.decide(DecisionQuery(party: meter.lab.id, dataset: dataset.id, purpose: "model_training", tokens: tokens), at: meter.world.now)
        }
        #expect(decide(8_000).allow)
        #expect(meter.use(grant, 7_000, key: "a").answer.accepted)

        let overGrant = decide(3_001)
        #expect(!overGrant.allow)
        #expect(overGrant.rule == "R27")
        #expect(overGrant.reason.contains(grant.number))
        let overDataset = decide(1_001)
        #expect(!overDataset.allow)
        #expect(overDataset.rule == "R27")
        #expect(overDataset.reason.contains("dataset \(dataset.id.rawValue)"))
        let within = decide(1_000)
        #expect(within.allow)
        #expect(within.grant == grant.id)

        // Tomorrow the dataset's cap has room again; the grant still has only 3,000 left.
        meter.world.now = meter.nextMidnight.adding(seconds: 60)
        #expect(decide(3_000).allow)
        #expect(decide(3_001).rule == "R27")
        // The assignee's cap is compared too.
        try meter.world.run(.setAssigneeDailyCap(party: meter.lab.id, dailyTokens: 2_000), by: meter.operatorParty)
        #expect(meter.use(grant, 500, key: "b").answer.accepted)
        let overAssignee = decide(1_501)
        #expect(overAssignee.rule == "R27")
        #expect(overAssignee.reason.contains("party \(meter.lab.id.rawValue)"))
        #expect(decide(1_500).allow)
    }
}
