import DequeModule
import Synchronization

/// A first-come, first-served lock for async code: the registry's single writer. Unlike an actor it is
/// not reentrant across `await`, so a write's plan, its transaction and its apply run as one step.
final class AsyncSerialLock: Sendable {
    private let state = Mutex<(locked: Bool, waiters: Deque<CheckedContinuation<Void, Never>>)>((false, []))

    func withLock<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { state -> Bool in
                if state.locked {
                    state.waiters.append(continuation)
                    return false
                }
                state.locked = true
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let next = state.waiters.popFirst() { return next }  // stays locked, handed over
            state.locked = false
            return nil
        }
        next?.resume()
    }
}
