// Quota check-and-debit in the core (R26–R28), measured on one core: usage events planned against the
// synthetic registry's active grants — idempotency lookup, grant quota, assignee and dataset daily
// caps, pricing, and the postings with royalties up the lineage — then applied, group by group, as the
// store's group commit does (without PostgreSQL: that is the HTTP benchmark's part).
//
//   swift build -c release --product UsageBench && .build/release/UsageBench [--datasets 100000] [--events 2000000] [--group 32768]
import Foundation
import RegistryCore

struct Options {
    var datasets = 100_000
    var events = 2_000_000
    var group = Limits.maxUsageEventsPerCommit
    var request = 1_000
    var seed: UInt64 = 2_026

    init(_ arguments: [String]) {
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { fatalError("\(flag) needs a value") }
            switch flag {
            case "--datasets": datasets = Int(value)!
            case "--events": events = Int(value)!
            case "--group": group = Int(value)!
            case "--request": request = Int(value)!
            case "--seed": seed = UInt64(value)!
            default: fatalError("unknown flag \(flag)")
            }
        }
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
let now = Timestamp(microsecondsSince1970: 1_795_399_200 * 1_000_000)
print("Generating a synthetic registry of \(options.datasets) datasets (seed \(options.seed))…")
let synthetic = SyntheticRegistry.generate(datasets: options.datasets, seed: options.seed, now: now)
var state = synthetic.state()
// USAGEBENCH_NO_ROLLUPS=1 measures the core without the usage rollups (issue 16), for a before/after.
let rollups = ProcessInfo.processInfo.environment["USAGEBENCH_NO_ROLLUPS"] == nil
state.restoreUsage { $0.configure(reportWindowSeconds: $0.reportWindowSeconds, keyMemory: $0.keyMemory, rollups: rollups) }
let grants = synthetic.grants.filter { $0.isInForce(at: now) }
precondition(!grants.isEmpty, "the synthetic registry has no grant in force")
let withSources = grants.filter { !state.lineage.graph.parents(of: Int32($0.dataset.rawValue)).isEmpty }.count
print("  \(grants.count) grants in force (\(withSources) on derived datasets, whose uses pay royalties)")

// The workload: requests of `request` events from the grants' assignees, keys unique, a few repeated
// (retries), tokens small so that quotas rarely run out.
var random = SplitMix64(state: options.seed ^ 0x05A6_E000)
var requests: [UsageSubmission] = []
var made = 0
while made < options.events {
    let grant = random.pick(grants)
    let count = min(options.request, options.events - made)
    var events: [UsageEvent] = []
    events.reserveCapacity(count)
    for index in 0..<count {
        let retry = index > 0 && random.below(100) == 0
        let key = retry ? events[Int(random.below(index))].key : "k-\(made + index)"
        events.append(UsageEvent(grant: grant.number, tokens: Int64(1 + random.below(200)), usedAt: now, key: key))
    }
    requests.append(UsageSubmission(party: grant.assignee, events: events))
    made += count
}
print("  \(requests.count) requests of up to \(options.request) events, committed in groups of up to \(options.group)")

// The state lives in a `Registry`, as in the server: planned under the read lock, applied under the write lock.
let registry = Registry(state: state)
state = RegistryState()
var planTime = Duration.zero
var applyTime = Duration.zero
var accepted = 0
var denied = 0
var replayed = 0
var transfers = 0
var batches = 0
var index = 0
var clockNow = now
while index < requests.count {
    var group: [UsageSubmission] = []
    var events = 0
    while index < requests.count, group.isEmpty || events + requests[index].events.count <= options.group {
        events += requests[index].events.count
        group.append(requests[index])
        index += 1
    }
    clockNow = clockNow.adding(seconds: 0)
    let planStart = ContinuousClock.now
    let batch = registry.read { $0.planUsage(group, at: clockNow) }
    let applyStart = ContinuousClock.now
    _ = registry.applyUsage(batch, actor: "bench")
    let end = ContinuousClock.now
    planTime += applyStart - planStart
    applyTime += end - applyStart
    if ProcessInfo.processInfo.environment["USAGEBENCH_TRACE"] != nil, batches % 25 == 0 {
        print("  batch \(batches): plan \(applyStart - planStart), apply \(end - applyStart), keys \(registry.read { $0.usage.rememberedKeys })")
    }
    batches += 1
    transfers += batch.transfers.count
    for replies in batch.replies {
        for reply in replies {
            if reply.replayed { replayed += 1 } else if reply.answer.accepted { accepted += 1 } else { denied += 1 }
        }
    }
}
let total = seconds(planTime + applyTime)
let rate = Double(options.events) / total
print("")
print("Core check-and-debit, one core: \(options.events) events in \(batches) group commits")
print(String(format: "  plan  %.3f s (%.2f µs an event)", seconds(planTime), seconds(planTime) * 1e6 / Double(options.events)))
print(String(format: "  apply %.3f s (%.2f µs an event)", seconds(applyTime), seconds(applyTime) * 1e6 / Double(options.events)))
print(String(format: "  %.0f events/s on one core", rate))
print("  answers: \(accepted) accepted, \(denied) denied, \(replayed) replays; \(transfers) ledger postings")
state = registry.read { $0 }
let debits = state.usage.allAccounts.reduce(Int64(0)) { $0 + $1.account.debits }
let credits = state.usage.allAccounts.reduce(Int64(0)) { $0 + $1.account.credits }
let rollup = state.usage.rollup
print("  rollups \(rollups ? "on" : "off"): \(rollup.cellCount) cells, \(rollup.denialCellCount) denial cells; \(UsageRollup.bytesPerCell) bytes a cell, "
    + "\(rollup.tableBytes) bytes in the tables (\(rollup.cellCount > 0 ? rollup.tableBytes / rollup.cellCount : 0) a cell with free slots)")
print("  ledger: debits \(debits) fen = credits \(credits) fen: \(debits == credits ? "balanced" : "NOT BALANCED")")
