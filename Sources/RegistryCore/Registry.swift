import Synchronization

/// The in-memory core as a shared object: one writer at a time, many readers.
///
/// Readers take a read lock for the duration of a query; the writer takes the write lock only to apply
/// changes that PostgreSQL has already made durable (microseconds). Planning happens under the read
/// lock — it is the store's single writer task that guarantees no other change lands between a plan
/// and its apply.
public final class Registry: @unchecked Sendable {
    // @unchecked: the state is only touched under `lock`, a pthread read-write lock.
    //
    // A reader borrows the state under the read lock. Were it copied, the copy would cost one retain per
    // domain (``CopyOnWrite``), but it must not outlive the lock: the writer's next change would then find
    // a domain shared and copy it.
    private var state: RegistryState
    private let lock = ReadWriteLock()

    public init(state: RegistryState = RegistryState()) {
        self.state = state
    }

    /// Runs `body` with the current state under the read lock. Keep it short: it holds up the writer.
    public func read<T>(_ body: (borrowing RegistryState) throws -> T) rethrows -> T {
        lock.lockRead()
        defer { lock.unlock() }
        return try body(state)
    }

    /// The whole state as it is now, for work too long to hold the read lock through (the digest). It
    /// costs a retain per domain; while it lives, the writer's first change to a domain copies that
    /// domain's tables once, so take it for rare work only.
    public func snapshot() -> RegistryState {
        lock.lockRead()
        defer { lock.unlock() }
        return state
    }

    /// Applies durable changes and returns their audit entries. Only the store's writer calls this.
    public func apply(_ entries: [ChangeEntry], actor: String, at: Timestamp) -> [AuditEntry] {
        lock.lockWrite()
        defer { lock.unlock() }
        return state.apply(entries, actor: actor, at: at)
    }

    /// Applies a committed usage batch and returns its audit entry. Only the store's writer calls this.
    public func applyUsage(_ batch: UsageBatch, actor: String) -> AuditEntry {
        lock.lockWrite()
        defer { lock.unlock() }
        return state.applyUsage(batch, actor: actor)
    }

    /// Applies entries other replicas committed, in order (``RegistryState/follow(_:)``); returns the
    /// sequence of the first that did not reproduce (the state must then be rebuilt), nil when all did.
    /// Only the store's writer calls this.
    public func follow(_ entries: [FollowedEntry]) -> Int64? {
        lock.lockWrite()
        defer { lock.unlock() }
        for followed in entries where !state.follow(followed) { return followed.entry.sequence }
        return nil
    }

    /// Remembers answers PostgreSQL holds for keys the core had forgotten (R26), so that a plan treats
    /// them as replays. Only the store's writer calls this.
    public func rememberUsageAnswers(_ answers: [(party: PartyID, key: String, answer: UsageAnswer)]) {
        lock.lockWrite()
        defer { lock.unlock() }
        state.restoreUsage { meter in
            for (party, key, answer) in answers { meter.remember(party: party, key: key, answer: answer) }
        }
    }

    /// Replaces the whole state (after a rebuild from the database).
    public func replace(with newState: RegistryState) {
        lock.lockWrite()
        defer { lock.unlock() }
        state = newState
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pthread read-write lock.
final class ReadWriteLock: @unchecked Sendable {
    private let handle: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        handle = .allocate(capacity: 1)
        handle.initialize(to: pthread_rwlock_t())
        precondition(pthread_rwlock_init(handle, nil) == 0, "pthread_rwlock_init failed")
    }

    deinit {
        pthread_rwlock_destroy(handle)
        handle.deallocate()
    }

    func lockRead() { precondition(pthread_rwlock_rdlock(handle) == 0) }
    func lockWrite() { precondition(pthread_rwlock_wrlock(handle) == 0) }
    func unlock() { precondition(pthread_rwlock_unlock(handle) == 0) }
}
