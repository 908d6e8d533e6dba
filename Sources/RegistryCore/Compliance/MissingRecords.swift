/// R29: grants of important or personal/sensitive data lacking the assessment, consent or approval records
/// R14–R16 require — judged by the dataset's grade and personal-information level in effect now, not when
/// the grant was made: a grade raised, or a source edge added, after the grant can leave it lacking what it
/// now needs, and data loaded from before a rule existed never passed the check at all.

extension AccessState {
    /// The states of a grant still in force or able to return to it — agreed (its window not begun),
    /// active, suspended: what compliance answers about grants count as live. Revoked, expired and
    /// terminated grants end for good, and need nothing more.
    public static let live: [AccessState] = [.agreed, .active, .suspended]

    public var isLive: Bool { self == .agreed || self == .active || self == .suspended }
}

/// Which grants ``RegistryState/missingRecords(_:after:limit:)`` reads.
public struct MissingRecordsFilter: Sendable, Equatable {
    /// The dataset's holder now.
    public var holder: PartyID?
    public var assignee: PartyID?
    public var record: AccessRecordKind?
    /// One of ``AccessState/live``; nil: all of them.
    public var state: AccessState?

    public init(holder: PartyID? = nil, assignee: PartyID? = nil, record: AccessRecordKind? = nil, state: AccessState? = nil) {
        self.holder = holder
        self.assignee = assignee
        self.record = record
        self.state = state
    }
}

/// One record one live grant lacks.
public struct MissingRecord: Sendable, Equatable {
    public var grant: Grant
    /// The dataset's holder now.
    public var holder: PartyID
    public var record: AccessRecordKind
    /// Every ground that needs the record (a security assessment may be needed on several), first the
    /// rule that a refusal would name first.
    public var requirements: [RecordRequirement]
    /// The dataset's grade and personal-information level in effect now (R12).
    public var grade: Grade
    public var personalInformation: PersonalInformationLevel
    /// Individuals the grant reaches as judged now (R16); 0 without personal information.
    public var individualsCovered: Int64
    /// R16: the processor's count in the grant's calendar year up to and including this grant.
    public var crossBorderCount: CrossBorderCount?
    /// Where the row is in the answer: the cursor that continues after it.
    public var position: Int64
}

/// Counts over every row of the answer, not only one page.
public struct MissingRecordsTotals: Sendable, Equatable {
    public var rows = 0
    /// Live grants lacking at least one record.
    public var grants = 0
    /// Rows by record, in ``AccessRecordKind`` order.
    public var byRecord = [Int](repeating: 0, count: AccessRecordKind.allCases.count)

    public init() {}
}

public struct MissingRecordsAnswer: Sendable, Equatable {
    public var rows: [MissingRecord]
    /// The cursor of the next page; nil on the last.
    public var next: Int64?
    public var totals: MissingRecordsTotals
}

extension RegistryState {
    /// One row per (live grant, record it lacks), in grant id order and then ``AccessRecordKind`` order,
    /// after `cursor` (a row's ``MissingRecord/position``; 0 from the start), at most `limit` rows; with
    /// totals over every row.
    ///
    /// What a grant needs is ``requiredRecords(_:)`` — the check made when it was requested — applied to
    /// the dataset's effective grade and PI level now, the grant's use region and recorded cross-border
    /// status; what it holds is what its access request carried (``AccessRecords``). R16's count for a
    /// grant is what the request was judged by: the processor's cross-border grants of the same calendar
    /// year made before it (as recorded), plus the individuals this grant reaches now.
    ///
    /// One pass over every grant, reading scalars (``GrantTable/facts(_:)``) and making records only for
    /// the page's rows: the R16 counts need every earlier grant, and the totals every later one.
    public func missingRecords(_ filter: MissingRecordsFilter, after cursor: Int64, limit: Int) -> MissingRecordsAnswer {
        let grants = market.grants
        let requests = market.accessRequests
        let datasets = catalog.datasets
        let graph = lineage.graph
        let calendar = settings.calendar
        let limit = max(0, min(limit, Limits.maxPageSize))
        var running: [CrossBorderKey: CrossBorderCount] = [:]
        var rows: [MissingRecord] = []
        var more = false
        var totals = MissingRecordsTotals()
        for id in stride(from: Int64(1), through: Int64(grants.count), by: 1) {
            guard let facts = grants.facts(id) else { continue }
            let key = facts.crossBorder ? CrossBorderKey(processor: facts.assignee, year: Int32(calendar.date(at: facts.createdAt).components.year)) : nil
            // This grant joins the processor's count only after it is judged (R16 counts the grants before it).
            defer {
                if let key, facts.individualsCovered > 0 { running[key, default: CrossBorderCount()].add(facts.individualsCovered, sensitive: facts.sensitive) }
            }
            guard facts.state.isLive else { continue }
            if let state = filter.state, facts.state != state { continue }
            if let assignee = filter.assignee, facts.assignee != assignee { continue }
            if let wanted = filter.holder, datasets.holder(of: facts.dataset.rawValue) != wanted { continue }
            let node = Int32(facts.dataset.rawValue)
            guard graph.contains(node) else { continue }
            let effective = graph.effectiveRestrictions(of: node)
            // Nothing is needed of general data without sensitive information unless it leaves the mainland with PI.
            guard effective.grade == .important || effective.personalInformation == .sensitive
                || (facts.crossBorder && effective.personalInformation != .none)
            else { continue }
            // R16: the individuals the grant reaches now (the dataset's own count or what it inherits), read
            // from the record only where a count is needed.
            func individualsNow() -> Int64 {
                guard effective.personalInformation != .none, let dataset = catalog.dataset(facts.dataset) else { return 0 }
                return Self.individualsCovered(by: dataset, effective: effective)
            }
            var individuals: Int64?
            var count: CrossBorderCount?
            if let key, effective.personalInformation != .none {
                let reached = individualsNow()
                var judged = running[key] ?? CrossBorderCount()
                judged.add(reached, sensitive: effective.personalInformation == .sensitive)
                individuals = reached
                count = judged
            }
            let situation = RecordSituation(
                dataset: facts.dataset, datasetRegion: effective.grade == .important ? datasets.region(of: facts.dataset.rawValue) ?? "" : "",
                grade: effective.grade, personalInformation: effective.personalInformation, useRegion: grants.useRegion(of: id) ?? "",
                crossBorder: facts.crossBorder, crossBorderCount: count ?? CrossBorderCount())
            let held = requests.heldRecordMask(of: facts.request.rawValue) ?? 0
            var needed: UInt8 = 0
            Self.forEachRequiredRecord(situation) { needed |= $0.record.bit }
            let missing = needed & ~held
            guard missing != 0 else { continue }
            var counted = false
            for record in AccessRecordKind.allCases where missing & record.bit != 0 {
                if let wanted = filter.record, record != wanted { continue }
                totals.rows += 1
                totals.byRecord[record.field] += 1
                if !counted {
                    totals.grants += 1
                    counted = true
                }
                let position = id << 3 | Int64(record.field)
                guard position > cursor else { continue }
                guard rows.count < limit else {
                    more = true
                    continue
                }
                // A row of the page: now the record, its holder and the words.
                guard let grant = grants[id], let holder = datasets.holder(of: facts.dataset.rawValue) else { continue }
                if individuals == nil { individuals = individualsNow() }
                rows.append(MissingRecord(
                    grant: grant, holder: holder, record: record,
                    requirements: Self.requiredRecords(situation).filter { $0.record == record }, grade: effective.grade,
                    personalInformation: effective.personalInformation, individualsCovered: individuals ?? 0, crossBorderCount: count,
                    position: position))
            }
        }
        return MissingRecordsAnswer(rows: rows, next: more ? rows.last?.position : nil, totals: totals)
    }
}
