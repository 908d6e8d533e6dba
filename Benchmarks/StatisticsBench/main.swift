// Market statistics and use-of-dataset answers from the daily rollups vs SQL over the raw usage events
// (issue 16, a performance target of BRIEF.md: ≥ 100×, p99 ≤ 50 ms over ≥ 20M events), in one run:
//  1. the national-scale synthetic registry loaded into PostgreSQL (BulkLoader, binary COPY);
//  2. EVENTS accepted usage events over DAYS days written into usage_event by binary COPY, with skew: a
//     third of them on grants of datasets descending from five national base datasets (the hubs with the
//     most descendants), the rest over every active grant with a heavy head (grant rank ∝ u³);
//     then usage_rollup computed from them by the statement migration 0009 back-fills with, written in
//     day order (as days of use write it);
//  3. the core rebuilt by a cold start from PostgreSQL (RegistryLoader: every table, the rollups too);
//  4. over the last WINDOW days: statistics by region and by lab (daily, with the small-cell flags) and the
//     use of a national base dataset through its descendants by (party, purpose, dataset used) as
//     `GET /v1/compliance/dataset-use` answers it, each computed by the core as the server computes it
//     (median and p99 of SAMPLES runs; rendering the answer as text is not timed) against the same answer by SQL over usage_event (SQL_SAMPLES
//     runs after one warm-up, the schema's own indexes), answers checked equal.
//
//   swift build -c release --product StatisticsBench && .build/release/StatisticsBench \
//       [--datasets 1000000] [--grants N] [--events 20000000] [--days 90] [--window 30] [--samples 200] \
//       [--sql-samples 5] [--seed 2026] [--keep DIR]
// With --keep DIR the cluster stays in DIR (and a later run with the same DIR skips steps 1–2).
import EmbeddedPostgres
import Foundation
import Logging
import PostgresClient
import RegistryCore
import RegistryStore

struct Options {
    var datasets = 1_000_000
    var grants: Int?
    var events = 20_000_000
    var days = 90
    var window = 30
    var samples = 200
    var sqlSamples = 5
    var seed: UInt64 = 2_026
    var keep: String?

    init(_ arguments: [String]) {
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { fatalError("\(flag) needs a value") }
            switch flag {
            case "--datasets": datasets = Int(value)!
            case "--grants": grants = Int(value)!
            case "--events": events = Int(value)!
            case "--days": days = Int(value)!
            case "--window": window = Int(value)!
            case "--samples": samples = Int(value)!
            case "--sql-samples": sqlSamples = Int(value)!
            case "--seed": seed = UInt64(value)!
            case "--keep": keep = value
            default: fatalError("unknown flag \(flag)")
            }
        }
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func residentMiB() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return (Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0) / 1024
    }
    return 0
}

func milliseconds(_ value: Double) -> String { String(format: value < 10 ? "%.3f ms" : "%.1f ms", value * 1000) }

/// Median and p99 (nearest rank) of durations in seconds.
func quantiles(_ values: [Double]) -> (median: Double, p99: Double) {
    let sorted = values.sorted()
    let p99 = sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)]
    return (sorted[sorted.count / 2], p99)
}

/// Unbuffered, even into a file: the run takes minutes, and its progress should show as it goes.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

let options = Options(Array(CommandLine.arguments.dropFirst()))
var logger = Logger(label: "bench")
logger.logLevel = .warning
// The synthetic registry's clock: 2026-11-23 10:00 at UTC+8. The events end on its day.
let now = Timestamp(microsecondsSince1970: 1_795_399_200 * 1_000_000)
let calendar = WorkingCalendar()
let lastDay = calendar.date(at: now)
let firstDay = lastDay.adding(days: -(options.days - 1))
let window = lastDay.adding(days: -(options.window - 1))...lastDay
let offsetSeconds = Int64(calendar.utcOffsetSeconds)
func pgTime(_ value: Timestamp) -> PostgresTimestamp { PostgresTimestamp(microsecondsSince1970: value.microsecondsSince1970) }
/// The first instant of `day` in the registry's calendar.
func midnight(_ day: CivilDate) -> Timestamp {
    Timestamp(microsecondsSince1970: (Int64(day.daysSince1970) * 86_400 - offsetSeconds) * 1_000_000)
}

let directory = options.keep ?? "/tmp/datarights-bench-statistics-\(getpid())"
let loaded = FileManager.default.fileExists(atPath: directory + "/postgres/PG_VERSION")
let cluster = try EmbeddedPostgres(
    configuration: .init(
        clusterDirectory: directory + "/postgres",
        settings: ["shared_buffers": "'2GB'", "max_wal_size": "'8GB'", "work_mem": "'256MB'", "max_parallel_workers_per_gather": "2"]),
    logger: logger)
try await cluster.startAsync()
func cleanUp() {
    try? cluster.stop()
    if options.keep == nil { try? FileManager.default.removeItem(atPath: directory) }
}
try await cluster.createDatabaseIfNeeded("datarights")
var limits = Limits()
limits.databasePoolConnections = 2
let database = try RegistryDatabase(configuration: cluster.connectionConfiguration(database: "datarights"), limits: limits, logger: logger)
try await database.migrate()

// The five national base datasets with the most descendants, from the synthetic lineage.
func hubs(_ synthetic: SyntheticRegistry) -> [Int32] {
    var state = RegistryState()
    for dataset in synthetic.datasets { state.apply(.dataset(dataset)) }
    state.loadDerivations(synthetic.derivations)
    let graph = state.lineage.graph
    var scratch = TraversalScratch()
    let bases = Int32(1)...Int32(max(10, synthetic.datasets.count / 1_000))
    let counted = bases.map { base -> (Int32, Int) in
        var count = 0
        _ = graph.descendantSet(of: base, budget: Int.max, scratch: &scratch) { _ in
            count += 1
            return true
        }
        return (base, count)
    }
    return counted.sorted { $0.1 > $1.1 }.prefix(5).map(\.0)
}

if !loaded {
    say("Generating a synthetic registry of \(options.datasets) datasets (seed \(options.seed))…")
    var started = ContinuousClock.now
    let synthetic = SyntheticRegistry.generate(datasets: options.datasets, seed: options.seed, now: now, grants: options.grants ?? options.datasets)
    say("  \(synthetic.datasets.count) datasets, \(synthetic.derivations.count) derivations, \(synthetic.grants.count) grants, "
        + "\(synthetic.parties.filter { $0.kind == .modelLab }.count) labs in \(ContinuousClock.now - started)")
    started = ContinuousClock.now
    _ = try await BulkLoader.load(synthetic, into: database, at: now, chainAudit: false)
    say("  loaded into PostgreSQL in \(ContinuousClock.now - started)")

    // The events. Grants by dataset, the hubs' descendants, and a heavy head over every active grant.
    let active = synthetic.grants.filter { $0.state == .active }
    let hubList = hubs(synthetic)
    var state = RegistryState()
    for dataset in synthetic.datasets { state.apply(.dataset(dataset)) }
    state.loadDerivations(synthetic.derivations)
    var underHubs = Set<Int64>()
    var scratch = TraversalScratch()
    for hub in hubList {
        underHubs.insert(Int64(hub))
        _ = state.lineage.graph.descendantSet(of: hub, budget: Int.max, scratch: &scratch) { node in
            underHubs.insert(Int64(node))
            return true
        }
    }
    let hubGrants = active.filter { underHubs.contains($0.dataset.rawValue) }
    var shuffleRandom = SplitMix64(state: options.seed ^ 0x5747_5354)
    var shuffled = active
    for index in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(index, shuffleRandom.below(index + 1)) }
    say("  hubs \(hubList.map(String.init).joined(separator: ", ")): \(underHubs.count) datasets below them, \(hubGrants.count) of \(active.count) active grants on those")

    started = ContinuousClock.now
    let perDay = options.events / options.days
    let (events, days, seed) = (options.events, options.days, options.seed)
    let (eventGrants, headGrants) = (hubGrants, shuffled)
    let written = try await database.pool.withConnection { connection in
        var random = SplitMix64(state: seed ^ 0xE7E7)
        var nextID: Int64 = 0
        return try connection.copyFrom(
            table: "usage_event",
            columns: ["id", "batch_id", "assignee_id", "grant_id", "dataset_id", "idempotency_key", "tokens", "used_at", "recorded_at", "accepted", "amount"]
        ) { rows in
            for dayIndex in 0..<days {
                let start = midnight(firstDay.adding(days: dayIndex))
                let count = dayIndex == days - 1 ? events - perDay * (days - 1) : perDay
                for index in 0..<count {
                    nextID += 1
                    let grant: Grant
                    if random.below(3) == 0 && !eventGrants.isEmpty {
                        grant = eventGrants[random.below(eventGrants.count)]
                    } else {
                        let u = Double(random.next() >> 11) / Double(UInt64(1) << 53)
                        grant = headGrants[min(headGrants.count - 1, Int(u * u * u * Double(headGrants.count)))]
                    }
                    let tokens = Int64(200 + random.below(3_800))
                    let recorded = start.adding(seconds: Int64(index) * 86_400 / Int64(count))
                    try rows.append(
                        nextID, nextID / 5_000 + 1, grant.assignee.rawValue, grant.id.rawValue, grant.dataset.rawValue, "e\(nextID)", tokens,
                        pgTime(recorded.adding(seconds: -1)), pgTime(recorded), true,
                        tokens * grant.pricePerMillionTokens / 1_000_000)
                }
            }
        }
    }
    say("  \(written) usage events over \(options.days) days written with COPY in \(ContinuousClock.now - started)")
    started = ContinuousClock.now
    try await database.pool.withConnection { connection in
        // Migration 0009's back-fill, at the calendar's offset.
        try connection.executeScript("""
            SET work_mem = '2GB';
            INSERT INTO usage_rollup (day, dataset_id, assignee_id, purpose, use_region, events, tokens, amount)
            SELECT ((e.recorded_at AT TIME ZONE 'UTC') + make_interval(secs => \(offsetSeconds)))::date, e.dataset_id, e.assignee_id, g.purpose,
                   g.use_region, count(*), sum(e.tokens), sum(e.amount)
            FROM usage_event e JOIN "grant" g ON g.id = e.grant_id
            WHERE e.accepted
            GROUP BY 1, 2, 3, 4, 5
            ORDER BY 1, 2, 3;
            """)
        try connection.executeScript("VACUUM (ANALYZE)")
        try connection.executeScript("CHECKPOINT")
    }
    say("  usage_rollup computed from the events, then VACUUM (ANALYZE), in \(ContinuousClock.now - started)")
    try await database.pool.withConnection { connection in
        try connection.executeScript("CREATE TABLE bench_hubs (id int8 PRIMARY KEY)")
        for hub in hubList { try connection.execute("INSERT INTO bench_hubs VALUES (\(Int64(hub)))") }
    }
}

let sizes = try await database.pool.query("""
    SELECT pg_size_pretty(pg_total_relation_size('usage_event')), pg_size_pretty(pg_total_relation_size('usage_rollup')),
           (SELECT count(*) FROM usage_rollup)::int8, (SELECT reltuples::int8 FROM pg_class WHERE relname = 'usage_event')
    """) { row in (try row.decode(String.self, column: 0), try row.decode(String.self, column: 1), try row.decode(Int64.self, column: 2), try row.decode(Int64.self, column: 3)) }[0]
let indexes = try await database.pool.query(
    "SELECT indexdef FROM pg_indexes WHERE tablename = 'usage_event' ORDER BY indexname") { try $0.decode(String.self, column: 0) }
say("usage_event: ~\(sizes.3) rows, \(sizes.0) with indexes; usage_rollup: \(sizes.2) rows, \(sizes.1)")
say("usage_event's indexes (the SQL baseline's): " + indexes.joined(separator: "; "))
let hubList = try await database.pool.query("SELECT id FROM bench_hubs ORDER BY id") { Int32(try $0.decode(Int64.self, column: 0)) }

say("Cold start from PostgreSQL…")
var started = ContinuousClock.now
let state = try await RegistryLoader.load(from: database)
say("  rebuilt in \(ContinuousClock.now - started): \(state.catalog.datasets.count) datasets, \(state.market.grants.count) grants, "
    + "\(state.usage.rollup.cellCount) rollup cells (\(state.usage.rollup.tableBytes / 1_048_576) MiB), resident \(residentMiB()) MiB")

var rollupRowsInWindow = 0
state.usage.rollup.forEachEntry(in: window) { _ in rollupRowsInWindow += 1 }
say("Window \(window.lowerBound)…\(window.upperBound): \(rollupRowsInWindow) rollup rows\n")

// Rows in day order, as a running registry writes them (each day's batches add that day's cells), not in
// the order a hash aggregate emits them: a cold start reads usage_rollup in its heap order, and the core's
// rows of one day are then as scattered in memory as they were on disk.
// --- The questions: core and SQL ------------------------------------------------------------------------

let from = pgTime(midnight(window.lowerBound))
let until = pgTime(midnight(window.upperBound.adding(days: 1)))
let daySQL = "((e.recorded_at AT TIME ZONE 'UTC') + make_interval(secs => \(offsetSeconds)))::date"

/// Past days' summaries, as the server keeps them between answers.
let cache = StatisticsCache()

/// value, day, events, tokens, small — as text rows, in one order. Without `cached`, every day's rows are
/// walked (a first answer, or one after a transfer); with it, past days come from the cache and only the
/// last day (today, still changing) is walked.
func coreAnswer(_ dimension: StatisticsDimension, cached: Bool) -> [StatisticsCell] {
    state.usageStatistics(by: dimension, in: window, daily: true, cache: cached ? cache : nil)
}

/// An answer as text rows, for the comparison with SQL's (not timed: the server renders one page of it).
func coreRows(_ cells: [StatisticsCell]) -> [[String]] {
    cells.map {
        [$0.value, $0.day!.description, "\($0.figures.events)", "\($0.figures.tokens)", "\($0.isSmall)"]
    }.sorted { $0.lexicographicallyPrecedes($1) }
}

func sqlRows(_ dimension: StatisticsDimension) async throws -> [[String]] {
    let value = dimension == .region ? "g.use_region" : "e.assignee_id::text"
    let small = dimension == .lab ? "count(DISTINCT d.holder_id) < 3" : "(count(DISTINCT e.assignee_id) < 3 OR count(DISTINCT d.holder_id) < 3)"
    let sql = """
        SELECT \(value), \(daySQL)::text, count(*)::text, sum(e.tokens)::text, (\(small))::text
        FROM usage_event e JOIN "grant" g ON g.id = e.grant_id JOIN dataset d ON d.id = e.dataset_id
        WHERE e.accepted AND e.recorded_at >= $1 AND e.recorded_at < $2
        GROUP BY 1, 2
        """
    return try await database.pool.query(PostgresQuery(unsafeSQL: sql, binds: PostgresBindings(from, until))) { row in
        try (0..<5).map { try row.decode(String.self, column: $0) }
    }.sorted { $0.lexicographicallyPrecedes($1) }
}

/// Use of `hub` and every dataset descending from it, as the regulators' `GET /v1/compliance/dataset-use`
/// answers it (``RegistryState/datasetUse``, the largest traversal budget): by (party, purpose, dataset
/// used), from the rollup's rows of those datasets and the reachability index.
func coreUse(_ hub: Int32) -> [DatasetUseRow] {
    state.datasetUse(
        of: DatasetID(rawValue: Int64(hub)), in: window, descendants: true, party: nil, purpose: nil, budget: Limits.maxTraversalBudget)!.rows
}

func coreUseRows(_ rows: [DatasetUseRow]) -> [[String]] {
    rows.map { ["\($0.party.rawValue)", $0.purpose, "\($0.dataset.rawValue)", "\($0.totals.events)", "\($0.totals.tokens)"] }
        .sorted { $0.lexicographicallyPrecedes($1) }
}

func sqlUse(_ hub: Int32) async throws -> [[String]] {
    let sql = """
        WITH RECURSIVE reached(id) AS (
            SELECT $1::int8 UNION SELECT d.target_id FROM derivation d JOIN reached r ON d.source_id = r.id)
        SELECT e.assignee_id::text, g.purpose, e.dataset_id::text, count(*)::text, sum(e.tokens)::text
        FROM usage_event e JOIN "grant" g ON g.id = e.grant_id
        WHERE e.accepted AND e.recorded_at >= $2 AND e.recorded_at < $3 AND e.dataset_id IN (SELECT id FROM reached)
        GROUP BY 1, 2, 3
        """
    return try await database.pool.query(PostgresQuery(unsafeSQL: sql, binds: PostgresBindings(Int64(hub), from, until))) { row in
        try (0..<5).map { try row.decode(String.self, column: $0) }
    }.sorted { $0.lexicographicallyPrecedes($1) }
}

struct Measured {
    var name: String
    var core: (median: Double, p99: Double)
    var sql: (median: Double, p99: Double)
    var rows: Int
    var equal: Bool
}

/// With `baseline`, the SQL figures of an earlier measure of the same question are reused (and its
/// answer compared), so that the SQL is timed once a question.
///
/// The core is timed computing its answer as the server does (``RegistryState/usageStatistics``), not
/// rendering it: `rows` turns the answer into text rows once, for the comparison. The SQL is timed to its
/// decoded rows.
func measure<Answer: Collection>(
    _ name: String, core: () -> Answer, rows: (Answer) -> [[String]], sql: () async throws -> [[String]],
    baseline: (Measured, [[String]])? = nil
) async throws -> (Measured, [[String]]) {
    let coreAnswer = rows(core())
    var coreTimes: [Double] = []
    for _ in 0..<options.samples {
        let begin = ContinuousClock.now
        let answer = core()
        coreTimes.append(seconds(ContinuousClock.now - begin))
        precondition(answer.count == coreAnswer.count)
    }
    let sqlAnswer: [[String]]
    let sqlQuantiles: (median: Double, p99: Double)
    if let baseline {
        (sqlAnswer, sqlQuantiles) = (baseline.1, baseline.0.sql)
    } else {
        sqlAnswer = try await sql()  // warm-up: the period's pages in shared buffers and the OS cache
        var sqlTimes: [Double] = []
        for _ in 0..<options.sqlSamples {
            let begin = ContinuousClock.now
            _ = try await sql()
            sqlTimes.append(seconds(ContinuousClock.now - begin))
        }
        sqlQuantiles = quantiles(sqlTimes)
    }
    let result = Measured(
        name: name, core: quantiles(coreTimes), sql: sqlQuantiles, rows: coreAnswer.count, equal: coreAnswer == sqlAnswer)
    say("\(name): \(result.rows) rows, equal to SQL: \(result.equal ? "yes" : "NO")")
    say("  core (\(options.samples) runs): median \(milliseconds(result.core.median)), p99 \(milliseconds(result.core.p99))")
    say("  SQL over usage_event (\(options.sqlSamples) runs after a warm-up\(baseline == nil ? "" : ", as above")): median \(milliseconds(result.sql.median)), p99 \(milliseconds(result.sql.p99))")
    say(String(format: "  ratio (SQL / core): %.0f× by the medians, %.0f× by the p99s", result.sql.median / result.core.median, result.sql.p99 / result.core.p99))
    if !result.equal {
        say("  first differences: core \(coreAnswer.prefix(3)) … SQL \(sqlAnswer.prefix(3))")
    }
    return (result, sqlAnswer)
}

let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?"
say("Load average before: \(load.split(separator: " ").prefix(3).joined(separator: " "))")
var results: [Measured] = []
for dimension in [StatisticsDimension.region, .lab] {
    let walked = try await measure(
        "statistics by \(dimension.rawValue), daily, \(options.window) days, every day walked (no cache)",
        core: { coreAnswer(dimension, cached: false) }, rows: coreRows, sql: { try await sqlRows(dimension) })
    let kept = try await measure(
        "statistics by \(dimension.rawValue), daily, \(options.window) days, past days kept (the server's cache)",
        core: { coreAnswer(dimension, cached: true) }, rows: coreRows, sql: { try await sqlRows(dimension) }, baseline: walked)
    results += [walked.0, kept.0]
}
let hub = hubList.first ?? 1
var reached = 0
var scratch = TraversalScratch()
_ = state.lineage.graph.descendantSet(of: hub, budget: Int.max, scratch: &scratch) { _ in
    reached += 1
    return true
}
results.append(try await measure(
    "use of national base dataset \(hub) and its \(reached) descendants, \(options.window) days", core: { coreUse(hub) }, rows: coreUseRows, sql: { try await sqlUse(hub) }).0)
// The regulators' rankings too (two walks: the period and the one before), core only.
var rankingTimes: [Double] = []
for _ in 0..<options.samples {
    let begin = ContinuousClock.now
    _ = state.usageRankings(by: .lab, in: window, cache: cache)
    rankingTimes.append(seconds(ContinuousClock.now - begin))
}
let ranking = quantiles(rankingTimes)
say("rankings by lab, \(options.window) days and the \(options.window) before, past days kept (core only): median \(milliseconds(ranking.median)), p99 \(milliseconds(ranking.p99))")
let after = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?"
say("Load average after: \(after.split(separator: " ").prefix(3).joined(separator: " "))")

await database.shutdown()
cleanUp()
exit(results.allSatisfy(\.equal) ? 0 : 1)
