// Rows/s into the same table by three ways of writing, measured in one run on one durable cluster:
// one autocommit INSERT per row (the baseline), pipelined prepared INSERTs (one commit per 1,000), and
// binary COPY (one commit). Prints each rate and its ratio to the baseline.
//
//   swift run -c release PostgresBench [--autocommit-rows N] [--pipeline-rows N] [--copy-rows N]
import EmbeddedPostgres
import Foundation
import Logging
import PostgresClient

struct Options {
    var autocommitRows = 5_000
    var pipelineRows = 200_000
    var copyRows = 1_000_000

    init(_ arguments: [String]) {
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next().flatMap(Int.init) else { fatalError("\(flag) needs a whole number") }
            switch flag {
            case "--autocommit-rows": autocommitRows = value
            case "--pipeline-rows": pipelineRows = value
            case "--copy-rows": copyRows = value
            default: fatalError("unknown flag \(flag)")
            }
        }
    }
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
var logger = Logger(label: "bench")
logger.logLevel = .warning
let directory = "/tmp/datarights-bench-\(getpid())"
// A durable cluster (fsync on, synchronous commit): the numbers are for acknowledged writes.
let cluster = try EmbeddedPostgres(configuration: .init(clusterDirectory: directory + "/postgres"), logger: logger)
try cluster.start()
defer {
    try? cluster.stop()
    try? FileManager.default.removeItem(atPath: directory)
}

let connection = try PostgresConnection(configuration: cluster.connectionConfiguration(), logger: logger)
try connection.executeScript("""
    DROP TABLE IF EXISTS bench_row;
    CREATE TABLE bench_row (id int8 PRIMARY KEY, key text NOT NULL, tokens int8 NOT NULL);
    """)
let version = try connection.query("SHOW server_version")[0].decode(String.self, column: 0)

@MainActor func measure(_ name: String, rows: Int, _ body: () throws -> Void) throws -> (name: String, rows: Int, perSecond: Double) {
    try connection.executeScript("TRUNCATE bench_row")
    let started = ContinuousClock.now
    try body()
    let elapsed = ContinuousClock.now - started
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let stored = try connection.query("SELECT count(*) FROM bench_row")[0].decode(Int.self, column: 0)
    precondition(stored == rows, "\(name): stored \(stored) of \(rows) rows")
    return (name, rows, Double(rows) / seconds)
}

var results: [(name: String, rows: Int, perSecond: Double)] = []
results.append(try measure("autocommit INSERT, one row a statement", rows: options.autocommitRows) {
    for id in 1...options.autocommitRows {
        try connection.execute("INSERT INTO bench_row (id, key, tokens) VALUES (\(Int64(id)), \("usage-\(id)"), \(Int64(id % 4096)))")
    }
})
results.append(try measure("pipelined prepared INSERT, commit every 1,000", rows: options.pipelineRows) {
    try connection.executePipelined(
        "INSERT INTO bench_row (id, key, tokens) VALUES ($1, $2, $3)",
        rows: (1...options.pipelineRows).lazy.map { PostgresBindings(Int64($0), "usage-\($0)", Int64($0 % 4096)) },
        syncEvery: 1_000)
})
results.append(try measure("COPY FROM STDIN (binary), one commit", rows: options.copyRows) {
    try connection.copyFrom(table: "bench_row", columns: ["id", "key", "tokens"]) { writer in
        for id in 1...options.copyRows { try writer.append(Int64(id), "usage-\(id)", Int64(id % 4096)) }
    }
})

let baseline = results[0].perSecond
print("PostgreSQL \(version), durable cluster on a Unix socket, table bench_row(id int8 PK, key text, tokens int8)")
print("method | rows | rows/s | × autocommit")
print("---|---:|---:|---:")
for result in results {
    print("\(result.name) | \(result.rows) | \(Int(result.perSecond)) | \(String(format: "%.1f", result.perSecond / baseline))")
}
