/// R29, R16: cross-border grants, and each processor's cumulative count of individuals whose personal
/// information went abroad since 1 January against R16's thresholds.

/// A cross-border grant as regulators see it.
public struct CrossBorderGrant: Sendable, Equatable {
    public var grant: Grant
    /// The calendar year R16 counts the grant in (the registry calendar's year when it was made).
    public var year: Int32
    /// The dataset's grade and personal-information level in effect now (R12).
    public var grade: Grade
    public var personalInformation: PersonalInformationLevel
    /// The records the grant's access request carried.
    public var recordsHeld: [AccessRecordKind]
}

public struct CrossBorderGrantTotals: Sendable, Equatable {
    public var grants = 0
    /// Individuals the grants covered as recorded (saturating), and those with sensitive information.
    public var individuals = CrossBorderCount()

    public init() {}
}

public struct CrossBorderGrantsAnswer: Sendable, Equatable {
    public var rows: [CrossBorderGrant]
    public var next: Int64?
    public var totals: CrossBorderGrantTotals
}

/// Where a processor stands against one R16 threshold.
public enum ThresholdStatus: String, Sendable, Codable, CaseIterable, Comparable {
    /// Below ``Limits/crossBorderNearThresholdPercent`` of it.
    case under
    /// From that share of the threshold up to it.
    case near
    /// At or past it: the record is needed.
    case over

    /// `count` against `threshold`.
    public init(_ count: Int64, threshold: Int64) {
        if count >= threshold {
            self = .over
        } else if count >= threshold / 100 * Limits.crossBorderNearThresholdPercent {
            self = .near
        } else {
            self = .under
        }
    }

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
}

/// One processor's cross-border year (R16).
public struct CrossBorderProcessor: Sendable, Equatable {
    public var processor: PartyID
    public var year: Int32
    /// As the core counts it for R16 (``RegistryState/crossBorderCount(of:year:)``).
    public var count: CrossBorderCount
    /// Its cross-border grants of personal information that year.
    public var grants: Int
    /// Against 1,000,000 individuals (security assessment).
    public var securityAssessment: ThresholdStatus
    /// Against 10,000 individuals with sensitive information (security assessment).
    public var sensitiveSecurityAssessment: ThresholdStatus
    /// Against 100,000 individuals (standard contract).
    public var standardContract: ThresholdStatus
    /// Whether any of those grants' requests carried a security assessment; a standard contract.
    public var securityAssessmentHeld: Bool
    public var standardContractHeld: Bool

    /// The most pressing of the three.
    public var status: ThresholdStatus { max(securityAssessment, sensitiveSecurityAssessment, standardContract) }
}

public struct CrossBorderProcessorTotals: Sendable, Equatable {
    public var processors = 0
    /// Processors by ``CrossBorderProcessor/status``, in ``ThresholdStatus`` order.
    public var byStatus = [Int](repeating: 0, count: ThresholdStatus.allCases.count)

    public init() {}
}

public struct CrossBorderProcessorsAnswer: Sendable, Equatable {
    public var rows: [CrossBorderProcessor]
    public var next: Int64?
    public var totals: CrossBorderProcessorTotals
}

extension RegistryState {
    /// Cross-border grants (as recorded when made, R16), in id order after `cursor` (a grant id), at most
    /// `limit`; of `processor` only and counted in `year` only when given. Totals over every match. A pass
    /// over the grants' scalars; records are made for the page's rows only.
    public func crossBorderGrants(processor: PartyID?, year: Int32?, after cursor: Int64, limit: Int) -> CrossBorderGrantsAnswer {
        let grants = market.grants
        let calendar = settings.calendar
        let limit = max(0, min(limit, Limits.maxPageSize))
        var rows: [CrossBorderGrant] = []
        var more = false
        var totals = CrossBorderGrantTotals()
        for id in stride(from: Int64(1), through: Int64(grants.count), by: 1) {
            guard let facts = grants.facts(id), facts.crossBorder else { continue }
            if let processor, facts.assignee != processor { continue }
            let grantYear = Int32(calendar.date(at: facts.createdAt).components.year)
            if let year, grantYear != year { continue }
            totals.grants += 1
            totals.individuals.add(facts.individualsCovered, sensitive: facts.sensitive)
            guard id > cursor else { continue }
            guard rows.count < limit else {
                more = true
                continue
            }
            guard let grant = grants[id] else { continue }
            let node = Int32(facts.dataset.rawValue)
            let effective = lineage.graph.contains(node) ? lineage.graph.effectiveRestrictions(of: node) : Restrictions()
            let held = market.accessRequests[facts.request.rawValue]?.records.heldKinds ?? []
            rows.append(CrossBorderGrant(
                grant: grant, year: grantYear, grade: effective.grade, personalInformation: effective.personalInformation, recordsHeld: held))
        }
        return CrossBorderGrantsAnswer(rows: rows, next: more ? rows.last?.grant.id.rawValue : nil, totals: totals)
    }

    /// Every processor with cross-border personal information in `year`, in party id order after `cursor`
    /// (a party id), at most `limit`, only those whose most pressing status is `status` when given: its
    /// cumulative count against each R16 threshold, and whether its grants' requests carried the records
    /// the thresholds require (that a grant lacks what it needed is ``missingRecords(_:after:limit:)``'s
    /// answer). Totals over every processor that matches.
    public func crossBorderProcessors(year: Int32, status: ThresholdStatus?, after cursor: Int64, limit: Int) -> CrossBorderProcessorsAnswer {
        let limit = max(0, min(limit, Limits.maxPageSize))
        // The grants the counts come from (cross-border, with individuals, made that year), per processor.
        var grantsOf: [PartyID: (grants: Int, held: UInt8)] = [:]
        let grants = market.grants
        let calendar = settings.calendar
        for id in stride(from: Int64(1), through: Int64(grants.count), by: 1) {
            guard let facts = grants.facts(id), facts.crossBorder, facts.individualsCovered > 0,
                Int32(calendar.date(at: facts.createdAt).components.year) == year
            else { continue }
            let held = market.accessRequests.heldRecordMask(of: facts.request.rawValue) ?? 0
            grantsOf[facts.assignee, default: (0, 0)].grants += 1
            grantsOf[facts.assignee]!.held |= held
        }
        let processors = market.crossBorderIndividuals.keys.filter { $0.year == year }.map(\.processor).sorted()
        var rows: [CrossBorderProcessor] = []
        var more = false
        var totals = CrossBorderProcessorTotals()
        for processor in processors {
            let count = crossBorderCount(of: processor, year: year)
            let found = grantsOf[processor] ?? (0, 0)
            let row = CrossBorderProcessor(
                processor: processor, year: year, count: count, grants: found.grants,
                securityAssessment: ThresholdStatus(count.individuals, threshold: Limits.crossBorderSecurityAssessmentIndividuals),
                sensitiveSecurityAssessment: ThresholdStatus(
                    count.sensitiveIndividuals, threshold: Limits.crossBorderSecurityAssessmentSensitiveIndividuals),
                standardContract: ThresholdStatus(count.individuals, threshold: Limits.crossBorderStandardContractIndividuals),
                securityAssessmentHeld: found.held & AccessRecordKind.securityAssessment.bit != 0,
                standardContractHeld: found.held & AccessRecordKind.standardContract.bit != 0)
            if let status, row.status != status { continue }
            totals.processors += 1
            totals.byStatus[ThresholdStatus.allCases.firstIndex(of: row.status)!] += 1
            guard processor.rawValue > cursor else { continue }
            guard rows.count < limit else {
                more = true
                continue
            }
            rows.append(row)
        }
        return CrossBorderProcessorsAnswer(rows: rows, next: more ? rows.last?.processor.rawValue : nil, totals: totals)
    }
}
