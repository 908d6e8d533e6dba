import Hummingbird
import RegistryCore

/// The domain rules every refusal names (`GET /v1/rules`, `GET /v1/rules/{id}`): public, so that whoever
/// reads "R16" in an answer can look up what it says.
struct RulesController: APIController {
    func publicRoutes(_ group: RouterGroup<AppRequestContext>) {
        group.get("rules") { _, _ in try RuleList(items: Rule.allCases.map(RuleView.init)).response() }
        group.get("rules/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let rule = Rule(rawValue: id.uppercased()) else { throw Problem.notFound("no rule \(id): rules are R1 to R\(Rule.allCases.count)") }
            return try RuleView(rule).response()
        }
    }
}
