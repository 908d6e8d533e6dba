import DequeModule
import RegistryCore
import Synchronization

/// Requests waiting for the next group commit.
final class UsageQueue: Sendable {
    struct Pending: Sendable {
        var submission: UsageSubmission
        var continuation: CheckedContinuation<[UsageReply], any Error>
    }

    private struct State {
        var pending = Deque<Pending>()
        var draining = false
    }

    private let state = Mutex(State())

    /// Queues a request; true when the caller must start draining (no drain is running).
    func enqueue(_ submission: UsageSubmission, _ continuation: CheckedContinuation<[UsageReply], any Error>) -> Bool {
        state.withLock { state in
            state.pending.append(Pending(submission: submission, continuation: continuation))
            if state.draining { return false }
            state.draining = true
            return true
        }
    }

    /// True while a drain runs: requests are queued or a group is being committed.
    var isDraining: Bool {
        state.withLock { $0.draining }
    }

    /// The next group: whole requests in arrival order, up to the commit's event limit (always at least
    /// one). Nil, and draining stops, when none is waiting.
    func nextGroup() -> [Pending]? {
        state.withLock { state in
            guard !state.pending.isEmpty else {
                state.draining = false
                return nil
            }
            var group: [Pending] = []
            var events = 0
            while let first = state.pending.first, group.isEmpty || events + first.submission.events.count <= Limits.maxUsageEventsPerCommit {
                events += first.submission.events.count
                group.append(state.pending.removeFirst())
            }
            return group
        }
    }
}
