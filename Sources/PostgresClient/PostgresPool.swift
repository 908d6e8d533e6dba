import Dispatch
import Foundation
public import Logging
import Synchronization


/// A bounded pool of PostgreSQL connections whose libpq calls run on threads the pool owns.
///
/// Each connection lives on its own worker thread for its whole life. ``withConnection(_:)`` suspends
/// the calling task, runs the closure on a free worker (so blocking libpq never touches an event loop
/// or the cooperative pool), and resumes the task with the result.
///
/// Every limit is explicit: `maxConnections` workers, at most `maxWaiters` requests queued behind them
/// (more fail at once with ``PostgresPoolError/tooManyWaiters(limit:)``), and a queued request fails
/// after `acquireTimeout`. A connection found broken (server restart, terminated backend) is closed
/// and replaced by a new one on the next request.
///
/// Call ``shutdown()`` before dropping the pool; its threads keep it alive until then.
public final class PostgresPool: Sendable {
    public struct Configuration: Sendable {
        public var connection: PostgresConfiguration
        /// Worker threads, each owning at most one connection (opened on first use).
        public var maxConnections: Int
        /// Requests allowed to queue while every connection is busy.
        public var maxWaiters: Int
        /// How long a queued request may wait for a connection.
        public var acquireTimeout: Duration

        /// The defaults are RegistryCore's `Limits` defaults (this floor does not import it; the registry
        /// passes its configured limits).
        public init(
            connection: PostgresConfiguration, maxConnections: Int = 8, maxWaiters: Int = 1_024,
            acquireTimeout: Duration = .milliseconds(5_000)
        ) {
            self.connection = connection
            self.maxConnections = maxConnections
            self.maxWaiters = maxWaiters
            self.acquireTimeout = acquireTimeout
        }
    }

    /// Counts for metrics and readiness.
    public struct Statistics: Sendable, Equatable {
        public var connections: Int
        public var idle: Int
        public var waiting: Int
    }

    private final class Job: Sendable {
        let run: @Sendable (PostgresConnection) -> Void
        let fail: @Sendable (any Error) -> Void
        init(run: @escaping @Sendable (PostgresConnection) -> Void, fail: @escaping @Sendable (any Error) -> Void) {
            self.run = run
            self.fail = fail
        }
    }

    private struct State: Sendable {
        var machine: PoolStateMachine<UInt64>
        var waitingJobs: [UInt64: Job] = [:]
        /// The job handed to each worker when it was woken.
        var assigned: [Job?]
        var nextRequestID: UInt64 = 0
        var exitedWorkers = 0
        var shutdownWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Worker threads are named this prefix and their index. Short, because Linux keeps 15 bytes of a
    /// thread name.
    public static let workerThreadNamePrefix = "dr-pg-"

    /// The index of the pool worker running the calling code, or nil on any other thread (an event
    /// loop, the cooperative pool, the main thread). Lets tests and assertions prove that libpq calls
    /// happen only on the pool's own threads.
    public static var currentWorker: Int? {
        get { workerIndex.currentValue }
        set { workerIndex.currentValue = newValue }
    }

    private static let workerIndex = ThreadSpecificValue<Int>()

    public let configuration: Configuration
    private let logger: Logger
    private let state: Mutex<State>
    private let wakeups: [DispatchSemaphore]

    public init(configuration: Configuration, logger: Logger) {
        precondition(configuration.maxConnections > 0, "maxConnections must be positive")
        self.configuration = configuration
        self.logger = logger
        self.state = Mutex(
            State(
                machine: PoolStateMachine(workerCount: configuration.maxConnections, maxWaiters: configuration.maxWaiters),
                assigned: Array(repeating: nil, count: configuration.maxConnections)))
        self.wakeups = (0..<configuration.maxConnections).map { _ in DispatchSemaphore(value: 0) }
        for worker in 0..<configuration.maxConnections {
            let thread = Thread { [self] in self.workerLoop(worker) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    // MARK: Using a connection

    /// Runs `body` with a connection on one of the pool's threads and returns its result.
    ///
    /// Throws ``PostgresPoolError`` when no connection can be had within the limits, a connection error
    /// when connecting fails, `CancellationError` when the task is cancelled while waiting, and whatever
    /// `body` throws.
    public func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try Task.checkCancellation()
        let requestID = state.withLock { state in
            state.nextRequestID &+= 1
            return state.nextRequestID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let job = Job(
                    run: { connection in continuation.resume(with: Result { try body(connection) }) },
                    fail: { error in continuation.resume(throwing: error) })
                submit(job, id: requestID)
            }
        } onCancel: {
            abandon(requestID, error: CancellationError())
        }
    }

    /// Runs `body` in a transaction on a pooled connection; see
    /// ``PostgresConnection/withTransaction(isolation:retry:_:)``.
    @discardableResult
    public func withTransaction<T: Sendable>(
        isolation: PostgresIsolationLevel = .readCommitted,
        retry: PostgresTransactionRetry = .never,
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await withConnection { connection in
            try connection.withTransaction(isolation: isolation, retry: retry, body)
        }
    }

    /// Runs a query and decodes each row.
    public func query<Row: Sendable>(
        _ query: PostgresQuery, decode: @escaping @Sendable (PostgresRow) throws -> Row
    ) async throws -> [Row] {
        try await withConnection { connection in try connection.query(query).map(decode) }
    }

    /// Runs a statement and returns the number of affected rows.
    @discardableResult
    public func execute(_ query: PostgresQuery) async throws -> Int {
        try await withConnection { connection in try connection.execute(query) }
    }

    /// A snapshot of the pool's counts.
    public var statistics: Statistics {
        state.withLock { state in
            Statistics(
                connections: configuration.maxConnections, idle: state.machine.idleWorkers.count,
                waiting: state.machine.waiting.count)
        }
    }

    // MARK: Shutting down

    /// Stops taking requests, fails the ones still waiting, lets running ones finish, closes every
    /// connection and ends the worker threads.
    public func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (failedJobs, idleWorkers, finished) = state.withLock { state in
                let (waiting, idle) = state.machine.shutDown()
                let jobs = waiting.compactMap { state.waitingJobs.removeValue(forKey: $0) }
                let finished = state.exitedWorkers == configuration.maxConnections
                if !finished { state.shutdownWaiters.append(continuation) }
                return (jobs, idle, finished)
            }
            for job in failedJobs { job.fail(PostgresPoolError.shutDown) }
            for worker in idleWorkers { wakeups[worker].signal() }
            if finished { continuation.resume() }
        }
    }

    // MARK: Internals

    private func submit(_ job: Job, id: UInt64) {
        let action = state.withLock { state in
            let action = state.machine.submit(id)
            switch action {
            case .run(let worker): state.assigned[worker] = job
            case .wait: state.waitingJobs[id] = job
            case .fail: break
            }
            return action
        }
        switch action {
        case .run(let worker):
            wakeups[worker].signal()
        case .wait:
            let timeout = configuration.acquireTimeout
            let (seconds, attoseconds) = timeout.components
            let delay = DispatchTimeInterval.nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
            DispatchQueue.global().asyncAfter(deadline: .now() + delay) { [self] in
                abandon(id, error: PostgresPoolError.acquireTimeout(timeout))
            }
        case .fail(let error):
            logger.warning("PostgreSQL pool refused a request", metadata: ["error": "\(error)"])
            job.fail(error)
        }
    }

    private func abandon(_ id: UInt64, error: any Error) {
        let job = state.withLock { state -> Job? in
            guard state.machine.abandon(id) else { return nil }
            return state.waitingJobs.removeValue(forKey: id)
        }
        job?.fail(error)
    }

    private func workerLoop(_ worker: Int) {
        Thread.current.name = Self.workerThreadNamePrefix + String(worker)
        Self.currentWorker = worker
        var connection: PostgresConnection?
        while true {
            wakeups[worker].wait()
            var job = state.withLock { state in
                let job = state.assigned[worker]
                state.assigned[worker] = nil
                return job
            }
            if job == nil {
                // Woken without work: the pool is shutting down.
                exitWorker(closing: &connection)
                return
            }
            while let current = job {
                run(current, on: &connection)
                let next = state.withLock { state -> (Job?, Bool) in
                    switch state.machine.workerFinished(worker) {
                    case .run(let id): return (state.waitingJobs.removeValue(forKey: id), false)
                    case .idle: return (nil, false)
                    case .exit: return (nil, true)
                    }
                }
                if next.1 {
                    exitWorker(closing: &connection)
                    return
                }
                job = next.0
            }
        }
    }

    private func run(_ job: Job, on connection: inout PostgresConnection?) {
        if let existing = connection, !existing.isAliveWhenIdle() {
            logger.info("Replacing a broken PostgreSQL connection", metadata: ["db.backend_pid": "\(existing.backendPID)"])
            connection = nil
        }
        if connection == nil {
            do {
                connection = try PostgresConnection(configuration: configuration.connection, logger: logger)
            } catch {
                job.fail(error)
                return
            }
        }
        guard let live = connection else { return }
        job.run(live)
        if live.isBroken {
            // Discarded now; the next request on this worker connects afresh.
            logger.info("Discarding a PostgreSQL connection that broke", metadata: ["db.backend_pid": "\(live.backendPID)"])
            connection = nil
        } else if !live.isIdle {
            // A closure returned with a transaction still open: never hand that state to the next caller.
            live.rollbackIfOpen()
            if !live.isIdle { connection = nil }
        }
    }

    private func exitWorker(closing connection: inout PostgresConnection?) {
        connection = nil
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.exitedWorkers += 1
            guard state.exitedWorkers == configuration.maxConnections else { return [] }
            defer { state.shutdownWaiters.removeAll() }
            return state.shutdownWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
