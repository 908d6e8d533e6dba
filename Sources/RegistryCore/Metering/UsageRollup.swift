import Synchronization

/// One cell of the usage rollup (issue 16, for R29): accepted use of `dataset` by `assignee` for
/// `purpose` in `useRegion` on `day`, the registry calendar's day the use was committed on (the day the
/// daily caps count it against, R27; not the day the assignee dated it).
public struct UsageRollupCell: Sendable, Hashable, Comparable {
    public var day: CivilDate
    public var dataset: DatasetID
    public var assignee: PartyID
    public var purpose: String
    public var useRegion: String

    public init(day: CivilDate, dataset: DatasetID, assignee: PartyID, purpose: String, useRegion: String) {
        self.day = day
        self.dataset = dataset
        self.assignee = assignee
        self.purpose = purpose
        self.useRegion = useRegion
    }

    public static func < (left: Self, right: Self) -> Bool {
        (left.day, left.dataset, left.assignee) != (right.day, right.dataset, right.assignee)
            ? (left.day, left.dataset, left.assignee) < (right.day, right.dataset, right.assignee)
            : (left.purpose, left.useRegion) < (right.purpose, right.useRegion)
    }
}

/// What a rollup cell counts: accepted events, their tokens and what they were charged (fen).
public struct UsageTotals: Sendable, Equatable {
    public var events: Int64
    public var tokens: Int64
    public var amount: Int64

    public init(events: Int64 = 0, tokens: Int64 = 0, amount: Int64 = 0) {
        self.events = events
        self.tokens = tokens
        self.amount = amount
    }

    /// Sums that saturate at `Int64.max` instead of trapping. Within the registry's limits they cannot
    /// get there: a cell's tokens on a day are at most its assignee's daily counter (at most
    /// ``Limits/maxCounterTokens``, 2⁶²), its events at most its tokens, its amount at most the
    /// ledger's capacity (``Limits/maxLedgerChargeFen``). Only a change of the calendar's UTC offset can
    /// let one day be counted twice; that still fits, and the sum is exact.
    mutating func add(_ other: Self) {
        events = Self.saturating(events, other.events)
        tokens = Self.saturating(tokens, other.tokens)
        amount = Self.saturating(amount, other.amount)
    }

    static func saturating(_ left: Int64, _ right: Int64) -> Int64 {
        let (sum, overflow) = left.addingReportingOverflow(right)
        return overflow ? (right > 0 ? .max : .min) : sum
    }
}

/// One cell of the denial rollup: `assignee`'s events on `dataset` that `quota` denied on `day` (R27,
/// for R29's "quota denials per lab").
public struct QuotaDenialCell: Sendable, Hashable, Comparable {
    public var day: CivilDate
    public var assignee: PartyID
    public var dataset: DatasetID
    public var quota: UsageQuota

    public init(day: CivilDate, assignee: PartyID, dataset: DatasetID, quota: UsageQuota) {
        self.day = day
        self.assignee = assignee
        self.dataset = dataset
        self.quota = quota
    }

    public static func < (left: Self, right: Self) -> Bool {
        (left.day, left.assignee, left.dataset, left.quota.rawValue) < (right.day, right.assignee, right.dataset, right.quota.rawValue)
    }
}

/// What a denial cell counts: denied events and the tokens they asked for.
public struct DenialTotals: Sendable, Equatable {
    public var events: Int64
    public var tokens: Int64

    public init(events: Int64 = 0, tokens: Int64 = 0) {
        self.events = events
        self.tokens = tokens
    }

    /// Saturating, like ``UsageTotals``: denials have no counter bounding them, but each asks for at
    /// most ``Limits/maxTokensPerUsageEvent`` (10¹²) tokens, so 2⁶³ is millions of years of denials away.
    mutating func add(_ other: Self) {
        events = UsageTotals.saturating(events, other.events)
        tokens = UsageTotals.saturating(tokens, other.tokens)
    }
}

/// The daily rollups of metering (issue 16): accepted use by (day, dataset, assignee, purpose, use
/// region) and quota denials by (day, assignee, dataset, quota). Statistics and use-of-dataset answers
/// read these, never the raw events; each group commit adds its batch's deltas (planned with the batch,
/// written in the same transaction) and a rebuild reads them back from PostgreSQL.
///
/// Kept compactly, for ~90 days × active grants of cells, as rows in flat arrays: a row is a 16-byte
/// packed key — dataset and assignee (32 bits each), the day and an interned (purpose, use region) label
/// (32 bits each) — and its 24 bytes of totals. A dictionary finds a cell's row when a batch adds to it;
/// two ``ChainIndex``es link the rows of one dataset and of one day (4 bytes a row each), so that a
/// question about a dataset reads that dataset's rows and a question about a period reads that
/// period's rows, nothing else. The labels are few (a grant's purpose and region) and kept once each.
public struct UsageRollup: Sendable {
    struct Key: Hashable {
        /// dataset << 32 | assignee.
        var datasetAssignee: UInt64
        /// day (days since 1970, as a bit pattern) << 32 | label.
        var dayLabel: UInt64
    }

    struct DenialKey: Hashable {
        /// dataset << 32 | assignee.
        var datasetAssignee: UInt64
        /// day << 32 | quota index.
        var dayQuota: UInt64
    }

    struct Label: Hashable {
        var purpose: String
        var useRegion: String
    }

    /// Accepted use: row i is `keys[i]` with `totals[i]`; `rows` finds a key's row.
    private var keys: [Key] = []
    private var totals: [UsageTotals] = []
    private var rows: [Key: Int32] = [:]
    /// Rows by dataset and by day (members are row + 1; days are owners as days since 1970 + 1).
    private var rowsByDataset = ChainIndex()
    private var rowsByDay = ChainIndex()
    /// Quota denials, kept the same way, chained by day only (they are few).
    private var denialKeys: [DenialKey] = []
    private var denialTotals: [DenialTotals] = []
    private var denialRows: [DenialKey: Int32] = [:]
    private var denialsByDay = ChainIndex()
    private var labels: [Label] = []
    private var labelIDs: [Label: UInt32] = [:]
    /// The first and last day with a row (accepted or denied).
    public private(set) var firstDay: CivilDate?
    public private(set) var lastDay: CivilDate?
    /// This rollup's history, for what is kept of it elsewhere (``StatisticsCache``): a new rollup (a load,
    /// a rebuild after the core could not follow the log) gets a new generation, and ``lateChanges``
    /// counts rows added to a day before ``lastDay`` — which a replica following the log sees when
    /// another replica, its clock a little behind, commits use on a day this one had already left.
    public private(set) var generation = UsageRollup.nextGeneration()
    public private(set) var lateChanges: Int64 = 0
    private static let generations = Atomic<Int64>(0)
    private static func nextGeneration() -> Int64 { generations.add(1, ordering: .relaxed).newValue }

    public init() {}

    /// Cells with accepted use.
    public var cellCount: Int { keys.count }
    /// Cells with quota denials.
    public var denialCellCount: Int { denialKeys.count }
    /// (purpose, use region) labels seen: a row's ``Entry/label`` is below this.
    public var labelCount: Int { labels.count }
    /// The purpose and use region of a label.
    public func label(_ label: Int) -> (purpose: String, useRegion: String) { (labels[label].purpose, labels[label].useRegion) }

    /// Bytes a cell takes in its row, without the index: the packed key and the totals.
    public static var bytesPerCell: Int { MemoryLayout<Key>.stride + MemoryLayout<UsageTotals>.stride }

    /// Bytes the rollups hold now, spare capacity included; the labels' strings left out. A Swift
    /// dictionary keeps keys and values in two arrays of a power-of-two number of buckets, filled to at
    /// most three quarters (its capacity), with one bit a bucket of metadata; a chain costs 4 bytes a
    /// member and 8 an owner.
    public var tableBytes: Int {
        func buckets(_ capacity: Int) -> Int {
            var count = 1
            while count * 3 / 4 < capacity { count *= 2 }
            return capacity == 0 ? 0 : count
        }
        let rowBuckets = buckets(rows.capacity)
        let denialBuckets = buckets(denialRows.capacity)
        let rowBytes = keys.capacity * MemoryLayout<Key>.stride + totals.capacity * MemoryLayout<UsageTotals>.stride
            + rowBuckets * (MemoryLayout<Key>.stride + 4) + rowBuckets / 8 + 2 * 4 * keys.count
        let denialBytes = denialKeys.capacity * MemoryLayout<DenialKey>.stride + denialTotals.capacity * MemoryLayout<DenialTotals>.stride
            + denialBuckets * (MemoryLayout<DenialKey>.stride + 4) + denialBuckets / 8 + 4 * denialKeys.count
        return rowBytes + denialBytes
    }

    /// The totals of `cell`, nil when nothing was accepted in it.
    public func totals(of cell: UsageRollupCell) -> UsageTotals? {
        guard let label = labelIDs[Label(purpose: cell.purpose, useRegion: cell.useRegion)],
              let row = rows[Self.key(cell, label: label)] else { return nil }
        return totals[Int(row)]
    }

    /// The denials of `cell`, nil when there were none.
    public func denials(of cell: QuotaDenialCell) -> DenialTotals? { denialRows[Self.key(cell)].map { denialTotals[Int($0)] } }

    /// Every cell with its totals, in cell order. Reads the whole rollup: for exports and tests, not for
    /// answering a request (those walk the rows they need, by dataset or by day).
    public var allCells: [(cell: UsageRollupCell, totals: UsageTotals)] {
        keys.indices.map { (cell(of: keys[$0]), totals[$0]) }.sorted { $0.cell < $1.cell }
    }

    /// Every denial cell with its totals, in cell order (like ``allCells``: not for a request's path).
    public var allDenials: [(cell: QuotaDenialCell, totals: DenialTotals)] {
        denialKeys.indices.map { (Self.cell(of: denialKeys[$0]), denialTotals[$0]) }.sorted { $0.cell < $1.cell }
    }

    // MARK: Reading by dataset and by day

    /// One row of the rollup as a question reads it: the label is an index for ``label(_:)``, so that an
    /// answer groups by it without comparing strings.
    public struct Entry: Sendable {
        public var day: CivilDate
        public var dataset: DatasetID
        public var assignee: PartyID
        public var label: Int
        public var totals: UsageTotals
    }

    /// One denial row as a question reads it.
    public struct DenialEntry: Sendable {
        public var day: CivilDate
        public var dataset: DatasetID
        public var assignee: PartyID
        public var quota: UsageQuota
        public var totals: DenialTotals
    }

    /// Calls `body` with each row of `dataset` whose day is in `days` (rows of other datasets are not
    /// read).
    public func forEachEntry(of dataset: DatasetID, in days: ClosedRange<CivilDate>, _ body: (Entry) -> Void) {
        var member = rowsByDataset.firstMember(of: dataset.rawValue)
        while member != 0 {
            let row = Int(member - 1)
            let entry = entry(row)
            if days.contains(entry.day) { body(entry) }
            member = rowsByDataset.member(after: member)
        }
    }

    /// Calls `body` with each row of each day in `days`, day by day (rows of other days are not read).
    public func forEachEntry(in days: ClosedRange<CivilDate>, _ body: (Entry) -> Void) {
        guard let span = clamp(days) else { return }
        for owner in span {
            var member = rowsByDay.firstMember(of: owner)
            while member != 0 {
                body(entry(Int(member - 1)))
                member = rowsByDay.member(after: member)
            }
        }
    }

    /// Calls `body` with each denial row of each day in `days`.
    public func forEachDenial(in days: ClosedRange<CivilDate>, _ body: (DenialEntry) -> Void) {
        guard let span = clamp(days) else { return }
        for owner in span {
            var member = denialsByDay.firstMember(of: owner)
            while member != 0 {
                let row = Int(member - 1)
                let (dataset, assignee, day, quota) = Self.unpack(denialKeys[row].datasetAssignee, denialKeys[row].dayQuota)
                body(DenialEntry(day: day, dataset: dataset, assignee: assignee, quota: UsageQuota.allCases[quota], totals: denialTotals[row]))
                member = denialsByDay.member(after: member)
            }
        }
    }

    /// `days` as chain owners, cut to the days that have rows: a question about any period reads at most
    /// the days the rollup holds.
    private func clamp(_ days: ClosedRange<CivilDate>) -> ClosedRange<Int64>? {
        guard let first = firstDay, let last = lastDay else { return nil }
        let lower = max(Self.dayOwner(days.lowerBound), Self.dayOwner(first))
        let upper = min(Self.dayOwner(days.upperBound), Self.dayOwner(last))
        return lower <= upper ? lower...upper : nil
    }

    private func entry(_ row: Int) -> Entry {
        let (dataset, assignee, day, label) = Self.unpack(keys[row].datasetAssignee, keys[row].dayLabel)
        return Entry(day: day, dataset: dataset, assignee: assignee, label: label, totals: totals[row])
    }

    // MARK: Adding

    /// Adds a committed batch's deltas (or rows read back from PostgreSQL).
    mutating func add(_ deltas: [(cell: UsageRollupCell, totals: UsageTotals)], denials denied: [(cell: QuotaDenialCell, totals: DenialTotals)]) {
        for (cell, delta) in deltas {
            see(cell.day)
            let key = Self.key(cell, label: label(cell.purpose, cell.useRegion))
            if let row = rows[key] {
                totals[Int(row)].add(delta)
            } else {
                precondition(keys.count < Int(Int32.max) - 1, "rollup rows are counted in 31 bits")
                let row = Int64(keys.count)
                keys.append(key)
                totals.append(delta)
                rows[key] = Int32(row)
                rowsByDataset.append(row + 1, to: cell.dataset.rawValue)
                rowsByDay.append(row + 1, to: Self.dayOwner(cell.day))
            }
        }
        for (cell, delta) in denied {
            see(cell.day)
            let key = Self.key(cell)
            if let row = denialRows[key] {
                denialTotals[Int(row)].add(delta)
            } else {
                precondition(denialKeys.count < Int(Int32.max) - 1, "rollup rows are counted in 31 bits")
                let row = Int64(denialKeys.count)
                denialKeys.append(key)
                denialTotals.append(delta)
                denialRows[key] = Int32(row)
                denialsByDay.append(row + 1, to: Self.dayOwner(cell.day))
            }
        }
    }

    private mutating func see(_ day: CivilDate) {
        precondition(day.daysSince1970 >= 0, "usage is committed after 1970")
        if let lastDay, day < lastDay { lateChanges += 1 }
        firstDay = min(firstDay ?? day, day)
        lastDay = max(lastDay ?? day, day)
    }

    private mutating func label(_ purpose: String, _ useRegion: String) -> UInt32 {
        let label = Label(purpose: purpose, useRegion: useRegion)
        if let id = labelIDs[label] { return id }
        precondition(labels.count < UInt32.max, "more (purpose, region) labels than grants can have")
        labels.append(label)
        labelIDs[label] = UInt32(labels.count - 1)
        return UInt32(labels.count - 1)
    }

    /// A day as a chain owner: days since 1970, plus one (owners are positive). Usage is committed on
    /// the registry's clock, after 1970.
    private static func dayOwner(_ day: CivilDate) -> Int64 { Int64(day.daysSince1970) + 1 }

    /// Dataset and party ids are dense and below 2³¹ (the lineage graph holds datasets as `Int32`).
    private static func pair(_ dataset: DatasetID, _ assignee: PartyID) -> UInt64 {
        precondition(UInt64(bitPattern: dataset.rawValue) <= UInt64(UInt32.max) && UInt64(bitPattern: assignee.rawValue) <= UInt64(UInt32.max),
            "rollup ids are 32-bit")
        return UInt64(dataset.rawValue) << 32 | UInt64(assignee.rawValue)
    }

    private static func high(_ day: CivilDate) -> UInt64 { UInt64(UInt32(bitPattern: day.daysSince1970)) << 32 }

    private static func key(_ cell: UsageRollupCell, label: UInt32) -> Key {
        Key(datasetAssignee: pair(cell.dataset, cell.assignee), dayLabel: high(cell.day) | UInt64(label))
    }

    private static func key(_ cell: QuotaDenialCell) -> DenialKey {
        DenialKey(datasetAssignee: pair(cell.dataset, cell.assignee), dayQuota: high(cell.day) | UInt64(quotaIndex(cell.quota)))
    }

    private static func quotaIndex(_ quota: UsageQuota) -> Int { UsageQuota.allCases.firstIndex(of: quota)! }

    private static func unpack(_ pair: UInt64, _ dayLow: UInt64) -> (DatasetID, PartyID, CivilDate, Int) {
        (DatasetID(rawValue: Int64(pair >> 32)), PartyID(rawValue: Int64(pair & 0xFFFF_FFFF)),
         CivilDate(daysSince1970: Int32(bitPattern: UInt32(truncatingIfNeeded: dayLow >> 32))), Int(dayLow & 0xFFFF_FFFF))
    }

    private func cell(of key: Key) -> UsageRollupCell {
        let (dataset, assignee, day, label) = Self.unpack(key.datasetAssignee, key.dayLabel)
        return UsageRollupCell(day: day, dataset: dataset, assignee: assignee, purpose: labels[label].purpose, useRegion: labels[label].useRegion)
    }

    private static func cell(of key: DenialKey) -> QuotaDenialCell {
        let (dataset, assignee, day, quota) = unpack(key.datasetAssignee, key.dayQuota)
        return QuotaDenialCell(day: day, assignee: assignee, dataset: dataset, quota: UsageQuota.allCases[quota])
    }

    /// What the state digest covers of the rollups: every cell, in order; nil when there are none (a
    /// registry without usage keeps the digest it had before rollups existed).
    struct Snapshot: Encodable {
        var cells: [Row]
        var denials: [Row]

        struct Row: Encodable {
            var key: [String]
            var values: [Int64]
        }
    }

    var snapshot: Snapshot? {
        guard !keys.isEmpty || !denialKeys.isEmpty else { return nil }
        return Snapshot(
            cells: allCells.map {
                .init(key: ["\($0.cell.day.daysSince1970)", "\($0.cell.dataset.rawValue)", "\($0.cell.assignee.rawValue)", $0.cell.purpose, $0.cell.useRegion],
                    values: [$0.totals.events, $0.totals.tokens, $0.totals.amount])
            },
            denials: allDenials.map {
                .init(key: ["\($0.cell.day.daysSince1970)", "\($0.cell.assignee.rawValue)", "\($0.cell.dataset.rawValue)", $0.cell.quota.rawValue],
                    values: [$0.totals.events, $0.totals.tokens])
            })
    }
}
