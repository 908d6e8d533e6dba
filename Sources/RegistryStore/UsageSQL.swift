import PostgresClient
import RegistryCore

/// How a group commit of usage is written, and how the metering state is read back (schema 0005).
///
/// A batch's transaction runs in two steps: ``writeEvents(_:on:)`` without the turn, then, holding it,
/// ``writeSettled(_:audit:on:)`` (schema 0015, quota leases).
enum UsageSQL {
    /// The batch's events: written before the turn is taken (several replicas' at once), each event's
    /// answer planned on the replica's quota leases.
    static func writeEvents(_ batch: UsageBatch, on connection: PostgresConnection) throws {
        let recordedAt = RecordSQL.timestamp(batch.at)
        try connection.copyFrom(table: "usage_event", columns: [
            "id", "batch_id", "assignee_id", "grant_id", "dataset_id", "idempotency_key", "tokens", "used_at", "recorded_at",
            "accepted", "rule", "quota", "reason", "amount", "metadata",
        ]) { rows in
            for event in batch.events {
                try rows.append(
                    event.id, batch.id, event.assignee.rawValue, event.grant?.rawValue, event.dataset?.rawValue, event.key, event.tokens,
                    RecordSQL.timestamp(event.usedAt), recordedAt, event.answer.accepted, event.answer.rule, event.answer.quota?.rawValue,
                    event.answer.reason, event.answer.amount, event.metadata.map(PostgresJSONB.init))
            }
        }
    }

    /// What the batch settles, under the turn on the state it commits on: its audit entry, batch row,
    /// postings and the counters' new values — sent as one pipeline (one round trip while the turn is
    /// held, where one statement each took eight).
    static func writeSettled(_ batch: UsageBatch, audit: AuditEntry, on connection: PostgresConnection) throws {
        let summary = batch.summary
        var statements: [PostgresQuery] = [
            RecordSQL.insertion(of: audit),
            """
            INSERT INTO usage_batch (id, committed_at, events, accepted, tokens, amount, events_digest, audit_seq, last_event, effects)
            VALUES (\(batch.id), \(RecordSQL.timestamp(batch.at)), \(Int32(summary.events)), \(Int32(summary.accepted)),
                    \(summary.tokens), \(summary.amount), \(Array(hex: summary.eventsDigest)), \(audit.sequence),
                    \(batch.events.last?.id), \(UsageBatchEffects(batch).encoded()))
            """,
        ]
        let transfers = batch.transfers
        if !transfers.isEmpty {
            statements.append("""
                INSERT INTO ledger_transfer (id, batch_id, kind, grant_id, dataset_id, debit_party, credit_party, amount, tokens, at)
                SELECT * FROM unnest(\(transfers.map(\.id)), \(transfers.map(\.batch)), \(transfers.map(\.kind.rawValue)),
                                     \(transfers.map(\.grant.rawValue)), \(transfers.map(\.dataset.rawValue)), \(transfers.map(\.debit.rawValue)),
                                     \(transfers.map(\.credit.rawValue)), \(transfers.map(\.amount)), \(transfers.map(\.tokens)),
                                     \(transfers.map { RecordSQL.timestamp($0.at) }))
                """)
        }
        if !batch.grantUsage.isEmpty {
            statements.append("""
                INSERT INTO grant_usage (grant_id, tokens, charged)
                SELECT * FROM unnest(\(batch.grantUsage.map(\.grant.rawValue)), \(batch.grantUsage.map(\.usage.tokens)),
                                     \(batch.grantUsage.map(\.usage.charged)))
                ON CONFLICT (grant_id) DO UPDATE SET tokens = EXCLUDED.tokens, charged = EXCLUDED.charged
                """)
        }
        statements += UsageRollupSQL.statements(batch)
        let daily = batch.assigneeDaily.map { ("assignee", $0.party.rawValue, $0.usage) } + batch.datasetDaily.map { ("dataset", $0.dataset.rawValue, $0.usage) }
        if !daily.isEmpty {
            statements.append("""
                INSERT INTO daily_usage (subject, subject_id, day, tokens)
                SELECT u.subject, u.id, DATE '1970-01-01' + u.day, u.tokens
                FROM unnest(\(daily.map(\.0)), \(daily.map(\.1)), \(daily.map(\.2.day.daysSince1970)), \(daily.map(\.2.tokens))) AS u (subject, id, day, tokens)
                ON CONFLICT (subject, subject_id, day) DO UPDATE SET tokens = EXCLUDED.tokens
                """)
        }
        if !batch.accounts.isEmpty {
            statements.append("""
                INSERT INTO ledger_account (party_id, debits, credits)
                SELECT * FROM unnest(\(batch.accounts.map(\.party.rawValue)), \(batch.accounts.map(\.account.debits)),
                                     \(batch.accounts.map(\.account.credits)))
                ON CONFLICT (party_id) DO UPDATE SET debits = EXCLUDED.debits, credits = EXCLUDED.credits
                """)
        }
        try connection.queryPipelined(statements)
    }

    /// Reads the metering state back into `state`: counters, accounts, and the answers to every event
    /// recorded within the key retention period (report window plus clock skew) before the newest one,
    /// so that a retry after a restart is still recognised.
    static func load(on connection: PostgresConnection, into state: inout RegistryState, limits: Limits) throws {
        state.restoreUsage {
            $0.configure(reportWindowSeconds: limits.usageReportWindowSeconds, keyMemory: limits.usageKeyMemory, rollups: limits.usageRollups)
        }
        if limits.usageRollups { try UsageRollupSQL.load(on: connection, into: &state) }
        let grants = try connection.query("SELECT grant_id, tokens, charged FROM grant_usage").map { row in
            (GrantID(rawValue: try row.decode(Int64.self, column: 0)),
             GrantUsage(tokens: try row.decode(Int64.self, column: 1), charged: try row.decode(Int64.self, column: 2)))
        }
        var assignees: [(PartyID, DailyUsage)] = []
        var datasets: [(DatasetID, DailyUsage)] = []
        for row in try connection.query("""
            SELECT DISTINCT ON (subject, subject_id) subject, subject_id, day - DATE '1970-01-01', tokens
            FROM daily_usage ORDER BY subject, subject_id, day DESC
            """).map({ $0 }) {
            let usage = DailyUsage(day: CivilDate(daysSince1970: try row.decode(Int32.self, column: 2)), tokens: try row.decode(Int64.self, column: 3))
            let id = try row.decode(Int64.self, column: 1)
            if try row.decode(String.self, column: 0) == "assignee" {
                assignees.append((PartyID(rawValue: id), usage))
            } else {
                datasets.append((DatasetID(rawValue: id), usage))
            }
        }
        let accounts = try connection.query("SELECT party_id, debits, credits FROM ledger_account").map { row in
            (PartyID(rawValue: try row.decode(Int64.self, column: 0)),
             LedgerAccount(debits: try row.decode(Int64.self, column: 1), credits: try row.decode(Int64.self, column: 2)))
        }
        let last = try connection.query("""
            SELECT (SELECT coalesce(max(last_event), 0) FROM usage_batch),
                   (SELECT coalesce(max(id), 0) FROM ledger_transfer),
                   (SELECT coalesce(max(id), 0) FROM usage_batch), (SELECT max(committed_at) FROM usage_batch)
            """)[0]
        let newest = try RegistryLoader.optionalTimestamp(last, 3)
        let lastEvent = try last.decode(Int64.self, column: 0)
        let lastTransfer = try last.decode(Int64.self, column: 1)
        let lastBatch = try last.decode(Int64.self, column: 2)
        state.restoreUsage { meter in
            meter.restore(
                grants: grants, assignees: assignees, datasets: datasets, accounts: accounts, lastEvent: lastEvent,
                lastTransfer: lastTransfer, lastBatch: lastBatch, at: newest ?? Timestamp(microsecondsSince1970: 0))
        }
        guard let newest else { return }
        let since = RecordSQL.timestamp(newest.adding(seconds: -state.usage.keyRetentionSeconds))
        // The newest keys only, as many as memory holds; older ones are recalled when PostgreSQL refuses them.
        // Ids are unique and at most `lastEvent`: the newest `usageKeyMemory` of them are above this, read
        // in ranges of ids (the BRIN index on id finds each range's pages; there is no B-tree on id).
        var after = max(0, lastEvent - Int64(limits.usageKeyMemory))
        let pageSize: Int64 = 50_000
        while after < lastEvent {
            let page = try connection.query("""
                SELECT id, assignee_id, idempotency_key, accepted, rule, quota, reason, amount FROM usage_event
                WHERE id > \(after) AND id <= \(after + pageSize) AND recorded_at >= \(since) ORDER BY id
                """)
            var remembered: [(PartyID, String, UsageAnswer)] = []
            remembered.reserveCapacity(page.count)
            for index in 0..<page.count {
                let row = page[index]
                let quota = try row.decode(String?.self, column: 5)
                remembered.append((
                    PartyID(rawValue: try row.decode(Int64.self, column: 1)), try row.decode(String.self, column: 2),
                    UsageAnswer(
                        event: try row.decode(Int64.self, column: 0), accepted: try row.decode(Bool.self, column: 3),
                        rule: try row.decode(String?.self, column: 4), quota: quota.flatMap(UsageQuota.init(rawValue:)),
                        reason: try row.decode(String?.self, column: 6), amount: try row.decode(Int64.self, column: 7))
                ))
            }
            state.restoreUsage { meter in
                for (party, key, answer) in remembered { meter.remember(party: party, key: key, answer: answer) }
            }
            after += pageSize
        }
    }
}

extension UsageSQL {
    /// The name of the unique index on an assignee's idempotency keys (schema 0007).
    static let keyConstraint = "usage_event_key"

    /// True when PostgreSQL refused an event because its assignee had used its key before.
    static func isKeyConflict(_ error: any Error) -> Bool {
        guard let error = error as? PostgresError else { return false }
        return error.isUniqueViolation && error.constraint == keyConstraint
    }

    /// The answers PostgreSQL holds for these assignees' keys (first use of each), for the keys the
    /// unique index covers.
    static func recall(
        _ keys: [(party: PartyID, key: String)], on connection: PostgresConnection
    ) throws -> [(party: PartyID, key: String, answer: UsageAnswer)] {
        guard !keys.isEmpty else { return [] }
        let horizon = try connection.query("SELECT covered_after FROM usage_key_horizon")[0].decode(Int64.self, column: 0)
        let rows = try connection.query("""
            SELECT e.assignee_id, e.idempotency_key, e.id, e.accepted, e.rule, e.quota, e.reason, e.amount
            FROM unnest(\(keys.map(\.party.rawValue)), \(keys.map(\.key))) AS k (assignee_id, idempotency_key)
            JOIN usage_event e ON e.assignee_id = k.assignee_id AND e.idempotency_key = k.idempotency_key AND e.id > \(horizon)
            """)
        return try (0..<rows.count).map { index in
            let row = rows[index]
            let quota = try row.decode(String?.self, column: 5)
            return (
                PartyID(rawValue: try row.decode(Int64.self, column: 0)), try row.decode(String.self, column: 1),
                UsageAnswer(
                    event: try row.decode(Int64.self, column: 2), accepted: try row.decode(Bool.self, column: 3),
                    rule: try row.decode(String?.self, column: 4), quota: quota.flatMap(UsageQuota.init(rawValue:)),
                    reason: try row.decode(String?.self, column: 6), amount: try row.decode(Int64.self, column: 7)))
        }
    }
}

extension Array where Element == UInt8 {
    /// Bytes from lowercase hex (the digests the core writes).
    init(hex: String) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.utf8.count / 2)
        var high: UInt8?
        for character in hex.utf8 {
            let nibble = character <= 0x39 ? character - 0x30 : character - 0x57
            if let first = high {
                bytes.append(first << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        self = bytes
    }
}
