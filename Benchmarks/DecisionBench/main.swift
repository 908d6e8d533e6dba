// Access decisions (R24) at national scale, measured in one run on one machine:
//  1. the core's `decide` on the synthetic registry (1,000,000 datasets with its policies, lineage and
//     grants): latency of single decisions (median, p99) and the rate on one core;
//  2. the same decisions expressed as Cedar policies and evaluated by cedarpy, timed inside Python with
//     the policy sets and entities parsed beforehand (only `is_authorized_batch` is timed);
// and every answer compared, decision by decision.
//
//   swift build -c release --product DecisionBench && .build/release/DecisionBench [--datasets 1000000] [--groups 400] [--per-group 25] [--passes 20]
//
// Needs python3 with cedarpy for the second column (pip install cedarpy); without it that column is
// skipped and says so.
import Foundation
import RegistryCore

struct Options {
    var datasets = 1_000_000
    var groups = 400
    var perGroup = 25
    var seed: UInt64 = 2_026
    var passes = 20

    init(_ arguments: [String]) {
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { fatalError("\(flag) needs a value") }
            switch flag {
            case "--datasets": datasets = Int(value)!
            case "--groups": groups = Int(value)!
            case "--per-group": perGroup = Int(value)!
            case "--seed": seed = UInt64(value)!
            case "--passes": passes = Int(value)!
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
var started = ContinuousClock.now
let synthetic = SyntheticRegistry.generate(datasets: options.datasets, seed: options.seed, now: now)
let state = synthetic.state()
print("  \(synthetic.datasets.count) datasets, \(synthetic.derivations.count) derivations, \(synthetic.policies.count) policies, "
    + "\(synthetic.grants.count) grants; core built in \(ContinuousClock.now - started)")

// MARK: The workload: groups of queries on one dataset each.

struct Group {
    var dataset: DatasetID
    var queries: [DecisionQuery]
}

var random = SplitMix64(state: options.seed ^ 0xDEC1_5105)
let requesters = synthetic.parties.filter { $0.kind == .modelLab || $0.kind == .enterprise }
let aiPurposes = ["model_training", "model_fine_tuning", "model_evaluation", "retrieval_augmentation", "statistics", "commercial_analytics"]
var groups: [Group] = []
for index in 0..<options.groups {
    // Three in five groups are on a dataset with a grant (the serving path of a lab that holds one);
    // the rest on any dataset (no grant, inherited restrictions, no policy).
    let grant = index % 5 < 3 ? random.pick(synthetic.grants) : nil
    let dataset = grant?.dataset ?? DatasetID(rawValue: Int64(1 + random.below(options.datasets)))
    var queries: [DecisionQuery] = []
    for _ in 0..<options.perGroup {
        let roll = random.below(100)
        if let grant, roll < 60 {
            // The grantee, mostly for its purpose, sometimes for more tokens than its quota or another purpose.
            let purpose = random.below(10) < 8 ? grant.purpose : random.pick(aiPurposes + ["marketing"])
            let tokens = random.below(10) < 9 ? Int64(1 + random.below(50_000)) : grant.tokenQuota + 1
            queries.append(DecisionQuery(party: grant.assignee, dataset: dataset, purpose: purpose, tokens: tokens))
        } else if roll < 70 {
            let holder = state.dataset(dataset)!.holder
            queries.append(DecisionQuery(party: holder, dataset: dataset, purpose: random.pick(aiPurposes), tokens: 1_000))
        } else {
            queries.append(DecisionQuery(party: random.pick(requesters).id, dataset: dataset, purpose: random.pick(aiPurposes), tokens: 1_000))
        }
    }
    groups.append(Group(dataset: dataset, queries: queries))
}
let allQueries = groups.flatMap(\.queries)

// MARK: 1. The core

var coreAnswers: [Decision] = []
coreAnswers.reserveCapacity(allQueries.count)
for query in allQueries { coreAnswers.append(state.decide(query, at: now)) }
let rules = Dictionary(grouping: coreAnswers, by: { $0.allow ? "allow (\($0.rule))" : "deny (\($0.rule))" }).mapValues(\.count)

// Single-decision latency: each timed on its own, over several passes.
var latencies: [Double] = []
latencies.reserveCapacity(allQueries.count * 5)
for _ in 0..<5 {
    for query in allQueries {
        let begin = ContinuousClock.now
        let decision = state.decide(query, at: now)
        let end = ContinuousClock.now
        precondition(decision.rule.utf8.count > 0)
        latencies.append(seconds(end - begin))
    }
}
latencies.sort()
// Rate on one core: a tight loop over the same queries.
var allowed = 0
started = ContinuousClock.now
let passes = options.passes
for _ in 0..<passes {
    for query in allQueries where state.decide(query, at: now).allow { allowed += 1 }
}
let coreSeconds = seconds(ContinuousClock.now - started)
let corePerDecision = coreSeconds / Double(passes * allQueries.count)

// MARK: 2. The same decisions as Cedar policies

/// A Cedar string literal.
func cedarString(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}

func cedarConditions(_ constraints: RuleConstraints) -> [String] {
    var conditions: [String] = []
    if let purposes = constraints.purposes { conditions.append("[\(purposes.map(cedarString).joined(separator: ", "))].contains(context.purpose)") }
    if let parties = constraints.assigneeParties { conditions.append("[\(parties.map { "Party::\"\($0.rawValue)\"" }.joined(separator: ", "))].contains(principal)") }
    if let kinds = constraints.assigneeKinds { conditions.append("[\(kinds.map { cedarString($0.rawValue) }.joined(separator: ", "))].contains(principal.kind)") }
    if let regions = constraints.regions { conditions.append("[\(regions.map(cedarString).joined(separator: ", "))].contains(context.region)") }
    if let notBefore = constraints.notBefore { conditions.append("context.now >= \(notBefore.rawValue)") }
    if let notAfter = constraints.notAfter { conditions.append("context.now < \(notAfter.rawValue)") }
    if let maxTokens = constraints.maxTokens { conditions.append("context.tokens <= \(maxTokens)") }
    if let ceiling = constraints.gradeCeiling { conditions.append("resource.grade <= \(rank(ceiling))") }
    return conditions
}

func rank(_ grade: Grade) -> Int { grade == .general ? 0 : grade == .important ? 1 : 2 }

func names(_ set: NameSet, _ vocabulary: [String]) -> [String] {
    vocabulary.indices.filter { set.contains(bit: $0) }.map { vocabulary[$0] }
}

/// The Cedar policies and entities that decide requests on `dataset`. Cedar gets what the core keeps:
/// the restrictions the dataset inherits through its lineage (R21) as attributes of its entity, checked
/// by four generic `forbid` policies; then the dataset's own rules and its grants, as the core reads them.
/// Keeping those attributes up to date is the lineage's work in both cases and is not timed.
let genericForbids = [
    "forbid(principal, action == Action::\"use\", resource) when { resource.flagged };",
    "forbid(principal, action == Action::\"use\", resource) when { resource.prohibited.contains(context.purpose) };",
    "forbid(principal, action == Action::\"use\", resource) when { resource has permitted && !resource.permitted.contains(context.purpose) };",
    "forbid(principal, action == Action::\"use\", resource) when { resource has regions && !resource.regions.contains(context.region) };",
]

func cedarGroup(_ group: Group) -> [String: Any] {
    let dataset = state.dataset(group.dataset)!
    let node = Int32(dataset.id.rawValue)
    let effective = state.lineage.graph.effectiveRestrictions(of: node)
    let inherited = state.lineage.graph.inheritedRestrictions(of: node)
    var attributes: [String: Any] = [
        "grade": rank(effective.grade), "flagged": effective.flagged, "prohibited": names(inherited.prohibitions, Purposes.standard),
    ]
    if !inherited.permittedPurposes.isUnrestricted { attributes["permitted"] = names(inherited.permittedPurposes, Purposes.standard) }
    if !inherited.permittedRegions.isUnrestricted { attributes["regions"] = RegionVocabulary.standard.names(in: inherited.permittedRegions) }
    var entities: [[String: Any]] = [["uid": ["type": "Dataset", "id": String(node)], "attrs": attributes, "parents": [] as [Any]]]
    var policies = genericForbids
    let here = "resource == Dataset::\"\(node)\""
    policies.append("permit(principal == Party::\"\(dataset.holder.rawValue)\", action == Action::\"use\", \(here));")
    if let record = state.policy(of: dataset.id) {
        for rule in record.policy.rules where rule.action == .use {
            switch rule.kind {
            case .prohibition:
                // The holder is not bound by its own offer.
                let conditions = ["principal != Party::\"\(dataset.holder.rawValue)\""] + cedarConditions(rule.constraints)
                policies.append("forbid(principal, action == Action::\"use\", \(here)) when { \(conditions.joined(separator: " && ")) };")
            case .permission:
                // A use needs a grant in force and a permission: one permit per grant and permission.
                for grant in state.market.grants(on: dataset.id) where grant.isInForce(at: now) && grant.action == .use {
                    let conditions = ["context.purpose == \(cedarString(grant.purpose))", "context.tokens <= \(grant.tokenQuota)"]
                        + cedarConditions(rule.constraints)
                    policies.append("permit(principal == Party::\"\(grant.assignee.rawValue)\", action == Action::\"use\", \(here)) when { \(conditions.joined(separator: " && ")) };")
                }
            case .duty:
                break
            }
        }
    }
    var requests: [[String: Any]] = []
    var principals: Set<PartyID> = []
    for query in group.queries {
        let party = state.party(query.party)!
        principals.insert(party.id)
        requests.append([
            "principal": "Party::\"\(party.id.rawValue)\"", "action": "Action::\"use\"", "resource": "Dataset::\"\(node)\"",
            "context": ["purpose": query.purpose, "tokens": query.tokens, "now": now.rawValue, "region": query.region ?? party.region],
        ])
    }
    for id in principals.sorted() {
        entities.append(["uid": ["type": "Party", "id": String(id.rawValue)], "attrs": ["kind": state.party(id)!.kind.rawValue], "parents": []])
    }
    return ["policies": policies.joined(separator: "\n"), "entities": entities, "requests": requests]
}

let cedarInput = "/tmp/datarights-decision-bench-\(getpid()).json"
let cedarScript = """
import json, sys, time
try:
    import cedarpy
except ImportError:
    print(json.dumps({"missing": True})); sys.exit(0)
groups = json.load(open(sys.argv[1]))
prepared = [(cedarpy.PolicySet.from_str(g["policies"]), cedarpy.Entities.from_json_str(json.dumps(g["entities"])), g["requests"]) for g in groups]
answers, elapsed = [], 0.0
for policies, entities, requests in prepared:
    begin = time.perf_counter()
    results = cedarpy.is_authorized_batch(requests, policies, entities)
    elapsed += time.perf_counter() - begin
    answers.extend(r.allowed for r in results)
print(json.dumps({"seconds": elapsed, "answers": answers, "policies": sum(g["policies"].count(";") for g in groups)}))
"""

started = ContinuousClock.now
let cedarGroups = groups.map(cedarGroup)
try JSONSerialization.data(withJSONObject: cedarGroups).write(to: URL(fileURLWithPath: cedarInput))
print("  Cedar policies and entities for \(groups.count) datasets (\(cedarGroups.reduce(0) { $0 + (($1["entities"] as? [Any])?.count ?? 0) }) entities) written in \(ContinuousClock.now - started)")
defer { try? FileManager.default.removeItem(atPath: cedarInput) }

let python = Process()
python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
python.arguments = ["python3", "-c", cedarScript, cedarInput]
let pipe = Pipe()
let errors = Pipe()
python.standardOutput = pipe
python.standardError = errors
try python.run()
let output = pipe.fileHandleForReading.readDataToEndOfFile()
let errorOutput = errors.fileHandleForReading.readDataToEndOfFile()
python.waitUntilExit()
let cedar = (try? JSONSerialization.jsonObject(with: output)) as? [String: Any] ?? [:]

// MARK: Report

func micro(_ value: Double) -> String { String(format: "%.2f µs", value * 1e6) }
print("\n\(allQueries.count) decisions on \(groups.count) datasets; core answers: "
    + rules.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
print("core, single decisions timed one by one: median \(micro(latencies[latencies.count / 2])), p99 \(micro(latencies[latencies.count * 99 / 100])), "
    + "max \(micro(latencies.last!)) (target: median ≤ 2 µs)")
print("core, rate on one core: \(String(format: "%.0f", 1 / corePerDecision)) decisions/s (\(micro(corePerDecision)) each)")
if cedar["missing"] as? Bool == true {
    print("cedarpy: not installed (pip install cedarpy)")
} else if let cedarSeconds = cedar["seconds"] as? Double, let answers = cedar["answers"] as? [Bool] {
    let same = zip(answers, coreAnswers).filter { $0 == $1.allow }.count
    let perDecision = cedarSeconds / Double(answers.count)
    print("cedarpy \(answers.count) decisions, \(cedar["policies"] ?? "?") policies in all: \(micro(perDecision)) each, inside Python, batched per dataset")
    print("core vs Cedar: \(String(format: "%.1f×", perDecision / corePerDecision)) faster (rate), "
        + "\(String(format: "%.1f×", perDecision / latencies[latencies.count / 2])) (median single decision) (target ≥ 3×); "
        + "same answers: \(same) of \(answers.count)")
    if same != answers.count {
        for (index, pair) in zip(answers, coreAnswers).enumerated() where pair.0 != pair.1.allow {
            print("  differs: \(allQueries[index]) core \(pair.1) cedar \(pair.0)")
            break
        }
    }
} else {
    print("cedarpy failed (exit \(python.terminationStatus)): \(String(decoding: output, as: UTF8.self).prefix(300)) \(String(decoding: errorOutput, as: UTF8.self).suffix(1_500))")
}
