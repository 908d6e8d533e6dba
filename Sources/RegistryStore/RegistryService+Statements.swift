import PostgresClient
public import RegistryCore

/// A party's statement for a period: its balance before, every posting grouped by what it was for, and
/// its balance after. Read from PostgreSQL, which holds every posting.
public struct Statement: Sendable, Equatable {
    public struct Line: Sendable, Equatable {
        public var kind: TransferKind
        /// `debit` when the party paid, `credit` when it was paid.
        public var side: String
        public var grant: GrantID
        public var dataset: DatasetID
        public var counterparty: PartyID
        public var postings: Int64
        public var tokens: Int64
        public var amount: Int64
    }

    public var party: PartyID
    public var from: Timestamp
    public var until: Timestamp
    public var openingBalance: Int64
    public var debits: Int64
    public var credits: Int64
    public var lines: [Line]
    /// True when more than ``Limits/maxStatementLines`` lines matched and only the first are given.
    public var truncated: Bool

    public var closingBalance: Int64 { openingBalance + credits - debits }
}

extension RegistryService {
    /// `party`'s statement for postings at or after `from` and before `until`. The totals cover every
    /// posting of the period even when the lines are truncated.
    public func statement(of party: PartyID, from: Timestamp, until: Timestamp) async throws -> Statement {
        try await database.pool.withTransaction(isolation: .repeatableRead) { connection in
            let id = party.rawValue
            let opening = try connection.query("""
                SELECT (coalesce((SELECT sum(amount) FROM ledger_transfer WHERE credit_party = \(id) AND at < \(RecordSQL.timestamp(from))), 0)
                     - coalesce((SELECT sum(amount) FROM ledger_transfer WHERE debit_party = \(id) AND at < \(RecordSQL.timestamp(from))), 0))::int8
                """)[0].decode(Int64.self, column: 0)
            let totals = try connection.query("""
                SELECT coalesce((SELECT sum(amount) FROM ledger_transfer WHERE debit_party = \(id)
                                 AND at >= \(RecordSQL.timestamp(from)) AND at < \(RecordSQL.timestamp(until))), 0)::int8,
                       coalesce((SELECT sum(amount) FROM ledger_transfer WHERE credit_party = \(id)
                                 AND at >= \(RecordSQL.timestamp(from)) AND at < \(RecordSQL.timestamp(until))), 0)::int8
                """)[0]
            let rows = try connection.query("""
                SELECT kind, side, grant_id, dataset_id, counterparty, count(*)::int8, sum(tokens)::int8, sum(amount)::int8 FROM (
                    SELECT kind, 'debit' AS side, grant_id, dataset_id, credit_party AS counterparty, tokens, amount
                    FROM ledger_transfer WHERE debit_party = \(id) AND at >= \(RecordSQL.timestamp(from)) AND at < \(RecordSQL.timestamp(until))
                    UNION ALL
                    SELECT kind, 'credit', grant_id, dataset_id, debit_party, tokens, amount
                    FROM ledger_transfer WHERE credit_party = \(id) AND at >= \(RecordSQL.timestamp(from)) AND at < \(RecordSQL.timestamp(until))
                ) AS posting
                GROUP BY kind, side, grant_id, dataset_id, counterparty
                ORDER BY grant_id, kind DESC, side, dataset_id, counterparty
                LIMIT \(Int64(Limits.maxStatementLines + 1))
                """)
            var lines: [Statement.Line] = []
            for index in 0..<min(rows.count, Limits.maxStatementLines) {
                let row = rows[index]
                lines.append(Statement.Line(
                    kind: try RegistryLoader.enumValue(TransferKind.self, row, 0), side: try row.decode(String.self, column: 1),
                    grant: GrantID(rawValue: try row.decode(Int64.self, column: 2)),
                    dataset: DatasetID(rawValue: try row.decode(Int64.self, column: 3)),
                    counterparty: PartyID(rawValue: try row.decode(Int64.self, column: 4)), postings: try row.decode(Int64.self, column: 5),
                    tokens: try row.decode(Int64.self, column: 6), amount: try row.decode(Int64.self, column: 7)))
            }
            return Statement(
                party: party, from: from, until: until, openingBalance: opening,
                debits: try totals.decode(Int64.self, column: 0), credits: try totals.decode(Int64.self, column: 1),
                lines: lines, truncated: rows.count > Limits.maxStatementLines)
        }
    }

    /// The ledger's totals as PostgreSQL holds them: all debits and all credits (equal when it balances).
    public func ledgerTotals() async throws -> (debits: Int64, credits: Int64) {
        let row = try await database.pool.query("SELECT debits::int8, credits::int8 FROM ledger_balance") { row in
            (try row.decode(Int64.self, column: 0), try row.decode(Int64.self, column: 1))
        }
        return row[0]
    }
}
