/// The compliance questions about use (R29, issue 16) that the daily usage rollup answers: who used a
/// dataset, directly or through what was derived from it; quota denials per lab and per dataset; the
/// annual report per processor. Each reads the rollup's rows of the datasets or days it needs
/// (``UsageRollup``), never raw usage events. Days are the registry calendar's days the use was
/// committed on (the rollup's day).

/// Use of one dataset, or one of its descendants, by one party for one purpose.
public struct DatasetUseRow: Sendable, Equatable {
    public var party: PartyID
    public var purpose: String
    /// The dataset actually used: the one asked about, or a descendant of it.
    public var dataset: DatasetID
    public var viaDescendant: Bool
    public var totals: UsageTotals
}

/// Who used a dataset and its descendants in a period.
public struct DatasetUseAnswer: Sendable, Equatable {
    /// By tokens (most first), then dataset, party and purpose.
    public var rows: [DatasetUseRow]
    /// Over every row.
    public var totals: UsageTotals
    /// Datasets whose use was read: the dataset and the descendants within the budget.
    public var datasetsRead: Int
    /// False when the descendants were more than the budget: the answer covers `datasetsRead` of them.
    public var complete: Bool
}

/// Quota denials (R27) of one lab or one dataset, by quota.
public struct QuotaDenialRow: Sendable, Equatable {
    public var lab: PartyID?
    public var dataset: DatasetID?
    public var quota: UsageQuota
    public var totals: DenialTotals
}

/// How ``RegistryState/quotaDenials(in:lab:dataset:quota:by:)`` groups its rows.
public enum QuotaDenialGrouping: String, Sendable, CaseIterable {
    case lab
    case dataset
    /// Lab and dataset together.
    case pair
}

/// One line of a processor's annual report: a section (`total`, `purpose`, `domain`, `region`,
/// `storage`, `outbound`) and the key within it, with the figures that section fills.
public struct AnnualReportLine: Sendable, Equatable {
    public enum Section: String, Sendable, CaseIterable {
        /// The year's quantities: tokens, events, charge, datasets used, individuals covered.
        case total
        /// Per purpose of use.
        case purpose
        /// Per data type: each tag of the datasets used (`untagged` for none).
        case domain
        /// Per region of use (scope).
        case region
        /// Per retention the processor's grants oblige it to (storage): `N days`, or `not limited`.
        case storage
        /// Per dataset sent abroad under a cross-border grant (outbound transfers).
        case outbound
    }

    public var processor: PartyID
    public var section: Section
    public var key: String
    /// Grants the line counts (storage and outbound; the total's: every grant of the processor in force
    /// at some time in the year).
    public var grants: Int64
    /// Distinct datasets used (or, for outbound, sent).
    public var datasets: Int64
    public var totals: UsageTotals
    /// Individuals covered by the datasets used (sum over distinct datasets: an upper bound, since the
    /// same person may be in several), or, for outbound, by the cross-border grants.
    public var individuals: Int64
}

extension RegistryState {
    /// Who used `dataset` in `days`: its own rows and, with `descendants`, those of every dataset derived
    /// from it (up to `budget` of them), grouped by (party, purpose, dataset used). Nil when the dataset
    /// does not exist.
    public func datasetUse(
        of dataset: DatasetID, in days: ClosedRange<CivilDate>, descendants: Bool, party: PartyID?, purpose: String?, budget: Int
    ) -> DatasetUseAnswer? {
        guard catalog.datasets[dataset.rawValue] != nil else { return nil }
        struct Group: Hashable {
            var party: PartyID
            var label: Int
            var dataset: DatasetID
        }
        let rollup = usage.rollup
        var groups: [Group: UsageTotals] = [:]
        // The purpose is a label of the rollup's: compare label indexes, not strings, per row.
        var labelMatches: [Bool] = (0..<rollup.labelCount).map { purpose == nil || rollup.label($0).purpose == purpose }
        func read(_ used: DatasetID) {
            rollup.forEachEntry(of: used, in: days) { entry in
                if let party, entry.assignee != party { return }
                guard labelMatches[entry.label] else { return }
                groups[Group(party: entry.assignee, label: entry.label, dataset: used), default: UsageTotals()].add(entry.totals)
            }
        }
        read(dataset)
        var datasetsRead = 1
        var complete = true
        if descendants, budget > 0 {
            var found: [Int32] = []
            let outcome = ScratchPool.withScratch { scratch in
                lineage.graph.descendantSet(of: Int32(dataset.rawValue), budget: budget, scratch: &scratch) { node in
                    found.append(node)
                    return true
                }
            }
            complete = !outcome.budgetExhausted
            for node in found { read(DatasetID(rawValue: Int64(node))) }
            datasetsRead += found.count
        } else if descendants {
            complete = false
        }
        labelMatches = []
        var totals = UsageTotals()
        var rows: [DatasetUseRow] = []
        rows.reserveCapacity(groups.count)
        for (group, sum) in groups {
            totals.add(sum)
            rows.append(DatasetUseRow(
                party: group.party, purpose: rollup.label(group.label).purpose, dataset: group.dataset, viaDescendant: group.dataset != dataset,
                totals: sum))
        }
        // Groups of one (party, dataset) with two regions share a purpose: merge them.
        var merged: [DatasetUseRow] = []
        for row in rows.sorted(by: Self.rowKeyOrder) {
            if let last = merged.last, last.party == row.party, last.dataset == row.dataset, last.purpose == row.purpose {
                merged[merged.count - 1].totals.add(row.totals)
            } else {
                merged.append(row)
            }
        }
        merged.sort { left, right in
            left.totals.tokens != right.totals.tokens ? left.totals.tokens > right.totals.tokens : Self.rowKeyOrder(left, right)
        }
        return DatasetUseAnswer(rows: merged, totals: totals, datasetsRead: datasetsRead, complete: complete)
    }

    private static func rowKeyOrder(_ left: DatasetUseRow, _ right: DatasetUseRow) -> Bool {
        (left.dataset.rawValue, left.party.rawValue, left.purpose) < (right.dataset.rawValue, right.party.rawValue, right.purpose)
    }

    /// Quota denials in `days`, filtered, grouped by lab, dataset or both, and by quota; most denied
    /// tokens first.
    public func quotaDenials(
        in days: ClosedRange<CivilDate>, lab: PartyID?, dataset: DatasetID?, quota: UsageQuota?, by grouping: QuotaDenialGrouping
    ) -> (rows: [QuotaDenialRow], totals: DenialTotals) {
        struct Group: Hashable {
            var lab: PartyID?
            var dataset: DatasetID?
            var quota: UsageQuota
        }
        var groups: [Group: DenialTotals] = [:]
        var totals = DenialTotals()
        usage.rollup.forEachDenial(in: days) { entry in
            if let lab, entry.assignee != lab { return }
            if let dataset, entry.dataset != dataset { return }
            if let quota, entry.quota != quota { return }
            let group = Group(
                lab: grouping == .dataset ? nil : entry.assignee, dataset: grouping == .lab ? nil : entry.dataset, quota: entry.quota)
            groups[group, default: DenialTotals()].add(entry.totals)
            totals.add(entry.totals)
        }
        let rows = groups.map { QuotaDenialRow(lab: $0.key.lab, dataset: $0.key.dataset, quota: $0.key.quota, totals: $0.value) }
        return (rows.sorted { left, right in
            if left.totals.tokens != right.totals.tokens { return left.totals.tokens > right.totals.tokens }
            return (left.lab?.rawValue ?? 0, left.dataset?.rawValue ?? 0, left.quota.rawValue)
                < (right.lab?.rawValue ?? 0, right.dataset?.rawValue ?? 0, right.quota.rawValue)
        }, totals)
    }

    /// The annual report of each processor (a party holding a grant in force at some time in `year`, or
    /// with use in it), or of `processor` alone: its lines, section by section, processors in id order.
    /// Reads the year's rollup rows once and every grant once.
    public func annualReport(year: Int, processor: PartyID?) -> [AnnualReportLine] {
        guard let first = CivilDate(year: year, month: 1, day: 1), let last = CivilDate(year: year, month: 12, day: 31) else { return [] }
        let calendar = settings.calendar
        struct Key: Hashable {
            var processor: PartyID
            var section: AnnualReportLine.Section
            var key: String
        }
        struct Figures {
            var grants: Int64 = 0
            var datasets: Set<DatasetID> = []
            var totals = UsageTotals()
            var individuals: Int64 = 0
        }
        var lines: [Key: Figures] = [:]
        var tagsOf: [DatasetID: [String]] = [:]
        func tags(_ dataset: DatasetID) -> [String] {
            if let known = tagsOf[dataset] { return known }
            let tags = Array(Set(catalog.datasets[dataset.rawValue]?.tags ?? [])).sorted()
            tagsOf[dataset] = tags.isEmpty ? ["untagged"] : tags
            return tagsOf[dataset]!
        }
        let rollup = usage.rollup
        rollup.forEachEntry(in: first...last) { entry in
            if let processor, entry.assignee != processor { return }
            let label = rollup.label(entry.label)
            var keys = [Key(processor: entry.assignee, section: .total, key: "total"),
                        Key(processor: entry.assignee, section: .purpose, key: label.purpose),
                        Key(processor: entry.assignee, section: .region, key: label.useRegion)]
            for tag in tags(entry.dataset) { keys.append(Key(processor: entry.assignee, section: .domain, key: tag)) }
            for key in keys {
                lines[key, default: Figures()].totals.add(entry.totals)
                lines[key, default: Figures()].datasets.insert(entry.dataset)
            }
        }
        // Grants whose validity window meets the year (and made by its end): storage and outbound, and
        // the total's grant count. A grant revoked or ended early still counts: it was in force.
        var outboundTokens: [Key: UsageTotals] = [:]
        for id in stride(from: Int64(1), through: Int64(market.grants.count), by: 1) {
            guard let grant = market.grants[id] else { continue }
            if let processor, grant.assignee != processor { continue }
            guard calendar.date(at: grant.validFrom) <= last, calendar.date(at: grant.validUntil) >= first,
                  calendar.date(at: grant.createdAt) <= last else { continue }
            lines[Key(processor: grant.assignee, section: .total, key: "total"), default: Figures()].grants += 1
            let storage = grant.retentionDays.map { "\($0) days" } ?? "not limited"
            lines[Key(processor: grant.assignee, section: .storage, key: storage), default: Figures()].grants += 1
            lines[Key(processor: grant.assignee, section: .storage, key: storage), default: Figures()].datasets.insert(grant.dataset)
            if grant.crossBorder {
                let key = Key(processor: grant.assignee, section: .outbound, key: "\(grant.dataset.rawValue)")
                lines[key, default: Figures()].grants += 1
                lines[key, default: Figures()].datasets.insert(grant.dataset)
                lines[key, default: Figures()].individuals = UsageTotals.saturating(lines[key]!.individuals, grant.individualsCovered)
                outboundTokens[key] = UsageTotals()
            }
        }
        // Outbound lines carry the use of their dataset by the processor in the year.
        for key in outboundTokens.keys {
            var used = UsageTotals()
            rollup.forEachEntry(of: DatasetID(rawValue: Int64(key.key)!), in: first...last) { entry in
                if entry.assignee == key.processor { used.add(entry.totals) }
            }
            lines[key]!.totals = used
        }
        var individualsOf: [DatasetID: Int64] = [:]
        func individuals(_ dataset: DatasetID) -> Int64 {
            if let known = individualsOf[dataset] { return known }
            let count = catalog.datasets[dataset.rawValue]?.individualsCovered ?? 0
            individualsOf[dataset] = count
            return count
        }
        let sectionOrder = Dictionary(uniqueKeysWithValues: AnnualReportLine.Section.allCases.enumerated().map { ($1, $0) })
        return lines.map { key, figures in
            AnnualReportLine(
                processor: key.processor, section: key.section, key: key.key, grants: figures.grants, datasets: Int64(figures.datasets.count),
                totals: figures.totals,
                individuals: key.section == .outbound
                    ? figures.individuals
                    : figures.datasets.reduce(Int64(0)) { UsageTotals.saturating($0, individuals($1)) })
        }.sorted { left, right in
            if left.processor != right.processor { return left.processor.rawValue < right.processor.rawValue }
            if left.section != right.section { return sectionOrder[left.section]! < sectionOrder[right.section]! }
            if left.section == .total || left.section == .outbound || left.section == .storage { return left.key < right.key }
            return left.totals.tokens != right.totals.tokens ? left.totals.tokens > right.totals.tokens : left.key < right.key
        }
    }
}
