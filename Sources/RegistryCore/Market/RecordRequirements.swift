/// R14–R16: the five records an access request may carry, by name (the fields of ``AccessRecords``).
public enum AccessRecordKind: String, Sendable, Codable, CaseIterable {
    case riskAssessment, securityAssessment, consentEvidence, impactAssessment, standardContract

    /// The field's position in ``AccessRecords`` (the order of `AccessRecords.present`).
    var field: Int {
        switch self {
        case .riskAssessment: 0
        case .securityAssessment: 1
        case .consentEvidence: 2
        case .impactAssessment: 3
        case .standardContract: 4
        }
    }

    var bit: UInt8 { 1 << UInt8(field) }
}

extension AccessRecords {
    /// The digest of the record of `kind`, when the request carried one.
    public subscript(kind: AccessRecordKind) -> String? { self[field: kind.field] }

    /// The kinds of record present, in ``AccessRecordKind`` order.
    public var heldKinds: [AccessRecordKind] { AccessRecordKind.allCases.filter { self[$0] != nil } }

    /// The kinds present as bits (``AccessRecordKind/bit``).
    var heldMask: UInt8 { AccessRecordKind.allCases.reduce(0) { self[$1] != nil ? $0 | $1.bit : $0 } }
}

/// What R14–R16 judge a grant of a dataset by: the dataset's grade and personal-information level in
/// effect (R12: inherited through the lineage), where the data is used, and for personal information
/// leaving the mainland the processor's cumulative count this calendar year, this grant included.
public struct RecordSituation: Sendable, Equatable {
    public var dataset: DatasetID
    /// The dataset's own region: use outside it needs a security assessment for important data (R14).
    public var datasetRegion: String
    public var grade: Grade
    public var personalInformation: PersonalInformationLevel
    public var useRegion: String
    /// R16: the assignee is outside the mainland jurisdiction, or uses the data outside it.
    public var crossBorder: Bool
    /// R16: read only when `crossBorder` and the data holds personal information.
    public var crossBorderCount: CrossBorderCount

    public init(
        dataset: DatasetID, datasetRegion: String, grade: Grade, personalInformation: PersonalInformationLevel, useRegion: String,
        crossBorder: Bool, crossBorderCount: CrossBorderCount
    ) {
        self.dataset = dataset
        self.datasetRegion = datasetRegion
        self.grade = grade
        self.personalInformation = personalInformation
        self.useRegion = useRegion
        self.crossBorder = crossBorder
        self.crossBorderCount = crossBorderCount
    }
}

/// One record a grant needs (R14–R16): which, the rule that requires it, and why.
public struct RecordRequirement: Sendable, Equatable {
    /// Why a record is needed; the words are made only when read (``reason``), so that a scan over every
    /// grant decides without building a sentence for each.
    public enum Ground: Sendable, Equatable {
        /// R14: important data granted to another party.
        case importantData
        /// R14: important data used outside its region.
        case importantOutsideRegion(datasetRegion: String)
        /// R16: important data leaving the mainland.
        case importantCrossBorder
        /// R15: sensitive personal information (consent and impact assessment).
        case sensitive
        /// R16: the processor's individuals abroad this year at or past a threshold.
        case individualsAbroad(count: Int64, threshold: Int64)
        /// R16: the processor's individuals with sensitive information abroad at or past the threshold.
        case sensitiveIndividualsAbroad(count: Int64, threshold: Int64)
    }

    public var record: AccessRecordKind
    public var rule: Rule
    public var ground: Ground
    public var dataset: DatasetID

    /// The reason in the words a refusal of the request gives.
    public var reason: String {
        let id = dataset.rawValue
        switch (record, ground) {
        case (.riskAssessment, _):
            return "dataset \(id) is important data: a grant to another party needs a risk-assessment record"
        case (.consentEvidence, _):
            return "dataset \(id) holds sensitive personal information: separate-consent evidence is needed"
        case (.impactAssessment, _):
            return "dataset \(id) holds sensitive personal information: an impact-assessment record is needed"
        case (.standardContract, .individualsAbroad(let count, let threshold)):
            return "personal information of \(count) individuals sent abroad by this processor since 1 January (\(threshold.grouped) or more) needs the standard contract"
        case (_, .importantOutsideRegion(let region)):
            return "a security-assessment record is needed: important data used outside its region (\(region))"
        case (_, .importantCrossBorder):
            return "a security-assessment record is needed: important data leaving the mainland"
        case (_, .individualsAbroad(let count, let threshold)):
            return "a security-assessment record is needed: personal information of \(count) individuals sent abroad by this processor since 1 January (\(threshold.grouped) or more)"
        case (_, .sensitiveIndividualsAbroad(let count, let threshold)):
            return "a security-assessment record is needed: sensitive personal information of \(count) individuals sent abroad since 1 January (\(threshold.grouped) or more)"
        case (_, .importantData), (_, .sensitive):
            return "a \(record.rawValue) record is needed"
        }
    }
}

extension RegistryState {
    /// R14–R16: every record a grant in `situation` needs, each with the rule that requires it — the one
    /// statement of these rules, read when a request is decided (``gateRefusals(_:dataset:requester:effective:)``)
    /// and when regulators ask which grants lack their records. In the order a refusal lists them: risk
    /// assessment, consent, impact assessment, standard contract, then each ground for a security
    /// assessment (one record may be needed on several grounds).
    ///
    /// R16's thresholds are alternatives, as the request-time check always applied them: from
    /// 1,000,000 individuals (10,000 with sensitive information) a security assessment, else from
    /// 100,000 the standard contract.
    public static func requiredRecords(_ situation: RecordSituation) -> [RecordRequirement] {
        var needs: [RecordRequirement] = []
        forEachRequiredRecord(situation) { needs.append($0) }
        return needs
    }

    /// ``requiredRecords(_:)`` one at a time, in the same order, without gathering them: what a scan over
    /// every grant reads (no allocation per grant).
    public static func forEachRequiredRecord(_ situation: RecordSituation, _ body: (RecordRequirement) -> Void) {
        func need(_ record: AccessRecordKind, _ rule: Rule, _ ground: RecordRequirement.Ground) {
            body(RecordRequirement(record: record, rule: rule, ground: ground, dataset: situation.dataset))
        }
        let important = situation.grade == .important
        let outsideRegion = important && situation.useRegion != situation.datasetRegion
        var threshold: RecordRequirement.Ground?
        if important { need(.riskAssessment, .r14, .importantData) }
        if situation.personalInformation == .sensitive {
            need(.consentEvidence, .r15, .sensitive)
            need(.impactAssessment, .r15, .sensitive)
        }
        if situation.crossBorder && situation.personalInformation != .none {
            let count = situation.crossBorderCount
            let (assessment, sensitiveAssessment, contract) = (
                Limits.crossBorderSecurityAssessmentIndividuals, Limits.crossBorderSecurityAssessmentSensitiveIndividuals,
                Limits.crossBorderStandardContractIndividuals)
            if count.individuals >= assessment {
                threshold = .individualsAbroad(count: count.individuals, threshold: assessment)
            } else if count.sensitiveIndividuals >= sensitiveAssessment {
                threshold = .sensitiveIndividualsAbroad(count: count.sensitiveIndividuals, threshold: sensitiveAssessment)
            } else if count.individuals >= contract {
                need(.standardContract, .r16, .individualsAbroad(count: count.individuals, threshold: contract))
            }
        }
        // The security assessment last, once per ground.
        if outsideRegion { need(.securityAssessment, .r14, .importantOutsideRegion(datasetRegion: situation.datasetRegion)) }
        if important && situation.crossBorder { need(.securityAssessment, .r16, .importantCrossBorder) }
        if let threshold { need(.securityAssessment, .r16, threshold) }
    }

    /// R16: the cross-border count a new grant of `individuals` (with sensitive information or not) to
    /// `processor`, dated `at`, is judged by: the processor's count for that calendar year with it added.
    func crossBorderCount(adding individuals: Int64, sensitive: Bool, to processor: PartyID, at: Timestamp) -> CrossBorderCount {
        var count = crossBorderCount(of: processor, year: Int32(today(at: at).components.year))
        count.add(individuals, sensitive: sensitive)
        return count
    }
}
