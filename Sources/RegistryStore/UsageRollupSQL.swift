import PostgresClient
import RegistryCore

/// How the usage rollups are written with each group commit and read back at a rebuild (schema 0009).
enum UsageRollupSQL {
    /// The statements adding the batch's rollup deltas to their cells: one for each rollup, whatever the number
    /// of cells. Runs in the batch's transaction after the batch before has committed (in
    /// ``UsageSQL/writeSettled(_:audit:on:)``), so two transactions never wait on each other's cells. The deltas come
    /// in cell order and each cell once (ON CONFLICT may touch a row only once a statement).
    static func statements(_ batch: UsageBatch) -> [PostgresQuery] {
        var statements: [PostgresQuery] = []
        let cells = batch.rollup
        if !cells.isEmpty {
            statements.append("""
                INSERT INTO usage_rollup AS r (day, dataset_id, assignee_id, purpose, use_region, events, tokens, amount)
                SELECT DATE '1970-01-01' + c.day, c.dataset_id, c.assignee_id, c.purpose, c.use_region, c.events, c.tokens, c.amount
                FROM unnest(\(cells.map(\.cell.day.daysSince1970)), \(cells.map(\.cell.dataset.rawValue)), \(cells.map(\.cell.assignee.rawValue)),
                            \(cells.map(\.cell.purpose)), \(cells.map(\.cell.useRegion)), \(cells.map(\.totals.events)),
                            \(cells.map(\.totals.tokens)), \(cells.map(\.totals.amount)))
                     AS c (day, dataset_id, assignee_id, purpose, use_region, events, tokens, amount)
                ON CONFLICT (day, dataset_id, assignee_id, purpose, use_region) DO UPDATE
                SET events = r.events + EXCLUDED.events, tokens = r.tokens + EXCLUDED.tokens, amount = r.amount + EXCLUDED.amount
                """)
        }
        let denials = batch.quotaDenials
        if !denials.isEmpty {
            statements.append("""
                INSERT INTO usage_denial_rollup AS r (day, assignee_id, dataset_id, quota, events, tokens)
                SELECT DATE '1970-01-01' + d.day, d.assignee_id, d.dataset_id, d.quota, d.events, d.tokens
                FROM unnest(\(denials.map(\.cell.day.daysSince1970)), \(denials.map(\.cell.assignee.rawValue)),
                            \(denials.map(\.cell.dataset.rawValue)), \(denials.map(\.cell.quota.rawValue)), \(denials.map(\.totals.events)),
                            \(denials.map(\.totals.tokens)))
                     AS d (day, assignee_id, dataset_id, quota, events, tokens)
                ON CONFLICT (day, assignee_id, dataset_id, quota) DO UPDATE
                SET events = r.events + EXCLUDED.events, tokens = r.tokens + EXCLUDED.tokens
                """)
        }
        return statements
    }

    /// Reads both rollups back into `state`'s meter (a rebuild), streamed with binary COPY.
    static func load(on connection: PostgresConnection, into state: inout RegistryState) throws {
        var cells: [(cell: UsageRollupCell, totals: UsageTotals)] = []
        try connection.copyOut("""
            SELECT day - DATE '1970-01-01', dataset_id, assignee_id, purpose, use_region, events, tokens, amount FROM usage_rollup
            """) { row in
            cells.append((
                UsageRollupCell(
                    day: CivilDate(daysSince1970: try row.decode(Int32.self, column: 0)), dataset: DatasetID(rawValue: try row.decode(Int64.self, column: 1)),
                    assignee: PartyID(rawValue: try row.decode(Int64.self, column: 2)), purpose: try row.decode(String.self, column: 3),
                    useRegion: try row.decode(String.self, column: 4)),
                UsageTotals(
                    events: try row.decode(Int64.self, column: 5), tokens: try row.decode(Int64.self, column: 6), amount: try row.decode(Int64.self, column: 7))
            ))
        }
        var denials: [(cell: QuotaDenialCell, totals: DenialTotals)] = []
        try connection.copyOut("""
            SELECT day - DATE '1970-01-01', assignee_id, dataset_id, quota, events, tokens FROM usage_denial_rollup
            """) { row in
            denials.append((
                QuotaDenialCell(
                    day: CivilDate(daysSince1970: try row.decode(Int32.self, column: 0)), assignee: PartyID(rawValue: try row.decode(Int64.self, column: 1)),
                    dataset: DatasetID(rawValue: try row.decode(Int64.self, column: 2)), quota: try RegistryLoader.enumValue(UsageQuota.self, row, 3)),
                DenialTotals(events: try row.decode(Int64.self, column: 4), tokens: try row.decode(Int64.self, column: 5))
            ))
        }
        state.restoreUsage { $0.restoreRollup(cells, denials: denials) }
    }
}
