extension ODRL {
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
}

/// A value found in the document, with its JSON path.
private struct Located {
    var value: PolicyJSON
    var path: String
}

private func child(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

/// Reads a parsed document into a ``Policy`` for one dataset, refusing the first thing it cannot represent.
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
                guard rules.count < Limits.maxPolicyRules else {
                    throw PolicyProblem(field: entry.path, detail: "a policy has at most \(Limits.maxPolicyRules) rules")
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
            guard Limits.policyRetentionDaysRange.contains(days) else {
                throw PolicyProblem(field: right.path, detail: "retention must be between 1 and \(Limits.policyRetentionDaysRange.upperBound) days")
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
        if count > Limits.maxPolicyListEntries {
            throw PolicyProblem(field: path, detail: "at most \(Limits.maxPolicyListEntries) entries are allowed, found \(count)")
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
