import Foundation
import PostgresClient
import TestSupport
import Testing

/// Every supported Swift type goes to a real PostgreSQL as a bind parameter and comes back equal.
@Suite struct TypeRoundTripTests {
    @Test func scalarsRoundTripThroughATable() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        let uuid = UUID()
        // Microsecond precision is what timestamptz keeps; this value has exactly that.
        let instant = Date(timeIntervalSince1970: 1_790_000_000.123456)
        let allBytes = [UInt8](0...255) + [0, 0]
        let unicode = "数据权利 — données ✓ 🚀 \u{0301}e"
        let json = PostgresJSONB(#"{"grade":"important","tokens":[1,2,3],"名":"值"}"#)

        let row = try await pool.withConnection { connection in
            try connection.executeScript("""
                CREATE TABLE sample (
                    big int8, small int2, medium int4, flag bool, ratio float8, label text, note text,
                    raw bytea, id uuid, at timestamptz, doc jsonb, amount numeric, ids int8[], tags text[], maybe text[]
                )
                """)
            try connection.execute("""
                INSERT INTO sample VALUES (
                    \(Int64.min), \(Int16.max), \(Int32.min), \(true), \(-0.25), \(unicode), \(String?.none),
                    \(allBytes), \(uuid), \(instant), \(json), \(PostgresNumeric("-12345678901234567890.000000001")!),
                    \([Int64.max, 0, -1]), \(["a", "b,c", "\"q\""]), \(["x", nil, "z"] as [String?])
                ), (\(Int64.max), NULL, NULL, false, NULL, '', NULL, '', NULL, NULL, NULL, 0, '{}', NULL, NULL)
                """)
            let result = try connection.query("SELECT * FROM sample ORDER BY big")
            #expect(result.count == 2)
            let first = result[0]
            let second = result[1]
            #expect(try first.decode(Int64.self, column: 0) == Int64.min)
            #expect(try second.decode(Int64.self, column: 0) == Int64.max)
            #expect(try first.decode(Int16.self, column: 1) == Int16.max)
            #expect(try second.decode(Int16?.self, column: 1) == nil)
            #expect(try first.decode(Int32.self, column: 2) == Int32.min)
            #expect(try first.decode(Bool.self, column: 3) == true)
            #expect(try first.decode(Double.self, column: 4) == -0.25)
            #expect(try second.decode(String.self, column: 5) == "")
            #expect(try first.decode(String?.self, column: 6) == nil)
            #expect(try first.decode([UInt8].self, column: 7) == allBytes)
            #expect(try second.decode([UInt8].self, column: 7) == [])
            #expect(try first.decode(UUID.self, column: 8) == uuid)
            // jsonb normalizes whitespace and key order, so compare meaning, not text.
            let storedJSON = try first.decode(PostgresJSONB.self, column: 10)
            let parsed = try JSONSerialization.jsonObject(with: Data(storedJSON.utf8)) as? NSDictionary
            #expect(parsed == (try JSONSerialization.jsonObject(with: Data(json.utf8)) as? NSDictionary))
            #expect(parsed?["名"] as? String == "值")
            #expect(try first.decode(PostgresNumeric.self, column: 11).description == "-12345678901234567890.000000001")
            #expect(try second.decode(PostgresNumeric.self, column: 11).description == "0")
            #expect(try first.decode([Int64].self, column: 12) == [Int64.max, 0, -1])
            #expect(try second.decode([Int64].self, column: 12) == [])
            #expect(try first.decode([String].self, column: 13) == ["a", "b,c", "\"q\""])
            #expect(try first.decode([String?].self, column: 14) == ["x", nil, "z"])
            return (try first.decode(String.self, column: 5), try first.decode(Date.self, column: 9))
        }
        #expect(row.0 == unicode)
        #expect(abs(row.1.timeIntervalSince(instant)) < 0.000_001)
    }

    @Test func decodingANullIntoANonOptionalNamesTheColumn() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        let error = await #expect(throws: PostgresError.self) {
            _ = try await pool.query("SELECT NULL::int8 AS missing") { try $0.decode(Int64.self, column: 0) }
        }
        #expect(error?.kind == .decoding)
        #expect(error?.message.contains("missing") == true)
    }

    @Test func numericTextSurvivesTheBinaryFormat() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        let values = ["0", "1", "-1", "0.0001", "10000", "9999.9999", "-0.5", "123456789.123456789", "100000000", "0.10", "NaN"]
        for text in values {
            let numeric = try #require(PostgresNumeric(text))
            // Sent in binary, compared by the server against the same number parsed from text.
            let rows = try await pool.query("SELECT \(numeric), \(numeric) = \(text)::numeric") { row in
                (try row.decode(PostgresNumeric.self, column: 0).description, try row.decode(Bool.self, column: 1))
            }
            #expect(rows.first?.0 == text, "round trip of \(text)")
            #expect(rows.first?.1 == true, "server reads \(text) as the same number")
        }
        let decimal = try await pool.query("SELECT \(Decimal(string: "-42.125")!)") { try $0.decode(Decimal.self, column: 0) }
        #expect(decimal == [Decimal(string: "-42.125")!])
        #expect(PostgresNumeric("12a") == nil)
        #expect(PostgresNumeric("1.2.3") == nil)
    }

    @Test func tupleDecodingReadsColumnsInOrder() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        let rows = try await pool.query("SELECT 7::int8, 'seven', true") { row in
            try row.decode((Int64, String, Bool).self)
        }
        #expect(rows.count == 1)
        #expect(rows[0].0 == 7 && rows[0].1 == "seven" && rows[0].2)
    }
}

@Suite struct EmptyArrayTests {
    @Test func emptyArraysTravelAsEmptyArrays() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        let rows = try await pool.query("SELECT cardinality(\([String]())), \([Int64]())::int8[]") { row in
            (try row.decode(Int.self, column: 0), try row.decode([Int64].self, column: 1))
        }
        #expect(rows.first?.0 == 0)
        #expect(rows.first?.1 == [])
    }
}
