import Dispatch
import Synchronization

/// The outcome of one usage group, for the next group's transaction to wait on before it takes the turn:
/// opened once the group is applied to the core, or has failed. Opened exactly once; waited on from pool
/// threads only.
final class CommitGate: Sendable {
    private let opened = DispatchSemaphore(value: 0)
    private let outcome = Mutex<Result<Void, any Error>?>(nil)

    func open(_ error: (any Error)?) {
        outcome.withLock { $0 = error.map { .failure($0) } ?? .success(()) }
        opened.signal()
    }

    /// Blocks until opened; throws ``UsagePipelineError/previousGroupFailed`` if that transaction failed.
    /// One waiter.
    func wait() throws {
        opened.wait()
        opened.signal()  // stays open for anyone else
        if case .failure = outcome.withLock({ $0 }) { throw UsagePipelineError.previousGroupFailed }
    }
}
