@testable import PostgresClient
import Testing

/// The pool's decisions, without threads or a database.
@Suite struct PoolStateMachineTests {
    @Test func requestsRunOnIdleWorkersThenWaitThenFail() {
        var machine = PoolStateMachine<Int>(workerCount: 2, maxWaiters: 1)
        #expect(machine.submit(1) == .run(worker: 0))
        #expect(machine.submit(2) == .run(worker: 1))
        #expect(machine.submit(3) == .wait)
        #expect(machine.submit(4) == .fail(.tooManyWaiters(limit: 1)))
        // Worker 1 finishes and takes the waiting request; then worker 0 finishes and goes idle.
        #expect(machine.workerFinished(1) == .run(3))
        #expect(machine.workerFinished(0) == .idle)
        #expect(machine.submit(5) == .run(worker: 0))
    }

    @Test func abandonedRequestsLeaveTheQueueOnce() {
        var machine = PoolStateMachine<Int>(workerCount: 1, maxWaiters: 4)
        #expect(machine.submit(1) == .run(worker: 0))
        #expect(machine.submit(2) == .wait)
        #expect(machine.submit(3) == .wait)
        let first = machine.abandon(2)
        let second = machine.abandon(2)
        #expect(first)
        #expect(!second, "a request is failed at most once")
        #expect(machine.workerFinished(0) == .run(3))
        let running = machine.abandon(3)
        #expect(!running, "a running request cannot be abandoned")
    }

    @Test func shutdownFailsWaitersAndStopsWorkers() {
        var machine = PoolStateMachine<Int>(workerCount: 2, maxWaiters: 4)
        #expect(machine.submit(1) == .run(worker: 0))
        #expect(machine.submit(2) == .run(worker: 1))
        #expect(machine.submit(3) == .wait)
        let (waiting, idle) = machine.shutDown()
        #expect(waiting == [3])
        #expect(idle.isEmpty)
        #expect(machine.submit(4) == .fail(.shutDown))
        #expect(machine.workerFinished(0) == .exit)
        #expect(machine.workerFinished(1) == .exit)
    }
}
