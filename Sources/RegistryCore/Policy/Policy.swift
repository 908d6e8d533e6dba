/// What a rule governs (R20): ODRL's `use`, `derive` and `distribute`.
public enum PolicyAction: String, Sendable, Codable, CaseIterable {
    /// Read the data for a purpose (training, analytics, …): what an access grant is for.
    case use
    /// Make a new dataset from this one (R12 lineage).
    case derive
    /// Pass the data, or a copy, to another party.
    case distribute

    var code: Int {
        switch self {
        case .use: 0
        case .derive: 1
        case .distribute: 2
        }
    }
}

/// The three kinds of ODRL rule (R20).
public enum RuleKind: String, Sendable, Codable, CaseIterable {
    case permission
    case prohibition
    /// An obligation that comes with the policy (delete after N days, attribute, report usage). Duties never
    /// decide whether a request is allowed; they are what an allowed party must do afterwards.
    case duty
}

/// What a duty obliges; only duties carry one.
public enum DutyAction: String, Sendable, Codable, CaseIterable {
    /// Delete the data, within `retentionDays` when that constraint is present.
    case delete
    /// Name the holder and the dataset wherever the data or its products are shown.
    case attribute
    /// Report token usage to the registry (R26).
    case reportUsage = "report_usage"
}

/// The conditions under which a rule applies. Every present constraint must hold; `nil` means "any".
///
/// An empty list is refused by ``Policy/validate()``: it would match nothing, which is never what an author
/// means (write `nil` for "any", or leave the rule out).
public struct RuleConstraints: Sendable, Hashable, Codable {
    /// Purposes from ``Purposes/standard``; nil = any purpose.
    public var purposes: [String]?
    /// nil = any party.
    public var assigneeParties: [PartyID]?
    /// nil = any kind of party.
    public var assigneeKinds: [PartyKind]?
    /// Where the data may be used: provincial codes from ``RegionVocabulary/standard`` only (regions outside
    /// China are refused in policies for now); nil = anywhere.
    public var regions: [String]?
    /// Inclusive start of the rule's window.
    public var notBefore: Timestamp?
    /// Exclusive end of the rule's window.
    public var notAfter: Timestamp?
    /// The request's token count must be at most this.
    public var maxTokens: Int64?
    /// The rule applies only while the dataset's effective grade (R11, R12) is at most this: a permission
    /// written for general data stops permitting once the dataset, or an ancestor, is regraded.
    public var gradeCeiling: Grade?
    /// Only on duties with action `delete`: delete within this many days.
    public var retentionDays: Int?

    public init(
        purposes: [String]? = nil, assigneeParties: [PartyID]? = nil, assigneeKinds: [PartyKind]? = nil,
        regions: [String]? = nil, notBefore: Timestamp? = nil, notAfter: Timestamp? = nil, maxTokens: Int64? = nil,
        gradeCeiling: Grade? = nil, retentionDays: Int? = nil
    ) {
        self.purposes = purposes
        self.assigneeParties = assigneeParties
        self.assigneeKinds = assigneeKinds
        self.regions = regions
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.maxTokens = maxTokens
        self.gradeCeiling = gradeCeiling
        self.retentionDays = retentionDays
    }
}

/// One permission, prohibition or duty of a ``Policy``.
public struct PolicyRule: Sendable, Hashable, Codable {
    /// Unique within the policy; 1…100 characters from `A–Z a–z 0–9 . _ : -`.
    public var id: String
    public var kind: RuleKind
    /// For permissions and prohibitions, the action governed; for duties, the action whose exercise
    /// brings the duty.
    public var action: PolicyAction
    /// Present exactly on duties.
    public var duty: DutyAction?
    public var constraints: RuleConstraints

    public init(id: String, kind: RuleKind, action: PolicyAction, duty: DutyAction? = nil, constraints: RuleConstraints = RuleConstraints()) {
        self.id = id
        self.kind = kind
        self.action = action
        self.duty = duty
        self.constraints = constraints
    }
}

/// A dataset's own usage policy (R20): ODRL-shaped permissions, prohibitions and duties.
///
/// Semantics, implemented by ``CompiledPolicy/evaluate(_:)``:
/// - A rule *matches* a ``PolicyRequest`` when its action equals the request's action and every present
///   constraint holds: purpose ∈ purposes, assignee ∈ parties, assignee kind ∈ kinds, region ∈ regions,
///   notBefore ≤ at < notAfter, tokens ≤ maxTokens, effective grade ≤ grade ceiling.
/// - Duties never match and never decide.
/// - The first matching prohibition, in rule order, denies and names that rule; otherwise the first matching
///   permission allows and names that rule; otherwise the request is denied as not permitted — what is not
///   permitted is prohibited.
///
/// These are the dataset's *own* rules. Ancestors reach a decision only through the restrictions inherited
/// along the lineage (R21, ``restrictionContribution()``); checking those is the caller's business.
///
/// Validate with ``validate()`` before compiling or storing; a policy that fails validation must not be
/// evaluated.
public struct Policy: Sendable, Hashable, Codable {
    public var dataset: DatasetID
    public var rules: [PolicyRule]

    public init(dataset: DatasetID, rules: [PolicyRule] = []) {
        self.dataset = dataset
        self.rules = rules
    }

    /// Time constraints lie between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z, so that they read
    /// back from their ISO 8601 text (four-digit years).
    public static let timeRange = Timestamp(rawValue: 0)...Timestamp(rawValue: 253_402_300_799_999_999)

    /// The shortest retention among the `delete` duties, in days; nil when no duty limits retention.
    public var retentionDays: Int? {
        rules.lazy.filter { $0.kind == .duty && $0.duty == .delete }.compactMap(\.constraints.retentionDays).min()
    }
}

/// Why a policy, or a document meant to become one, was refused. `field` is a path into the policy
/// (`rules[2].constraints.purposes[0]`) or, on import, into the document (`permission[0].constraint[1].operator`);
/// the empty field names the whole document.
public struct PolicyProblem: Error, Equatable, Sendable, CustomStringConvertible {
    public var field: String
    public var detail: String

    public init(field: String, detail: String) {
        self.field = field
        self.detail = detail
    }

    public var description: String { field.isEmpty ? detail : "\(field): \(detail)" }
}

/// The published purpose vocabulary. Bits are positions in ``standard``: append new purposes, never
/// reorder or remove one, since purpose sets are stored as bits (R21 restrictions).
public enum Purposes {
    public static let standard: [String] = [
        "public_governance",
        "public_welfare",
        "scientific_research",
        "education",
        "statistics",
        "model_training",
        "model_fine_tuning",
        "model_evaluation",
        "retrieval_augmentation",
        "product_development",
        "commercial_analytics",
        "marketing",
        "credit_scoring",
        "insurance_underwriting",
        "risk_control",
        "regulatory_reporting",
    ]

    public static let vocabulary: Vocabulary = {
        var vocabulary = Vocabulary()
        for purpose in standard { _ = vocabulary.bit(for: purpose) }
        return vocabulary
    }()

    /// Public governance and public welfare: the purposes for which use of public data is free (R23).
    public static func isPublicInterest(_ purpose: String) -> Bool {
        purpose == "public_governance" || purpose == "public_welfare"
    }
}

/// The regions a policy may name: the 34 provincial codes of ``Regions/provincial``, sorted, as bits 0…33.
/// Country codes outside China are refused in policies for now; a request from outside China still
/// satisfies any rule without a region constraint.
public enum RegionVocabulary {
    public static let standard: Vocabulary = {
        var vocabulary = Vocabulary()
        for code in Regions.provincial.keys.sorted() { _ = vocabulary.bit(for: code) }
        return vocabulary
    }()
}

// MARK: - Validation

extension Policy {
    /// Everything wrong with this policy, each naming its field; empty when the policy may be stored and
    /// compiled. At most ``Limits/maxPolicyProblemsReported`` problems are listed.
    public func validate() -> [PolicyProblem] {
        var problems = PolicyProblemList()
        if rules.count > Limits.maxPolicyRules {
            problems.add("rules", "at most \(Limits.maxPolicyRules) rules are allowed, found \(rules.count)")
        }
        var firstIndexOfID: [String: Int] = [:]
        for (index, rule) in rules.enumerated() {
            let path = "rules[\(index)]"
            rule.validate(at: path, into: &problems)
            if let first = firstIndexOfID[rule.id] {
                problems.add("\(path).id", "rule id \"\(rule.id)\" is already used by rules[\(first)]")
            } else {
                firstIndexOfID[rule.id] = index
            }
            if problems.isFull { break }
        }
        return problems.items
    }

    /// True when `id` is 1…100 characters from `A–Z a–z 0–9 . _ : -`.
    public static func isValidRuleID(_ id: String) -> Bool {
        let bytes = id.utf8
        guard !bytes.isEmpty, bytes.count <= Limits.maxPolicyRuleIDLength else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "-"):
                true
            default: false
            }
        }
    }

    static let allowedPurposesText = Purposes.standard.joined(separator: ", ")
    static let allowedRegionsText = RegionVocabulary.standard.names.joined(separator: ", ")
}

extension PolicyRule {
    func validate(at path: String, into problems: inout PolicyProblemList) {
        if id.isEmpty {
            problems.add("\(path).id", "a rule needs an id")
        } else if id.utf8.count > Limits.maxPolicyRuleIDLength {
            problems.add("\(path).id", "a rule id has at most \(Limits.maxPolicyRuleIDLength) characters, found \(id.utf8.count)")
        } else if !Policy.isValidRuleID(id) {
            problems.add("\(path).id", "a rule id uses only A–Z, a–z, 0–9 and . _ : -")
        }
        switch (kind, duty) {
        case (.duty, nil):
            problems.add("\(path).duty", "a duty must name what it obliges: delete, attribute or report_usage")
        case (.permission, .some), (.prohibition, .some):
            problems.add("\(path).duty", "only duties name a duty action; remove it from this \(kind.rawValue)")
        default:
            break
        }

        let constraints = self.constraints
        let base = "\(path).constraints"
        checkList(constraints.purposes, "\(base).purposes", "purpose", into: &problems) { purpose in
            Purposes.vocabulary.existingBit(for: purpose) == nil
                ? "unknown purpose \"\(purpose)\"; allowed: \(Policy.allowedPurposesText)" : nil
        }
        checkList(constraints.assigneeParties, "\(base).assigneeParties", "party", into: &problems) { _ in nil }
        checkList(constraints.assigneeKinds, "\(base).assigneeKinds", "kind", into: &problems) { _ in nil }
        checkList(constraints.regions, "\(base).regions", "region", into: &problems) { region in
            RegionVocabulary.standard.existingBit(for: region) == nil
                ? "unknown region \"\(region)\"; policies accept only the provincial codes \(Policy.allowedRegionsText)" : nil
        }
        for (name, time) in [("notBefore", constraints.notBefore), ("notAfter", constraints.notAfter)] {
            if let time, !Policy.timeRange.contains(time) {
                problems.add("\(base).\(name)", "must lie between 1970-01-01 and 9999-12-31, is \(time.rawValue) µs since 1970")
            }
        }
        if let notBefore = constraints.notBefore, let notAfter = constraints.notAfter, notBefore >= notAfter,
            Policy.timeRange.contains(notBefore), Policy.timeRange.contains(notAfter)
        {
            problems.add("\(base).notAfter", "the window is empty: notAfter (\(notAfter)) must be later than notBefore (\(notBefore))")
        }
        if let maxTokens = constraints.maxTokens, maxTokens <= 0 {
            problems.add("\(base).maxTokens", "must be positive, is \(maxTokens)")
        }
        if let retentionDays = constraints.retentionDays {
            if kind != .duty || duty != .delete {
                problems.add("\(base).retentionDays", "retention applies only to duties with action delete")
            } else if !Limits.policyRetentionDaysRange.contains(retentionDays) {
                problems.add(
                    "\(base).retentionDays",
                    "must be between \(Limits.policyRetentionDaysRange.lowerBound) and \(Limits.policyRetentionDaysRange.upperBound) days, is \(retentionDays)")
            }
        }
    }

    /// Non-empty, at most ``Limits/maxPolicyListEntries`` entries, no repeats, each entry acceptable.
    private func checkList<Entry: Hashable>(
        _ list: [Entry]?, _ field: String, _ noun: String, into problems: inout PolicyProblemList, entryProblem: (Entry) -> String?
    ) {
        guard let list else { return }
        if list.isEmpty {
            problems.add(field, "an empty list matches nothing; use null for any \(noun)")
            return
        }
        if list.count > Limits.maxPolicyListEntries {
            problems.add(field, "at most \(Limits.maxPolicyListEntries) entries are allowed, found \(list.count)")
            return
        }
        var seen: Set<Entry> = []
        for (index, entry) in list.enumerated() {
            if let problem = entryProblem(entry) {
                problems.add("\(field)[\(index)]", problem)
            } else if !seen.insert(entry).inserted {
                problems.add("\(field)[\(index)]", "repeats an earlier entry")
            }
        }
    }
}

// MARK: - Lineage (R21)

extension Policy {
    /// What this policy adds to the restrictions its descendants inherit (R21), as bits of
    /// ``Purposes/vocabulary`` and ``RegionVocabulary/standard``:
    /// - `prohibitedPurposes`: the purposes of `use` prohibitions whose only constraint is purposes —
    ///   unconditional purpose bans, inherited by every descendant. A `use` prohibition with no constraint
    ///   at all bans every purpose and contributes ``NameSet/all``.
    /// - `permittedPurposes`: the union of the purposes of all `use` permissions; ``NameSet/all`` when one
    ///   of them has no purpose constraint; ``NameSet/none`` when there is no `use` permission (nothing is
    ///   permitted, R20).
    /// - `permittedRegions`: the same over regions.
    ///
    /// Rules bound to an assignee, a kind of party, a time window, a token count or a grade bind only the
    /// dataset they are written on; they are not inherited. Neither are `derive` and `distribute` rules.
    public func restrictionContribution() -> (prohibitedPurposes: NameSet, permittedPurposes: NameSet, permittedRegions: NameSet) {
        var prohibited = NameSet.none
        var permittedPurposes = NameSet.none
        var permittedRegions = NameSet.none
        for rule in rules where rule.action == .use {
            let constraints = rule.constraints
            switch rule.kind {
            case .prohibition:
                var onlyPurposes = constraints
                onlyPurposes.purposes = nil
                guard onlyPurposes == RuleConstraints() else { continue }
                prohibited = prohibited.union(Self.purposeSet(constraints.purposes))
            case .permission:
                permittedPurposes = permittedPurposes.union(Self.purposeSet(constraints.purposes))
                permittedRegions = permittedRegions.union(Self.regionSet(constraints.regions))
            case .duty:
                continue
            }
        }
        return (prohibited, permittedPurposes, permittedRegions)
    }

    /// The bits of `purposes`, or all bits for nil. Precondition: the names are in the vocabulary.
    static func purposeSet(_ purposes: [String]?) -> NameSet {
        guard let purposes else { return .all }
        guard let set = Purposes.vocabulary.set(of: purposes) else { preconditionFailure("unvalidated purposes \(purposes)") }
        return set
    }

    /// The bits of `regions`, or all bits for nil. Precondition: the codes are in the vocabulary.
    static func regionSet(_ regions: [String]?) -> NameSet {
        guard let regions else { return .all }
        guard let set = RegionVocabulary.standard.set(of: regions) else { preconditionFailure("unvalidated regions \(regions)") }
        return set
    }
}

/// Problems collected up to ``Limits/maxPolicyProblemsReported``.
struct PolicyProblemList {
    private(set) var items: [PolicyProblem] = []

    var isFull: Bool { items.count >= Limits.maxPolicyProblemsReported }

    mutating func add(_ field: String, _ detail: String) {
        guard !isFull else { return }
        items.append(PolicyProblem(field: field, detail: detail))
    }
}
