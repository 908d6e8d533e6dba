import Logging
import PostgresClient
import RegistryCore
import Synchronization

/// Many replicas, one log (issue 18).
///
/// Every change the registry makes is an entry of the audit chain, committed in PostgreSQL in the same
/// transaction as its records; the chain's sequence is the one order of every write of every replica.
/// A replica keeps its core equal to PostgreSQL by applying the entries beyond its head, in order
/// (``catchUp()``): a command's entries carry whole records, a usage batch's carries a digest and its
/// row keeps the batch's effects. Applying an entry yields the entry again — its hash covers the previous
/// hash, so an entry applied twice, skipped or different yields another hash — and any difference
/// rebuilds the core from the tables rather than go on from a state PostgreSQL does not hold.
///
/// Writes take turns (``withTurn(_:)``): a replica takes a PostgreSQL advisory lock, catches up, then
/// plans on a core that equals PostgreSQL, persists and applies as a single writer would. The lock only
/// saves wasted work; what makes two replicas unable to both accept conflicting writes is the chain:
/// every write inserts the entry after the head it planned on, and `audit_event`'s primary key on the
/// sequence and unique previous hash let only one write follow a given entry. A write planned on a head
/// that moved fails at that insert, changes nothing, and is planned again after a catch-up.
extension RegistryService {
    /// Key of the turn lock ("DRWRITER" in ASCII, the key the single writer's lease used).
    static let turnKey: Int64 = 0x4452_5752_4954_4552

    /// The channel schema 0013's trigger notifies when the chain grows.
    static let logChannel = "datarights_log"

    /// How long a replica waits for a notification before it looks anyway.
    static let followPollInterval = Duration.milliseconds(Limits.followPollMilliseconds)

    /// Runs `body` as the cluster's one writer: under the process's writer lock, holding the turn lock in
    /// PostgreSQL, with the core caught up to PostgreSQL's chain.
    func withTurn<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await writer.withLock {
            try await takeTurn()
            do {
                try await catchUpLocked()
            } catch {
                await endTurn()
                throw error
            }
            do {
                let result = try await body()
                await endTurn()
                return result
            } catch {
                await endTurn()
                throw error
            }
        }
    }

    private func takeTurn() async throws {
        // Waits while another replica writes; a replica that stopped answering lets go when its session
        // ends. lock_timeout bounds the wait (a 503 for this write, not a hang).
        _ = try await lease.query(
            "SELECT set_config('lock_timeout', \(Limits.turnWaitMilliseconds.description + "ms"), false), pg_advisory_lock(\(Self.turnKey))"
        ) { _ in 0 }
    }

    private func endTurn() async {
        // False (with a warning) when the session ended meanwhile, and the lock with it.
        _ = try? await lease.query("SELECT pg_advisory_unlock(\(Self.turnKey))") { _ in 0 }
    }

    /// Applies every entry PostgreSQL holds beyond the core's head (under the writer lock).
    func catchUp() async throws {
        try await writer.withLock { try await catchUpLocked() }
    }

    /// ``catchUp()`` for a caller that holds the writer lock. A core further behind than
    /// ``Limits/maxFollowEntries`` entries, or one an entry does not reproduce, is rebuilt from the tables.
    func catchUpLocked() async throws {
        // A lost COMMIT being resolved explains a difference by itself, and applies it when known.
        guard database.fence.reason == nil else { return }
        var applied = 0
        while true {
            let head = registry.read { $0.auditHead.lastSequence }
            let page = try await database.pool.withConnection { connection in
                try Self.logPage(on: connection, after: head, limit: Limits.followPageEntries)
            }
            guard !page.isEmpty else { return }
            applied += page.count
            if applied > Limits.maxFollowEntries {
                try await rebuild(reason: "more than \(Limits.maxFollowEntries) entries behind the chain")
                return
            }
            if let sequence = registry.follow(page) {
                try await rebuild(reason: "the entry at sequence \(sequence) did not reproduce from its record")
                return
            }
            guard page.count == Limits.followPageEntries else { return }
        }
    }

    private func rebuild(reason: String) async throws {
        logger.warning("Rebuilding the core from PostgreSQL", metadata: ["reason": "\(reason)"])
        database.fence.engage("rebuilding the core from PostgreSQL: \(reason)")
        defer { database.fence.lift() }
        registry.replace(with: try await RegistryLoader.load(from: database))
    }

    /// Entries after `after` in sequence order, each usage batch's with its stored effects.
    static func logPage(on connection: PostgresConnection, after: Int64, limit: Int) throws -> [FollowedEntry] {
        let rows = try connection.query("""
            SELECT e.seq, e.at, e.actor, e.kind, e.payload, e.prev_hash, e.hash, b.effects
            FROM audit_event e LEFT JOIN usage_batch b ON b.audit_seq = e.seq
            WHERE e.seq > \(after) ORDER BY e.seq LIMIT \(Int64(limit))
            """)
        return try (0..<rows.count).map { index in
            let row = rows[index]
            return FollowedEntry(
                entry: AuditEntry(
                    sequence: try row.decode(Int64.self, column: 0), at: try RegistryLoader.timestamp(row, 1),
                    actor: try row.decode(String.self, column: 2), kind: try row.decode(String.self, column: 3),
                    payload: try row.decode(String.self, column: 4), previousHash: try row.decode([UInt8].self, column: 5),
                    hash: try row.decode([UInt8].self, column: 6)),
                usageEffects: try row.decode([UInt8]?.self, column: 7))
        }
    }

    /// Follows the log until cancelled (``close()``): catches up on each notification on ``logChannel``,
    /// and every ``followPollInterval`` without one.
    ///
    /// The listening connection is held for as long as it lives, by one closure on the follower pool's
    /// thread: handed back between rounds, the pool's idle check would consume (and drop) a notification
    /// that arrived meanwhile. The closure only wakes the catching up, which runs here; wakes coalesce.
    /// A connection that breaks is replaced and listens again — and the first look after LISTEN finds
    /// whatever was committed while nobody listened.
    func follow() async {
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let stop = Mutex(false)
        let follower = self.follower
        let logger = self.logger
        let listener = Task.detached {
            let failing = Mutex(false)
            while !stop.withLock({ $0 }) {
                do {
                    try await follower.withConnection { connection in
                        try connection.listen(Self.logChannel)
                        if failing.withLock({ was in defer { was = false }; return was }) { logger.notice("Listening to the log again") }
                        wake.yield()
                        while !stop.withLock({ $0 }) {
                            _ = try connection.waitForNotifications(timeout: Self.followPollInterval)
                            wake.yield()
                        }
                    }
                } catch {
                    if !failing.withLock({ was in defer { was = true }; return was }) {
                        logger.error("Could not listen to the log; retrying", metadata: ["error": "\(error)"])
                    }
                    try? await Task.sleep(for: Self.followPollInterval)
                }
            }
            wake.finish()
        }
        await withTaskCancellationHandler {
            var failing = false
            for await _ in wakes {
                do {
                    try await catchUp()
                    if failing { logger.notice("Following the log again") }
                    failing = false
                } catch {
                    if !failing { logger.error("Could not follow the log; retrying", metadata: ["error": "\(error)"]) }
                    failing = true
                }
            }
        } onCancel: {
            stop.withLock { $0 = true }
        }
        stop.withLock { $0 = true }
        await listener.value
    }
}

