import Foundation
import PostgresClient
import TestSupport
import Testing

/// Binds, errors and transactions against a real server.
@Suite struct StatementTests {
    @Test func injectionAttemptInABindIsStoredAsData() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        let hostile = "'); DROP TABLE x; --"
        let stored = try await pool.withConnection { connection in
            try connection.executeScript("CREATE TABLE x (value text)")
            try connection.execute("INSERT INTO x (value) VALUES (\(hostile))")
            try connection.execute("INSERT INTO x (value) VALUES (\(hostile + "'"))")
            return try connection.query("SELECT value FROM x ORDER BY value").map { try $0.decode(String.self, column: 0) }
        }
        #expect(stored == [hostile, hostile + "'"])
    }

    @Test func interpolationProducesPlaceholdersNotText() {
        let name = "Robert'); DROP TABLE students;--"
        let query: PostgresQuery = "SELECT * FROM \(identifier: "odd\"name") WHERE name = \(name) AND id > \(Int64(3))"
        #expect(query.sql == #"SELECT * FROM "odd""name" WHERE name = $1 AND id > $2"#)
        #expect(query.bindings.count == 2)
        #expect(!query.description.contains("Robert"))
    }

    @Test func errorsCarrySQLStateMessageAndDetail() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        try await pool.withConnection { connection in
            try connection.executeScript("CREATE TABLE party (code text PRIMARY KEY)")
            try connection.execute("INSERT INTO party VALUES (\("91350100M000100Y43"))")
        }
        let duplicate = await #expect(throws: PostgresError.self) {
            try await pool.execute("INSERT INTO party VALUES (\("91350100M000100Y43"))")
        }
        #expect(duplicate?.sqlState == "23505")
        #expect(duplicate?.isUniqueViolation == true)
        #expect(duplicate?.constraint == "party_pkey")
        #expect(duplicate?.detail?.contains("91350100M000100Y43") == true)

        let syntax = await #expect(throws: PostgresError.self) { try await pool.execute("SELEC 1") }
        #expect(syntax?.sqlState == "42601")
        let missing = await #expect(throws: PostgresError.self) { try await pool.execute("SELECT * FROM nowhere") }
        #expect(missing?.sqlState == "42P01")
        #expect(missing?.message.contains("nowhere") == true)
        // The connection that saw errors is still good for the next statement.
        #expect(try await pool.query("SELECT 1") { try $0.decode(Int.self, column: 0) } == [1])
    }

    @Test func aThrowingTransactionLeavesNothingBehind() async throws {
        struct Abort: Error {}
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        try await pool.execute("CREATE TABLE ledger (amount int8)")
        await #expect(throws: Abort.self) {
            try await pool.withTransaction { connection in
                for amount in 1...10 { try connection.execute("INSERT INTO ledger VALUES (\(amount))") }
                throw Abort()
            }
        }
        #expect(try await pool.query("SELECT count(*) FROM ledger") { try $0.decode(Int.self, column: 0) } == [0])

        // A body that swallows a failed statement must not be reported as committed.
        let swallowed = await #expect(throws: PostgresError.self) {
            try await pool.withTransaction { connection in
                try connection.execute("INSERT INTO ledger VALUES (1)")
                _ = try? connection.execute("INSERT INTO ledger VALUES (1 / 0)")
            }
        }
        #expect(swallowed?.message.contains("rolled back") == true)
        #expect(try await pool.query("SELECT count(*) FROM ledger") { try $0.decode(Int.self, column: 0) } == [0])

        try await pool.withTransaction { connection in try connection.execute("INSERT INTO ledger VALUES (5)") }
        #expect(try await pool.query("SELECT sum(amount)::int8 FROM ledger") { try $0.decode(Int.self, column: 0) } == [5])
    }

    @Test func serializationFailuresAreRetriedOnlyWhenAskedTo() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        try await pool.execute("CREATE TABLE attempts (n int8)")
        // The server raises a real 40001 on the first attempt only (the attempts table is outside the
        // transaction's effects because it is rolled back; count attempts in a sequence instead).
        try await pool.execute("CREATE SEQUENCE attempt_counter")
        let conflictOnFirstAttempt: PostgresQuery = """
            DO $$ BEGIN
              IF nextval('attempt_counter') = 1 THEN RAISE EXCEPTION 'simulated conflict' USING ERRCODE = '40001'; END IF;
            END $$
            """
        try await pool.withTransaction(isolation: .serializable, retry: .onConflict(maxAttempts: 3)) { connection in
            try connection.execute(conflictOnFirstAttempt)
            try connection.execute("INSERT INTO attempts VALUES (1)")
        }
        #expect(try await pool.query("SELECT count(*) FROM attempts") { try $0.decode(Int.self, column: 0) } == [1])
        #expect(try await pool.query("SELECT last_value FROM attempt_counter") { try $0.decode(Int.self, column: 0) } == [2])

        try await pool.execute("SELECT setval('attempt_counter', 1, false)")
        let error = await #expect(throws: PostgresError.self) {
            try await pool.withTransaction(isolation: .serializable) { connection in try connection.execute(conflictOnFirstAttempt) }
        }
        #expect(error?.isRetryableTransactionConflict == true)
    }
}
