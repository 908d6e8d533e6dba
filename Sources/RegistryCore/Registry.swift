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
    // It lives behind a pointer rather than in a stored property: a reader then borrows it in place.
    // Passing a class's stored property to the reader's closure copied the whole value — a retain and a
    // release of each of its several dozen tables — on every read, which on the decision path (two reads
    // a request) was the largest single cost after the HTTP machinery.
    private let state: UnsafeMutablePointer<RegistryState>
    private let lock = ReadWriteLock()

    public init(state: RegistryState = RegistryState()) {
        self.state = .allocate(capacity: 1)
        self.state.initialize(to: state)
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// Runs `body` with the current state under the read lock. Keep it short: it holds up the writer.
    public func read<T>(_ body: (borrowing RegistryState) throws -> T) rethrows -> T {
        lock.lockRead()
        defer { lock.unlock() }
        return try Self.lend(&state.pointee, to: body)
    }

    /// Calls `body` with `value` borrowed in place: the exclusive access proves nothing changes it during
    /// the call, so the compiler passes it without a copy (loading it from the pointer to pass it did
    /// copy). Readers never write through it; the read lock keeps the writer out.
    private static func lend<T>(_ value: inout RegistryState, to body: (borrowing RegistryState) throws -> T) rethrows -> T {
        try body(value)
    }

    /// Applies durable changes and returns their audit entries. Only the store's writer calls this.
    public func apply(_ entries: [ChangeEntry], actor: String, at: Timestamp) -> [AuditEntry] {
        lock.lockWrite()
        defer { lock.unlock() }
        return state.pointee.apply(entries, actor: actor, at: at)
    }

    /// Applies a committed usage batch and returns its audit entry. Only the store's writer calls this.
    public func applyUsage(_ batch: UsageBatch, actor: String) -> AuditEntry {
        lock.lockWrite()
        defer { lock.unlock() }
        return state.pointee.applyUsage(batch, actor: actor)
    }

    /// Remembers answers PostgreSQL holds for keys the core had forgotten (R26), so that a plan treats
    /// them as replays. Only the store's writer calls this.
    public func rememberUsageAnswers(_ answers: [(party: PartyID, key: String, answer: UsageAnswer)]) {
        lock.lockWrite()
        defer { lock.unlock() }
        state.pointee.restoreUsage { meter in
            for (party, key, answer) in answers { meter.remember(party: party, key: key, answer: answer) }
        }
    }

    /// Replaces the whole state (after a rebuild from the database).
    public func replace(with newState: RegistryState) {
        lock.lockWrite()
        defer { lock.unlock() }
        state.pointee = newState
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
