/// Rule lists as the store keeps them: the canonical JSON of `[PolicyRule]`. A rebuild reads hundreds of
/// thousands; this reads the shape the canonical encoder writes with the policy parser, without the
/// Codable machinery, and says nil for anything else (the caller then falls back to the decoder).
extension PolicyRule {
    public static func rules(fromStoredJSON text: String) -> [PolicyRule]? {
        var parser = PolicyJSONParser(text)
        guard case .array(let items)? = try? parser.parse() else { return nil }
        var rules: [PolicyRule] = []
        rules.reserveCapacity(items.count)
        for item in items {
            guard let rule = rule(item) else { return nil }
            rules.append(rule)
        }
        return rules
    }

    private static func rule(_ json: PolicyJSON) -> PolicyRule? {
        guard case .object(let members) = json else { return nil }
        var id: String?
        var kind: RuleKind?
        var action: PolicyAction?
        var duty: DutyAction?
        var constraints = RuleConstraints()
        for member in members {
            switch (member.key, member.value) {
            case ("id", .string(let text)): id = text
            case ("kind", .string(let text)): kind = RuleKind(rawValue: text)
            case ("action", .string(let text)): action = PolicyAction(rawValue: text)
            case ("duty", .string(let text)): duty = DutyAction(rawValue: text)
            case ("duty", .null): duty = nil
            case ("constraints", .object(let fields)):
                guard let decoded = Self.constraints(fields) else { return nil }
                constraints = decoded
            default: return nil
            }
        }
        guard let id, let kind, let action else { return nil }
        return PolicyRule(id: id, kind: kind, action: action, duty: duty, constraints: constraints)
    }

    private static func constraints(_ fields: [PolicyJSON.Member]) -> RuleConstraints? {
        var constraints = RuleConstraints()
        for field in fields {
            if case .null = field.value { continue }
            switch field.key {
            case "purposes": guard let values = strings(field.value) else { return nil }; constraints.purposes = values
            case "regions": guard let values = strings(field.value) else { return nil }; constraints.regions = values
            case "assigneeKinds":
                guard let values = strings(field.value) else { return nil }
                let kinds = values.compactMap(PartyKind.init(rawValue:))
                guard kinds.count == values.count else { return nil }
                constraints.assigneeKinds = kinds
            case "assigneeParties":
                guard case .array(let items) = field.value else { return nil }
                let parties = items.compactMap { integer($0) }.map(PartyID.init(rawValue:))
                guard parties.count == items.count else { return nil }
                constraints.assigneeParties = parties
            case "notBefore": guard let value = integer(field.value) else { return nil }; constraints.notBefore = Timestamp(rawValue: value)
            case "notAfter": guard let value = integer(field.value) else { return nil }; constraints.notAfter = Timestamp(rawValue: value)
            case "maxTokens": guard let value = integer(field.value) else { return nil }; constraints.maxTokens = value
            case "retentionDays":
                guard let value = integer(field.value), let days = Int(exactly: value) else { return nil }
                constraints.retentionDays = days
            case "gradeCeiling":
                guard case .string(let text) = field.value, let grade = Grade(rawValue: text) else { return nil }
                constraints.gradeCeiling = grade
            default: return nil
            }
        }
        return constraints
    }

    private static func strings(_ json: PolicyJSON) -> [String]? {
        guard case .array(let items) = json else { return nil }
        var values: [String] = []
        values.reserveCapacity(items.count)
        for item in items {
            guard case .string(let text) = item else { return nil }
            values.append(text)
        }
        return values
    }

    private static func integer(_ json: PolicyJSON) -> Int64? {
        guard case .number(let text) = json else { return nil }
        return Int64(text)
    }
}
