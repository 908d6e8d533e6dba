import PostgresClient
public import RegistryCore

/// One usage event as PostgreSQL holds it (R26–R28): accepted or denied, with the answer it got.
public struct RecordedUsageEvent: Sendable, Equatable {
    public var id: Int64
    public var key: String
    public var tokens: Int64
    public var usedAt: Timestamp
    /// When its group commit was made (the registry's clock).
    public var recordedAt: Timestamp
    public var accepted: Bool
    public var rule: String?
    public var quota: UsageQuota?
    public var reason: String?
    /// Fen charged for it (0 when denied or free).
    public var amount: Int64
    /// The metadata sent with it, as PostgreSQL's jsonb writes it back.
    public var metadata: String?
}

extension RegistryService {
    /// A grant's events with ids after `cursor`, in id order, at most `limit`, reading at most
    /// `Limits.maxScanPerPage` events of the registry (ids `cursor + 1 …`, up to `lastEvent`). Returns
    /// them and the id to continue after, nil once `lastEvent` is reached.
    ///
    /// `usage_event` has no index by grant: its one B-tree per row is the idempotency key's, and a second
    /// one cost a quarter of the durable usage rate (schema 0008, Benchmarks/RESULTS.md). The events of a
    /// range of ids are found by the BRIN index on id, so a page costs at most the scan of one range, and
    /// a grant's events are walked range after range; a page may hold fewer than `limit`, even none.
    /// Runs on one of the pool's own threads.
    public func usageEvents(
        of grant: GrantID, after cursor: Int64, limit: Int, lastEvent: Int64
    ) async throws -> (events: [RecordedUsageEvent], next: Int64?) {
        let scan = Int64(Limits.maxScanPerPage)
        let through = cursor >= lastEvent - scan ? lastEvent : cursor + scan
        guard through > cursor else { return ([], nil) }
        let events = try await database.pool.query("""
            SELECT id, idempotency_key, tokens, used_at, recorded_at, accepted, rule, quota, reason, amount, metadata::text
            FROM usage_event
            WHERE id > \(cursor) AND id <= \(through) AND grant_id = \(grant.rawValue)
            ORDER BY id LIMIT \(Int64(limit))
            """) { row in
            RecordedUsageEvent(
                id: try row.decode(Int64.self, column: 0), key: try row.decode(String.self, column: 1),
                tokens: try row.decode(Int64.self, column: 2), usedAt: try RegistryLoader.timestamp(row, 3),
                recordedAt: try RegistryLoader.timestamp(row, 4), accepted: try row.decode(Bool.self, column: 5),
                rule: try row.decode(String?.self, column: 6), quota: try row.decode(String?.self, column: 7).flatMap(UsageQuota.init(rawValue:)),
                reason: try row.decode(String?.self, column: 8), amount: try row.decode(Int64.self, column: 9),
                metadata: try row.decode(String?.self, column: 10))
        }
        if events.count == limit, let last = events.last, last.id < through { return (events, last.id) }
        return (events, through < lastEvent ? through : nil)
    }
}
