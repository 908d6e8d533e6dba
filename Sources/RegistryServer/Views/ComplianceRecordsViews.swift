import RegistryCore

// Compliance queries answered from the registry's and the market's state (R29): missing records (R14–R16),
// cross-border grants and processors (R16), lineage gaps (R10), overdue sharing requests (R19) and the
// rights history of a dataset (R3). Each row is flat — scalars and lists of strings — so that it reads as
// one CSV line as well as one JSON object (`CSVRow`); every answer is a `ComplianceAnswer` of them, or its rows as CSV.

/// One record one live grant lacks (`GET /v1/compliance/missing-records`).
struct MissingRecordRow: Encodable, Sendable {
    let grant: String
    let request: String
    let grantState: String
    let dataset: Int64
    /// The dataset's holder now.
    let holder: Int64
    let assignee: Int64
    let record: String
    /// Every rule that needs the record, the first the one a refusal would name first.
    let rules: [String]
    let reason: String
    /// The dataset's grade and PI level in effect now.
    let grade: String
    let piLevel: String
    let crossBorder: Bool
    let useRegion: String
    let individualsCovered: Int64
    /// R16: the processor's count the grant is judged by (cross-border personal information only).
    let crossBorderIndividuals: Int64?
    let grantedAt: String
}

extension MissingRecordRow {
    init(_ row: MissingRecord, requestNumber: String) {
        grant = row.grant.number
        request = requestNumber
        grantState = row.grant.state.rawValue
        dataset = row.grant.dataset.rawValue
        holder = row.holder.rawValue
        assignee = row.grant.assignee.rawValue
        record = row.record.rawValue
        var seen: [String] = []
        for requirement in row.requirements where !seen.contains(requirement.rule.rawValue) { seen.append(requirement.rule.rawValue) }
        rules = seen
        reason = row.requirements.map(\.reason).joined(separator: "; ")
        grade = row.grade.rawValue
        piLevel = row.personalInformation.rawValue
        crossBorder = row.grant.crossBorder
        useRegion = row.grant.useRegion
        individualsCovered = row.individualsCovered
        crossBorderIndividuals = row.crossBorderCount?.individuals
        grantedAt = row.grant.createdAt.description
    }
}

struct MissingRecordsTotalsView: Encodable, Sendable {
    let rows: Int
    let grants: Int
    let riskAssessment: Int
    let securityAssessment: Int
    let consentEvidence: Int
    let impactAssessment: Int
    let standardContract: Int

    init(_ totals: MissingRecordsTotals) {
        rows = totals.rows
        grants = totals.grants
        func count(_ kind: AccessRecordKind) -> Int { totals.byRecord[AccessRecordKind.allCases.firstIndex(of: kind)!] }
        riskAssessment = count(.riskAssessment)
        securityAssessment = count(.securityAssessment)
        consentEvidence = count(.consentEvidence)
        impactAssessment = count(.impactAssessment)
        standardContract = count(.standardContract)
    }
}

/// One cross-border grant (`GET /v1/compliance/cross-border/grants`).
struct CrossBorderGrantRow: Encodable, Sendable {
    let grant: String
    let grantState: String
    let dataset: Int64
    let processor: Int64
    let useRegion: String
    /// The calendar year R16 counts it in.
    let year: Int32
    /// The dataset's grade and PI level in effect now.
    let grade: String
    let piLevel: String
    /// As recorded when the grant was made (what R16 counted).
    let individualsCovered: Int64
    let sensitive: Bool
    let recordsHeld: [String]
    let grantedAt: String
}

extension CrossBorderGrantRow {
    init(_ row: CrossBorderGrant) {
        grant = row.grant.number
        grantState = row.grant.state.rawValue
        dataset = row.grant.dataset.rawValue
        processor = row.grant.assignee.rawValue
        useRegion = row.grant.useRegion
        year = row.year
        grade = row.grade.rawValue
        piLevel = row.personalInformation.rawValue
        individualsCovered = row.grant.individualsCovered
        sensitive = row.grant.sensitive
        recordsHeld = row.recordsHeld.map(\.rawValue)
        grantedAt = row.grant.createdAt.description
    }
}

struct CrossBorderGrantTotalsView: Encodable, Sendable {
    let grants: Int
    let individuals: Int64
    let sensitiveIndividuals: Int64

    init(_ totals: CrossBorderGrantTotals) {
        grants = totals.grants
        individuals = totals.individuals.individuals
        sensitiveIndividuals = totals.individuals.sensitiveIndividuals
    }
}

/// One processor's cross-border year against R16's thresholds (`GET /v1/compliance/cross-border/processors`).
struct CrossBorderProcessorRow: Encodable, Sendable {
    let processor: Int64
    let processorName: String
    let jurisdiction: String
    let year: Int32
    let individuals: Int64
    let sensitiveIndividuals: Int64
    let grants: Int
    let securityAssessment: String
    let sensitiveSecurityAssessment: String
    let standardContract: String
    /// The most pressing of the three.
    let status: String
    let securityAssessmentHeld: Bool
    let standardContractHeld: Bool
}

extension CrossBorderProcessorRow {
    init(_ row: CrossBorderProcessor, party: Party?) {
        processor = row.processor.rawValue
        processorName = party?.name ?? ""
        jurisdiction = party?.jurisdiction.rawValue ?? ""
        year = row.year
        individuals = row.count.individuals
        sensitiveIndividuals = row.count.sensitiveIndividuals
        grants = row.grants
        securityAssessment = row.securityAssessment.rawValue
        sensitiveSecurityAssessment = row.sensitiveSecurityAssessment.rawValue
        standardContract = row.standardContract.rawValue
        status = row.status.rawValue
        securityAssessmentHeld = row.securityAssessmentHeld
        standardContractHeld = row.standardContractHeld
    }
}

struct CrossBorderProcessorTotalsView: Encodable, Sendable {
    let processors: Int
    let over: Int
    let near: Int
    let under: Int
    /// The share of a threshold from which a processor is near it.
    let nearFromPercent: Int64

    init(_ totals: CrossBorderProcessorTotals) {
        processors = totals.processors
        func count(_ status: ThresholdStatus) -> Int { totals.byStatus[ThresholdStatus.allCases.firstIndex(of: status)!] }
        over = count(.over)
        near = count(.near)
        under = count(.under)
        nearFromPercent = Limits.crossBorderNearThresholdPercent
    }
}

/// One source one right holder of a derived dataset lacks a basis over (`GET /v1/compliance/lineage-gaps`).
struct LineageGapRow: Encodable, Sendable {
    let dataset: Int64
    let holder: Int64
    let rights: [String]
    let basis: String
    let numbers: [String]
    let source: Int64
    let sourceHolder: Int64?
    let edgeKind: String
    let lastUseCertificate: String?
    let lastUseCertificateStatus: String?
    let lastDerivationGrant: String?
    let lastDerivationGrantState: String?
}

extension LineageGapRow {
    init(_ row: LineageGap) {
        dataset = row.dataset.rawValue
        holder = row.holder.rawValue
        rights = row.rights.map(\.rawValue)
        basis = row.basis.rawValue
        numbers = row.numbers
        source = row.source.rawValue
        sourceHolder = row.sourceHolder?.rawValue
        edgeKind = row.edgeKind.rawValue
        lastUseCertificate = row.lastUseCertificate?.number
        lastUseCertificateStatus = row.lastUseCertificateStatus?.rawValue
        lastDerivationGrant = row.lastDerivationGrant?.number
        lastDerivationGrantState = row.lastDerivationGrant?.state.rawValue
    }
}

/// One overdue conditional sharing request (`GET /v1/compliance/overdue-sharing`).
struct OverdueSharingRow: Encodable, Sendable {
    let request: String
    let dataset: Int64
    let holder: Int64
    let requester: Int64
    let purpose: String
    let requestedAt: String
    let dueOn: String
    let daysOverdue: Int
    let workingDaysOverdue: Int
}

extension OverdueSharingRow {
    init(_ row: OverdueSharingRequest) {
        request = row.request.number
        dataset = row.request.dataset.rawValue
        holder = row.holder.rawValue
        requester = row.request.requester.rawValue
        purpose = row.request.purpose
        requestedAt = row.request.createdAt.description
        dueOn = row.dueOn.description
        daysOverdue = row.daysOverdue
        workingDaysOverdue = row.workingDaysOverdue
    }
}

struct OverdueSharingTotalsView: Encodable, Sendable {
    struct Holder: Encodable, Sendable {
        let holder: Int64
        let requests: Int
    }

    let requests: Int
    /// Overdue requests per holder, in holder id order.
    let byHolder: [Holder]

    init(_ rows: [OverdueSharingRequest]) {
        requests = rows.count
        var counts: [PartyID: Int] = [:]
        for row in rows { counts[row.holder, default: 0] += 1 }
        byHolder = counts.keys.sorted().map { Holder(holder: $0.rawValue, requests: counts[$0]!) }
    }
}

/// One event of a dataset's rights history (`GET /v1/compliance/rights-history`).
struct RightsEventRow: Encodable, Sendable {
    let at: String
    let event: String
    let number: String
    /// Party ids, as text.
    let parties: [String]
    let right: String
    let registrationKind: String?
    let outcome: String
    let detail: String
}

extension RightsEventRow {
    init(_ event: RightsEvent) {
        at = event.at.description
        self.event = event.kind.rawValue
        number = event.number
        parties = event.parties.map { String($0.rawValue) }
        right = event.right.rawValue
        registrationKind = event.registrationKind?.rawValue
        outcome = event.outcome
        detail = event.detail
    }
}

struct RightsHistoryTotalsView: Encodable, Sendable {
    let dataset: Int64
    let events: Int
}

// The CSV columns of each row (`CSVRow`): every member, in the order the JSON has them.

extension MissingRecordRow: CSVRow {
    static let csvExample = MissingRecordRow(
        grant: "", request: "", grantState: "", dataset: 1, holder: 1, assignee: 1, record: "", rules: [""], reason: "", grade: "",
        piLevel: "", crossBorder: false, useRegion: "", individualsCovered: 0, crossBorderIndividuals: nil, grantedAt: "")
}

extension CrossBorderGrantRow: CSVRow {
    static let csvExample = CrossBorderGrantRow(
        grant: "", grantState: "", dataset: 1, processor: 1, useRegion: "", year: 2026, grade: "", piLevel: "", individualsCovered: 0,
        sensitive: false, recordsHeld: [""], grantedAt: "")
}

extension CrossBorderProcessorRow: CSVRow {
    static let csvExample = CrossBorderProcessorRow(
        processor: 1, processorName: "", jurisdiction: "", year: 2026, individuals: 0, sensitiveIndividuals: 0, grants: 0,
        securityAssessment: "", sensitiveSecurityAssessment: "", standardContract: "", status: "", securityAssessmentHeld: false,
        standardContractHeld: false)
}

extension LineageGapRow: CSVRow {
    static let csvExample = LineageGapRow(
        dataset: 1, holder: 1, rights: [""], basis: "", numbers: [""], source: 1, sourceHolder: nil, edgeKind: "", lastUseCertificate: nil,
        lastUseCertificateStatus: nil, lastDerivationGrant: nil, lastDerivationGrantState: nil)
}

extension OverdueSharingRow: CSVRow {
    static let csvExample = OverdueSharingRow(
        request: "", dataset: 1, holder: 1, requester: 1, purpose: "", requestedAt: "", dueOn: "", daysOverdue: 0, workingDaysOverdue: 0)
}

extension RightsEventRow: CSVRow {
    static let csvExample = RightsEventRow(
        at: "", event: "", number: "", parties: [""], right: "", registrationKind: nil, outcome: "", detail: "")
}
