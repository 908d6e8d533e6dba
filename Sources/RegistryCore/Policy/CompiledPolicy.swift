/// One question put to a policy (R24): may this party, of this kind, take this action for this purpose, in
/// this region, at this time, for this many tokens, while the dataset has this effective grade?
///
/// Purpose and region are bit positions in ``Purposes/vocabulary`` and ``RegionVocabulary/standard`` so that
/// evaluation never hashes a string; ``init(assignee:assigneeKind:action:purpose:region:at:tokens:effectiveGrade:)``
/// resolves names. A bit outside 0…63, or ``unlisted``, stands for a name outside the vocabulary: it
/// satisfies only rules that do not constrain it (a lab outside China may still use data whose policy
/// names no region).
public struct PolicyRequest: Sendable, Equatable {
    /// The bit for a purpose or region outside the vocabulary. No vocabulary used by policies reaches it.
    public static let unlisted = 63

    public var assignee: PartyID
    public var assigneeKind: PartyKind
    public var action: PolicyAction
    public var purposeBit: Int
    public var regionBit: Int
    public var at: Timestamp
    public var tokens: Int64
    /// The dataset's effective grade: its own together with its ancestors' (R12).
    public var effectiveGrade: Grade

    public init(
        assignee: PartyID, assigneeKind: PartyKind, action: PolicyAction, purposeBit: Int, regionBit: Int, at: Timestamp,
        tokens: Int64, effectiveGrade: Grade
    ) {
        self.assignee = assignee
        self.assigneeKind = assigneeKind
        self.action = action
        self.purposeBit = purposeBit
        self.regionBit = regionBit
        self.at = at
        self.tokens = tokens
        self.effectiveGrade = effectiveGrade
    }

    /// Resolves `purpose` and `region` through the vocabularies; a name outside them becomes ``unlisted``.
    /// Callers that must refuse unknown purposes check ``Purposes/vocabulary`` first.
    public init(
        assignee: PartyID, assigneeKind: PartyKind, action: PolicyAction, purpose: String, region: String, at: Timestamp,
        tokens: Int64, effectiveGrade: Grade
    ) {
        self.init(
            assignee: assignee, assigneeKind: assigneeKind, action: action,
            purposeBit: Purposes.vocabulary.existingBit(for: purpose) ?? Self.unlisted,
            regionBit: RegionVocabulary.standard.existingBit(for: region) ?? Self.unlisted,
            at: at, tokens: tokens, effectiveGrade: effectiveGrade)
    }
}

/// A policy's answer to one request (R24), naming the deciding rule by its index in ``Policy/rules``.
public enum PolicyVerdict: Equatable, Sendable {
    /// The permission at this index allows the request, and no prohibition matches.
    case allow(rule: Int)
    /// The prohibition at this index denies the request.
    case deny(rule: Int)
    /// No permission matches: what is not permitted is prohibited (R20).
    case notPermitted

    public var isAllowed: Bool {
        if case .allow = self { return true }
        return false
    }
}

/// A validated ``Policy`` laid out for evaluation without allocating: plain-data rules grouped by action,
/// prohibitions before permissions, purpose and region sets as bit masks, assignee parties in one flat
/// sorted array.
///
/// Build one when a policy is stored or loaded and keep it; building allocates, evaluating does not.
///
/// It does not name its dataset: datasets with the same rules share one compiled policy.
public struct CompiledPolicy: Sendable, Equatable {
    /// See ``Policy/retentionDays``.
    public let retentionDays: Int?

    /// Rules of group `g` (action code × 2, plus 1 for permissions) occupy `groupStart[g]..<groupStart[g + 1]`,
    /// in their order in the policy. Duties are left out: they never decide.
    private let rules: ContiguousArray<CompiledRule>
    private let groupStart: ContiguousArray<Int>
    /// Each constrained rule's parties, sorted, at `partyStart..<partyStart + partyCount`.
    private let parties: ContiguousArray<Int64>
    private let prohibitedPurposes: NameSet
    private let permittedPurposes: NameSet
    private let permittedRegions: NameSet

    /// Precondition: `policy.validate()` is empty.
    public init(_ policy: Policy) {
        let problems = policy.validate()
        precondition(problems.isEmpty, "compiling an invalid policy: \(problems)")
        let groupCount = PolicyAction.allCases.count * 2
        var grouped = Array(repeating: [CompiledRule](), count: groupCount)
        var parties = ContiguousArray<Int64>()
        for (index, rule) in policy.rules.enumerated() where rule.kind != .duty {
            let constraints = rule.constraints
            var compiled = CompiledRule(
                purposes: Policy.purposeSet(constraints.purposes).bits,
                regions: Policy.regionSet(constraints.regions).bits,
                notBefore: constraints.notBefore?.rawValue ?? .min,
                lastMicrosecond: constraints.notAfter.map { $0.rawValue - 1 } ?? .max,
                maxTokens: constraints.maxTokens ?? .max,
                partyStart: 0, partyCount: -1, ruleIndex: Int32(index),
                kinds: constraints.assigneeKinds.map { $0.reduce(0) { $0 | $1.policyBit } } ?? .max,
                gradeCeiling: UInt8((constraints.gradeCeiling ?? .core).rank))
            if let assignees = constraints.assigneeParties {
                compiled.partyStart = Int32(parties.count)
                compiled.partyCount = Int32(assignees.count)
                parties.append(contentsOf: assignees.map(\.rawValue).sorted())
            }
            grouped[rule.action.code * 2 + (rule.kind == .permission ? 1 : 0)].append(compiled)
        }
        var rules = ContiguousArray<CompiledRule>()
        var groupStart = ContiguousArray<Int>()
        for group in grouped {
            groupStart.append(rules.count)
            rules.append(contentsOf: group)
        }
        groupStart.append(rules.count)

        let contribution = policy.restrictionContribution()
        self.retentionDays = policy.retentionDays
        self.rules = rules
        self.groupStart = groupStart
        self.parties = parties
        self.prohibitedPurposes = contribution.prohibitedPurposes
        self.permittedPurposes = contribution.permittedPurposes
        self.permittedRegions = contribution.permittedRegions
    }

    /// The policy's own decision on `request` (R20, R24): the first matching prohibition, else the first
    /// matching permission, else ``PolicyVerdict/notPermitted``. Allocates nothing.
    public func evaluate(_ request: PolicyRequest) -> PolicyVerdict {
        let probe = Probe(request)
        let group = request.action.code * 2
        var index = groupStart[group]
        let prohibitionsEnd = groupStart[group + 1]
        while index < prohibitionsEnd {
            if matches(rules[index], probe) { return .deny(rule: Int(rules[index].ruleIndex)) }
            index += 1
        }
        let permissionsEnd = groupStart[group + 2]
        while index < permissionsEnd {
            if matches(rules[index], probe) { return .allow(rule: Int(rules[index].ruleIndex)) }
            index += 1
        }
        return .notPermitted
    }

    /// See ``Policy/restrictionContribution()``.
    public func restrictionContribution() -> (prohibitedPurposes: NameSet, permittedPurposes: NameSet, permittedRegions: NameSet) {
        (prohibitedPurposes, permittedPurposes, permittedRegions)
    }

    @inline(__always)
    private func matches(_ rule: CompiledRule, _ probe: Probe) -> Bool {
        guard rule.purposes & probe.purpose != 0, rule.regions & probe.region != 0, rule.kinds & probe.kind != 0,
            probe.at >= rule.notBefore, probe.at <= rule.lastMicrosecond, probe.tokens <= rule.maxTokens,
            probe.gradeRank <= rule.gradeCeiling
        else { return false }
        return rule.partyCount < 0 || containsParty(probe.assignee, start: Int(rule.partyStart), count: Int(rule.partyCount))
    }

    /// Linear for short lists, binary search for longer ones; `parties[start..<start + count]` is sorted.
    @inline(__always)
    private func containsParty(_ party: Int64, start: Int, count: Int) -> Bool {
        if count <= 8 {
            var index = start
            while index < start + count {
                if parties[index] == party { return true }
                index += 1
            }
            return false
        }
        var low = start
        var high = start + count
        while low < high {
            let middle = low + (high - low) / 2
            let value = parties[middle]
            if value == party { return true }
            if value < party { low = middle + 1 } else { high = middle }
        }
        return false
    }
}

/// A rule as plain data. Absent constraints are the values every request satisfies: all bits, the widest
/// window, `Int64.max` tokens, the highest grade, `partyCount` −1.
private struct CompiledRule: Sendable, Equatable {
    var purposes: UInt64
    var regions: UInt64
    var notBefore: Int64
    /// notAfter − 1 µs, so that "no end" is `Int64.max` and the comparison stays inclusive.
    var lastMicrosecond: Int64
    var maxTokens: Int64
    var partyStart: Int32
    var partyCount: Int32
    /// Position in ``Policy/rules``, reported in the verdict.
    var ruleIndex: Int32
    var kinds: UInt8
    var gradeCeiling: UInt8
}

/// The request as the masks and integers the rules compare against.
private struct Probe {
    var purpose: UInt64
    var region: UInt64
    var kind: UInt8
    var gradeRank: UInt8
    var assignee: Int64
    var at: Int64
    var tokens: Int64

    @inline(__always)
    init(_ request: PolicyRequest) {
        purpose = Self.mask(request.purposeBit)
        region = Self.mask(request.regionBit)
        kind = request.assigneeKind.policyBit
        gradeRank = UInt8(request.effectiveGrade.rank)
        assignee = request.assignee.rawValue
        at = request.at.rawValue
        tokens = request.tokens
    }

    @inline(__always)
    static func mask(_ bit: Int) -> UInt64 {
        (0..<64).contains(bit) ? 1 &<< UInt64(bit) : 1 &<< UInt64(PolicyRequest.unlisted)
    }
}

extension PartyKind {
    /// One bit per kind, for rule kind masks.
    var policyBit: UInt8 {
        switch self {
        case .department: 1 << 0
        case .enterprise: 1 << 1
        case .modelLab: 1 << 2
        case .registrar: 1 << 3
        case .regulator: 1 << 4
        case .operator: 1 << 5
        }
    }
}
