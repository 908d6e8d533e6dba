public import Logging
public import PostgresClient
public import RegistryCore

/// The durable store: the connection pool and the schema it must have.
///
/// Owns the pool; call ``shutdown()`` when done.
public final class RegistryDatabase: Sendable {
    /// Whether the database can serve requests.
    public enum Readiness: Sendable, Equatable {
        /// Reachable, and every migration of this binary applied.
        case ready(appliedMigrations: Int)
        /// Not usable yet; the reason is for operators.
        case notReady(reason: String)
    }

    public let pool: PostgresPool
    public let migrations: MigrationRunner
    /// The deployment's limits (the metering report window is read at each rebuild of the core).
    public let limits: Limits
    /// Engaged while the node's core may differ from PostgreSQL: writes are refused and readiness fails.
    public let fence = WriteFence()
    /// Whether the replica serving from this database keeps up with its log (readiness fails when not).
    public let following = FollowHealth()
    private let shuttingDown = Atomic<Bool>(false)
    private let logger: Logger
    private let readinessTimeout: Duration

    public init(configuration: PostgresConfiguration, limits: Limits, logger: Logger) throws {
        self.pool = PostgresPool(
            configuration: .init(
                connection: configuration, maxConnections: limits.databasePoolConnections,
                maxWaiters: limits.databasePoolWaiters,
                acquireTimeout: .milliseconds(limits.databaseAcquireTimeoutMilliseconds)),
            logger: logger)
        self.migrations = try MigrationRunner(logger: logger)
        self.limits = limits
        self.logger = logger
        self.readinessTimeout = .milliseconds(limits.readinessTimeoutMilliseconds)
    }

    /// Applies pending migrations; see ``MigrationRunner/migrate(_:)``.
    @discardableResult
    public func migrate() async throws -> [Migration] {
        try await migrations.migrate(pool)
    }

    /// Checks that the node is not fenced, and that the database answers within the readiness timeout and
    /// holds every migration.
    public func readiness() async -> Readiness {
        if shuttingDown.load(ordering: .relaxed) { return .notReady(reason: "shutting down") }
        if let reason = fence.reason { return .notReady(reason: reason) }
        if let reason = following.trouble(lastingAtLeast: .seconds(Limits.followTroubleSeconds)) { return .notReady(reason: reason) }
        let migrations = self.migrations
        let pool = self.pool
        let outcome = await Deadline.race(readinessTimeout) {
            try await migrations.status(pool)
        }
        switch outcome {
        case .finished(.success(let status)):
            if status.isCurrent { return .ready(appliedMigrations: status.applied.count) }
            return .notReady(reason: "\(status.pending.count) migration(s) pending: run `datarights migrate` or serve without --no-migrate")
        case .finished(.failure(let error)):
            // The error names the server, database and user: for the log, not for the public answer.
            logger.warning("Readiness: the database is unreachable or unusable", metadata: ["error": "\(error)"])
            return .notReady(reason: "database unreachable or unusable (the server's log says why)")
        case .timedOut:
            return .notReady(reason: "database did not answer within \(readinessTimeout)")
        }
    }

    /// From now on readiness fails ("shutting down"), so that load balancers send no new work while the
    /// server drains.
    public func beginShutdown() {
        shuttingDown.store(true, ordering: .relaxed)
    }

    /// Connection counts of the pool, for metrics.
    public var poolStatistics: (connections: Int, idle: Int, waiting: Int) {
        let statistics = pool.statistics
        return (statistics.connections, statistics.idle, statistics.waiting)
    }

    /// Closes every connection.
    public func shutdown() async {
        await pool.shutdown()
    }
}

/// Waiting for an operation with a deadline, without waiting for the operation to end when the deadline
/// passes first (a blocked database call cannot be interrupted; its answer is simply dropped).
enum Deadline {
    enum Outcome<T: Sendable>: Sendable {
        case finished(Result<T, any Error>)
        case timedOut
    }

    static func race<T: Sendable>(
        _ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T
    ) async -> Outcome<T> {
        let gate = OnceGate<Outcome<T>>()
        return await withCheckedContinuation { continuation in
            gate.install(continuation)
            Task {
                let result: Result<T, any Error>
                do { result = .success(try await operation()) } catch { result = .failure(error) }
                gate.resolve(.finished(result))
            }
            Task {
                try? await Task.sleep(for: timeout)
                gate.resolve(.timedOut)
            }
        }
    }
}

import Synchronization

/// Resumes a continuation with the first value offered; later offers are dropped.
final class OnceGate<Value: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<Value, Never>?, done: Bool)>((nil, false))

    func install(_ continuation: CheckedContinuation<Value, Never>) {
        state.withLock { $0.continuation = continuation }
    }

    func resolve(_ value: Value) {
        let continuation = state.withLock { state -> CheckedContinuation<Value, Never>? in
            guard !state.done else { return nil }
            state.done = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(returning: value)
    }
}
