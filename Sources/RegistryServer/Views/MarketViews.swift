import RegistryCore

// Policies, access requests, grants and decisions (`AccessController`): request bodies and views.

// MARK: Bodies

struct ConstraintsBody: Codable, Sendable {
    var purposes: [String]?
    var assigneeParties: [Int64]?
    var assigneeKinds: [PartyKind]?
    var regions: [String]?
    var notBefore: String?
    var notAfter: String?
    var maxTokens: Int64?
    var gradeCeiling: Grade?
    var retentionDays: Int?
}

struct RuleBody: Codable, Sendable {
    var id: String
    var kind: RuleKind
    var action: PolicyAction
    var duty: DutyAction?
    var constraints: ConstraintsBody?
}

struct PolicyBody: Decodable {
    let rules: [RuleBody]
    let approval: ApprovalMode?
    let pricePerMillionTokens: Int64?
    let dailyTokenCap: Int64?
}

struct RecordsBody: Codable, Sendable {
    var riskAssessment: String?
    var securityAssessment: String?
    var consentEvidence: String?
    var impactAssessment: String?
    var standardContract: String?
}

struct AccessRequestBody: Decodable {
    let dataset: Int64
    let purpose: String
    let action: PolicyAction?
    let tokens: Int64
    let validFrom: String?
    let validUntil: String
    let useRegion: String?
    let duty: String?
    let records: RecordsBody?
}

struct ReplyBody: Decodable {
    let agree: Bool
    let reason: String?
}

struct ReasonBody: Decodable {
    let reason: String?
}

struct DecisionQueryBody: Decodable {
    let party: Int64?
    let dataset: Int64
    let purpose: String
    let tokens: Int64
    let action: PolicyAction?
    let region: String?
}

struct DecisionBatchBody: Decodable {
    let queries: [DecisionQueryBody]
}

// MARK: Views

struct PolicyView: Codable, Sendable {
    let dataset: Int64
    let version: Int
    let rules: [RuleBody]
    let approval: String
    let pricePerMillionTokens: Int64
    let dailyTokenCap: Int64?
    let updatedBy: Int64
    let updatedAt: String

    init(_ record: PolicyRecord) {
        dataset = record.dataset.rawValue
        version = record.version
        rules = record.policy.rules.map { rule in
            let constraints = rule.constraints
            return RuleBody(
                id: rule.id, kind: rule.kind, action: rule.action, duty: rule.duty,
                constraints: ConstraintsBody(
                    purposes: constraints.purposes, assigneeParties: constraints.assigneeParties?.map(\.rawValue),
                    assigneeKinds: constraints.assigneeKinds, regions: constraints.regions, notBefore: constraints.notBefore?.description,
                    notAfter: constraints.notAfter?.description, maxTokens: constraints.maxTokens, gradeCeiling: constraints.gradeCeiling,
                    retentionDays: constraints.retentionDays))
        }
        approval = record.approval.rawValue
        pricePerMillionTokens = record.pricePerMillionTokens
        dailyTokenCap = record.dailyTokenCap
        updatedBy = record.updatedBy.rawValue
        updatedAt = record.updatedAt.description
    }
}

struct AccessRequestView: Codable, Sendable {
    let number: String
    let dataset: Int64
    let requester: Int64
    let purpose: String
    let action: String
    let tokens: Int64
    let validFrom: String
    let validUntil: String
    let useRegion: String
    let duty: String?
    let records: RecordsBody
    let state: String
    let refusals: [Refusal]
    let replyDueOn: String?
    let reply: String?
    let repliedBy: Int64?
    let repliedAt: String?
    let grant: GrantView?
    let createdAt: String
    let updatedAt: String
}

extension AccessRequestView {
    init(_ request: AccessRequest, in registry: RegistryState) {
        number = request.number
        dataset = request.dataset.rawValue
        requester = request.requester.rawValue
        purpose = request.purpose
        action = request.action.rawValue
        tokens = request.tokens
        validFrom = request.validFrom.description
        validUntil = request.validUntil.description
        useRegion = request.useRegion
        duty = request.duty
        records = RecordsBody(
            riskAssessment: request.records.riskAssessment, securityAssessment: request.records.securityAssessment,
            consentEvidence: request.records.consentEvidence, impactAssessment: request.records.impactAssessment,
            standardContract: request.records.standardContract)
        state = request.state.rawValue
        refusals = request.refusals
        replyDueOn = request.replyDueOn?.description
        reply = request.reply
        repliedBy = request.repliedBy?.rawValue
        repliedAt = request.repliedAt?.description
        grant = request.grant.flatMap(registry.grant).map { GrantView($0, in: registry) }
        createdAt = request.createdAt.description
        updatedAt = request.updatedAt.description
    }
}

struct GrantView: Codable, Sendable {
    let number: String
    let request: String
    let dataset: Int64
    let assignee: Int64
    let grantor: Int64
    let purpose: String
    let action: String
    let tokenQuota: Int64
    let validFrom: String
    let validUntil: String
    let useRegion: String
    let pricePerMillionTokens: Int64
    let free: Bool
    let retentionDays: Int?
    let crossBorder: Bool
    let individualsCovered: Int64
    let state: String
    let stateReason: String?
    let createdAt: String
    let updatedAt: String
}

extension GrantView {
    init(_ grant: Grant, in registry: RegistryState) {
        number = grant.number
        request = registry.accessRequest(grant.request)?.number ?? ""
        dataset = grant.dataset.rawValue
        assignee = grant.assignee.rawValue
        grantor = grant.grantor.rawValue
        purpose = grant.purpose
        action = grant.action.rawValue
        tokenQuota = grant.tokenQuota
        validFrom = grant.validFrom.description
        validUntil = grant.validUntil.description
        useRegion = grant.useRegion
        pricePerMillionTokens = grant.pricePerMillionTokens
        free = grant.free
        retentionDays = grant.retentionDays
        crossBorder = grant.crossBorder
        individualsCovered = grant.individualsCovered
        state = grant.state.rawValue
        stateReason = grant.stateReason
        createdAt = grant.createdAt.description
        updatedAt = grant.updatedAt.description
    }
}

/// A decision as JSON, written by hand: this is the serving path of every lab, and a JSON encoder
/// would cost more than the decision itself.
enum DecisionView {
    static func write(_ decision: Decision, grantNumber: String?, query: DecisionQuery, into text: inout String) {
        text += "{\"allow\":"
        text += decision.allow ? "true" : "false"
        text += ",\"rule\":"
        appendString(decision.rule, to: &text)
        if let policyRule = decision.policyRule {
            text += ",\"policyRule\":"
            appendString(policyRule, to: &text)
        }
        if let decidedBy = decision.decidedBy {
            text += ",\"decidedBy\":"
            text += String(decidedBy.rawValue)
        }
        if let grantNumber {
            text += ",\"grant\":"
            appendString(grantNumber, to: &text)
        }
        text += ",\"reason\":"
        appendString(decision.reason, to: &text)
        text += ",\"party\":"
        text += String(query.party.rawValue)
        text += ",\"dataset\":"
        text += String(query.dataset.rawValue)
        text += ",\"purpose\":"
        appendString(query.purpose, to: &text)
        text += ",\"tokens\":"
        text += String(query.tokens)
        text += "}"
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    static func appendString(_ value: String, to text: inout String) {
        text += "\""
        // Names, rule ids and reasons rarely need escaping: then the whole string is copied at once.
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            text += value
            text += "\""
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}

// MARK: CSV rows (`Respond.page`): examples with every optional object present and every array filled

extension GrantView: CSVRow {
    static let csvExample = GrantView(
        number: "", request: "", dataset: 1, assignee: 1, grantor: 1, purpose: "", action: "", tokenQuota: 0, validFrom: "", validUntil: "",
        useRegion: "", pricePerMillionTokens: 0, free: false, retentionDays: nil, crossBorder: false, individualsCovered: 0, state: "",
        stateReason: nil, createdAt: "", updatedAt: "")
}

extension AccessRequestView: CSVRow {
    static let csvExample = AccessRequestView(
        number: "", dataset: 1, requester: 1, purpose: "", action: "", tokens: 0, validFrom: "", validUntil: "", useRegion: "", duty: nil,
        records: RecordsBody(), state: "", refusals: [Refusal(.r20, "")], replyDueOn: nil, reply: nil, repliedBy: nil, repliedAt: nil,
        grant: GrantView.csvExample, createdAt: "", updatedAt: "")
}
