// Lineage at national scale, measured in one run on one machine:
//  1. descendants (and ancestors) of sampled datasets: the in-memory core vs a WITH RECURSIVE query over
//     the project's own PostgreSQL tables vs rustworkx on the same edges;
//  2. cold start: rebuilding the whole core from PostgreSQL, and its resident memory;
//  3. adding an edge with restriction propagation (median, p99).
//
//   swift run -c release LineageBench [--datasets 1000000] [--grants N (default: one per dataset)] [--samples 200] [--seed 2026]
//                                     [--core-only yes] [--keep DIR]
//   swift run -c release LineageBench --digest yes [--datasets 1000000]: the state digest of the whole
//     registry, streamed record by record vs one document hashed whole (the baseline), time and memory.
// LB_CONNECTIONS=1 makes the cold start read on one connection, so that each phase's memory shows alone.
//
// Needs python3 with rustworkx for the third column (pip install rustworkx); without it that column is
// skipped and says so.
import EmbeddedPostgres
import Foundation
import Logging
import PostgresClient
import RegistryCore
import RegistryStore

struct Options {
    var datasets = 1_000_000
    var samples = 200
    /// Grants in the registry (the cold-start target names 1,000,000); nil: as many as datasets.
    var grants: Int?
    var seed: UInt64 = 2_026
    var coldStartOnly: String?
    var coreOnly = false
    /// Count the interval labels a reachability index would need on this graph, and stop.
    var intervalLabels = false
    /// Keep the loaded cluster here; when it already holds one, only measure a cold start from it.
    var keep: String?
    /// Measure the state digest and stop.
    var digest = false

    init(_ arguments: [String]) {
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { fatalError("\(flag) needs a value") }
            switch flag {
            case "--datasets": datasets = Int(value)!
            case "--samples": samples = Int(value)!
            case "--grants": grants = Int(value)!
            case "--seed": seed = UInt64(value)!
            case "--cold-start-only": coldStartOnly = value
            case "--core-only": coreOnly = value == "yes"
            case "--interval-labels": intervalLabels = value == "yes"
            case "--keep": keep = value
            case "--digest": digest = value == "yes"
            default: fatalError("unknown flag \(flag)")
            }
        }
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func residentKiB(_ field: String) -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    for line in status.split(separator: "\n") where line.hasPrefix(field) {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
    }
    return 0
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
var logger = Logger(label: "bench")
logger.logLevel = .warning

// Child mode: rebuild the core from a running cluster and report time and peak memory of this process alone.
if let socketDirectory = options.coldStartOnly {
    let configuration = PostgresConfiguration(host: socketDirectory, port: 5432, user: "datarights", database: "datarights")
    var limits = Limits()
    limits.databasePoolConnections = Int(ProcessInfo.processInfo.environment["LB_CONNECTIONS"] ?? "2")!  // the rebuild reads on two connections (the server has 8)
    let database = try RegistryDatabase(configuration: configuration, limits: limits, logger: logger)
    let started = ContinuousClock.now
    let state = try await RegistryLoader.load(from: database) { name, duration in
        FileHandle.standardError.write(Data("  cold start phase \(name): \(duration), resident \(residentKiB("VmRSS:") / 1024) MiB\n".utf8))
    }
    let elapsed = ContinuousClock.now - started
    FileHandle.standardError.write(Data("  \(state.policyCount) policies in \(state.policyTemplateCount) templates\n".utf8))
    print("coldstart \(seconds(elapsed)) \(residentKiB("VmHWM:")) \(residentKiB("VmRSS:")) \(state.catalog.datasets.count) \(state.lineage.graph.edgeCount) \(state.market.grants.count)")
    await database.shutdown()
    exit(0)
}

/// Cold start in a fresh process, so that its memory is the core's alone.
func measureColdStart(socketDirectory: String) throws {
    let child = Process()
    child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
    child.arguments = ["--cold-start-only", socketDirectory]
    let childOutput = Pipe()
    child.standardOutput = childOutput
    child.standardError = FileHandle.standardError
    try child.run()
    let coldText = String(decoding: childOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    child.waitUntilExit()
    let cold = coldText.split(separator: " ")
    if cold.count == 7, cold[0] == "coldstart", let elapsed = Double(cold[1]), let peak = Int(cold[2]), let after = Int(cold[3]) {
        print("cold start: rebuilt the core (\(cold[4]) datasets, \(cold[5]) edges, \(cold[6].trimmingCharacters(in: .whitespacesAndNewlines)) grants) "
            + "from PostgreSQL in \(String(format: "%.2f s", elapsed)); peak RSS \(peak / 1024) MiB, \(after / 1024) MiB when done")
    } else {
        print("cold start: child failed: \(coldText)")
    }
}

// A kept cluster that is already loaded: measure a cold start from it and stop.
if let keep = options.keep, FileManager.default.fileExists(atPath: keep + "/postgres/PG_VERSION") {
    let cluster = try EmbeddedPostgres(configuration: .init(clusterDirectory: keep + "/postgres"), logger: logger)
    try await cluster.startAsync()
    // A cluster kept by an older build may lack the newest migrations: apply them first, as a deployment would.
    var limits = Limits()
    limits.databasePoolConnections = 1
    let database = try RegistryDatabase(configuration: cluster.connectionConfiguration(database: "datarights"), limits: limits, logger: logger)
    try await database.migrate()
    await database.shutdown()
    try measureColdStart(socketDirectory: cluster.socketDirectory)
    try cluster.stop()
    exit(0)
}

let now = Timestamp(microsecondsSince1970: 1_795_399_200 * 1_000_000)
print("Generating a synthetic registry of \(options.datasets) datasets (seed \(options.seed))…")
var started = ContinuousClock.now
let synthetic = SyntheticRegistry.generate(datasets: options.datasets, seed: options.seed, now: now, grants: options.grants ?? options.datasets)
print("  \(synthetic.datasets.count) datasets, \(synthetic.derivations.count) derivations, \(synthetic.registrations.count) registrations, "
    + "\(synthetic.policies.count) policies, \(synthetic.grants.count) grants in \(ContinuousClock.now - started)")

// The digest of the whole state: streamed (what the server and `datarights state digest` run) against the
// baseline of one canonical document hashed whole (what they ran before), same state, same process.
if options.digest {
    let full = synthetic.state()
    func measure(_ name: String, _ body: () -> String) -> (String, Double, Int) {
        let before = residentKiB("VmHWM:")
        let started = ContinuousClock.now
        let digest = body()
        let elapsed = seconds(ContinuousClock.now - started)
        let growth = max(0, residentKiB("VmHWM:") - before) / 1024
        print("  \(name): \(String(format: "%.2f s", elapsed)), peak RSS +\(growth) MiB, \(digest.prefix(16))…")
        return (digest, elapsed, growth)
    }
    print("State digest of \(full.catalog.datasets.count) datasets, \(full.market.grants.count) grants, "
        + "\(full.rights.registrations.count) registrations (resident \(residentKiB("VmRSS:") / 1024) MiB):")
    let streamed = measure("streamed record by record", { full.digest })
    let document = measure("one document hashed whole (baseline)", { full.documentDigest })
    print("  equal: \(streamed.0 == document.0); time ratio baseline/streamed \(String(format: "%.2f", document.1 / streamed.1))×")
    exit(streamed.0 == document.0 ? 0 : 1)
}

// The core, built the way a cold start builds it.
var state = RegistryState()
for dataset in synthetic.datasets { state.apply(.dataset(dataset)) }
state.loadDerivations(synthetic.derivations)
let graph = state.lineage.graph

// Samples: uniform over all datasets, plus a few hub datasets (the widely used bases).
var generator = SplitMix64(state: options.seed)
let uniform = (0..<options.samples).map { _ in Int32(1 + Int(generator.next() % UInt64(options.datasets))) }
let hubs = (0..<5).map { _ in Int32(1 + Int(generator.next() % UInt64(max(10, options.datasets / 1_000)))) }


/// Descendant sets from the core's reachability index (no depths, no order): what `WITH RECURSIVE … UNION`
/// computes.
func coreSetCounts(_ nodes: [Int32]) -> (counts: [Int], seconds: Double) {
    var scratch = TraversalScratch()
    var counts: [Int] = []
    let begin = ContinuousClock.now
    for node in nodes {
        var count = 0
        graph.descendantSet(of: node, budget: Int.max, scratch: &scratch) { _ in
            count += 1
            return true
        }
        counts.append(count)
    }
    return (counts, seconds(ContinuousClock.now - begin))
}

func coreCounts(_ nodes: [Int32], _ direction: LineageGraph.Direction) -> (counts: [Int], seconds: Double) {
    var scratch = TraversalScratch()
    var counts: [Int] = []
    let begin = ContinuousClock.now
    for node in nodes {
        var count = 0
        graph.walk(from: node, direction, budget: Int.max, scratch: &scratch) { _, _ in
            count += 1
            return true
        }
        counts.append(count)
    }
    return (counts, seconds(ContinuousClock.now - begin))
}

/// How big a reachability index by interval labels would be on this graph: number the datasets (post-order
/// of a depth-first walk from the roots, or ids), then give each dataset the merged ranges of numbers it
/// reaches, its own included. Plain code, for sizing only: nothing in the core uses it.
func countIntervalLabels(_ derivations: [Derivation], datasets: Int, reverse: Bool, postOrder: Bool, cap: Int = 300_000_000) {
    let begin = ContinuousClock.now
    var offsets = [Int32](repeating: 0, count: datasets + 2)
    var hasParent = [Bool](repeating: false, count: datasets + 1)
    func ends(_ derivation: Derivation) -> (from: Int, to: Int) {
        reverse ? (Int(derivation.target.rawValue), Int(derivation.source.rawValue)) : (Int(derivation.source.rawValue), Int(derivation.target.rawValue))
    }
    for derivation in derivations {
        let (from, to) = ends(derivation)
        offsets[from + 1] += 1
        hasParent[to] = true
    }
    for index in 1..<offsets.count { offsets[index] += offsets[index - 1] }
    var adjacency = [Int32](repeating: 0, count: derivations.count)
    var fill = offsets
    for derivation in derivations {
        let (from, to) = ends(derivation)
        adjacency[Int(fill[from])] = Int32(to)
        fill[from] += 1
    }
    // The numbering, and an order in which every dataset comes after all it reaches.
    var number = [Int32](repeating: 0, count: datasets + 1)
    var order: [Int] = []
    order.reserveCapacity(datasets)
    if postOrder {
        var seen = [Bool](repeating: false, count: datasets + 1)
        var stack: [(node: Int, next: Int32)] = []
        for root in 1...datasets where !hasParent[root] {
            seen[root] = true
            stack.append((root, offsets[root]))
            while let (node, next) = stack.last {
                if next < offsets[node + 1] {
                    stack[stack.count - 1].next += 1
                    let child = Int(adjacency[Int(next)])
                    if !seen[child] {
                        seen[child] = true
                        stack.append((child, offsets[child]))
                    }
                } else {
                    stack.removeLast()
                    number[node] = Int32(order.count)
                    order.append(node)
                }
            }
        }
    } else {
        // Ids: the synthetic lineage runs from lower ids to higher.
        for id in 1...datasets { number[id] = Int32(id) }
        order = reverse ? Array(1...datasets) : Array((1...datasets).reversed())
    }
    var first = [Int](repeating: 0, count: datasets + 1)
    var count = [Int](repeating: 0, count: datasets + 1)
    var labels: [(Int32, Int32)] = []
    var pending: [(Int32, Int32)] = []
    var widest = 0
    for node in order {
        pending.removeAll(keepingCapacity: true)
        pending.append((number[node], number[node]))
        for edge in Int(offsets[node])..<Int(offsets[node + 1]) {
            let child = Int(adjacency[edge])
            pending.append(contentsOf: labels[first[child]..<(first[child] + count[child])])
        }
        pending.sort { $0.0 < $1.0 }
        first[node] = labels.count
        for range in pending {
            if labels.count > first[node], range.0 <= labels[labels.count - 1].1 + 1 {
                labels[labels.count - 1].1 = max(labels[labels.count - 1].1, range.1)
            } else {
                labels.append(range)
            }
        }
        count[node] = labels.count - first[node]
        widest = max(widest, count[node])
        if labels.count > cap {
            print("\(reverse ? "ancestors" : "descendants"), \(postOrder ? "post-order" : "id order"): over \(cap) intervals, stopped")
            return
        }
    }
    print("\(reverse ? "ancestors" : "descendants"), \(postOrder ? "post-order" : "id order"): \(labels.count) intervals, "
        + "at most \(widest) for one dataset, built in \(ContinuousClock.now - begin)")
}

if options.intervalLabels {
    for (reverse, postOrder) in [(false, true), (true, true), (false, false), (true, false)] {
        countIntervalLabels(synthetic.derivations, datasets: options.datasets, reverse: reverse, postOrder: postOrder)
    }
    exit(0)
}

if options.coreOnly {
    // The core's column alone (no PostgreSQL, no rustworkx): for working on the walk.
    for (label, nodes, direction) in [
        ("descendants, uniform sample", uniform, LineageGraph.Direction.descendants),
        ("ancestors, uniform sample", uniform, .ancestors),
        ("descendants of national base datasets", hubs, .descendants),
    ] {
        let cold = coreCounts(nodes, direction)
        let warm = coreCounts(nodes, direction)
        let reached = cold.counts.reduce(0, +)
        print("\(label): cold \(String(format: "%.3f ms", cold.seconds * 1000)) (\(String(format: "%.1f ns", cold.seconds * 1e9 / Double(max(1, reached)))) per node), warm \(String(format: "%.3f ms", warm.seconds * 1000)), reached \(reached)")
        if direction == .descendants {
            let set = coreSetCounts(nodes)
            print("  the same as sets from the index: \(String(format: "%.3f ms", set.seconds * 1000)) (\(String(format: "%.1f ns", set.seconds * 1e9 / Double(max(1, reached)))) per node), same counts: \(set.counts == cold.counts ? "yes" : "NO")")
        }
    }
    let hot = coreCounts(Array(repeating: uniform[0], count: 2_000), .descendants)
    print("hot (one node 2,000 times): \(String(format: "%.1f ns", hot.seconds * 1e9 / Double(max(1, hot.counts.reduce(0, +))))) per node, reached \(hot.counts[0])")
    exit(0)
}

let directory = options.keep ?? "/tmp/datarights-bench-lineage-\(getpid())"
let cluster = try EmbeddedPostgres(
    configuration: .init(clusterDirectory: directory + "/postgres", settings: ["shared_buffers": "'1GB'", "max_wal_size": "'4GB'"]),
    logger: logger)
try await cluster.startAsync()
defer {
    try? cluster.stop()
    if options.keep == nil { try? FileManager.default.removeItem(atPath: directory) }
}
try await cluster.createDatabaseIfNeeded("datarights")
var limits = Limits()
limits.databasePoolConnections = 2
let database = try RegistryDatabase(configuration: cluster.connectionConfiguration(database: "datarights"), limits: limits, logger: logger)
try await database.migrate()
started = ContinuousClock.now
_ = try await BulkLoader.load(synthetic, into: database, at: now, chainAudit: false)
// As autovacuum leaves a registry that has been running: statistics, hint bits and visibility map set,
// so that neither the WITH RECURSIVE baseline nor the cold start pays for the bulk load's first reads.
try await database.pool.withConnection { connection in
    try connection.executeScript("VACUUM (ANALYZE)")
    try connection.executeScript("CHECKPOINT")
}
print("  loaded into PostgreSQL with COPY, then VACUUM (ANALYZE), in \(ContinuousClock.now - started)")

func recursiveCounts(_ nodes: [Int32], _ direction: LineageGraph.Direction) async throws -> (counts: [Int], seconds: Double) {
    let sql = direction == .descendants
        ? "WITH RECURSIVE reached(id) AS (SELECT target_id FROM derivation WHERE source_id = $1 UNION SELECT d.target_id FROM derivation d JOIN reached r ON d.source_id = r.id) SELECT count(*) FROM reached"
        : "WITH RECURSIVE reached(id) AS (SELECT source_id FROM derivation WHERE target_id = $1 UNION SELECT d.source_id FROM derivation d JOIN reached r ON d.target_id = r.id) SELECT count(*) FROM reached"
    return try await database.pool.withConnection { connection in
        var counts: [Int] = []
        let begin = ContinuousClock.now
        for node in nodes {
            counts.append(try connection.query(PostgresQuery(unsafeSQL: sql, binds: PostgresBindings(Int64(node))))[0].decode(Int.self, column: 0))
        }
        return (counts, seconds(ContinuousClock.now - begin))
    }
}

/// rustworkx on the same edges, timed inside Python (graph construction excluded, like the core's).
func rustworkxCounts(_ nodes: [Int32], _ direction: LineageGraph.Direction) -> (counts: [Int], seconds: Double)? {
    let edgesPath = directory + "/edges.txt"
    if !FileManager.default.fileExists(atPath: edgesPath) {
        var text = ""
        text.reserveCapacity(synthetic.derivations.count * 16)
        for derivation in synthetic.derivations { text += "\(derivation.source.rawValue) \(derivation.target.rawValue)\n" }
        try? text.write(toFile: edgesPath, atomically: false, encoding: .utf8)
    }
    let script = """
        import sys, time
        try:
            import rustworkx as rx
        except ImportError:
            print("missing"); sys.exit(0)
        count = int(sys.argv[1]); direction = sys.argv[2]; nodes = [int(x) for x in sys.argv[3].split(",")]
        graph = rx.PyDiGraph(multigraph=False)
        graph.add_nodes_from(range(count + 1))
        with open(sys.argv[4]) as f:
            graph.add_edges_from_no_data([tuple(map(int, line.split())) for line in f])
        walk = rx.descendants if direction == "descendants" else rx.ancestors
        begin = time.perf_counter()
        counts = [len(walk(graph, n)) for n in nodes]
        elapsed = time.perf_counter() - begin
        print(elapsed); print(",".join(map(str, counts)))
        """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script, String(options.datasets), direction == .descendants ? "descendants" : "ancestors",
                         nodes.map(String.init).joined(separator: ","), edgesPath]
    let pipe = Pipe()
    process.standardOutput = pipe
    try? process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    let lines = output.split(separator: "\n")
    guard lines.count == 2, let elapsed = Double(lines[0]) else { return nil }
    return (lines[1].split(separator: ",").compactMap { Int($0) }, elapsed)
}

print("\nPostgreSQL \(try await database.pool.query("SHOW server_version") { try $0.decode(String.self, column: 0) }[0]); \(graph.nodeCount) datasets, \(graph.edgeCount) edges")
if let index = graph.reachabilityIndex {
    print("reachability index: \(index.intervals) intervals over \(index.datasets) datasets, \(index.bytes / 1_048_576) MiB")
}
print("query | samples | mean reached | core | WITH RECURSIVE | rustworkx | × WITH RECURSIVE | × rustworkx | same answers")
print("---|---:|---:|---:|---:|---:|---:|---:|---")
for (label, nodes, direction) in [
    ("descendants, uniform sample", uniform, LineageGraph.Direction.descendants),
    ("ancestors, uniform sample", uniform, .ancestors),
    ("descendants of national base datasets", hubs, .descendants),
] {
    let core = coreCounts(nodes, direction)
    let recursive = try await recursiveCounts(nodes, direction)
    let rust = rustworkxCounts(nodes, direction)
    func ms(_ value: Double) -> String { String(format: "%.3f ms", value * 1000) }
    func row(_ label: String, _ core: (counts: [Int], seconds: Double)) {
        let same = core.counts == recursive.counts && (rust.map { $0.counts == core.counts } ?? true)
        let mean = core.counts.reduce(0, +) / max(1, core.counts.count)
        print("\(label) | \(nodes.count) | \(mean) | \(ms(core.seconds)) | \(ms(recursive.seconds)) | \(rust.map { ms($0.seconds) } ?? "not installed") | "
            + "\(String(format: "%.0f×", recursive.seconds / core.seconds)) | \(rust.map { String(format: "%.1f×", $0.seconds / core.seconds) } ?? "–") | \(same ? "yes" : "NO")")
    }
    row(label + " (walk: nearest first, with depths)", core)
    // The same question as a set, as WITH RECURSIVE answers it: from the reachability index.
    if direction == .descendants { row(label + " (set, from the reachability index)", coreSetCounts(nodes)) }
}

// Adding edges with propagation: new derivations from older to newer datasets (never a cycle, but each
// is checked), spread over the graph.
var mutable = state
var latencies: [Double] = []
var edgeRandom = SplitMix64(state: options.seed ^ 0xABCDEF)
for index in 0..<2_000 {
    let target = Int64(2 + Int(edgeRandom.next() % UInt64(options.datasets - 1)))
    let source = Int64(1 + Int(edgeRandom.next() % UInt64(target - 1)))
    let derivation = Derivation(
        id: Int64(synthetic.derivations.count + index + 1), source: DatasetID(rawValue: source), target: DatasetID(rawValue: target),
        kind: .derived, recordedBy: PartyID(rawValue: 1), approvedBy: nil, recordedAt: now)
    if mutable.lineage.graph.parents(of: Int32(target)).contains(where: { $0.source == Int32(source) }) { continue }
    let begin = ContinuousClock.now
    mutable.apply(.derivation(derivation))
    latencies.append(seconds(ContinuousClock.now - begin))
}
latencies.sort()
print("\nadd edge with cycle check and restriction propagation: \(latencies.count) edges, median \(String(format: "%.1f µs", latencies[latencies.count / 2] * 1e6)), p99 \(String(format: "%.1f µs", latencies[latencies.count * 99 / 100] * 1e6)), max \(String(format: "%.1f ms", latencies.last! * 1e3))")

try measureColdStart(socketDirectory: cluster.socketDirectory)
