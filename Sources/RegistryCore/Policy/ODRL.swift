/// ODRL 2.2 JSON-LD for ``Policy`` (R20): what the registry publishes, and what a holder may upload.
///
/// The mapping, both ways:
///
/// | Policy                         | ODRL                                                                          |
/// |--------------------------------|-------------------------------------------------------------------------------|
/// | the policy                     | `@type` `Set`, `uid` `…/policies/dataset/<id>`, `target` `…/datasets/<id>`, `conflict` `prohibit` |
/// | permission / prohibition / duty| entries of `permission` / `prohibition` / `obligation`                        |
/// | rule id                        | the last segment of the rule's `uid`, `…/policies/dataset/<id>/rules/<rule id>` |
/// | action                         | `action`: `use`, `derive`, `distribute`                                       |
/// | duty action                    | an obligation's `action`: `delete`, `attribute`, `dr:reportUsage`; the action that brings the duty is `dr:onAction` (omitted for `use`) |
/// | assigneeParties                | `assignee`: party IRIs `…/parties/<id>` (any one of them)                     |
/// | assigneeKinds                  | without parties: `assignee`: `{"@type": "PartyCollection", "uid": "…/party-kinds/<kind>"}` (a member of any one); with parties: a constraint `dr:partyKind` `isAnyOf` kind names, since several assignees mean "any of them" and the two lists must both hold |
/// | purposes                       | `purpose` `isAnyOf` purpose names                                             |
/// | regions                        | `spatial` `isAnyOf` provincial codes                                          |
/// | notBefore / notAfter           | `dateTime` `gteq` / `lt`, `{"@value": ISO 8601, "@type": "xsd:dateTime"}`     |
/// | maxTokens                      | `count` `lteq` N — here the count is of tokens in the request                 |
/// | gradeCeiling                   | `dr:gradeCeiling` `lteq` `general` / `important` / `core`                     |
/// | retentionDays (delete duties)  | `elapsedTime` `lteq` `{"@value": "P<N>D", "@type": "xsd:duration"}`          |
///
/// `dr:` is `https://datarights.example/ns#`; when a document uses it, the context becomes an array of the
/// ODRL context and `{"dr": …}`. Rules stay in ``Policy/rules`` order: a policy whose rules are not already
/// permissions, then prohibitions, then duties numbers every rule with `dr:position`, so that verdicts name
/// the same rule index after a round trip.
///
/// Import reads what export writes and these variants: terms prefixed `odrl:` or written as full ODRL IRIs,
/// one object where a list is expected, `{"@list": […]}`, `{"@id": …}` for IRIs, plain strings for typed
/// values, constraints grouped with `and`, `eq` with one value for `isAnyOf`, `lteq` for the end of a window
/// and `gt` for its start (converted exactly, in microseconds), `lt` for a token count. Anything else —
/// another operator or left operand, `or`, refinements, duties attached to a permission, an assigner, an
/// unknown key — is refused with a ``PolicyProblem`` naming its JSON path; a constraint is never dropped.
/// Documents are at most ``maxDocumentBytes`` and nest at most ``maxDepth`` deep.
public enum ODRL {
    public static let context = "http://www.w3.org/ns/odrl.jsonld"
    /// The namespace of DataRights' own terms, prefixed `dr:`.
    public static let namespace = "https://datarights.example/ns#"
    public static let maxDocumentBytes = 1 << 20
    public static let maxDepth = 32

    static let base = "https://datarights.example"
    static let partyBase = "\(base)/parties/"
    static let partyKindBase = "\(base)/party-kinds/"

    public static func policyIRI(_ dataset: DatasetID) -> String { "\(base)/policies/dataset/\(dataset.rawValue)" }
    public static func datasetIRI(_ dataset: DatasetID) -> String { "\(base)/datasets/\(dataset.rawValue)" }
    public static func partyIRI(_ party: PartyID) -> String { "\(partyBase)\(party.rawValue)" }
    public static func partyKindIRI(_ kind: PartyKind) -> String { "\(partyKindBase)\(kind.rawValue)" }

    /// `policy` as an ODRL 2.2 JSON-LD document, indented with two spaces. Export a validated policy: an
    /// invalid one is written as it stands, and import refuses it.
    public static func export(_ policy: Policy) -> String {
        var writer = ODRLWriter(policy: policy)
        return writer.document().text
    }

    /// The policy a document describes, for `dataset`; the first thing that cannot be represented is thrown.
    /// The result passes ``Policy/validate()``.
    public static func importPolicy(_ text: String, dataset: DatasetID) throws(PolicyProblem) -> Policy {
        let size = text.utf8.count
        guard size <= maxDocumentBytes else {
            throw PolicyProblem(field: "", detail: "the document has \(size) bytes; at most \(maxDocumentBytes) are accepted")
        }
        var parser = PolicyJSONParser(text)
        let root: PolicyJSON
        do {
            root = try parser.parse()
        } catch {
            throw PolicyProblem(field: "", detail: "not valid JSON: \(error.message) (line \(error.line), column \(error.column))")
        }
        return try ODRLReader(dataset: dataset).read(root)
    }

    /// A term without its `odrl:` prefix or ODRL namespace; DataRights terms as `dr:<name>`.
    static func term(_ text: String) -> String {
        if text.hasPrefix("odrl:") { return String(text.dropFirst(5)) }
        if text.hasPrefix(odrlNamespace) { return String(text.dropFirst(odrlNamespace.count)) }
        if text.hasPrefix(namespace) { return "dr:" + text.dropFirst(namespace.count) }
        return text
    }

    static let odrlNamespace = "http://www.w3.org/ns/odrl/2/"
}

// MARK: - Export

private struct ODRLWriter {
    let policy: Policy
    var usesNamespace = false

    init(policy: Policy) { self.policy = policy }

    mutating func document() -> PolicyJSON {
        // Import puts permissions first, then prohibitions, then obligations; other orders need positions.
        let ranks = policy.rules.map { rule in rule.kind == .permission ? 0 : rule.kind == .prohibition ? 1 : 2 }
        let grouped = zip(ranks, ranks.dropFirst()).allSatisfy { $0 <= $1 }
        var permissions: [PolicyJSON] = []
        var prohibitions: [PolicyJSON] = []
        var obligations: [PolicyJSON] = []
        for (index, rule) in policy.rules.enumerated() {
            let json = self.rule(rule, position: grouped ? nil : index)
            switch rule.kind {
            case .permission: permissions.append(json)
            case .prohibition: prohibitions.append(json)
            case .duty: obligations.append(json)
            }
        }
        var members: [PolicyJSON.Member] = []
        let context: PolicyJSON =
            usesNamespace ? .array([.string(ODRL.context), .object([.init("dr", .string(ODRL.namespace))])]) : .string(ODRL.context)
        members.append(.init("@context", context))
        members.append(.init("@type", .string("Set")))
        members.append(.init("uid", .string(ODRL.policyIRI(policy.dataset))))
        members.append(.init("target", .string(ODRL.datasetIRI(policy.dataset))))
        members.append(.init("conflict", .string("prohibit")))
        if !permissions.isEmpty { members.append(.init("permission", .array(permissions))) }
        if !prohibitions.isEmpty { members.append(.init("prohibition", .array(prohibitions))) }
        if !obligations.isEmpty { members.append(.init("obligation", .array(obligations))) }
        return .object(members)
    }

    private mutating func rule(_ rule: PolicyRule, position: Int?) -> PolicyJSON {
        var members: [PolicyJSON.Member] = [.init("uid", .string("\(ODRL.policyIRI(policy.dataset))/rules/\(rule.id)"))]
        if let position {
            usesNamespace = true
            members.append(.init("dr:position", .number(String(position))))
        }
        if let duty = rule.duty {
            members.append(.init("action", .string(Self.term(for: duty))))
            if duty == .reportUsage { usesNamespace = true }
            if rule.action != .use {
                usesNamespace = true
                members.append(.init("dr:onAction", .string(rule.action.rawValue)))
            }
        } else {
            members.append(.init("action", .string(rule.action.rawValue)))
        }

        let constraints = rule.constraints
        var constraintList: [PolicyJSON] = []
        if let parties = constraints.assigneeParties {
            members.append(.init("assignee", .array(parties.map { .string(ODRL.partyIRI($0)) })))
            if let kinds = constraints.assigneeKinds {
                usesNamespace = true
                constraintList.append(Self.constraint("dr:partyKind", "isAnyOf", .array(kinds.map { .string($0.rawValue) })))
            }
        } else if let kinds = constraints.assigneeKinds {
            members.append(
                .init(
                    "assignee",
                    .array(kinds.map { .object([.init("@type", .string("PartyCollection")), .init("uid", .string(ODRL.partyKindIRI($0)))]) })))
        }
        if let purposes = constraints.purposes {
            constraintList.append(Self.constraint("purpose", "isAnyOf", .array(purposes.map { .string($0) })))
        }
        if let regions = constraints.regions {
            constraintList.append(Self.constraint("spatial", "isAnyOf", .array(regions.map { .string($0) })))
        }
        if let notBefore = constraints.notBefore {
            constraintList.append(Self.constraint("dateTime", "gteq", Self.typed(notBefore.description, "xsd:dateTime")))
        }
        if let notAfter = constraints.notAfter {
            constraintList.append(Self.constraint("dateTime", "lt", Self.typed(notAfter.description, "xsd:dateTime")))
        }
        if let maxTokens = constraints.maxTokens {
            constraintList.append(Self.constraint("count", "lteq", .number(String(maxTokens))))
        }
        if let gradeCeiling = constraints.gradeCeiling {
            usesNamespace = true
            constraintList.append(Self.constraint("dr:gradeCeiling", "lteq", .string(gradeCeiling.rawValue)))
        }
        if let retentionDays = constraints.retentionDays {
            constraintList.append(Self.constraint("elapsedTime", "lteq", Self.typed("P\(retentionDays)D", "xsd:duration")))
        }
        if !constraintList.isEmpty { members.append(.init("constraint", .array(constraintList))) }
        return .object(members)
    }

    static func term(for duty: DutyAction) -> String {
        switch duty {
        case .delete: "delete"
        case .attribute: "attribute"
        case .reportUsage: "dr:reportUsage"
        }
    }

    static func constraint(_ leftOperand: String, _ operation: String, _ rightOperand: PolicyJSON) -> PolicyJSON {
        .object([.init("leftOperand", .string(leftOperand)), .init("operator", .string(operation)), .init("rightOperand", rightOperand)])
    }

    static func typed(_ value: String, _ type: String) -> PolicyJSON {
        .object([.init("@value", .string(value)), .init("@type", .string(type))])
    }
}

// MARK: - Import

/// A value found in the document, with its JSON path.
private struct Located {
    var value: PolicyJSON
    var path: String
}

private func child(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

private struct ODRLReader {
    let dataset: DatasetID

    func read(_ root: PolicyJSON) throws(PolicyProblem) -> Policy {
        let fields = try Self.fields(
            of: Located(value: root, path: ""), what: "an ODRL policy",
            allowed: ["@context", "@type", "uid", "target", "conflict", "permission", "prohibition", "obligation"])
        guard let context = fields["@context"] else {
            throw PolicyProblem(field: "@context", detail: "an ODRL document needs \"@context\": \"\(ODRL.context)\"")
        }
        try Self.checkContext(context)
        guard let type = fields["@type"] else { throw PolicyProblem(field: "@type", detail: "an ODRL policy needs \"@type\": \"Set\"") }
        let typeName = ODRL.term(try Self.string(type, what: "@type"))
        guard typeName == "Set" || typeName == "Policy" else {
            throw PolicyProblem(field: type.path, detail: "a DataRights policy is a Set (or a plain Policy), not \(typeName)")
        }
        if let uid = fields["uid"] { _ = try Self.iri(uid) }
        if let target = fields["target"] { try checkTarget(target) }
        if let conflict = fields["conflict"] {
            let strategy = ODRL.term(try Self.string(conflict, what: "conflict"))
            guard strategy == "prohibit" else {
                throw PolicyProblem(field: conflict.path, detail: "DataRights resolves conflicts one way only: prohibit (a matching prohibition wins)")
            }
        }

        var rules: [(rule: PolicyRule, position: Located?, path: String)] = []
        var firstPathOfID: [String: String] = [:]
        for (key, kind) in [("permission", RuleKind.permission), ("prohibition", .prohibition), ("obligation", .duty)] {
            guard let list = fields[key] else { continue }
            for entry in Self.elements(of: list) {
                guard rules.count < Policy.maxRules else {
                    throw PolicyProblem(field: entry.path, detail: "a policy has at most \(Policy.maxRules) rules")
                }
                let (rule, position) = try readRule(entry, kind: kind)
                if let first = firstPathOfID[rule.id] {
                    throw PolicyProblem(field: child(entry.path, "uid"), detail: "rule id \"\(rule.id)\" is already used by \(first)")
                }
                firstPathOfID[rule.id] = entry.path
                rules.append((rule, position, entry.path))
            }
        }

        let ordered = try Self.order(rules)
        let policy = Policy(dataset: dataset, rules: ordered.map(\.rule))
        // Everything validation checks was checked above with a JSON path; this is a backstop.
        if let problem = policy.validate().first {
            var field = problem.field
            if let open = field.firstIndex(of: "["), let close = field.firstIndex(of: "]"),
                let index = Int(field[field.index(after: open)..<close]), ordered.indices.contains(index)
            {
                field = ordered[index].path
            }
            throw PolicyProblem(field: field, detail: "\(problem.field): \(problem.detail)")
        }
        return policy
    }

    /// Rule order: by `dr:position` when every rule has one, else permissions, prohibitions, obligations.
    private static func order(
        _ rules: [(rule: PolicyRule, position: Located?, path: String)]
    ) throws(PolicyProblem) -> [(rule: PolicyRule, path: String)] {
        let numbered = rules.filter { $0.position != nil }.count
        if numbered == 0 { return rules.map { ($0.rule, $0.path) } }
        var slots: [(rule: PolicyRule, path: String)?] = Array(repeating: nil, count: rules.count)
        for entry in rules {
            guard let position = entry.position else {
                throw PolicyProblem(field: entry.path, detail: "dr:position is on some rules but not on this one; number every rule or none")
            }
            let value = try Self.integer(position, what: "dr:position")
            guard value >= 0, value < rules.count else {
                throw PolicyProblem(field: position.path, detail: "must be between 0 and \(rules.count - 1), the number of rules less one")
            }
            guard slots[Int(value)] == nil else {
                throw PolicyProblem(field: position.path, detail: "position \(value) is taken by \(slots[Int(value)]!.path)")
            }
            slots[Int(value)] = (entry.rule, entry.path)
        }
        return slots.map { $0! }
    }

    private func readRule(_ entry: Located, kind: RuleKind) throws(PolicyProblem) -> (PolicyRule, Located?) {
        let what = kind == .duty ? "an obligation" : "a \(kind.rawValue)"
        var allowed: Set<String> = ["@type", "uid", "action", "assignee", "constraint", "target", "dr:position"]
        if kind == .duty { allowed.insert("dr:onAction") }
        let fields = try Self.fields(of: entry, what: what, allowed: allowed)

        if let type = fields["@type"] {
            let expected = kind == .duty ? "Duty" : kind == .permission ? "Permission" : "Prohibition"
            guard ODRL.term(try Self.string(type, what: "@type")) == expected else {
                throw PolicyProblem(field: type.path, detail: "\(what) has @type \(expected)")
            }
        }
        if let target = fields["target"] { try checkTarget(target) }
        guard let uid = fields["uid"] else {
            throw PolicyProblem(field: child(entry.path, "uid"), detail: "every rule needs a uid ending in its id, like \(ODRL.policyIRI(dataset))/rules/<id>")
        }
        let uidText = try Self.iri(uid)
        let id = String(uidText.split(separator: "/", omittingEmptySubsequences: false).last!.split(separator: "#", omittingEmptySubsequences: false).last!)
        guard Policy.isValidRuleID(id) else {
            throw PolicyProblem(field: uid.path, detail: "the rule id \"\(id)\" (the uid's last segment) must be 1…100 characters from A–Z a–z 0–9 . _ : -")
        }

        guard let actionField = fields["action"] else { throw PolicyProblem(field: child(entry.path, "action"), detail: "\(what) needs an action") }
        let actionName = ODRL.term(try Self.iri(actionField))
        var action = PolicyAction.use
        var duty: DutyAction?
        if kind == .duty {
            switch actionName {
            case "delete": duty = .delete
            case "attribute": duty = .attribute
            case "dr:reportUsage": duty = .reportUsage
            default:
                throw PolicyProblem(field: actionField.path, detail: "unsupported duty \"\(actionName)\"; obligations are delete, attribute or dr:reportUsage")
            }
            if let onAction = fields["dr:onAction"] {
                let name = ODRL.term(try Self.iri(onAction))
                guard let parsed = PolicyAction(rawValue: name) else {
                    throw PolicyProblem(field: onAction.path, detail: "unsupported action \"\(name)\"; use, derive or distribute")
                }
                action = parsed
            }
        } else {
            guard let parsed = PolicyAction(rawValue: actionName) else {
                throw PolicyProblem(
                    field: actionField.path, detail: "unsupported action \"\(actionName)\"; DataRights policies govern use, derive and distribute")
            }
            action = parsed
        }

        var constraints = ConstraintReader(kind: kind, duty: duty)
        if let assignee = fields["assignee"] { try constraints.readAssignee(assignee) }
        if let list = fields["constraint"] { try constraints.readConstraints(list) }
        try constraints.finish()
        let rule = PolicyRule(id: id, kind: kind, action: action, duty: duty, constraints: constraints.result)
        return (rule, fields["dr:position"])
    }

    private func checkTarget(_ target: Located) throws(PolicyProblem) {
        let iri = try Self.iri(target)
        guard iri == ODRL.datasetIRI(dataset) else {
            throw PolicyProblem(field: target.path, detail: "the target is \(iri), but this policy is for \(ODRL.datasetIRI(dataset))")
        }
    }

    /// The ODRL context, alone or in an array, optionally with `{"dr": namespace}`.
    private static func checkContext(_ context: Located) throws(PolicyProblem) {
        var hasODRL = false
        for entry in elements(of: context) {
            switch entry.value {
            case .string(let text) where text == ODRL.context:
                hasODRL = true
            case .object(let members):
                for member in members where member.key != "dr" || member.value != .string(ODRL.namespace) {
                    throw PolicyProblem(
                        field: child(entry.path, member.key), detail: "the only context definition accepted is \"dr\": \"\(ODRL.namespace)\"")
                }
            default:
                throw PolicyProblem(field: entry.path, detail: "unsupported context; use \"\(ODRL.context)\"")
            }
        }
        guard hasODRL else { throw PolicyProblem(field: context.path, detail: "the context must include \"\(ODRL.context)\"") }
    }

    // MARK: Value helpers

    /// An object's members by term, each key allowed and present once.
    static func fields(of located: Located, what: String, allowed: Set<String>) throws(PolicyProblem) -> [String: Located] {
        guard case .object(let members) = located.value else {
            throw PolicyProblem(field: located.path, detail: "\(what) must be a JSON object")
        }
        var fields: [String: Located] = [:]
        for member in members {
            let path = child(located.path, member.key)
            let name = member.key.hasPrefix("@") ? member.key : ODRL.term(member.key)
            guard allowed.contains(name) else {
                throw PolicyProblem(field: path, detail: "\(what) with \"\(member.key)\" cannot be represented in a DataRights policy")
            }
            guard fields[name] == nil else { throw PolicyProblem(field: path, detail: "\(name) is given twice") }
            fields[name] = Located(value: member.value, path: path)
        }
        return fields
    }

    /// The entries of a list, of `{"@list": […]}`, or a single value as a list of one.
    static func elements(of located: Located) -> [Located] {
        switch located.value {
        case .array(let items):
            return items.enumerated().map { Located(value: $1, path: "\(located.path)[\($0)]") }
        case .object(let members) where members.count == 1 && members[0].key == "@list":
            guard case .array(let items) = members[0].value else { return [Located(value: members[0].value, path: child(located.path, "@list"))] }
            return items.enumerated().map { Located(value: $1, path: "\(located.path).@list[\($0)]") }
        default:
            return [located]
        }
    }

    static func string(_ located: Located, what: String) throws(PolicyProblem) -> String {
        guard case .string(let text) = located.value else { throw PolicyProblem(field: located.path, detail: "\(what) must be a string") }
        return text
    }

    /// A string, `{"@id": …}` or `{"uid": …}`.
    static func iri(_ located: Located) throws(PolicyProblem) -> String {
        switch located.value {
        case .string(let text):
            return text
        case .object(let members) where members.count == 1 && (members[0].key == "@id" || members[0].key == "uid"):
            return try string(Located(value: members[0].value, path: child(located.path, members[0].key)), what: members[0].key)
        default:
            throw PolicyProblem(field: located.path, detail: "expected an IRI string")
        }
    }

    /// A JSON integer, or a string of one.
    static func integer(_ located: Located, what: String) throws(PolicyProblem) -> Int64 {
        switch located.value {
        case .number(let text), .string(let text):
            if let value = Int64(text) { return value }
        default:
            break
        }
        throw PolicyProblem(field: located.path, detail: "\(what) must be a whole number within 64 bits")
    }
}

/// Reads a rule's assignee and constraints into ``RuleConstraints``, each left operand at most once.
private struct ConstraintReader {
    let kind: RuleKind
    let duty: DutyAction?
    var result = RuleConstraints()
    /// Where each constraint came from, to name duplicates and empty windows.
    private var seen: [String: String] = [:]
    private var upperBoundPath: String?

    init(kind: RuleKind, duty: DutyAction?) {
        self.kind = kind
        self.duty = duty
    }

    mutating func readAssignee(_ assignee: Located) throws(PolicyProblem) {
        let entries = ODRLReader.elements(of: assignee)
        try Self.checkCount(entries.count, at: assignee.path, noun: "assignee")
        var parties: [PartyID] = []
        var kinds: [PartyKind] = []
        for entry in entries {
            var iri: String
            var declaredCollection: Bool?
            switch entry.value {
            case .string(let text):
                iri = text
            case .object:
                let fields = try ODRLReader.fields(of: entry, what: "an assignee", allowed: ["@type", "uid", "@id"])
                guard let identifier = fields["uid"] ?? fields["@id"], fields.count - (fields["@type"] == nil ? 0 : 1) == 1 else {
                    throw PolicyProblem(field: entry.path, detail: "an assignee names its IRI once, in uid or @id")
                }
                iri = try ODRLReader.string(identifier, what: "the assignee's IRI")
                if let type = fields["@type"] {
                    switch ODRL.term(try ODRLReader.string(type, what: "@type")) {
                    case "Party": declaredCollection = false
                    case "PartyCollection": declaredCollection = true
                    case let other: throw PolicyProblem(field: type.path, detail: "an assignee is a Party or a PartyCollection, not \(other)")
                    }
                }
            default:
                throw PolicyProblem(field: entry.path, detail: "an assignee is a party IRI or a PartyCollection object")
            }
            if iri.hasPrefix(ODRL.partyKindBase) {
                guard declaredCollection != false, let kind = PartyKind(rawValue: String(iri.dropFirst(ODRL.partyKindBase.count))) else {
                    throw PolicyProblem(
                        field: entry.path,
                        detail: "unknown party collection \(iri); the kinds are \(PartyKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                guard !kinds.contains(kind) else { throw PolicyProblem(field: entry.path, detail: "repeats an earlier assignee") }
                kinds.append(kind)
            } else if iri.hasPrefix(ODRL.partyBase) {
                let digits = iri.dropFirst(ODRL.partyBase.count)
                guard declaredCollection != true, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let id = Int64(digits) else {
                    throw PolicyProblem(field: entry.path, detail: "a party IRI is \(ODRL.partyBase)<number>, naming one party")
                }
                guard !parties.contains(PartyID(rawValue: id)) else { throw PolicyProblem(field: entry.path, detail: "repeats an earlier assignee") }
                parties.append(PartyID(rawValue: id))
            } else {
                throw PolicyProblem(
                    field: entry.path, detail: "unknown assignee \(iri); DataRights assignees are \(ODRL.partyBase)<id> or \(ODRL.partyKindBase)<kind>")
            }
        }
        if !parties.isEmpty && !kinds.isEmpty {
            throw PolicyProblem(
                field: assignee.path,
                detail: "mixes parties and party collections, which ODRL reads as any one of them; name parties here and their kinds in a dr:partyKind constraint")
        }
        if !parties.isEmpty { result.assigneeParties = parties }
        if !kinds.isEmpty {
            seen["dr:partyKind"] = assignee.path
            result.assigneeKinds = kinds
        }
    }

    /// Atomic constraints, in a list or grouped with `and` (flattened with an explicit stack).
    mutating func readConstraints(_ list: Located) throws(PolicyProblem) {
        var pending = Array(ODRLReader.elements(of: list).reversed())
        while let entry = pending.popLast() {
            guard case .object(let members) = entry.value else {
                throw PolicyProblem(field: entry.path, detail: "a constraint must be a JSON object")
            }
            let keys = Set(members.map { ODRL.term($0.key) })
            if keys.contains("and") {
                let fields = try ODRLReader.fields(of: entry, what: "a logical constraint", allowed: ["and", "@type", "uid"])
                pending.append(contentsOf: ODRLReader.elements(of: fields["and"]!).reversed())
                continue
            }
            for logical in ["or", "xone", "andSequence"] where keys.contains(logical) {
                let key = members.first { ODRL.term($0.key) == logical }!.key
                throw PolicyProblem(field: child(entry.path, key), detail: "only and can combine constraints in a DataRights policy; \(logical) cannot be represented")
            }
            let fields = try ODRLReader.fields(of: entry, what: "a constraint", allowed: ["leftOperand", "operator", "rightOperand", "@type", "uid"])
            guard let left = fields["leftOperand"], let operation = fields["operator"], let right = fields["rightOperand"] else {
                throw PolicyProblem(field: entry.path, detail: "a constraint needs leftOperand, operator and rightOperand")
            }
            try read(left: left, operation: operation, right: right)
        }
    }

    private mutating func read(left: Located, operation: Located, right: Located) throws(PolicyProblem) {
        let leftOperand = ODRL.term(try ODRLReader.iri(left))
        let op = ODRL.term(try ODRLReader.iri(operation))
        func unsupported(_ allowed: String) -> PolicyProblem {
            PolicyProblem(field: operation.path, detail: "unsupported operator \"\(op)\" for \(leftOperand); use \(allowed)")
        }
        let key = leftOperand == "dateTime" ? (op == "gteq" || op == "gt" ? "dateTime≥" : "dateTime<") : leftOperand
        if let earlier = seen[key] {
            throw PolicyProblem(field: left.path, detail: "\(leftOperand) is already constrained at \(earlier); list every value in one constraint")
        }
        seen[key] = left.path

        switch leftOperand {
        case "purpose":
            result.purposes = try names(op, right, unsupported, noun: "purpose") { name in
                Purposes.vocabulary.existingBit(for: name) == nil ? "unknown purpose \"\(name)\"; allowed: \(Policy.allowedPurposesText)" : nil
            }
        case "spatial":
            result.regions = try names(op, right, unsupported, noun: "region") { name in
                RegionVocabulary.standard.existingBit(for: name) == nil
                    ? "unknown region \"\(name)\"; policies accept only the provincial codes \(Policy.allowedRegionsText)" : nil
            }
        case "dr:partyKind":
            let names = try names(op, right, unsupported, noun: "party kind") { name in
                PartyKind(rawValue: name) == nil ? "unknown party kind \"\(name)\"; the kinds are \(PartyKind.allCases.map(\.rawValue).joined(separator: ", "))" : nil
            }
            result.assigneeKinds = names.map { PartyKind(rawValue: $0)! }
        case "dateTime":
            let text = try Self.typedString(right, types: ["xsd:dateTime"], what: "a dateTime")
            guard let time = Timestamp(iso8601: text) else {
                throw PolicyProblem(field: right.path, detail: "expected an ISO 8601 date and time with a zone, like 2026-01-01T00:00:00Z, at most microseconds")
            }
            guard Policy.timeRange.contains(time) else {
                throw PolicyProblem(field: right.path, detail: "must lie between 1970-01-01 and 9999-12-31")
            }
            switch op {
            case "gteq": result.notBefore = time
            case "gt": result.notBefore = Timestamp(rawValue: time.rawValue + 1)
            case "lt": result.notAfter = time
            case "lteq": result.notAfter = Timestamp(rawValue: time.rawValue + 1)
            default: throw unsupported("gteq or gt for the start, lt or lteq for the end")
            }
            if key == "dateTime<" { upperBoundPath = right.path }
        case "count":
            let count = try ODRLReader.integer(Located(value: Self.unwrapValue(right.value), path: right.path), what: "a token count")
            switch op {
            case "lteq": result.maxTokens = count
            case "lt": result.maxTokens = count == .min ? count : count - 1
            default: throw unsupported("lteq (at most this many tokens)")
            }
            guard result.maxTokens! > 0 else { throw PolicyProblem(field: right.path, detail: "allows no tokens at all; the limit must be positive") }
        case "dr:gradeCeiling":
            guard op == "lteq" else { throw unsupported("lteq") }
            let name = try Self.typedString(right, types: [], what: "a grade")
            guard let grade = Grade(rawValue: name) else {
                throw PolicyProblem(field: right.path, detail: "unknown grade \"\(name)\"; the grades are general, important, core")
            }
            result.gradeCeiling = grade
        case "elapsedTime":
            guard kind == .duty && duty == .delete else {
                throw PolicyProblem(field: left.path, detail: "elapsedTime (retention) applies only to obligations with action delete")
            }
            guard op == "lteq" else { throw unsupported("lteq (delete within this many days)") }
            let text = try Self.typedString(right, types: ["xsd:duration"], what: "a duration")
            let digits = text.utf8.dropFirst().dropLast()
            guard text.hasPrefix("P"), text.hasSuffix("D"), !digits.isEmpty, digits.count <= 6,
                digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let days = Int(String(text.dropFirst().dropLast()))
            else {
                throw PolicyProblem(field: right.path, detail: "expected a duration in whole days, like P30D")
            }
            guard Policy.retentionDaysRange.contains(days) else {
                throw PolicyProblem(field: right.path, detail: "retention must be between 1 and \(Policy.retentionDaysRange.upperBound) days")
            }
            result.retentionDays = days
        default:
            throw PolicyProblem(
                field: left.path,
                detail: "unsupported leftOperand \"\(leftOperand)\"; DataRights policies constrain purpose, spatial, dateTime, count, elapsedTime, dr:gradeCeiling and dr:partyKind")
        }
    }

    /// `isAnyOf` a list (or one value), or `eq` one value; names checked, unique, 1…64 of them.
    private func names(
        _ op: String, _ right: Located, _ unsupported: (String) -> PolicyProblem, noun: String, problem: (String) -> String?
    ) throws(PolicyProblem) -> [String] {
        let entries: [Located]
        switch op {
        case "isAnyOf":
            entries = ODRLReader.elements(of: right)
        case "eq":
            if case .array = right.value { throw PolicyProblem(field: right.path, detail: "eq compares with one value; use isAnyOf for a list") }
            entries = [right]
        default:
            throw unsupported("isAnyOf")
        }
        try Self.checkCount(entries.count, at: right.path, noun: noun)
        var names: [String] = []
        for entry in entries {
            let name = try Self.typedString(entry, types: [], what: "a \(noun)")
            if let detail = problem(name) { throw PolicyProblem(field: entry.path, detail: detail) }
            guard !names.contains(name) else { throw PolicyProblem(field: entry.path, detail: "repeats an earlier \(noun)") }
            names.append(name)
        }
        return names
    }

    mutating func finish() throws(PolicyProblem) {
        if let notBefore = result.notBefore, let notAfter = result.notAfter, notBefore >= notAfter {
            throw PolicyProblem(field: upperBoundPath ?? "", detail: "the window is empty: its end (\(notAfter)) must be later than its start (\(notBefore))")
        }
    }

    private static func checkCount(_ count: Int, at path: String, noun: String) throws(PolicyProblem) {
        if count == 0 { throw PolicyProblem(field: path, detail: "an empty list matches nothing; leave the constraint out to allow any \(noun)") }
        if count > Policy.maxListEntries {
            throw PolicyProblem(field: path, detail: "at most \(Policy.maxListEntries) entries are allowed, found \(count)")
        }
    }

    /// `{"@value": v}` as `v`; anything else unchanged.
    private static func unwrapValue(_ value: PolicyJSON) -> PolicyJSON {
        if case .object(let members) = value, let inner = members.first(where: { $0.key == "@value" }) { return inner.value }
        return value
    }

    /// A string, or `{"@value": string, "@type": one of types}`.
    private static func typedString(_ located: Located, types: Set<String>, what: String) throws(PolicyProblem) -> String {
        switch located.value {
        case .string(let text):
            return text
        case .object:
            let fields = try ODRLReader.fields(of: located, what: "a typed value", allowed: ["@value", "@type"])
            guard let value = fields["@value"] else { throw PolicyProblem(field: located.path, detail: "a typed value needs @value") }
            if let type = fields["@type"] {
                let name = try ODRLReader.string(type, what: "@type").replacingXSDNamespace()
                guard types.contains(name) else {
                    throw PolicyProblem(field: type.path, detail: "expected \(what)\(types.isEmpty ? " without a type" : " of type \(types.sorted().joined(separator: " or "))")")
                }
            }
            return try ODRLReader.string(value, what: what)
        default:
            throw PolicyProblem(field: located.path, detail: "expected \(what) as a string")
        }
    }
}

extension String {
    fileprivate func replacingXSDNamespace() -> String {
        let xsd = "http://www.w3.org/2001/XMLSchema#"
        return hasPrefix(xsd) ? "xsd:" + dropFirst(xsd.count) : self
    }
}

// MARK: - ISO 8601

extension Timestamp {
    /// Parses `YYYY-MM-DDThh:mm:ss[.f…]` with `Z` or `±hh:mm`, up to six fraction digits: what
    /// ``description`` writes, and the usual variants. Nil for anything else, including leap seconds.
    public init?(iso8601 text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        func number(_ width: Int) -> Int? {
            guard offset + width <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[offset..<offset + width] {
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            offset += width
            return value
        }
        func expect(_ character: Unicode.Scalar) -> Bool {
            guard offset < bytes.count, bytes[offset] == UInt8(ascii: character) else { return false }
            offset += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
            offset < bytes.count, bytes[offset] == UInt8(ascii: "T") || bytes[offset] == UInt8(ascii: "t")
        else { return nil }
        offset += 1
        guard let hour = number(2), expect(":"), let minute = number(2), expect(":"), let second = number(2),
            hour < 24, minute < 60, second < 60, let date = CivilDate(year: year, month: month, day: day)
        else { return nil }
        var micros: Int64 = 0
        if expect(".") {
            var digits = 0
            while offset < bytes.count, bytes[offset] >= 0x30 && bytes[offset] <= 0x39 {
                guard digits < 6 else { return nil }
                micros = micros * 10 + Int64(bytes[offset] - 0x30)
                digits += 1
                offset += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<6 { micros *= 10 }
        }
        var offsetSeconds = 0
        if expect("Z") || expect("z") {
            offsetSeconds = 0
        } else if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") {
            let sign = bytes[offset] == UInt8(ascii: "-") ? -1 : 1
            offset += 1
            guard let zoneHours = number(2), expect(":"), let zoneMinutes = number(2), zoneHours < 24, zoneMinutes < 60 else { return nil }
            offsetSeconds = sign * (zoneHours * 3600 + zoneMinutes * 60)
        } else {
            return nil
        }
        guard offset == bytes.count else { return nil }
        let seconds = Int64(date.daysSince1970) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetSeconds)
        self.init(rawValue: seconds * 1_000_000 + micros)
    }
}

// MARK: - JSON

/// A JSON value as the policy importer and exporter need it: objects keep their members in order,
/// numbers keep their text so that 64-bit integers stay exact.
enum PolicyJSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([PolicyJSON])
    case object([Member])

    struct Member: Equatable, Sendable {
        var key: String
        var value: PolicyJSON
        init(_ key: String, _ value: PolicyJSON) {
            self.key = key
            self.value = value
        }
    }

    /// Indented with two spaces; arrays of scalars on one line. Recursive: only our own, shallow values
    /// are written.
    var text: String {
        var out = ""
        write(into: &out, indent: 0)
        out.append("\n")
        return out
    }

    private func write(into out: inout String, indent: Int) {
        switch self {
        case .null: out.append("null")
        case .bool(let value): out.append(value ? "true" : "false")
        case .number(let text): out.append(text)
        case .string(let text): Self.writeString(text, into: &out)
        case .array(let items):
            if items.isEmpty {
                out.append("[]")
            } else if items.allSatisfy(\.isScalar) {
                out.append("[")
                for (index, item) in items.enumerated() {
                    if index > 0 { out.append(", ") }
                    item.write(into: &out, indent: indent)
                }
                out.append("]")
            } else {
                out.append("[\n")
                for (index, item) in items.enumerated() {
                    out.append(String(repeating: " ", count: indent + 2))
                    item.write(into: &out, indent: indent + 2)
                    out.append(index == items.count - 1 ? "\n" : ",\n")
                }
                out.append(String(repeating: " ", count: indent) + "]")
            }
        case .object(let members):
            if members.isEmpty {
                out.append("{}")
                return
            }
            out.append("{\n")
            for (index, member) in members.enumerated() {
                out.append(String(repeating: " ", count: indent + 2))
                Self.writeString(member.key, into: &out)
                out.append(": ")
                member.value.write(into: &out, indent: indent + 2)
                out.append(index == members.count - 1 ? "\n" : ",\n")
            }
            out.append(String(repeating: " ", count: indent) + "}")
        }
    }

    private var isScalar: Bool {
        switch self {
        case .array, .object: false
        default: true
        }
    }

    private static func writeString(_ text: String, into out: inout String) {
        out.append("\"")
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out.append("\"")
    }
}

/// A strict RFC 8259 parser without recursion: containers live on an explicit stack at most
/// ``ODRL/maxDepth`` deep; duplicate keys are refused.
struct PolicyJSONParser {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ text: String) { bytes = Array(text.utf8) }

    /// Why a document is not JSON, and where.
    struct SyntaxError: Error {
        var message: String
        var line: Int
        var column: Int
    }

    private struct Frame {
        var isObject: Bool
        var valueStart: Int
        var keyStart: Int
    }

    mutating func parse() throws(SyntaxError) -> PolicyJSON {
        var frames: [Frame] = []
        // Members of the open containers, innermost last; closing a container takes its tail.
        var values: [PolicyJSON] = []
        var keys: [String] = []
        next: while true {
            skipWhitespace()
            var value: PolicyJSON
            guard offset < bytes.count else { throw error("expected a value") }
            switch bytes[offset] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let isObject = bytes[offset] == UInt8(ascii: "{")
                offset += 1
                skipWhitespace()
                if consume(isObject ? "}" : "]") {
                    value = isObject ? .object([]) : .array([])
                } else {
                    guard frames.count < ODRL.maxDepth else { throw error("nested deeper than \(ODRL.maxDepth) levels") }
                    frames.append(Frame(isObject: isObject, valueStart: values.count, keyStart: keys.count))
                    if isObject { keys.append(try parseKey()) }
                    continue next
                }
            case UInt8(ascii: "\""):
                value = .string(try parseString())
            case UInt8(ascii: "t"):
                try literal("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                value = .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = .number(try parseNumber())
            default:
                throw error("expected a value")
            }
            // Give the finished value to its container; close containers that end here.
            while let frame = frames.last {
                values.append(value)
                skipWhitespace()
                if consume(",") {
                    if frame.isObject {
                        skipWhitespace()
                        keys.append(try parseKey())
                    }
                    continue next
                }
                guard consume(frame.isObject ? "}" : "]") else { throw error(frame.isObject ? "expected ',' or '}'" : "expected ',' or ']'") }
                frames.removeLast()
                if frame.isObject {
                    var members: [PolicyJSON.Member] = []
                    var seen: Set<String> = []
                    for (key, member) in zip(keys[frame.keyStart...], values[frame.valueStart...]) {
                        guard seen.insert(key).inserted else { throw error("duplicate key \"\(key)\" in the object ending here") }
                        members.append(PolicyJSON.Member(key, member))
                    }
                    keys.removeSubrange(frame.keyStart...)
                    value = .object(members)
                } else {
                    value = .array(Array(values[frame.valueStart...]))
                }
                values.removeSubrange(frame.valueStart...)
            }
            skipWhitespace()
            guard offset == bytes.count else { throw error("unexpected text after the document") }
            return value
        }
    }

    private mutating func parseKey() throws(SyntaxError) -> String {
        guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { throw error("expected a key in double quotes") }
        let key = try parseString()
        skipWhitespace()
        guard consume(":") else { throw error("expected ':'") }
        return key
    }

    private mutating func parseString() throws(SyntaxError) -> String {
        let start = offset
        let read = bytes.withUnsafeBytes { buffer in
            Result { () throws(JSONStringLiteral.Failure) in try JSONStringLiteral.read(buffer, openingQuoteAt: start) }
        }
        switch read {
        case .success(let (text, end)):
            offset = end
            return text
        case .failure(let failure):
            offset = min(failure.offset, bytes.count)
            throw error(failure.reason)
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, kept as text.
    private mutating func parseNumber() throws(SyntaxError) -> String {
        let start = offset
        _ = consume("-")
        if consume("0") {
            if offset < bytes.count, isDigit(bytes[offset]) { throw error("a number must not start with 0") }
        } else {
            guard digits() > 0 else { throw error("expected a digit") }
        }
        if consume(".") { guard digits() > 0 else { throw error("expected a digit after '.'") } }
        if consume("e") || consume("E") {
            if !consume("+") { _ = consume("-") }
            guard digits() > 0 else { throw error("expected a digit in the exponent") }
        }
        return String(decoding: bytes[start..<offset], as: UTF8.self)
    }

    private mutating func digits() -> Int {
        let start = offset
        while offset < bytes.count, isDigit(bytes[offset]) { offset += 1 }
        return offset - start
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private mutating func literal(_ word: StaticString) throws(SyntaxError) {
        let count = word.utf8CodeUnitCount
        let matches = offset + count <= bytes.count && word.withUTF8Buffer { Array($0) } == Array(bytes[offset..<offset + count])
        guard matches else { throw error("expected a value") }
        offset += count
    }

    private mutating func skipWhitespace() {
        while offset < bytes.count, bytes[offset] == 0x20 || bytes[offset] == 0x0A || bytes[offset] == 0x0D || bytes[offset] == 0x09 {
            offset += 1
        }
    }

    private mutating func consume(_ character: Unicode.Scalar) -> Bool {
        guard offset < bytes.count, bytes[offset] == UInt8(ascii: character) else { return false }
        offset += 1
        return true
    }

    private func error(_ message: String) -> SyntaxError {
        var line = 1
        var column = 1
        for byte in bytes[..<min(offset, bytes.count)] {
            if byte == 0x0A {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return SyntaxError(message: message, line: line, column: column)
    }
}
