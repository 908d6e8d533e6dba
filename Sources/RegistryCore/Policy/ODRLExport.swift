extension ODRL {
    /// `policy` as an ODRL 2.2 JSON-LD document, indented with two spaces. Export a validated policy: an
    /// invalid one is written as it stands, and import refuses it.
    public static func export(_ policy: Policy) -> String {
        var writer = ODRLWriter(policy: policy)
        return writer.document().text
    }
}

/// Builds the document of one policy; `usesNamespace` records whether a `dr:` term was written, so that the
/// context declares the prefix only when the document needs it.
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
