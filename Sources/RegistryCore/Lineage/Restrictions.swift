/// What a derivation did to its sources (R12). Only a registered, approved anonymisation changes what
/// is inherited: it clears the personal-information level, never the grade or the prohibitions.
public enum TransformationKind: String, Sendable, Codable, CaseIterable {
    case derived
    case aggregated
    case joined
    case filtered
    case sampled
    /// An anonymisation awaiting a registrar's or regulator's approval: inherits like any derivation.
    case anonymisation
    /// A registered anonymisation approved by a registrar or regulator.
    case approvedAnonymisation = "approved_anonymisation"

    var code: UInt8 {
        switch self {
        case .derived: 0
        case .aggregated: 1
        case .joined: 2
        case .filtered: 3
        case .sampled: 4
        case .approvedAnonymisation: 5
        case .anonymisation: 6
        }
    }

    init(code: UInt8) {
        self = Self.allCases.first { $0.code == code } ?? .derived
    }
}

/// A set of up to 64 names (purposes, prohibitions, regions) as bits of one word, so that uniting and
/// intersecting restrictions allocates nothing. `.all` means "no restriction" for permitted sets.
public struct NameSet: Hashable, Sendable, Codable {
    public var bits: UInt64
    public init(bits: UInt64) { self.bits = bits }

    public static let none = NameSet(bits: 0)
    public static let all = NameSet(bits: .max)

    public func union(_ other: NameSet) -> NameSet { NameSet(bits: bits | other.bits) }
    public func intersection(_ other: NameSet) -> NameSet { NameSet(bits: bits & other.bits) }
    public func contains(bit: Int) -> Bool { bits & (1 << UInt64(bit)) != 0 }
    public var isUnrestricted: Bool { bits == .max }
}

/// Names to bit positions, first come first served; at most 64 per vocabulary (a limit, not a hash).
public struct Vocabulary: Sendable, Equatable, Codable {
    public private(set) var names: [String] = []
    private var positions: [String: Int] = [:]

    public static let capacity = 64

    public init() {}

    /// The bit for `name`, adding it when new; nil when the vocabulary is full.
    public mutating func bit(for name: String) -> Int? {
        if let position = positions[name] { return position }
        guard names.count < Self.capacity else { return nil }
        positions[name] = names.count
        names.append(name)
        return names.count - 1
    }

    public func existingBit(for name: String) -> Int? { positions[name] }

    public func set(of names: [String]) -> NameSet? {
        var bits: UInt64 = 0
        for name in names {
            guard let position = positions[name] else { return nil }
            bits |= 1 << UInt64(position)
        }
        return NameSet(bits: bits)
    }

    public func names(in set: NameSet) -> [String] {
        names.indices.filter { set.contains(bit: $0) }.map { names[$0] }
    }
}

/// The restrictions of one dataset, its own or in effect (R12, R21, R25).
public struct Restrictions: Hashable, Sendable, Codable {
    /// United along the lineage.
    public var prohibitions: NameSet
    /// Intersected along the lineage; `.all` is unrestricted.
    public var permittedPurposes: NameSet
    /// Intersected along the lineage; `.all` is unrestricted.
    public var permittedRegions: NameSet
    /// R11/R12/R16: individuals whose personal information the dataset may hold — its own count, or in
    /// effect the larger of that and the sum over its sources (an upper bound on their union) across
    /// edges that are not approved anonymisations. Saturates at `UInt32.max` (4,294,967,295), above every
    /// threshold R16 counts against; four bytes keep the value at 32 bytes.
    public var individualsCovered: UInt32
    /// R25: this dataset, or one it derives from, was revoked or marked unlawful.
    public var flagged: Bool
    // The one-byte fields last: 32 bytes a value rather than 40, twice per dataset.
    public var grade: Grade
    public var personalInformation: PersonalInformationLevel

    public init(
        grade: Grade = .general, personalInformation: PersonalInformationLevel = .none, prohibitions: NameSet = .none,
        permittedPurposes: NameSet = .all, permittedRegions: NameSet = .all, flagged: Bool = false, individualsCovered: Int64 = 0
    ) {
        self.individualsCovered = Self.saturated(individualsCovered)
        self.grade = grade
        self.personalInformation = personalInformation
        self.prohibitions = prohibitions
        self.permittedPurposes = permittedPurposes
        self.permittedRegions = permittedRegions
        self.flagged = flagged
    }

    /// `count` individuals as the four-byte field holds them: negative as 0, beyond `UInt32.max` as that.
    public static func saturated(_ count: Int64) -> UInt32 {
        count <= 0 ? 0 : count >= Int64(UInt32.max) ? .max : UInt32(count)
    }

    /// What a source passes on of its individuals across an edge of `kind`: none through an approved
    /// anonymisation (R12), all of them otherwise.
    static func individuals(from source: Restrictions, through kind: TransformationKind) -> UInt32 {
        kind == .approvedAnonymisation ? 0 : source.individualsCovered
    }

    /// These restrictions together with a source's effective ones, across an edge of `kind`. The
    /// individuals covered are not combined here: they add up over all sources (see
    /// ``LineageGraph/computeEffective(of:)``).
    public func inheriting(_ source: Restrictions, through kind: TransformationKind) -> Restrictions {
        var result = self
        result.grade = max(grade, source.grade)
        if kind != .approvedAnonymisation {
            result.personalInformation = max(personalInformation, source.personalInformation)
        }
        result.prohibitions = prohibitions.union(source.prohibitions)
        result.permittedPurposes = permittedPurposes.intersection(source.permittedPurposes)
        result.permittedRegions = permittedRegions.intersection(source.permittedRegions)
        result.flagged = flagged || source.flagged
        return result
    }
}
