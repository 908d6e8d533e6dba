import RegistryCore
import Testing

/// The usage rollups (issue 16, for R29) as the core keeps them: each applied batch adds its deltas, and
/// the cells always add up to what the meter counted per grant.
@Suite struct UsageRollupTests {
    /// Random batches over several days, grants, purposes and caps: after each one, the rollup's tokens,
    /// events and charges per (dataset, assignee, purpose, region) over all days equal the sums of the
    /// grants' own counters; quota denials equal the denied events with a quota. Proven by planning and
    /// applying batches as the store does, with a seeded generator (the seed is in the failure message).
    @Test("R29, R27: rollup totals equal the accepted tokens and charges per grant after random batches", arguments: [1, 2, 3] as [UInt64])
    func R29_rollupTotalsEqualEachGrantsUsage(seed: UInt64) throws {
        var random = SplitMix64(state: seed)
        var meter = try MeteringTests.Meter()
        let labs = [meter.lab, meter.otherLab]
        var grants: [Grant] = []
        for index in 0..<4 {
            let dataset = try meter.dataset()
            try meter.offer(dataset, price: [0, 800, 2_000, 15][index], dailyCap: index == 2 ? 3_000 : nil)
            for (labIndex, lab) in labs.enumerated() {
                for purpose in ["model_training", "model_evaluation"] where index + labIndex < 4 {
                    grants.append(try meter.grant(on: dataset, to: lab, quota: [5_000, 20_000, 100_000][Int.random(in: 0..<3, using: &random)], purpose: purpose))
                }
            }
        }
        try meter.world.run(.setAssigneeDailyCap(party: meter.otherLab.id, dailyTokens: 6_000), by: meter.operatorParty)
        var key = 0
        var deniedByQuota: [UsageQuota: (events: Int64, tokens: Int64)] = [:]
        for _ in 0..<5 {
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let submissions = labs.map { lab in
                    UsageSubmission(party: lab.id, events: (0..<Int.random(in: 1...30, using: &random)).map { _ in
                        key += 1
                        let grant = grants.filter { $0.assignee == lab.id }.randomElement(using: &random)!
                        // Now and then a key used before: a replay counts nothing.
                        let reused = key > 5 && Int.random(in: 0..<10, using: &random) == 0
                        return meter.event(grant, Int64.random(in: 1...900, using: &random), key: "k\(reused ? key / 2 : key)")
                    })
                }
                let batch = meter.commit(submissions)
                for event in batch.events where !event.answer.accepted {
                    guard let quota = event.answer.quota else { continue }
                    deniedByQuota[quota, default: (0, 0)].events += 1
                    deniedByQuota[quota, default: (0, 0)].tokens += event.tokens
                }
                try Self.expectRollupMatchesGrants(meter, grants, seed: seed)
            }
            meter.world.advance(days: 1)
        }
        let rollup = meter.usage.rollup
        #expect(Set(rollup.allCells.map(\.cell.day)).count == 5, "one day of cells per day used (seed \(seed))")
        var denials: [UsageQuota: (events: Int64, tokens: Int64)] = [:]
        for (cell, totals) in rollup.allDenials {
            denials[cell.quota, default: (0, 0)].events += totals.events
            denials[cell.quota, default: (0, 0)].tokens += totals.tokens
            #expect(totals.events > 0 && totals.tokens >= totals.events)
        }
        #expect(deniedByQuota.mapValues { [$0.events, $0.tokens] } == denials.mapValues { [$0.events, $0.tokens] }, "seed \(seed)")
        #expect(!deniedByQuota.isEmpty, "the caps and quotas denied something (seed \(seed))")
    }

    static func expectRollupMatchesGrants(_ meter: MeteringTests.Meter, _ grants: [Grant], seed: UInt64) throws {
        struct Subject: Hashable {
            var dataset: DatasetID
            var assignee: PartyID
            var purpose: String
            var region: String
        }
        var fromGrants: [Subject: [Int64]] = [:]
        for grant in grants {
            let usage = meter.usage.usage(of: grant.id)
            guard usage.tokens > 0 else { continue }
            let subject = Subject(dataset: grant.dataset, assignee: grant.assignee, purpose: grant.purpose, region: grant.useRegion)
            fromGrants[subject, default: [0, 0]][0] += usage.tokens
            fromGrants[subject, default: [0, 0]][1] += usage.charged
        }
        var fromRollup: [Subject: [Int64]] = [:]
        var events: Int64 = 0
        for (cell, totals) in meter.usage.rollup.allCells {
            let subject = Subject(dataset: cell.dataset, assignee: cell.assignee, purpose: cell.purpose, region: cell.useRegion)
            fromRollup[subject, default: [0, 0]][0] += totals.tokens
            fromRollup[subject, default: [0, 0]][1] += totals.amount
            events += totals.events
            #expect(meter.usage.rollup.totals(of: cell) == totals)
        }
        #expect(fromRollup == fromGrants, "seed \(seed)")
        #expect(events == Int64(meter.events.filter(\.answer.accepted).count), "seed \(seed)")
        try expectWalksMatchCells(meter.usage.rollup, datasets: Set(grants.map(\.dataset)), seed: seed)
    }

    /// The walks a question reads — one dataset's rows in a period, a period's rows — give exactly the
    /// cells of the whole rollup that match, whatever the period (before, inside, across and after the
    /// days used, one day, and the empty rollup's days).
    static func expectWalksMatchCells(_ rollup: UsageRollup, datasets: Set<DatasetID>, seed: UInt64) throws {
        func described(_ entry: UsageRollup.Entry) -> String {
            let label = rollup.label(entry.label)
            return "\(entry.day) \(entry.dataset.rawValue) \(entry.assignee.rawValue) \(label.purpose) \(label.useRegion) \(entry.totals)"
        }
        func described(_ cell: UsageRollupCell, _ totals: UsageTotals) -> String {
            "\(cell.day) \(cell.dataset.rawValue) \(cell.assignee.rawValue) \(cell.purpose) \(cell.useRegion) \(totals)"
        }
        let all = rollup.allCells
        guard let first = rollup.firstDay, let last = rollup.lastDay else {
            #expect(all.isEmpty)
            return
        }
        let bounds = [(first, last), (first.adding(days: -30), first.adding(days: -1)), (first, first), (last, last.adding(days: 400)),
                      (first.adding(days: 1), last), (last.adding(days: 1), last.adding(days: 2)), (CivilDate(daysSince1970: 0), CivilDate(daysSince1970: .max))]
        for days in bounds.filter({ $0.0 <= $0.1 }).map({ $0.0...$0.1 }) {
            var walked: [String] = []
            rollup.forEachEntry(in: days) { walked.append(described($0)) }
            #expect(walked.sorted() == all.filter { days.contains($0.cell.day) }.map { described($0.cell, $0.totals) }.sorted(), "period \(days) seed \(seed)")
            for dataset in datasets {
                var ofDataset: [String] = []
                rollup.forEachEntry(of: dataset, in: days) { ofDataset.append(described($0)) }
                #expect(ofDataset.sorted() == all.filter { days.contains($0.cell.day) && $0.cell.dataset == dataset }.map { described($0.cell, $0.totals) }.sorted(),
                    "dataset \(dataset.rawValue) period \(days) seed \(seed)")
            }
            var denials: [String] = []
            rollup.forEachDenial(in: days) { denials.append("\($0.day) \($0.dataset.rawValue) \($0.assignee.rawValue) \($0.quota) \($0.totals)") }
            #expect(denials.sorted() == rollup.allDenials.filter { days.contains($0.cell.day) }
                .map { "\($0.cell.day) \($0.cell.dataset.rawValue) \($0.cell.assignee.rawValue) \($0.cell.quota) \($0.totals)" }.sorted(), "denials \(days) seed \(seed)")
        }
    }

    /// A rollup cell's sums saturate rather than trap (they cannot reach Int64.max within the limits).
    @Test("R29: rollup sums saturate at Int64.max instead of trapping")
    func R29_rollupSumsSaturate() {
        var meter = UsageMeter()
        let cell = UsageRollupCell(day: CivilDate(daysSince1970: 20_000), dataset: DatasetID(rawValue: 7), assignee: PartyID(rawValue: 9),
            purpose: "model_training", useRegion: "CN-BJ")
        meter.restoreRollup([(cell, UsageTotals(events: 1, tokens: .max - 1, amount: 5))], denials: [])
        meter.restoreRollup([(cell, UsageTotals(events: 1, tokens: 10, amount: 5))], denials: [])
        let rollup = meter.rollup
        #expect(rollup.totals(of: cell) == UsageTotals(events: 2, tokens: .max, amount: 10))
        #expect(rollup.allCells.map(\.cell) == [cell])
    }
}
