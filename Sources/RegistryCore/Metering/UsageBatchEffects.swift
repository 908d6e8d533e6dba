/// What a committed usage batch did to the metering state, as its planner computed it — the counters'
/// new absolute values, the ledger's total, the rollup deltas and the last ids — stored with the batch
/// (`usage_batch.effects`) so that a replica following the log applies exactly what the writer applied
/// (issue 18). The events' own answers are not in it: a replica that did not plan a batch does not
/// remember its keys, and a retry it receives is recognised by PostgreSQL's unique index and answered
/// from the stored event (``UsageMeter/remember(party:key:answer:)`` after a recall), as after a restart.
///
/// The bytes are little-endian integers and length-prefixed UTF-8, versioned by their first byte.
public struct UsageBatchEffects: Sendable, Equatable {
    public var batch: Int64
    public var at: Timestamp
    public var grants: [(grant: GrantID, usage: GrantUsage)]
    public var assignees: [(party: PartyID, usage: DailyUsage)]
    public var datasets: [(dataset: DatasetID, usage: DailyUsage)]
    public var accounts: [(party: PartyID, account: LedgerAccount)]
    public var totalCharged: Int64
    public var rollup: [(cell: UsageRollupCell, totals: UsageTotals)]
    public var quotaDenials: [(cell: QuotaDenialCell, totals: DenialTotals)]
    /// The batch's last event id (0 when it had none of its own) and last transfer id (0 when none).
    public var lastEvent: Int64
    public var lastTransfer: Int64

    static let version: UInt8 = 1

    public init(_ batch: UsageBatch) {
        self.batch = batch.id
        at = batch.at
        grants = batch.grantUsage
        assignees = batch.assigneeDaily
        datasets = batch.datasetDaily
        accounts = batch.accounts
        totalCharged = batch.totalCharged
        rollup = batch.rollup
        quotaDenials = batch.quotaDenials
        lastEvent = batch.events.last?.id ?? 0
        lastTransfer = batch.transfers.last?.id ?? 0
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.encoded() == rhs.encoded() }

    public func encoded() -> [UInt8] {
        var writer = EffectsWriter()
        writer.bytes.reserveCapacity(64 + 24 * (grants.count + assignees.count + datasets.count + accounts.count) + 48 * rollup.count)
        writer.bytes.append(Self.version)
        writer.int(batch)
        writer.int(at.microsecondsSince1970)
        writer.int(Int64(grants.count))
        for (grant, usage) in grants { writer.int(grant.rawValue); writer.int(usage.tokens); writer.int(usage.charged) }
        for daily in [assignees.map { ($0.party.rawValue, $0.usage) }, datasets.map { ($0.dataset.rawValue, $0.usage) }] {
            writer.int(Int64(daily.count))
            for (id, usage) in daily { writer.int(id); writer.int(Int64(usage.day.daysSince1970)); writer.int(usage.tokens) }
        }
        writer.int(Int64(accounts.count))
        for (party, account) in accounts { writer.int(party.rawValue); writer.int(account.debits); writer.int(account.credits) }
        writer.int(totalCharged)
        writer.int(Int64(rollup.count))
        for (cell, totals) in rollup {
            writer.int(Int64(cell.day.daysSince1970)); writer.int(cell.dataset.rawValue); writer.int(cell.assignee.rawValue)
            writer.text(cell.purpose); writer.text(cell.useRegion)
            writer.int(totals.events); writer.int(totals.tokens); writer.int(totals.amount)
        }
        writer.int(Int64(quotaDenials.count))
        for (cell, totals) in quotaDenials {
            writer.int(Int64(cell.day.daysSince1970)); writer.int(cell.assignee.rawValue); writer.int(cell.dataset.rawValue)
            writer.text(cell.quota.rawValue)
            writer.int(totals.events); writer.int(totals.tokens)
        }
        writer.int(lastEvent)
        writer.int(lastTransfer)
        return writer.bytes
    }

    /// The effects `bytes` hold, or nil when they are not a whole encoding of this version (a replica
    /// then rebuilds rather than guess).
    public init?(decoding bytes: [UInt8]) {
        var reader = EffectsReader(bytes: bytes)
        guard reader.byte() == Self.version else { return nil }
        do {
            batch = try reader.int()
            at = Timestamp(microsecondsSince1970: try reader.int())
            grants = try reader.list { r in (GrantID(rawValue: try r.int()), GrantUsage(tokens: try r.int(), charged: try r.int())) }
            assignees = try reader.list { r in (PartyID(rawValue: try r.int()), DailyUsage(day: try r.day(), tokens: try r.int())) }
            datasets = try reader.list { r in (DatasetID(rawValue: try r.int()), DailyUsage(day: try r.day(), tokens: try r.int())) }
            accounts = try reader.list { r in (PartyID(rawValue: try r.int()), LedgerAccount(debits: try r.int(), credits: try r.int())) }
            totalCharged = try reader.int()
            rollup = try reader.list { r in
                (UsageRollupCell(day: try r.day(), dataset: DatasetID(rawValue: try r.int()), assignee: PartyID(rawValue: try r.int()),
                                 purpose: try r.text(), useRegion: try r.text()),
                 UsageTotals(events: try r.int(), tokens: try r.int(), amount: try r.int()))
            }
            quotaDenials = try reader.list { r in
                let day = try r.day()
                let assignee = PartyID(rawValue: try r.int())
                let dataset = DatasetID(rawValue: try r.int())
                guard let quota = UsageQuota(rawValue: try r.text()) else { throw EffectsReader.Malformed() }
                return (QuotaDenialCell(day: day, assignee: assignee, dataset: dataset, quota: quota), DenialTotals(events: try r.int(), tokens: try r.int()))
            }
            lastEvent = try reader.int()
            lastTransfer = try reader.int()
        } catch {
            return nil
        }
        guard reader.isAtEnd else { return nil }
    }
}

private struct EffectsWriter {
    var bytes: [UInt8] = []

    mutating func int(_ value: Int64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func text(_ value: String) {
        int(Int64(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }
}

private struct EffectsReader {
    struct Malformed: Error {}
    let bytes: [UInt8]
    var offset = 0

    /// Lists hold at most this many entries: a batch touches at most one counter, cell or account an
    /// event (``Limits/maxUsageEventsPerCommit``) and two accounts a transfer; a corrupt count is refused
    /// before anything is reserved for it.
    static let maxCount: Int64 = 1 << 22

    var isAtEnd: Bool { offset == bytes.count }

    mutating func byte() -> UInt8? {
        guard offset < bytes.count else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func int() throws -> Int64 {
        guard bytes.count - offset >= 8 else { throw Malformed() }
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[offset + index]) << (8 * UInt64(index)) }
        offset += 8
        return Int64(bitPattern: value)
    }

    mutating func day() throws -> CivilDate {
        guard let days = Int32(exactly: try int()) else { throw Malformed() }
        return CivilDate(daysSince1970: days)
    }

    mutating func text() throws -> String {
        let count = try int()
        guard count >= 0, count <= Int64(bytes.count - offset) else { throw Malformed() }
        defer { offset += Int(count) }
        return String(decoding: bytes[offset..<(offset + Int(count))], as: UTF8.self)
    }

    mutating func list<T>(_ element: (inout EffectsReader) throws -> T) throws -> [T] {
        let count = try int()
        guard count >= 0, count <= Self.maxCount else { throw Malformed() }
        var items: [T] = []
        items.reserveCapacity(Int(count))
        for _ in 0..<count { items.append(try element(&self)) }
        return items
    }
}
