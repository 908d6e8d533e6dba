/// An error from PostgreSQL, from libpq, or from decoding a result.
///
/// Server errors carry the five-character SQLSTATE (`23505` unique violation, `40001` serialization
/// failure …), the primary message, and the detail and hint the server sent. Callers branch on
/// ``sqlState`` or on the convenience predicates, never on message text.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Kind: Sendable, Equatable {
        /// The server rejected a statement; ``PostgresError/sqlState`` says why.
        case server
        /// Connecting failed, or an established connection broke (server restart, terminated backend).
        case connection
        /// A value in a result could not be decoded into the requested Swift type.
        case decoding
        /// The client was used against its contract (for example a COPY that the server did not start).
        case protocolViolation
    }

    public var kind: Kind
    /// SQLSTATE code, when the server sent one.
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var hint: String?
    /// The constraint a violation named, when the server sent one.
    public var constraint: String?
    /// True when the connection broke after COMMIT was sent and before its answer came: the transaction
    /// may have committed or not, and only the server can tell (see ``PostgresConnection/transactionStatus(_:)``).
    /// Never treat such an error as "nothing happened".
    public var isCommitOutcomeUnknown = false

    public init(
        kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil, hint: String? = nil,
        constraint: String? = nil
    ) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
    }

    /// True for the errors a transaction may succeed on when retried as a whole:
    /// serialization failure (`40001`) and deadlock (`40P01`).
    public var isRetryableTransactionConflict: Bool {
        sqlState == "40001" || sqlState == "40P01"
    }

    /// True for failures of the server rather than of a statement: insufficient resources (class 53: disk
    /// full, out of memory, too many connections), operator intervention (57: shutdown, cancel) and system
    /// errors (58: I/O). Retrying later may succeed; the statement itself is not at fault.
    public var isResourceOrOperatorError: Bool {
        guard let sqlState else { return false }
        return sqlState.hasPrefix("53") || sqlState.hasPrefix("57") || sqlState.hasPrefix("58")
    }

    /// True when the server refused a row for violating a unique constraint (`23505`).
    public var isUniqueViolation: Bool { sqlState == "23505" }

    public var description: String {
        var text = "PostgreSQL \(kind)"
        if let sqlState { text += " [\(sqlState)]" }
        text += ": \(message)"
        if let detail { text += " (detail: \(detail))" }
        if let hint { text += " (hint: \(hint))" }
        return text
    }
}

/// Why the pool could not hand out a connection.
public enum PostgresPoolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Every connection was busy and `maxWaiters` requests were already queued: the request failed fast.
    case tooManyWaiters(limit: Int)
    /// The request waited longer than the acquire timeout for a connection.
    case acquireTimeout(Duration)
    /// The pool was shut down.
    case shutDown

    public var description: String {
        switch self {
        case .tooManyWaiters(let limit):
            "PostgreSQL pool exhausted: all connections busy and \(limit) requests already waiting"
        case .acquireTimeout(let timeout):
            "PostgreSQL pool: no connection became free within \(timeout)"
        case .shutDown:
            "PostgreSQL pool is shut down"
        }
    }
}
