import PostgresClient
import TestSupport
import Testing

@Suite struct SmokeTests {
    @Test func selectOne() async throws {
        let pool = try await TestCluster.makePool()
        let values = try await pool.query("SELECT \(Int64(41)) + 1") { try $0.decode(Int64.self, column: 0) }
        #expect(values == [42])
        await pool.shutdown()
    }
}
