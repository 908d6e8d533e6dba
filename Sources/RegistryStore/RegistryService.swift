import Foundation
public import Logging
public import PostgresClient
public import RegistryCore
import Synchronization

/// The registry's write path and its reads: the in-memory core, made durable by PostgreSQL.
///
/// A write is planned by the core against its current state, persisted in one transaction together with
/// its audit entries, and only then applied to the core. Writes run one at a time (``AsyncSerialLock``);
/// reads go straight to the core under its read lock. Any number of replicas serve one database: each
/// follows the committed log, and they take turns to write (``takeTurn(in:identity:plannedOn:)``,
/// LogFollower.swift; usage from quota slices, QuotaLeases.swift).
public final class RegistryService: Sendable {
    public let registry: Registry
    public let database: RegistryDatabase
    /// Sandbox mode: the clock offset setting applies, and the clock may be advanced.
    public let sandbox: Bool
    let writer = AsyncSerialLock()
    let usageQueue = UsageQueue()
    /// `party:key` of the idempotent requests being written now: a second request with a key in here is
    /// refused (409) rather than planned twice.
    let idempotencyInFlight = Mutex<Set<String>>([])
    /// The connection that listens for the log's notifications.
    let follower: PostgresPool
    private let following = Mutex<Task<Void, Never>?>(nil)
    /// This replica's slices of quotas and id blocks (schema 0015).
    let quotaLeases = QuotaLeases()
    private let sweeping = Mutex<Task<Void, Never>?>(nil)
    let logger: Logger
    /// The wall clock the registry's time is read from; tests pin it so that nothing depends on the day
    /// they run.
    let wallClock: @Sendable () -> Timestamp

    /// The system's wall clock, to the microsecond.
    public static let systemWallClock: @Sendable () -> Timestamp = {
        Timestamp(microsecondsSince1970: Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()))
    }

    /// Loads the core from the database (which must be migrated) and follows the log from there on.
    ///
    /// - Parameter loadState: false only for tests that probe readiness against a database that is
    ///   unreachable or unmigrated: the core starts empty and follows nothing.
    /// - Parameter wallClock: where the registry reads the time of day (the system clock unless a test pins
    ///   it); in sandbox mode the clock offset setting is added to it.
    /// - Parameter logDigest: log the state digest once loaded (it hashes every record: seconds at a
    ///   million datasets, so only when asked).
    public static func open(
        database: RegistryDatabase, sandbox: Bool, logger: Logger, loadState: Bool = true, logDigest: Bool = false,
        wallClock: @escaping @Sendable () -> Timestamp = systemWallClock
    ) async throws -> RegistryService {
        guard loadState else {
            return RegistryService(registry: Registry(), database: database, sandbox: sandbox, logger: logger, wallClock: wallClock)
        }
        let started = ContinuousClock.now
        let state = try await RegistryLoader.load(from: database)
        var loaded: Logger.Metadata = ["elapsed": "\(ContinuousClock.now - started)"]
        if logDigest { loaded["digest"] = "\(state.digest)" }
        logger.notice("Registry core loaded", metadata: loaded)
        let service = RegistryService(registry: Registry(state: state), database: database, sandbox: sandbox, logger: logger, wallClock: wallClock)
        // Entries committed while the core loaded are applied at once; the rest as they come.
        service.following.withLock { $0 = Task { await service.follow() } }
        service.sweeping.withLock { $0 = Task { await service.sweepLeases() } }
        return service
    }

    /// Loads the core from the database for a process that only reads — a report next to serving
    /// nodes. It follows nothing, and its database is fenced from the start, so any write it were asked
    /// to make is refused (503). The state is one consistent snapshot of the database
    /// (``RegistryLoader/load(from:phase:)``), as of when it loaded.
    public static func openReadOnly(database: RegistryDatabase, logger: Logger) async throws -> RegistryService {
        let state = try await RegistryLoader.load(from: database)
        database.fence.engage("this process reads only (a report); the serving nodes write")
        return RegistryService(registry: Registry(state: state), database: database, sandbox: false, logger: logger, wallClock: systemWallClock)
    }

    private init(
        registry: Registry, database: RegistryDatabase, sandbox: Bool, logger: Logger, wallClock: @escaping @Sendable () -> Timestamp
    ) {
        self.wallClock = wallClock
        self.registry = registry
        self.database = database
        self.sandbox = sandbox
        let oneConnection = PostgresPool.Configuration(connection: database.pool.configuration.connection, maxConnections: 1)
        self.follower = PostgresPool(configuration: oneConnection, logger: logger)
        self.logger = logger
    }

    /// Waits until no write is running or queued: the command holding the writer and every usage request
    /// queued behind it committed (or failed) and answered.
    ///
    /// For shutdown, once nothing submits more (the HTTP server has stopped): while requests keep
    /// arriving it may wait long. Cancelled, it stops waiting after the write that holds the writer.
    public func drain() async {
        while true {
            _ = try? await writer.withLock { true }
            guard usageQueue.isDraining, !Task.isCancelled else { return }
            // The usage pipeline is to take the writer next: it has not yet, or gave it up between groups.
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Stops following the log, gives back the unused part of its quota leases, and closes the replica's
    /// own connections. Call it after ``drain()``.
    public func close() async {
        if let task = sweeping.withLock({ $0 }) {
            task.cancel()
            await task.value
            await giveBackLeases(quotaLeases.takeAll())
        }
        if let task = following.withLock({ $0 }) {
            task.cancel()
            await task.value
        }
        await follower.shutdown()
    }

    /// The registry's time: the wall clock, plus the sandbox offset in sandbox mode.
    public func now() -> Timestamp {
        let wall = wallClock().microsecondsSince1970
        let offset = sandbox ? registry.read { $0.settings.clockOffsetSeconds } : 0
        return Timestamp(microsecondsSince1970: wall + offset * 1_000_000)
    }

    /// Plans, persists and applies `command`; returns the changes made (empty when nothing was due).
    @discardableResult
    public func execute(_ command: RegistryCommand, by actor: Party?) async throws -> [ChangeEntry] {
        try await perform(command, by: actor, recording: nil).entries
    }

    /// ``execute(_:by:)``, and with `recording` its answer rendered from the plan and stored with its
    /// idempotency key in the write's own transaction (``executeIdempotently(_:by:recording:)``).
    func perform(_ command: RegistryCommand, by actor: Party?, recording: IdempotentWrite?) async throws -> (entries: [ChangeEntry], answer: StoredAnswer?) {
        if case .settings(.advanceClock) = command, !sandbox { throw RegistryError.notFound("the sandbox clock exists only in sandbox mode") }
        try checkNotFenced()  // fail fast; checked again under the lock
        return try await writer.withLock {
            var replanned = false
            var rebuilds = 0
            while true {
                do {
                    return try await performInTurn(command, by: actor, recording: recording)
                } catch let error as PostgresError where Self.isChainConflict(error) {
                    // Another replica wrote after this one caught up (it took no turn: a binary from
                    // before schema 0014 during an upgrade): nothing of this write committed. Planned
                    // again, it is checked on the state it then commits on.
                    guard !replanned else { throw RegistryServiceError.chainMoved }
                    replanned = true
                    logger.notice("Another replica wrote first; planning the write again", metadata: ["error": "\(error)"])
                } catch let behind as FollowingFailed {
                    // The chain could not be followed inside the turn: rebuilt from the tables, and
                    // planned again on that — twice at most (entries that cannot be followed arriving
                    // all the while: a binary from before schema 0013 writing usage during an upgrade).
                    guard rebuilds < 2 else { throw RegistryServiceError.chainMoved }
                    rebuilds += 1
                    try await rebuild(reason: behind.reason)
                }
            }
        }
    }

    /// ``perform(_:by:recording:)`` once: in one transaction that takes the turn (a transaction-scoped
    /// lock, schema 0014), applies whatever other replicas committed since the core's head, plans on
    /// that state and writes. One pool hop; its COMMIT ends the turn.
    private func performInTurn(_ command: RegistryCommand, by actor: Party?, recording: IdempotentWrite?) async throws -> (entries: [ChangeEntry], answer: StoredAnswer?) {
        let identity = TransactionIdentity()
        let planned = PlannedWrite()
        let registry = self.registry
        let now = self.now()
        let actorName = actor.map { "party:\($0.id.rawValue)" } ?? "system"
        let apply: @Sendable () -> Void = {
            guard let (entries, audit, _) = planned.value, !entries.isEmpty else { return }
            let applied = registry.apply(entries, actor: actorName, at: now)
            precondition(applied == audit, "the core's audit chain must match what was persisted")
        }
        do {
            try await database.pool.withTransaction { connection in
                try self.takeTurn(in: connection, identity: identity)
                try self.checkNotFenced()
                let (entries, audit, answer) = try registry.read { state -> ([ChangeEntry], [AuditEntry], StoredAnswer?) in
                    let entries = try state.plan(command, by: actor, at: now)
                    var head = state.auditHead
                    let audit = entries.map {
                        head.append(at: now, actor: actorName, kind: $0.kind, payload: CanonicalJSON.encode($0.record))
                    }
                    return (entries, audit, try recording.map { try $0.render(entries, state) })
                }
                planned.set((entries, audit, answer))
                // Nothing to write (derivations already recorded): the empty transaction commits.
                guard !entries.isEmpty else { return }
                for entry in entries { try RecordSQL.upsert(entry.record, on: connection) }
                for entry in audit { try RecordSQL.insert(entry, on: connection) }
                if let recording, let answer { try IdempotencySQL.insert(recording, answer: answer, at: now, on: connection) }
            }
        } catch let error as PostgresError where error.isCommitOutcomeUnknown {
            // Never guess: PostgreSQL may have committed it (finding 11).
            guard let (entries, audit, answer) = planned.value, let lastAudit = audit.last else { throw error }
            switch await settleLostCommit(LostCommit(identity: identity.value, lastAudit: lastAudit), apply: apply) {
            case .committed: return (entries, answer)
            case .rolledBack: throw error
            case .rebuilt, nil: throw RegistryServiceError.commitOutcomeUnknown
            }
        }
        guard let (entries, _, answer) = planned.value else { preconditionFailure("a committed write was planned") }
        apply()
        return (entries, answer)
    }

    /// True when PostgreSQL refused a write's audit entry because another entry already follows the head
    /// the write was planned on (schema 0002: primary key on the sequence, unique previous hash).
    static func isChainConflict(_ error: PostgresError) -> Bool {
        error.isUniqueViolation && ["audit_event_pkey", "audit_event_prev_hash_key", "audit_event_hash_key"].contains(error.constraint ?? "")
    }

    // MARK: API keys

    /// Issues an API key for `party`; the returned secret is shown once and never stored.
    public func issueKey(for party: PartyID, label: String, by actor: Party?) async throws -> (key: APIKey, token: String) {
        let prefix = Self.randomToken(bytes: 6)
        let secret = Self.randomToken(bytes: 24)
        let entries = try await execute(.issueAPIKey(party: party, prefix: prefix, secretHash: APIKey.secretHash(of: secret), label: label), by: actor)
        guard case .apiKey(let key) = entries.first?.record else { preconditionFailure("issuing a key yields the key") }
        return (key, "drk_\(prefix)_\(secret)")
    }

    static func randomToken(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }.hexString
    }

    // MARK: Audit

    /// Walks the whole chain in sequence order from PostgreSQL and names the first entry that does not match.
    public func verifyAudit() async throws -> AuditVerifier.Outcome {
        try await AuditLog.verify(database.pool)
    }
}

public enum RegistryServiceError: Error, CustomStringConvertible {
    /// The node refuses writes until a COMMIT whose answer was lost is resolved (503).
    case fenced(String)
    /// The connection broke during this write's COMMIT and PostgreSQL could not say in time whether it
    /// committed (503): the node is fenced until it knows, and then applies it or not.
    case commitOutcomeUnknown
    /// PostgreSQL holds a different audit entry at a sequence the core assigned: the core is rebuilt.
    case chainDiverged(sequence: Int64)
    /// Other replicas kept writing after this one caught up, twice (503: retry).
    case chainMoved
    /// Another replica held the turn for longer than ``Limits/turnWaitMilliseconds`` (503: retry).
    case turnTimedOut

    public var description: String {
        switch self {
        case .fenced(let reason):
            "writes are paused: \(reason)"
        case .commitOutcomeUnknown:
            "the database connection broke while this write was committing and the outcome is not known yet; retry shortly (a retry of usage with the same keys is counted once)"
        case .chainDiverged(let sequence):
            "PostgreSQL holds a different audit entry at sequence \(sequence)"
        case .chainMoved:
            "other replicas wrote at the same moment and this write was not made; retry"
        case .turnTimedOut:
            "another replica has been writing for more than \(Limits.turnWaitMilliseconds / 1000) s and this write was not made; retry shortly"
        }
    }
}

/// Reading the audit chain back from PostgreSQL.
public enum AuditLog {
    /// Which entries a listing asks for; every filter given must hold.
    public struct Filter: Sendable {
        /// An ``AuditKind`` raw value.
        public var kind: String?
        /// As stored: `party:<id>`, `system` or `system:metering`.
        public var actor: String?
        /// Entries whose record concerns this dataset (schema 0010's `audit_event_dataset`).
        public var dataset: Int64?
        /// At or after.
        public var from: Timestamp?
        /// Before.
        public var until: Timestamp?

        public init(kind: String? = nil, actor: String? = nil, dataset: Int64? = nil, from: Timestamp? = nil, until: Timestamp? = nil) {
            self.kind = kind
            self.actor = actor
            self.dataset = dataset
            self.from = from
            self.until = until
        }
    }

    /// Entries with sequence greater than `after`, at most `limit`.
    public static func entries(_ pool: PostgresPool, after: Int64, limit: Int, filter: Filter = Filter()) async throws -> [AuditEntry] {
        try await pool.withConnection { connection in try page(on: connection, after: after, limit: limit, filter: filter) }
    }

    static func page(on connection: PostgresConnection, after: Int64, limit: Int, filter: Filter = Filter()) throws -> [AuditEntry] {
        let from = filter.from.map(RecordSQL.timestamp)
        let until = filter.until.map(RecordSQL.timestamp)
        // Unnamed statements are planned with their values, so a filter not given (NULL) folds away and
        // the indexes on kind, actor and time serve the one that is. With a dataset, the walk starts
        // from its entries in `audit_event_dataset`, in sequence order.
        let query: PostgresQuery
        if let dataset = filter.dataset {
            query = """
                SELECT e.seq, e.at, e.actor, e.kind, e.payload, e.prev_hash, e.hash
                FROM audit_event_dataset d JOIN audit_event e ON e.seq = d.seq
                WHERE d.dataset_id = \(dataset) AND d.seq > \(after)
                  AND (\(filter.kind)::text IS NULL OR e.kind = \(filter.kind))
                  AND (\(filter.actor)::text IS NULL OR e.actor = \(filter.actor))
                  AND (\(from)::timestamptz IS NULL OR e.at >= \(from))
                  AND (\(until)::timestamptz IS NULL OR e.at < \(until))
                ORDER BY d.seq LIMIT \(Int64(limit))
                """
        } else {
            query = """
                SELECT seq, at, actor, kind, payload, prev_hash, hash FROM audit_event
                WHERE seq > \(after)
                  AND (\(filter.kind)::text IS NULL OR kind = \(filter.kind))
                  AND (\(filter.actor)::text IS NULL OR actor = \(filter.actor))
                  AND (\(from)::timestamptz IS NULL OR at >= \(from))
                  AND (\(until)::timestamptz IS NULL OR at < \(until))
                ORDER BY seq LIMIT \(Int64(limit))
                """
        }
        return try connection.query(query).map { row in
            AuditEntry(
                sequence: try row.decode(Int64.self, column: 0), at: try RegistryLoader.timestamp(row, 1),
                actor: try row.decode(String.self, column: 2), kind: try row.decode(String.self, column: 3),
                payload: try row.decode(String.self, column: 4), previousHash: try row.decode([UInt8].self, column: 5),
                hash: try row.decode([UInt8].self, column: 6))
        }
    }

    /// Verifies the chain end to end, a page at a time.
    public static func verify(_ pool: PostgresPool, pageSize: Int = 10_000) async throws -> AuditVerifier.Outcome {
        try await pool.withConnection { connection in
            var verifier = AuditVerifier()
            var after: Int64 = 0
            while true {
                let entries = try page(on: connection, after: after, limit: pageSize)
                for entry in entries where !verifier.check(entry) { return verifier.outcome }
                guard let last = entries.last, entries.count == pageSize else { break }
                after = last.sequence
            }
            return verifier.outcome
        }
    }
}
