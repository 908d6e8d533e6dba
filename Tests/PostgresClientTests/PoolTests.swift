import EmbeddedPostgres
import Foundation
import Logging
import PostgresClient
import TestSupport
import Synchronization
import Testing

/// The pool's limits hold under load against a real server, and broken connections are replaced.
@Suite struct PoolTests {
    @Test func sixtyFourTasksShareFourConnectionsWithoutDeadlock() async throws {
        let pool = try await TestCluster.makePool(maxConnections: 4, maxWaiters: 64)
        defer { Task { await pool.shutdown() } }
        try await pool.execute("CREATE TABLE hits (task int8, backend int4)")
        #expect(PostgresPool.currentWorker == nil, "the test itself runs on the cooperative pool")
        let workers = try await withThrowingTaskGroup(of: Int?.self) { group in
            for task in 0..<64 {
                group.addTask {
                    try await pool.withTransaction { connection in
                        try connection.execute("SELECT pg_sleep(0.01)")
                        try connection.execute("INSERT INTO hits VALUES (\(Int64(task)), pg_backend_pid())")
                        return PostgresPool.currentWorker
                    }
                }
            }
            return try await group.reduce(into: [Int?]()) { $0.append($1) }
        }
        #expect(workers.count == 64)
        // Every closure ran on one of the pool's four threads, never on the caller's.
        #expect(Set(workers).isSubset(of: [0, 1, 2, 3]), "\(Set(workers))")
        let (rows, backends) = try await pool.query("SELECT count(*), count(DISTINCT backend) FROM hits") { row in
            (try row.decode(Int.self, column: 0), try row.decode(Int.self, column: 1))
        }[0]
        #expect(rows == 64)
        #expect(backends <= 4)
    }

    @Test func requestsBeyondTheWaiterLimitFailFast() async throws {
        let pool = try await TestCluster.makePool(maxConnections: 1, maxWaiters: 2)
        defer { Task { await pool.shutdown() } }
        // The only connection is held until the test lets go: however loaded the machine, the two waiters
        // queue behind it (a fixed pg_sleep could end first under a full test run's load).
        let release = Atomic<Bool>(false)
        let holder = Task {
            try await pool.withConnection { _ in
                while !release.load(ordering: .acquiring) { usleep(1_000) }
            }
        }
        try await Self.waitUntil(pool) { $0.idle == 0 }  // the only connection is now busy
        let waiters = (0..<2).map { _ in Task { try await pool.query("SELECT 1") { try $0.decode(Int.self, column: 0) } } }
        try await Self.waitUntil(pool) { $0.waiting == 2 }  // both are queued
        let started = ContinuousClock.now
        let refused = await #expect(throws: PostgresPoolError.self) {
            try await pool.execute("SELECT 1")
        }
        #expect(refused == .tooManyWaiters(limit: 2))
        #expect(ContinuousClock.now - started < .milliseconds(200), "refusal must not wait for a connection")
        #expect(refused.map { String(describing: $0).contains("2 requests already waiting") } == true)
        release.store(true, ordering: .releasing)
        _ = try await holder.value
        for waiter in waiters { #expect(try await waiter.value == [1]) }
    }

    @Test func aQueuedRequestTimesOut() async throws {
        let pool = try await TestCluster.makePool(maxConnections: 1, acquireTimeout: .milliseconds(200))
        defer { Task { await pool.shutdown() } }
        let holder = Task { try await pool.execute("SELECT pg_sleep(1)") }
        try await Self.waitUntil(pool) { $0.idle == 0 }
        let error = await #expect(throws: PostgresPoolError.self) { try await pool.execute("SELECT 1") }
        #expect(error == .acquireTimeout(.milliseconds(200)))
        _ = try await holder.value
        #expect(try await pool.query("SELECT 1") { try $0.decode(Int.self, column: 0) } == [1])
    }

    /// Polls the pool's counts instead of sleeping a guessed time, so a slow machine cannot break the test.
    static func waitUntil(_ pool: PostgresPool, _ condition: (PostgresPool.Statistics) -> Bool) async throws {
        for _ in 0..<1_000 {
            if condition(pool.statistics) { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        Issue.record("pool never reached the expected state: \(pool.statistics)")
    }

    @Test func aTerminatedBackendIsReplacedTransparently() async throws {
        let configuration = try await TestCluster.makeDatabase()
        let logger = Logger(label: "test.pool")
        let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 1), logger: logger)
        let admin = PostgresPool(configuration: .init(connection: configuration, maxConnections: 1), logger: logger)
        defer { Task { await pool.shutdown(); await admin.shutdown() } }

        let before = try await pool.query("SELECT pg_backend_pid()") { try $0.decode(Int32.self, column: 0) }[0]
        // pg_terminate_backend with a timeout waits until the backend has exited.
        let terminated = try await admin.query("SELECT pg_terminate_backend(\(before), 5000)") { try $0.decode(Bool.self, column: 0) }
        #expect(terminated == [true])
        let after = try await pool.query("SELECT pg_backend_pid()") { try $0.decode(Int32.self, column: 0) }[0]
        #expect(after != before)
    }

    @Test func connectionsSurviveAServerRestart() async throws {
        let cluster = try await TestCluster.makePrivateCluster(name: "restart")
        defer { try? cluster.stop(mode: .immediate) }
        let pool = PostgresPool(
            configuration: .init(connection: cluster.connectionConfiguration(), maxConnections: 2), logger: Logger(label: "test.pool"))
        defer { Task { await pool.shutdown() } }
        let before = try await pool.query("SELECT pg_backend_pid()") { try $0.decode(Int32.self, column: 0) }[0]
        try await cluster.stopAsync()
        try await cluster.startAsync()
        let after = try await pool.query("SELECT pg_backend_pid()") { try $0.decode(Int32.self, column: 0) }[0]
        #expect(after != before)
    }

    @Test func shutdownFailsNewRequests() async throws {
        let pool = try await TestCluster.makePool(maxConnections: 2)
        #expect(try await pool.query("SELECT 1") { try $0.decode(Int.self, column: 0) } == [1])
        await pool.shutdown()
        let error = await #expect(throws: PostgresPoolError.self) { try await pool.execute("SELECT 1") }
        #expect(error == .shutDown)
    }
}
