import Foundation
import HTTPTypes
import RegistryCore
/// The console's pages by the party kinds they are for: the nav shows a party only its kind's pages,
/// and a page asked for by another kind answers 403. Which rows a page holds is the API's to decide.
enum ConsoleSection: String, CaseIterable, Sendable {
    case catalog, registrar, holdings, grants, compliance, statistics, audit

    var label: String {
        switch self {
        case .catalog: "Catalog"
        case .registrar: "Registrar's queue"
        case .holdings: "Grants and requests"
        case .grants: "My grants"
        case .compliance: "Compliance"
        case .statistics: "Market statistics"
        case .audit: "Audit"
        }
    }

    var path: String {
        switch self {
        case .catalog: "/console/datasets"
        case .registrar: "/console/registrar"
        case .holdings: "/console/holdings"
        case .grants: "/console/grants"
        case .compliance: "/console/compliance"
        case .statistics: "/console/statistics"
        case .audit: "/console/audit"
        }
    }

    /// The party kinds (`PartyKind` raw values) this page is for.
    var kinds: Set<String> {
        switch self {
        case .catalog: ["department", "enterprise", "model_lab", "registrar", "regulator", "operator"]
        case .registrar: ["registrar"]
        case .holdings: ["department", "enterprise"]
        case .grants: ["model_lab"]
        case .compliance, .statistics: ["regulator", "operator"]
        case .audit: ["regulator", "operator"]
        }
    }

    func isFor(_ kind: String) -> Bool { kinds.contains(kind) }
}

/// What the layout shows around every page.
struct Chrome: Sendable {
    struct NavLink: Sendable {
        let href: String
        let label: String
        let current: Bool
    }

    let title: String
    let signedIn: Bool
    let partyName: String
    let partyKind: String
    let nav: [NavLink]
    /// The CSRF token of the sign-out form (and any other form of the page).
    let csrf: String

    static func signedOut(_ title: String) -> Chrome {
        Chrome(title: title, signedIn: false, partyName: "", partyKind: "", nav: [], csrf: "")
    }

    static func signedIn(_ title: String, me: PartyView, current: ConsoleSection?, csrf: String) -> Chrome {
        let nav = ConsoleSection.allCases.filter { $0.isFor(me.kind) }.map {
            NavLink(href: $0.path, label: $0.label, current: $0 == current)
        }
        return Chrome(title: title, signedIn: true, partyName: me.name, partyKind: me.kind.replacingOccurrences(of: "_", with: " "), nav: nav, csrf: csrf)
    }
}

/// A page's model: the chrome and the page's own content (`{{#content}}…{{/content}}` in its template).
struct ConsolePage<Content: Sendable>: Sendable {
    let chrome: Chrome
    let content: Content
}

/// A problem shown on a page: the API's, or the console's own (403, 404, 500).
struct ProblemView: Sendable {
    struct FieldReason: Sendable {
        let field: String
        let reason: String
    }
    let status: Int
    let problemTitle: String
    let problemDetail: String?
    let fields: [FieldReason]
    let refusals: [FieldReason]
    let hasFields: Bool
    let hasRefusals: Bool

    init(_ problem: APIProblem) {
        status = problem.status.code
        problemTitle = problem.title
        problemDetail = problem.detail
        fields = problem.errors.map { FieldReason(field: $0.field, reason: $0.reason) }
        refusals = problem.refusals.map { FieldReason(field: $0.rule, reason: $0.reason) }
        hasFields = !fields.isEmpty
        hasRefusals = !refusals.isEmpty
    }

    init(status: Int, title: String, detail: String?) {
        self.status = status
        problemTitle = title
        problemDetail = detail
        fields = []
        refusals = []
        hasFields = false
        hasRefusals = false
    }
}

extension BinaryInteger {
    /// The number with commas between groups of three digits (`5,000,000`), whatever the locale.
    var grouped: String {
        let digits = String(self.magnitude)
        var text = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return self < 0 ? "-" + text : text
    }
}
