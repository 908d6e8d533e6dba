private import CLibPQ
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The isolation level a transaction runs at.
public enum PostgresIsolationLevel: String, Sendable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

/// Whether a transaction is run again when PostgreSQL aborts it for a serialization failure or deadlock.
///
/// Off by default: only opt in when the whole transaction body is safe to run more than once (it reads
/// what it needs inside the transaction and has no side effects outside it).
public struct PostgresTransactionRetry: Sendable {
    /// Total attempts, including the first.
    public var maxAttempts: Int
    /// Pause before the second attempt; doubled for each further attempt.
    public var initialBackoff: Duration

    public static let never = PostgresTransactionRetry(maxAttempts: 1, initialBackoff: .zero)

    /// Retries on `40001` / `40P01` up to `maxAttempts` in all.
    public static func onConflict(maxAttempts: Int = 5, initialBackoff: Duration = .milliseconds(2)) -> Self {
        PostgresTransactionRetry(maxAttempts: maxAttempts, initialBackoff: initialBackoff)
    }
}

extension PostgresConnection {
    /// Runs `body` inside BEGIN … COMMIT. A throw from `body` (or a failed COMMIT) rolls back and
    /// rethrows; nothing the body wrote remains.
    ///
    /// A body that catches a failed statement and carries on leaves the transaction aborted; COMMIT then
    /// quietly rolls back. That is reported as an error here, never as success.
    ///
    /// When the connection breaks while COMMIT is on its way, the error has
    /// ``PostgresError/isCommitOutcomeUnknown`` set: the transaction may well have committed. A caller that
    /// must know takes the transaction's id inside the body (``transactionID()``) and asks the server
    /// afterwards (``transactionStatus(_:)``).
    @discardableResult
    public func withTransaction<T>(
        isolation: PostgresIsolationLevel = .readCommitted,
        retry: PostgresTransactionRetry = .never,
        _ body: (PostgresConnection) throws -> T
    ) throws -> T {
        guard isIdle else {
            throw PostgresError(kind: .protocolViolation, message: "withTransaction called inside an open transaction")
        }
        var attempt = 1
        var backoff = retry.initialBackoff
        while true {
            do {
                try executeScript("BEGIN ISOLATION LEVEL \(isolation.rawValue)")
                let value = try body(self)
                let commit: PostgresResult
                do {
                    commit = try query("COMMIT")
                } catch var error as PostgresError where error.kind != .server {
                    // Only the server's own answer tells a COMMIT's outcome; without one (the connection broke),
                    // it may have committed: say so, never "failed".
                    error.isCommitOutcomeUnknown = true
                    throw error
                }
                if commit.commandTag == "ROLLBACK" {
                    throw PostgresError(
                        kind: .protocolViolation,
                        message: "transaction was rolled back at COMMIT because a statement inside it had failed")
                }
                return value
            } catch let error as PostgresError where error.isRetryableTransactionConflict && attempt < retry.maxAttempts {
                rollbackIfOpen()
                logger.debug(
                    "Retrying transaction after conflict",
                    metadata: ["db.sqlstate": "\(error.sqlState ?? "")", "attempt": "\(attempt + 1)"])
                Self.sleep(backoff)
                backoff = backoff * 2
                attempt += 1
            } catch {
                rollbackIfOpen()
                throw error
            }
        }
    }

    /// The id of the open transaction (`txid_current()`, 64 bits with its epoch); assigns one if it has
    /// none yet. Call inside a transaction before COMMIT to be able to resolve a lost COMMIT answer.
    public func transactionID() throws -> Int64 {
        try query("SELECT txid_current()")[0].decode(Int64.self, column: 0)
    }

    /// What became of a transaction (`txid_status()`), asked on any connection after the fact.
    public func transactionStatus(_ id: Int64) throws -> PostgresTransactionStatus {
        let status = try query("SELECT txid_status(\(id))")[0].decode(String?.self, column: 0)
        switch status {
        case "committed": return .committed
        case "aborted": return .aborted
        case "in progress": return .inProgress
        default: return .unknown
        }
    }

    /// Rolls back an open (or failed) transaction; a broken connection has nothing to roll back.
    func rollbackIfOpen() {
        guard !isBroken, !isIdle else { return }
        do {
            try executeScript("ROLLBACK")
        } catch {
            logger.warning("ROLLBACK failed", metadata: ["error": "\(error)"])
        }
    }

    /// Blocks this (owned) thread; only ever called on pool threads between transaction attempts.
    static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}

/// What became of a transaction, by its id.
public enum PostgresTransactionStatus: Sendable, Equatable {
    case committed
    case aborted
    /// Still running: for example a backend whose client went away while it waited for a synchronous standby.
    case inProgress
    /// Too old for the server to remember (wrapped around), or not a transaction id of this cluster.
    case unknown
}

extension PostgresResult {
    /// The command tag without its row count: "INSERT", "COMMIT", "ROLLBACK" …
    var commandTag: String {
        commandStatus.split(separator: " ").first.map(String.init) ?? ""
    }
}
