import Logging
import PostgresClient
import RegistryCore
import Synchronization

/// Many replicas, one log (issue 18).
///
/// Every change the registry makes is an entry of the audit chain, committed in PostgreSQL in the same
/// transaction as its records; the chain's sequence is the one order of every write of every replica.
/// A replica keeps its core equal to PostgreSQL by applying the entries beyond its head, in order
/// (``catchUp(through:)``): a command's entries carry whole records, a usage batch's carries a digest and its
/// row keeps the batch's effects. Applying an entry yields the entry again — its hash covers the previous
/// hash, so an entry applied twice, skipped or different yields another hash — and any difference
/// rebuilds the core from the tables rather than go on from a state PostgreSQL does not hold.
///
/// Writes take turns: a replica takes a PostgreSQL advisory lock inside its write's transaction
/// (``takeTurn(in:identity:plannedOn:)``), catches up, and — a command — plans on a core that equals
/// PostgreSQL, persists and applies as a single writer would; a usage batch, whose events and quota
/// draws were written before the turn (schema 0015, quota leases), settles its counters and audit entry
/// on that state. The lock only saves wasted work; what makes two replicas unable to both accept conflicting writes is the chain:
/// every write inserts the entry after the head it planned on, and `audit_event`'s primary key on the
/// sequence and unique previous hash let only one write follow a given entry. A write planned on a head
/// that moved fails at that insert, changes nothing, and is planned again after a catch-up.
/// Whether a replica keeps up with the log, for readiness: a replica that cannot listen or cannot
/// catch up goes on answering reads from a core that falls behind, so after
/// ``Limits/followTroubleSeconds`` of trouble ``RegistryDatabase/readiness()`` fails and the load
/// balancer sends its requests to the others — until it follows again.
public final class FollowHealth: Sendable {
    public enum Part: Sendable, Hashable { case listening, catchingUp }
    private let trouble = Mutex<[Part: (since: ContinuousClock.Instant, reason: String)]>([:])
    private let applied = Atomic<Int64>(0)
    private let rebuilt = Atomic<Int64>(0)
    private let turnsTimedOut = Atomic<Int64>(0)

    private let reservations = Atomic<Int64>(0)
    private let lostLeases = Atomic<Int64>(0)
    private let replans = Atomic<Int64>(0)

    public init() {}

    /// Transactions that reserved quota slices (metrics; schema 0015).
    public var quotaReservations: Int64 { reservations.load(ordering: .relaxed) }
    /// Leases this replica drew on after another replica had reclaimed them (expired; metrics).
    public var quotaLeasesLost: Int64 { lostLeases.load(ordering: .relaxed) }
    /// Usage groups planned again because a rule changed, a lease was lost or settling refused (metrics).
    public var usageReplans: Int64 { replans.load(ordering: .relaxed) }

    func didReserve() { reservations.add(1, ordering: .relaxed) }
    func didLoseLeases(_ count: Int) { lostLeases.add(Int64(count), ordering: .relaxed) }
    func didReplan() { replans.add(1, ordering: .relaxed) }

    /// Entries of other replicas' writes applied from the log since the process started (metrics).
    public var appliedEntries: Int64 { applied.load(ordering: .relaxed) }
    /// Times the core was rebuilt from the tables instead (metrics).
    public var rebuilds: Int64 { rebuilt.load(ordering: .relaxed) }
    /// Writes refused because another replica held the turn too long (metrics).
    public var turnTimeouts: Int64 { turnsTimedOut.load(ordering: .relaxed) }

    func didApply(_ entries: Int) { applied.add(Int64(entries), ordering: .relaxed) }
    func didRebuild() { rebuilt.add(1, ordering: .relaxed) }
    func didTimeOutOnTurn() { turnsTimedOut.add(1, ordering: .relaxed) }

    /// For how long some part has been failing, in seconds; 0 when following.
    public var troubleSeconds: Double {
        let now = ContinuousClock.now
        guard let since = trouble.withLock({ $0.values.map(\.since).min() }) else { return 0 }
        let elapsed = (now - since).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
    }

    /// Records that `part` fails (the first failure's time is kept until it succeeds). `reason` is said
    /// by the public `/readyz`: a fixed phrase — the error itself goes to the log.
    func failing(_ part: Part, _ reason: String) {
        trouble.withLock { trouble in
            trouble[part] = (trouble[part]?.since ?? .now, reason)
        }
    }

    func succeeded(_ part: Part) { _ = trouble.withLock { $0.removeValue(forKey: part) } }

    /// The reason, when some part has failed without a success for at least `duration`.
    public func trouble(lastingAtLeast duration: Duration) -> String? {
        let now = ContinuousClock.now
        return trouble.withLock { trouble in
            trouble.filter { now - $0.value.since >= duration }.sorted { $0.value.since < $1.value.since }.first.map {
                "this replica has not been following the log for \(Int((now - $0.value.since).components.seconds)) s: \($0.value.reason)"
            }
        }
    }
}

/// The core could not follow the chain inside a write's turn: it is rebuilt from the tables before the
/// write is planned again.
struct FollowingFailed: Error {
    var reason: String
}

/// What a command's transaction planned, kept for after its COMMIT (or a COMMIT whose answer was lost).
final class PlannedWrite: Sendable {
    private let planned = Mutex<(entries: [ChangeEntry], audit: [AuditEntry], answer: StoredAnswer?)?>(nil)
    func set(_ value: (entries: [ChangeEntry], audit: [AuditEntry], answer: StoredAnswer?)) { planned.withLock { $0 = value } }
    var value: (entries: [ChangeEntry], audit: [AuditEntry], answer: StoredAnswer?)? { planned.withLock { $0 } }
}

extension RegistryService {
    /// Key of the turn lock ("DRWRITER" in ASCII, the key the single writer's lease used).
    public static let turnKey: Int64 = 0x4452_5752_4954_4552

    /// The channel schema 0013's trigger notifies when the chain grows.
    static let logChannel = "datarights_log"

    /// How long a replica waits for a notification before it looks anyway.
    static let followPollInterval = Duration.milliseconds(Limits.followPollMilliseconds)

    /// Takes the turn inside `connection`'s open transaction and brings the core up to the chain's head
    /// as of then (the caller holds the writer lock): a command's way, one round trip when the core is
    /// current. The turn ends with the transaction. Records the transaction's id in `identity`.
    /// - Parameter plannedOn: for a usage batch planned before the turn, the head it was planned on.
    /// - Returns: true when an entry other than a usage batch was applied (a command: a rule may have changed).
    /// - Throws: ``RegistryServiceError/turnTimedOut`` after ``Limits/turnWaitMilliseconds``;
    ///   ``FollowingFailed`` when the core is to be rebuilt instead.
    @discardableResult
    func takeTurn(
        in connection: PostgresConnection, identity: TransactionIdentity, plannedOn: Int64? = nil,
        after prior: (query: PostgresQuery, check: (PostgresResult) throws -> Void)? = nil
    ) throws -> Bool {
        let (head, transaction): (Int64, Int64)
        do {
            let turn: PostgresQuery = "SELECT datarights_take_turn(\(Self.turnKey), \(Int32(Limits.turnWaitMilliseconds)), true), txid_current()"
            if let prior {
                // One round trip for both: the statement before the turn, and the turn.
                let results = try connection.queryPipelined([prior.query, turn])
                try prior.check(results[0])
                (head, transaction) = try results[1][0].decode((Int64, Int64).self)
            } else {
                (head, transaction) = try connection.query(turn)[0].decode((Int64, Int64).self)
            }
        } catch let error as PostgresError where error.sqlState == "55P03" {
            database.following.didTimeOutOnTurn()
            throw RegistryServiceError.turnTimedOut
        }
        identity.set(transaction: transaction, backend: connection.backendPID)
        var current = registry.read { $0.auditHead.lastSequence }
        guard current < head, database.fence.reason == nil else { return false }
        guard head - current <= Int64(Limits.maxFollowEntries) else {
            throw FollowingFailed(reason: "more than \(Limits.maxFollowEntries) entries behind the chain")
        }
        // Nobody else writes while the turn is held: the head stays where it is.
        var ruleChanged = false
        while current < head {
            let page = try Self.logPage(on: connection, after: current, limit: Limits.followPageEntries)
            guard let last = page.last else { return ruleChanged }
            if let plannedOn, page.contains(where: { $0.entry.sequence > plannedOn && $0.entry.kind != RegistryState.usageAuditKind.rawValue }) {
                ruleChanged = true
            }
            if let sequence = registry.follow(page) {
                throw FollowingFailed(reason: "the entry at sequence \(sequence) did not reproduce from its record")
            }
            database.following.didApply(page.count)
            current = last.entry.sequence
        }
        return ruleChanged
    }

    /// Applies every entry PostgreSQL holds beyond the core's head (under the writer lock).
    ///
    /// - Parameter target: the sequence a notification announced; nothing is read when the core holds
    ///   it already (this replica's own write, applied as it committed).
    func catchUp(through target: Int64? = nil) async throws {
        try await writer.withLock {
            if let target, registry.read({ $0.auditHead.lastSequence }) >= target { return }
            try await catchUpLocked()
        }
    }

    /// ``catchUp(through:)`` for a caller that holds the writer lock. A core further behind than
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
            database.following.didApply(page.count)
            guard page.count == Limits.followPageEntries else { return }
        }
    }

    func rebuild(reason: String) async throws {
        logger.warning("Rebuilding the core from PostgreSQL", metadata: ["reason": "\(reason)"])
        database.following.didRebuild()
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
        // A wake carries the highest sequence its notifications announced; nil to look regardless.
        let (wakes, wake) = AsyncStream.makeStream(of: Int64?.self, bufferingPolicy: .bufferingNewest(1))
        let stop = Mutex(false)
        let follower = self.follower
        let logger = self.logger
        let health = database.following
        let listener = Task.detached {
            let failing = Mutex(false)
            while !stop.withLock({ $0 }) {
                do {
                    try await follower.withConnection { connection in
                        try connection.listen(Self.logChannel)
                        health.succeeded(.listening)
                        if failing.withLock({ was in defer { was = false }; return was }) { logger.notice("Listening to the log again") }
                        wake.yield(nil)
                        while !stop.withLock({ $0 }) {
                            let notifications = try connection.waitForNotifications(timeout: Self.followPollInterval)
                            let announced = notifications.map { Int64($0.payload) }
                            // A notification without a sequence (or none at all, the poll) looks regardless.
                            wake.yield(announced.isEmpty || announced.contains(nil) ? nil : announced.compactMap { $0 }.max())
                        }
                    }
                } catch {
                    health.failing(.listening, "it cannot listen for the log's notifications")
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
            for await target in wakes {
                if let target, registry.read({ $0.auditHead.lastSequence }) >= target { continue }
                do {
                    try await catchUp(through: target)
                    health.succeeded(.catchingUp)
                    if failing { logger.notice("Following the log again") }
                    failing = false
                } catch {
                    health.failing(.catchingUp, "it cannot read the log")
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

