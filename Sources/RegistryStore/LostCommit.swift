import Logging
import PostgresClient
import RegistryCore
import Synchronization

/// The write fence: while engaged, the node refuses every write and reports itself not ready, because
/// its core may differ from PostgreSQL (a COMMIT whose outcome is not known yet).
///
/// Engaged and lifted only by the writer. Shared through ``RegistryDatabase`` so that readiness sees it.
public final class WriteFence: Sendable {
    private let state = Mutex<String?>(nil)

    public init() {}

    /// Why writes are refused, or nil when they are not.
    public var reason: String? { state.withLock { $0 } }

    func engage(_ reason: String) { state.withLock { $0 = reason } }
    func lift() { state.withLock { $0 = nil } }
}

/// A transaction's identity, taken inside it before COMMIT: its id and the backend that ran it. Lets a
/// COMMIT whose answer was lost be resolved afterwards (`txid_status`).
final class TransactionIdentity: Sendable {
    private let state = Mutex<(transaction: Int64, backend: Int32)?>(nil)

    /// Records the open transaction's id; one round trip, inside the transaction.
    func record(_ connection: PostgresConnection) throws {
        let transaction = try connection.transactionID()
        let backend = connection.backendPID
        state.withLock { $0 = (transaction, backend) }
    }

    /// Records a transaction id read by a statement of the caller's own.
    func set(transaction: Int64, backend: Int32) {
        state.withLock { $0 = (transaction, backend) }
    }

    var value: (transaction: Int64, backend: Int32)? { state.withLock { $0 } }
}

/// What PostgreSQL says became of a transaction whose COMMIT answer was lost.
enum CommitOutcome: Sendable {
    case committed
    case rolledBack
    /// PostgreSQL holds another chain entry where the write's should be: the core was rebuilt from
    /// PostgreSQL instead, and whether this write is in it is for a retry to find out.
    case rebuilt
}

extension RegistryService {
    /// A write whose COMMIT answer was lost: its transaction and the last audit entry it inserted.
    struct LostCommit: Sendable {
        var identity: (transaction: Int64, backend: Int32)?
        var lastAudit: AuditEntry
    }

    /// Finds out from PostgreSQL whether `lost` committed, trying until `wait` has passed (nil: until it
    /// knows). The fence must be engaged while this runs: nothing may be written on a core that may
    /// differ from PostgreSQL.
    ///
    /// `txid_status` of the transaction answers once it has ended; a backend still running it (its
    /// client gone while it waited, for example, for a synchronous standby) is ended after a while — a
    /// commit record it had flushed stays committed. The audit entry the transaction wrote then confirms
    /// a commit: the one-writer chain means its sequence number is the transaction's alone.
    func resolve(_ lost: LostCommit, wait: Duration?) async -> CommitOutcome? {
        let started = ContinuousClock.now
        var attempt = 0
        while true {
            attempt += 1
            let current = attempt
            do {
                let outcome = try await database.pool.withConnection { connection in
                    try Self.resolveOnce(lost, attempt: current, on: connection)
                }
                if let outcome {
                    logger.notice(
                        "Resolved a COMMIT whose answer was lost",
                        metadata: ["outcome": "\(outcome)", "audit.seq": "\(lost.lastAudit.sequence)", "attempts": "\(attempt)"])
                    return outcome
                }
            } catch RegistryServiceError.chainDiverged(let sequence) {
                logger.critical("PostgreSQL's audit chain differs from the core's; rebuilding the core", metadata: ["audit.seq": "\(sequence)"])
                do {
                    let state = try await RegistryLoader.load(from: database)
                    registry.replace(with: state)
                    return .rebuilt
                } catch {
                    logger.error("Rebuilding the core failed; trying again", metadata: ["error": "\(error)"])
                }
            } catch {
                if attempt == 1 || attempt % 20 == 0 {
                    logger.warning("Cannot resolve a lost COMMIT yet", metadata: ["error": "\(error)", "attempts": "\(attempt)"])
                }
            }
            if let wait, ContinuousClock.now - started >= wait { return nil }
            try? await Task.sleep(for: .milliseconds(min(1_000, 50 * attempt)))
        }
    }

    /// `txid_status` of `transaction`; nil when the server has never assigned it. After a failover the
    /// new primary (a promoted standby) may not have received the transaction at all: its id is then in
    /// that server's future (SQLSTATE 22023), nothing of it exists there, and only the audit entry at the
    /// write's sequence can tell — there is none, or another replica's (the core is then rebuilt).
    private static func status(of transaction: Int64, on connection: PostgresConnection) throws -> PostgresTransactionStatus? {
        do {
            return try connection.transactionStatus(transaction)
        } catch let error as PostgresError where error.sqlState == "22023" {
            return nil
        }
    }

    /// One look; nil when PostgreSQL cannot tell yet.
    private static func resolveOnce(_ lost: LostCommit, attempt: Int, on connection: PostgresConnection) throws -> CommitOutcome? {
        if let identity = lost.identity, let status = try Self.status(of: identity.transaction, on: connection) {
            switch status {
            case .aborted:
                return .rolledBack
            case .inProgress:
                if attempt >= 10 {
                    // Its client (us) is gone; ending the backend settles the transaction either way.
                    try connection.execute("""
                        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                        WHERE pid = \(identity.backend) AND backend_xid::text = (\(identity.transaction) % 4294967296)::text
                        """)
                }
                return nil
            case .committed, .unknown:
                break
            }
        }
        let stored = try connection.query("SELECT hash FROM audit_event WHERE seq = \(lost.lastAudit.sequence)")
        guard stored.count == 1 else { return .rolledBack }
        guard try stored[0].decode([UInt8].self, column: 0) == lost.lastAudit.hash else {
            throw RegistryServiceError.chainDiverged(sequence: lost.lastAudit.sequence)
        }
        return .committed
    }

    /// Handles a write whose COMMIT answer was lost, under the writer lock: fences the node, finds out
    /// from PostgreSQL whether it committed and, if so, applies it (`apply`), then lifts the fence.
    ///
    /// - Returns: the outcome when known within the deadline
    ///   (``Limits/lostCommitAnswerWaitMilliseconds``). When not, the node stays fenced and a background
    ///   task keeps asking; it applies the write (or not) under the writer lock and lifts the fence.
    func settleLostCommit(_ lost: LostCommit, apply: @escaping @Sendable () -> Void) async -> CommitOutcome? {
        database.fence.engage("a COMMIT's outcome is not known yet (audit seq \(lost.lastAudit.sequence)); writes wait until it is resolved")
        logger.error("A COMMIT's answer was lost; resolving it before any other write", metadata: ["audit.seq": "\(lost.lastAudit.sequence)"])
        if let outcome = await resolve(lost, wait: .milliseconds(database.limits.lostCommitAnswerWaitMilliseconds)) {
            if outcome == .committed { apply() }
            database.fence.lift()
            return outcome
        }
        Task {
            let outcome = await self.resolve(lost, wait: nil)
            _ = try? await self.writer.withLock {
                if outcome == .committed { apply() }
                self.database.fence.lift()
            }
        }
        return nil
    }

    /// Throws while the node is fenced.
    func checkNotFenced() throws {
        if let reason = database.fence.reason { throw RegistryServiceError.fenced(reason) }
    }
}
