import Logging
import PostgresClient
import TestSupport
import Testing

/// COPY and pipeline mode move many rows in few round trips, and stay correct doing it.
@Suite struct BulkTests {
    @Test func copyLoadsAMillionRows() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        let rowCount = 1_000_000
        let (copied, count, sum, nulls) = try await pool.withConnection { connection in
            try connection.executeScript("CREATE TABLE usage_event (id int8 PRIMARY KEY, key text NOT NULL, tokens int8)")
            let copied = try connection.copyFrom(table: "usage_event", columns: ["id", "key", "tokens"]) { writer in
                for id in 1...rowCount {
                    try writer.append(Int64(id), "key-\(id)", id % 10 == 0 ? nil : Int64(id % 1000))
                }
            }
            let stats = try connection.query("SELECT count(*), sum(tokens), count(*) FILTER (WHERE tokens IS NULL) FROM usage_event")[0]
            return (copied, try stats.decode(Int.self, column: 0), try stats.decode(PostgresNumeric.self, column: 1), try stats.decode(Int.self, column: 2))
        }
        let expectedSum = (1...rowCount).reduce(0) { $1 % 10 == 0 ? $0 : $0 + $1 % 1000 }
        #expect(copied == rowCount)
        #expect(count == rowCount)
        #expect(sum.description == String(expectedSum))
        #expect(nulls == rowCount / 10)
    }

    @Test func aFailingCopyLeavesNoRows() async throws {
        struct SourceBroke: Error {}
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        try await pool.execute("CREATE TABLE target (id int8 PRIMARY KEY)")
        await #expect(throws: SourceBroke.self) {
            try await pool.withConnection { connection in
                try connection.copyFrom(table: "target", columns: ["id"]) { writer in
                    for id in 1...100_000 { try writer.append(Int64(id)) }
                    throw SourceBroke()
                }
            }
        }
        // The server refuses a duplicate key inside the COPY: the whole COPY fails with its SQLSTATE.
        let duplicate = await #expect(throws: PostgresError.self) {
            try await pool.withConnection { connection in
                try connection.copyFrom(table: "target", columns: ["id"]) { writer in
                    try writer.append(Int64(1))
                    try writer.append(Int64(1))
                }
            }
        }
        #expect(duplicate?.sqlState == "23505")
        #expect(try await pool.query("SELECT count(*) FROM target") { try $0.decode(Int.self, column: 0) } == [0])
    }

    @Test func copyOutReadsEveryRowAsAQueryWould() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        let rowCount = 200_000
        let (viaCopy, viaQuery, copied) = try await pool.withConnection { connection in
            try connection.executeScript("""
                CREATE TABLE record (id int8 PRIMARY KEY, title text, tags text[] NOT NULL, body jsonb NOT NULL,
                                     at timestamptz NOT NULL, small int4, flag bool NOT NULL, digest bytea);
                INSERT INTO record SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'title ' || g || ' 名' END, ARRAY['a', 'b' || g],
                    jsonb_build_object('n', g), timestamptz '2026-01-01' + g * interval '1 second', NULLIF(g % 5, 0)::int4,
                    g % 2 = 0, CASE WHEN g % 3 = 0 THEN NULL ELSE sha256(g::text::bytea) END
                FROM generate_series(1, \(rowCount)) AS g;
                """)
            let select = "SELECT id, title, tags, body, at, small, flag, digest FROM record ORDER BY id"
            var viaCopy: [CopiedRecord] = []
            let copied = try connection.copyOut(select) { row in
                #expect(row.isNull(column: 1) == (row.bytes(column: 1) == nil))
                viaCopy.append(try CopiedRecord(row))
            }
            let viaQuery = try connection.query(PostgresQuery(unsafeSQL: select)).map { try CopiedRecord($0) }
            return (viaCopy, viaQuery, copied)
        }
        #expect(copied == rowCount)
        #expect(viaCopy.count == rowCount)
        #expect(viaCopy == viaQuery)
        #expect(viaCopy[6].title == nil && viaCopy[4].small == nil && viaCopy[2].digest == nil && viaCopy[0].title == "title 1 名")
    }

    @Test func aFailingCopyOutLeavesTheConnectionReady() async throws {
        struct ReaderBroke: Error {}
        let pool = try await TestCluster.makePool(maxConnections: 1)
        defer { Task { await pool.shutdown() } }
        try await pool.execute("CREATE TABLE source AS SELECT g AS id FROM generate_series(1, 500000) AS g")
        // The body gives up early: the rest of the COPY is cancelled and discarded, not left on the wire.
        let seen = try await pool.withConnection { connection -> Int in
            var seen = 0
            do {
                try connection.copyOut("SELECT id FROM source") { _ in
                    seen += 1
                    if seen == 1_000 { throw ReaderBroke() }
                }
            } catch is ReaderBroke {
                return seen
            }
            return -1
        }
        #expect(seen == 1_000)
        // A column the row does not have, and a statement the server refuses, are errors too.
        await #expect(throws: PostgresError.self) {
            try await pool.withConnection { connection in
                try connection.copyOut("SELECT id FROM source LIMIT 1") { row in _ = try row.decode(Int64.self, column: 1) }
            }
        }
        let refused = await #expect(throws: PostgresError.self) {
            try await pool.withConnection { connection in try connection.copyOut("SELECT id FROM no_such_table") { _ in } }
        }
        #expect(refused?.sqlState == "42P01")
        // The one connection answers the next statement, and an empty COPY is zero rows.
        #expect(try await pool.query("SELECT count(*) FROM source") { try $0.decode(Int.self, column: 0) } == [500_000])
        let empty = try await pool.withConnection { connection in try connection.copyOut("SELECT id FROM source WHERE id < 0") { _ in } }
        #expect(empty == 0)
    }

    @Test func aPipelineRunsAHundredThousandStatements() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        let statements = 100_000
        let (affected, count) = try await pool.withConnection { connection in
            try connection.executeScript("CREATE TABLE grant_use (id int8 PRIMARY KEY, tokens int8 NOT NULL)")
            let affected = try connection.executePipelined(
                "INSERT INTO grant_use (id, tokens) VALUES ($1, $2)",
                rows: (1...statements).lazy.map { PostgresBindings(Int64($0), Int64($0 * 2)) })
            let count = try connection.query("SELECT count(*) FROM grant_use WHERE tokens = id * 2")[0].decode(Int.self, column: 0)
            return (affected, count)
        }
        #expect(affected == statements)
        #expect(count == statements)
    }

    @Test func aFailedPipelineStatementIsReportedAndTheTransactionRollsBack() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        try await pool.execute("CREATE TABLE grant_use (id int8 PRIMARY KEY)")
        let error = await #expect(throws: PostgresError.self) {
            try await pool.withTransaction { connection in
                // Row 5,000 repeats row 1: the pipeline must surface the 23505 and nothing may commit.
                try connection.executePipelined(
                    "INSERT INTO grant_use (id) VALUES ($1)",
                    rows: (1...10_000).lazy.map { PostgresBindings(Int64($0 == 5_000 ? 1 : $0)) }, syncEvery: 500)
            }
        }
        #expect(error?.sqlState == "23505")
        #expect(try await pool.query("SELECT count(*) FROM grant_use") { try $0.decode(Int.self, column: 0) } == [0])
        // The connection left pipeline mode cleanly and keeps working.
        #expect(try await pool.query("SELECT 2") { try $0.decode(Int.self, column: 0) } == [2])
    }

    @Test func differentStatementsInOnePipelineAnswerInOrderAndFailTogether() async throws {
        let pool = try await TestCluster.makePool(maxConnections: 1)
        defer { Task { await pool.shutdown() } }
        try await pool.execute("CREATE TABLE grant_use (id int8 PRIMARY KEY, tokens int8 NOT NULL)")
        let results = try await pool.withTransaction { connection in
            try connection.queryPipelined([
                "INSERT INTO grant_use (id, tokens) SELECT * FROM unnest(\([Int64(1), 2, 3]), \([Int64(10), 20, 30]))",
                "UPDATE grant_use SET tokens = tokens + \(Int64(1)) WHERE id >= \(Int64(2))",
                "SELECT sum(tokens)::int8 FROM grant_use",
            ]).map { ($0.affectedRows, $0.count) }
        }
        #expect(results.map(\.0) == [3, 2, 1])
        #expect(results.map(\.1) == [0, 0, 1])
        // The second statement fails: none of the three remains, the error is the server's, and the
        // connection (the pool's only one) left pipeline mode and answers the next statement.
        let error = await #expect(throws: PostgresError.self) {
            try await pool.withTransaction { connection in
                try connection.queryPipelined([
                    "INSERT INTO grant_use (id, tokens) VALUES (\(Int64(4)), \(Int64(40)))",
                    "INSERT INTO grant_use (id, tokens) VALUES (\(Int64(1)), \(Int64(99)))",
                    "INSERT INTO grant_use (id, tokens) VALUES (\(Int64(5)), \(Int64(50)))",
                ]).count
            }
        }
        #expect(error?.sqlState == "23505")
        let rows = try await pool.query("SELECT count(*)::int8, sum(tokens)::int8 FROM grant_use") { try $0.decode((Int64, Int64).self) }
        #expect(rows.map(\.0) == [3] && rows.map(\.1) == [62])
    }

    @Test func notificationsReachAListener() async throws {
        let configuration = try await TestCluster.makeDatabase()
        let received = try await Task.detached {
            let listener = try PostgresConnection(configuration: configuration, logger: .init(label: "test.listen"))
            let sender = try PostgresConnection(configuration: configuration, logger: .init(label: "test.notify"))
            try listener.listen("grant_events")
            try sender.notify("grant_events", payload: "grant 17 suspended")
            try sender.notify("other_channel", payload: "not for us")
            var notifications: [PostgresNotification] = []
            for _ in 0..<20 where notifications.isEmpty {
                notifications += try listener.waitForNotifications(timeout: .milliseconds(250))
            }
            return (notifications, sender.backendPID)
        }.value
        #expect(received.0.map(\.payload) == ["grant 17 suspended"])
        #expect(received.0.first?.channel == "grant_events")
        #expect(received.0.first?.senderPID == received.1)
    }
}

/// One row of the COPY-out test's table, decoded the same way from a query or a COPY.
private struct CopiedRecord: Equatable {
    var id: Int64, title: String?, tags: [String], body: String, at: Int64, small: Int32?, flag: Bool, digest: [UInt8]?

    init(_ row: some PostgresRowDecoding) throws {
        id = try row.decode(Int64.self, column: 0)
        title = try row.decode(String?.self, column: 1)
        tags = try row.decode([String].self, column: 2)
        body = try row.decode(PostgresJSONB.self, column: 3).text
        at = try row.decode(PostgresTimestamp.self, column: 4).microsecondsSince1970
        small = try row.decode(Int32?.self, column: 5)
        flag = try row.decode(Bool.self, column: 6)
        digest = try row.decode([UInt8]?.self, column: 7)
    }
}
