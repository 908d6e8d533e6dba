// The state-based compliance queries (R29) at national scale, in the core: the time one page of each
// answer holds the core's read lock on the synthetic registry (1,000,000 datasets, its lineage,
// registrations and certificates, and a grant per dataset on average), median and worst of several runs,
// and the rows each finds.
//
//   swift build -c release --product ComplianceBench && .build/release/ComplianceBench [--datasets 1000000] [--grants N] [--passes 9]
import Foundation
import RegistryCore

struct Options {
    var datasets = 1_000_000
    var grants: Int?
    var seed: UInt64 = 2_026
    var passes = 9

    init(_ arguments: [String]) {
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { fatalError("\(flag) needs a value") }
            switch flag {
            case "--datasets": datasets = Int(value)!
            case "--grants": grants = Int(value)!
            case "--seed": seed = UInt64(value)!
            case "--passes": passes = Int(value)!
            default: fatalError("unknown flag \(flag)")
            }
        }
    }
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
let now = Timestamp(microsecondsSince1970: 1_795_399_200 * 1_000_000)
print("Generating a synthetic registry of \(options.datasets) datasets (seed \(options.seed))…")
let started = ContinuousClock.now
let synthetic = SyntheticRegistry.generate(datasets: options.datasets, seed: options.seed, now: now, grants: options.grants ?? options.datasets)
let state = synthetic.state()
print("  \(synthetic.datasets.count) datasets, \(synthetic.derivations.count) derivations, \(synthetic.registrations.count) registrations, "
    + "\(synthetic.certificates.count) certificates, \(synthetic.grants.count) grants; core built in \(ContinuousClock.now - started)")

/// Runs `body` `passes` times; prints the median and worst time and what the last run said.
func measure(_ name: String, _ body: () -> String) {
    var times: [Double] = []
    var said = ""
    for _ in 0..<options.passes {
        let start = ContinuousClock.now
        said = body()
        times.append(milliseconds(ContinuousClock.now - start))
    }
    times.sort()
    let median = times[times.count / 2]
    print("  \(name.padding(toLength: 44, withPad: " ", startingAt: 0)) median \(String(format: "%8.2f", median)) ms   worst \(String(format: "%8.2f", times.last!)) ms   \(said)")
}

let today = state.today(at: now)
print("One page (50 rows) of each answer, \(options.passes) runs:")
measure("missing-records, first page") {
    let answer = state.missingRecords(MissingRecordsFilter(), after: 0, limit: 50)
    return "\(answer.totals.rows) rows over \(answer.totals.grants) grants"
}
let middle = state.missingRecords(MissingRecordsFilter(), after: 0, limit: 200).rows.last?.position ?? 0
measure("missing-records, a later page") {
    "\(state.missingRecords(MissingRecordsFilter(), after: middle, limit: 50).rows.count) rows"
}
measure("missing-records, record=consentEvidence") {
    "\(state.missingRecords(MissingRecordsFilter(record: .consentEvidence), after: 0, limit: 50).totals.rows) rows"
}
measure("cross-border/grants") {
    "\(state.crossBorderGrants(processor: nil, year: nil, after: 0, limit: 50).totals.grants) grants"
}
measure("cross-border/processors") {
    "\(state.crossBorderProcessors(year: 2026, status: nil, after: 0, limit: 50).totals.processors) processors"
}
measure("lineage-gaps, first page") {
    let answer = state.lineageGaps(holder: nil, after: 0, limit: 50, at: now)
    return "\(answer.rows.count) rows, next \(answer.next.map { "dataset \($0 >> 32)" } ?? "none")"
}
measure("overdue-sharing") {
    "\(state.overdueSharing(holder: nil, on: today).count) requests"
}
let busiest = synthetic.registrations.reduce(into: [DatasetID: Int]()) { $0[$1.dataset, default: 0] += 1 }.max { $0.value < $1.value }?.key
    ?? DatasetID(rawValue: 1)
measure("rights-history, dataset \(busiest.rawValue)") {
    "\(state.rightsHistory(of: busiest, on: today).count) events"
}

// Every page of the lineage gaps, as `datarights report` would read them.
var cursor: Int64? = 0
var pages = 0
var rows = 0
var longest = 0.0
let walk = ContinuousClock.now
while let after = cursor {
    let start = ContinuousClock.now
    let answer = state.lineageGaps(holder: nil, after: after, limit: Limits.maxPageSize, at: now)
    longest = max(longest, milliseconds(ContinuousClock.now - start))
    rows += answer.rows.count
    pages += 1
    cursor = answer.next
}
print("lineage-gaps, every page of \(Limits.maxPageSize): \(rows) rows in \(pages) pages, \(String(format: "%.0f", milliseconds(ContinuousClock.now - walk))) ms in all, longest page \(String(format: "%.1f", longest)) ms")
