/// R11: a dataset's grade. Where unsure, the higher one.
public enum Grade: String, Sendable, Codable, CaseIterable, Comparable {
    case general, important, core

    var rank: Int {
        switch self {
        case .general: 0
        case .important: 1
        case .core: 2
        }
    }
    /// Grades by rank.
    static let ranked: [Grade] = [.general, .important, .core]
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
}

/// R11: how much personal information a dataset holds.
public enum PersonalInformationLevel: String, Sendable, Codable, CaseIterable, Comparable {
    case none, personal, sensitive

    var rank: Int {
        switch self {
        case .none: 0
        case .personal: 1
        case .sensitive: 2
        }
    }
    /// Levels by rank.
    static let ranked: [PersonalInformationLevel] = [.none, .personal, .sensitive]
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
}

/// R17: how a government dataset may be shared between departments.
public enum SharingCategory: Sendable, Hashable, Codable {
    case unconditional
    case conditional(condition: String)
    case notShared(legalBasis: String)

    public var name: String {
        switch self {
        case .unconditional: "unconditional"
        case .conditional: "conditional"
        case .notShared: "not_shared"
        }
    }

    /// The condition text or legal basis.
    public var text: String? {
        switch self {
        case .unconditional: nil
        case .conditional(let condition): condition
        case .notShared(let legalBasis): legalBasis
        }
    }

    public init?(name: String, text: String?) {
        switch (name, text) {
        case ("unconditional", _): self = .unconditional
        case ("conditional", .some(let text)) where !text.isEmpty: self = .conditional(condition: text)
        case ("not_shared", .some(let text)) where !text.isEmpty: self = .notShared(legalBasis: text)
        default: return nil
        }
    }
}

/// A registered dataset (data resource or data product): the unit of registration (R2).
public struct Dataset: Sendable, Equatable, Codable {
    public var id: DatasetID
    public var holder: PartyID
    public var title: String
    public var description: String
    public var grade: Grade
    public var personalInformation: PersonalInformationLevel
    public var individualsCovered: Int64
    public var region: String
    /// Present for government data (a department's dataset), absent otherwise.
    public var sharing: SharingCategory?
    /// SHA-256 of the dataset's manifest, lowercase hex: what certificates bind to.
    public var fingerprint: String
    public var format: String
    public var updateCycle: String
    public var sizeBytes: Int64
    public var tags: [String]
    /// R25: marked unlawful at source, or its hold certificate revoked; descendants inherit the flag.
    public var flagged: Bool
    public var flagReason: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    /// The dataset's own restrictions as the lineage graph sees them.
    public var ownRestrictions: Restrictions {
        Restrictions(grade: grade, personalInformation: personalInformation, flagged: flagged, individualsCovered: individualsCovered)
    }

    public init(id: DatasetID, holder: PartyID, title: String, description: String, grade: Grade, personalInformation: PersonalInformationLevel, individualsCovered: Int64, region: String, sharing: SharingCategory?, fingerprint: String, format: String, updateCycle: String, sizeBytes: Int64, tags: [String], flagged: Bool = false, flagReason: String? = nil, createdAt: Timestamp, updatedAt: Timestamp) {
        self.id = id
        self.holder = holder
        self.title = title
        self.description = description
        self.grade = grade
        self.personalInformation = personalInformation
        self.individualsCovered = individualsCovered
        self.region = region
        self.sharing = sharing
        self.fingerprint = fingerprint
        self.format = format
        self.updateCycle = updateCycle
        self.sizeBytes = sizeBytes
        self.tags = tags
        self.flagged = flagged
        self.flagReason = flagReason
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A recorded derivation: `target` is derived from `source` (R10, R12).
public struct Derivation: Sendable, Equatable, Codable {
    public var id: Int64
    public var source: DatasetID
    public var target: DatasetID
    public var kind: TransformationKind
    public var recordedBy: PartyID
    /// For an anonymisation: the registrar or regulator that approved it (R12).
    public var approvedBy: PartyID?
    public var recordedAt: Timestamp

    public init(
        id: Int64, source: DatasetID, target: DatasetID, kind: TransformationKind, recordedBy: PartyID, approvedBy: PartyID?,
        recordedAt: Timestamp
    ) {
        self.id = id
        self.source = source
        self.target = target
        self.kind = kind
        self.recordedBy = recordedBy
        self.approvedBy = approvedBy
        self.recordedAt = recordedAt
    }
}
