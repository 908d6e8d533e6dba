import Crypto
import PostgresClient
import Synchronization
public import RegistryCore

/// The answer a creating request got, as stored with its idempotency key and sent again on a replay.
public struct StoredAnswer: Sendable, Equatable {
    /// The HTTP status (201 for a creation).
    public var status: Int
    /// The `Location` header, when the answer has one.
    public var location: String?
    /// The body's bytes (JSON).
    public var body: [UInt8]

    public init(status: Int, location: String?, body: [UInt8]) {
        self.status = status
        self.location = location
        self.body = body
    }
}

/// A creating request that carries an idempotency key (`Idempotency-Key`): who sent it, the key, a digest
/// of the request, and how its answer is made from the records it creates.
///
/// The answer is rendered from the planned records and the state they were planned against, before
/// anything is written, so that it can be stored in the same transaction as the records: the first
/// answer and every replay are the same bytes. Use it only for commands whose answer depends on the
/// records they create and on what existed before (a view that read records created in the same change
/// from the state would not find them there).
public struct IdempotentWrite: Sendable {
    public let party: PartyID
    public let key: String
    /// SHA-256 over the method, the request target and the body: what "the same request" means.
    public let requestDigest: [UInt8]
    let render: @Sendable ([ChangeEntry], borrowing RegistryState) throws -> StoredAnswer

    public init(
        party: PartyID, key: String, method: String, target: String, body: [UInt8],
        render: @escaping @Sendable ([ChangeEntry], borrowing RegistryState) throws -> StoredAnswer
    ) {
        self.party = party
        self.key = key
        var hash = SHA256()
        // Length-prefixed, so that no two different requests hash the same bytes.
        for part in [Array(method.utf8), Array(target.utf8), body] {
            hash.update(data: withUnsafeBytes(of: UInt64(part.count).bigEndian) { Array($0) })
            hash.update(data: part)
        }
        self.requestDigest = Array(hash.finalize())
        self.render = render
    }
}

/// What an idempotent request came to.
public enum IdempotentOutcome: Sendable, Equatable {
    /// Planned, written and applied now; this answer is stored with the key.
    case created(StoredAnswer)
    /// The key was used before by this party for the same request: its first answer, nothing written.
    case replayed(StoredAnswer)
}

public enum IdempotencyError: Error, Equatable {
    /// The party used this key before for a different request (method, target or body).
    case keyReusedForAnotherRequest
    /// A request with this key from this party is being written right now.
    case inProgress
}

extension RegistryService {
    /// Plans, persists and applies `command` once per (party, key): the first request's answer is stored
    /// with the records it creates, in their transaction, and a later request with the same key and the
    /// same bytes gets that answer again without anything being planned or written. The same key with a
    /// different request is ``IdempotencyError/keyReusedForAnotherRequest``.
    ///
    /// PostgreSQL's primary key on (party, key) is what guarantees "once": two requests racing with one
    /// key cannot both commit (the second's transaction fails and it replays the first's answer). Requests
    /// that are refused (a `RegistryError`) write nothing and store nothing: their retry is judged afresh.
    public func executeIdempotently(_ command: RegistryCommand, by actor: Party, recording: IdempotentWrite) async throws -> IdempotentOutcome {
        if let stored = try await storedAnswer(recording) { return stored }
        let claim = "\(recording.party.rawValue):\(recording.key)"
        guard idempotencyInFlight.withLock({ $0.insert(claim).inserted }) else { throw IdempotencyError.inProgress }
        defer { _ = idempotencyInFlight.withLock { $0.remove(claim) } }
        do {
            let (_, answer) = try await perform(command, by: actor, recording: recording)
            // `perform` renders an answer whenever it is given a recording.
            guard let answer else { preconditionFailure("an idempotent write is answered") }
            return .created(answer)
        } catch {
            // A request with the same key that committed between the look-up and this one's claim (or a
            // primary-key violation of this one's insert) is answered as the replay it is.
            if let stored = try? await storedAnswer(recording) { return stored }
            throw error
        }
    }

    /// The stored answer for `recording`'s key, as a replay, if the key was used; throws if it was used
    /// for another request.
    func storedAnswer(_ recording: IdempotentWrite) async throws -> IdempotentOutcome? {
        let rows = try await database.pool.query(
            """
            SELECT request_sha256, status, location, body FROM idempotency_key
            WHERE party_id = \(recording.party.rawValue) AND key = \(recording.key)
            """
        ) { row in
            (
                try row.decode([UInt8].self, column: 0),
                StoredAnswer(
                    status: Int(try row.decode(Int16.self, column: 1)), location: try row.decode(String?.self, column: 2),
                    body: try row.decode([UInt8].self, column: 3))
            )
        }
        guard let (digest, answer) = rows.first else { return nil }
        guard digest == recording.requestDigest else { throw IdempotencyError.keyReusedForAnotherRequest }
        return .replayed(answer)
    }

    /// Deletes idempotency keys older than ``Limits/idempotencyKeyRetentionDays``, at most
    /// ``Limits/maxIdempotencyKeysPrunedPerTick`` of them, oldest first; returns how many. The clock calls
    /// it once a minute, so the table holds about the keys of the retention period.
    public func pruneIdempotencyKeys() async throws -> Int {
        let cutoff = now().microsecondsSince1970 - Limits.idempotencyKeyRetentionDays * 86_400 * 1_000_000
        return try await database.pool.execute("""
            DELETE FROM idempotency_key WHERE (party_id, key) IN (
                SELECT party_id, key FROM idempotency_key WHERE created_at < \(RecordSQL.timestamp(Timestamp(microsecondsSince1970: cutoff)))
                ORDER BY created_at LIMIT \(Limits.maxIdempotencyKeysPrunedPerTick))
            """)
    }
}

enum IdempotencySQL {
    static func insert(_ recording: IdempotentWrite, answer: StoredAnswer, at now: Timestamp, on connection: PostgresConnection) throws {
        try connection.execute("""
            INSERT INTO idempotency_key (party_id, key, request_sha256, status, location, body, created_at)
            VALUES (\(recording.party.rawValue), \(recording.key), \(recording.requestDigest), \(Int16(answer.status)),
                    \(answer.location), \(answer.body), \(RecordSQL.timestamp(now)))
            """)
    }
}
