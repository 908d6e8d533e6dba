import Hummingbird
import RegistryCore

// The operational endpoints (`SystemController`) and the rules (`RulesController`): views.

// MARK: Health

struct Liveness: ResponseEncodable {
    let status: String
}

struct ReadinessBody: ResponseEncodable {
    struct Schema: Encodable {
        let applied: Int
        let expected: Int
    }
    let status: String
    let database: String
    let schema: Schema
}

// MARK: Rules

struct RuleView: Encodable, Sendable {
    let id: String
    let statement: String

    init(_ rule: Rule) {
        id = rule.rawValue
        statement = rule.statement
    }
}

struct RuleList: Encodable, Sendable {
    let items: [RuleView]
}
