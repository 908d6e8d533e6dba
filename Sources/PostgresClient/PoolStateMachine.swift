import DequeModule

/// The decisions of ``PostgresPool``, as a value type: which worker runs which request, who waits, who
/// is refused. It performs no I/O and holds no locks; the pool calls it under its lock and carries out
/// the action it returns. Tested without a database.
///
/// Each worker is one thread owning one connection, so "a free connection" and "an idle worker" are the
/// same thing.
struct PoolStateMachine<RequestID: Hashable>: Sendable where RequestID: Sendable {
    enum SubmitAction: Equatable {
        /// Run the request now on this idle worker.
        case run(worker: Int)
        /// Every worker is busy; the request waits in line (start its acquire timer).
        case wait
        /// Refuse at once.
        case fail(PostgresPoolError)
    }

    enum WorkerFinishedAction: Equatable {
        /// Run this waiting request next on the same worker.
        case run(RequestID)
        /// Nothing waits; the worker goes idle.
        case idle
        /// The pool is shutting down; the worker should close its connection and exit.
        case exit
    }

    let maxWaiters: Int
    private(set) var idleWorkers: [Int]
    private(set) var waiting: Deque<RequestID> = []
    private(set) var isShutDown = false

    init(workerCount: Int, maxWaiters: Int) {
        precondition(workerCount > 0, "a pool needs at least one connection")
        precondition(maxWaiters >= 0, "maxWaiters cannot be negative")
        self.maxWaiters = maxWaiters
        // Reversed so that worker 0 is used first and idle connections beyond the load stay unopened.
        self.idleWorkers = Array((0..<workerCount).reversed())
    }

    mutating func submit(_ request: RequestID) -> SubmitAction {
        if isShutDown { return .fail(.shutDown) }
        if let worker = idleWorkers.popLast() { return .run(worker: worker) }
        guard waiting.count < maxWaiters else { return .fail(.tooManyWaiters(limit: maxWaiters)) }
        waiting.append(request)
        return .wait
    }

    mutating func workerFinished(_ worker: Int) -> WorkerFinishedAction {
        if let next = waiting.popFirst() { return .run(next) }
        if isShutDown { return .exit }
        idleWorkers.append(worker)
        return .idle
    }

    /// The request's acquire timeout fired, or its task was cancelled. Returns true when it was still
    /// waiting (the caller fails it); false when it had already started, so it runs to completion.
    mutating func abandon(_ request: RequestID) -> Bool {
        guard let index = waiting.firstIndex(of: request) else { return false }
        waiting.remove(at: index)
        return true
    }

    /// Stops accepting requests. Returns the requests still waiting (to fail) and the idle workers (to
    /// wake so they exit); busy workers exit when they finish.
    mutating func shutDown() -> (waiting: [RequestID], idleWorkers: [Int]) {
        isShutDown = true
        let waitingRequests = Array(waiting)
        waiting.removeAll()
        let idle = idleWorkers
        idleWorkers.removeAll()
        return (waitingRequests, idle)
    }
}
