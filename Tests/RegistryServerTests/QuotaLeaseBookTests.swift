import Logging
import PostgresClient
import RegistryCore
@testable import RegistryStore
import TestSupport
import Testing

/// A replica's book of quota slices (issue 18, schema 0015) and the draws that use leases up: a
/// reservation made for one subject tops up the group's other subjects running low (to one slice, never
/// beyond), and a lease a draw uses up is ended by that draw — no give-back transaction for it.
@Suite struct QuotaLeaseBookTests {
    static let grant = QuotaSubject(scope: .grant, id: 7, day: 0)
    static let dataset = QuotaSubject(scope: .dataset, id: 9, day: 20_000)
    static let limit: Int64 = 1_000_000

    /// A book holding 50 unused tokens of the grant and 900 of the dataset's day (slices of 1,000 each).
    static func book() -> QuotaLeases {
        let book = QuotaLeases()
        book.add([(grant, limit, 1, 0, 1_000), (dataset, limit, 2, 0, 1_000)])
        book.committed([(lease: 1, tokens: 950), (lease: 2, tokens: 100)], batch: 1, lastEvent: 1)
        return book
    }

    /// What the usage pipeline sends with the turn: the draw, checked.
    static func draw(_ draws: [(lease: Int64, tokens: Int64)], on connection: PostgresConnection) throws {
        try QuotaLeaseSQL.checkDrawn(try connection.query(try #require(QuotaLeaseSQL.drawQuery(draws))), draws)
    }

    @Test func R27_aReservationTopsUpTheGroupsOtherSubjectsRunningLowToOneSlice() {
        let slice = Limits.minQuotaSliceTokens  // no rate measured yet: the smallest slice
        // The grant lacks 50; the dataset keeps 800 beyond its 100, more than half a slice: not topped up.
        let some = Self.book().shortfalls([Self.grant: (Self.limit, 100), Self.dataset: (Self.limit, 100)], excluding: [])
        #expect(some.map(\.subject) == [Self.grant])
        #expect(some.first?.need == 50 && some.first?.extra == slice)
        // The dataset would keep 300 beyond a demand of 600: topped up to one slice beyond it (extra 700).
        let both = Self.book().shortfalls([Self.grant: (Self.limit, 100), Self.dataset: (Self.limit, 600)], excluding: [])
        #expect(both.map(\.subject) == [Self.dataset, Self.grant])  // the lock order: by scope, then id
        #expect(both[0].need == 0 && both[0].extra == slice - 300)
        #expect(both[1].need == 50)
        // Nothing short: no reservation, so no top-up either (a group that fits its slices reserves nothing).
        #expect(Self.book().shortfalls([Self.dataset: (Self.limit, 600)], excluding: []).isEmpty)
        // A draw of a batch not committed yet counts against what is held: 900 − 700 leaves 200 beyond 100.
        let pending = Self.book().shortfalls([Self.grant: (Self.limit, 10), Self.dataset: (Self.limit, 100)], excluding: [(lease: 2, tokens: 700), (lease: 1, tokens: 45)])
        #expect(pending.map(\.subject) == [Self.dataset, Self.grant])
        #expect(pending[0].need == 0 && pending[0].extra == slice - 100 && pending[1].need == 5)
    }

    @Test func R27_aLeaseUsedUpIsEndedByItsDrawAndNotGivenBack() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        try await MigrationRunner(migrations: Migration.bundled, logger: Logger(label: "test.quota-lease-book")).migrate(pool)
        // Sorted by subject, as the book asks: the dataset's day, then the grant.
        let requests = [Self.dataset, Self.grant].map { QuotaLeaseSQL.Request(subject: $0, limit: 10_000, need: 100, extra: 0) }
        let leases = try await pool.withTransaction { connection in try QuotaLeaseSQL.reserve(requests, holder: "r1", on: connection) }
        #expect(leases.map(\.subject) == [Self.dataset, Self.grant])
        #expect(leases.map(\.size) == [100, 100])
        let (datasetLease, grantLease) = (leases[0].lease, leases[1].lease)
        try await pool.withTransaction { connection in
            try Self.draw([(lease: grantLease, tokens: 100), (lease: datasetLease, tokens: 60)], on: connection)
        }
        let rows = try await pool.query("SELECT id, used, ended FROM quota_lease ORDER BY id") { try $0.decode((Int64, Int64, Bool).self) }
        #expect(rows.map(\.0) == [datasetLease, grantLease])
        #expect(rows.map(\.1) == [60, 100])
        #expect(rows.map(\.2) == [false, true])  // in use: live; used up: ended
        // The book forgets the used-up lease without queueing it to be given back; the live one stays.
        let book = QuotaLeases()
        book.add(leases.map { ($0.subject, 10_000, $0.lease, $0.position, $0.size) })
        book.committed([(lease: grantLease, tokens: 100), (lease: datasetLease, tokens: 60)], batch: 1, lastEvent: 1)
        #expect(book.takeDropped().isEmpty)
        #expect(book.held.leases == 1 && book.held.tokens == 40)
        // R27 still: a draw beyond the lease, or on the ended one, is refused.
        await #expect(throws: LeaseLost.self) {
            try await pool.withTransaction { connection in try Self.draw([(lease: grantLease, tokens: 1)], on: connection) }
        }
    }
}
