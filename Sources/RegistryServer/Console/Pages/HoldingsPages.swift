import Foundation
import Hummingbird
import RegistryCore

/// A department's (or enterprise's) grants and the access requests awaiting its reply (R19, R22), with a
/// reply form each: `GET /v1/access-requests?state=awaiting_holder`, `GET /v1/grants`, and
/// `POST /v1/access-requests/{number}/reply`.
struct HoldingsPages: Sendable {
    let console: ConsoleController

    func routes(_ console: RouterGroup<AppRequestContext>) {
        console.get("holdings") { request, context in await self.console.page(.holdings, request, context) { try await holdings($0, failed: nil) } }
        console.post("holdings/access-requests/:number/reply") { request, context in
            await self.console.form(.holdings, request, context) { call, form in
                let number = context.parameters.get("number") ?? ""
                guard ConsoleIdentifiers.isRecordNumber(number) else {
                    return try await holdings(call, failed: (number, APIProblem(status: .notFound, title: "Not found", detail: "No such access request.")))
                }
                let agree: Bool? = switch form.text("agree") {
                case "yes": true
                case "no": false
                default: nil
                }
                let answer = try await call.api.post("access-requests/\(number)/reply", json: ReplyForm(agree: agree, reason: form.text("reason")))
                guard answer.isSuccess else { return try await holdings(call, failed: (number, APIProblem(answer))) }
                return ConsoleRenderer.redirect(to: "/console/holdings?done=\(agree == true ? "approved" : "refused")&item=\(number)")
            }
        }
    }

    struct ReplyForm: Encodable {
        let agree: Bool?
        let reason: String?
    }

    func holdings(_ call: ConsoleCall, failed: (target: String, problem: APIProblem)?) async throws -> Response {
        let requestCursor = call.query("requests") ?? ""
        let grantCursor = call.query("cursor") ?? ""
        let trail = PagerView.trail(call.query("trail"))
        async let requests = call.api.read(
            Page<AccessRequestView>.self, "access-requests",
            [("state", "awaiting_holder"), ("cursor", requestCursor), ("limit", String(Limits.consolePageSize))])
        async let grants = call.api.read(Page<GrantView>.self, "grants", [("cursor", grantCursor), ("limit", String(Limits.consolePageSize))])
        let pending = try await requests.items.map { PendingRequestItem($0, failed: failed) }
        let grantPage = try await grants
        let done: String? = switch call.query("done") {
        case "approved": "\(call.query("item").flatMap { ConsoleIdentifiers.isRecordNumber($0) ? $0 : nil } ?? "The request"): approved."
        case "refused": "\(call.query("item").flatMap { ConsoleIdentifiers.isRecordNumber($0) ? $0 : nil } ?? "The request"): refused."
        default: nil
        }
        let nextRequests = try await requests.nextCursor
        let view = HoldingsView(
            requests: pending, hasRequests: !pending.isEmpty,
            moreRequestsHref: nextRequests.map { "/console/holdings?requests=\($0)" },
            grants: grantPage.items.map(GrantRow.init), hasGrants: !grantPage.items.isEmpty,
            pager: PagerView(path: "/console/holdings", query: [], cursor: grantCursor, trail: trail, next: grantPage.nextCursor),
            doneMessage: done,
            holdingsProblem: failed.flatMap { failed in pending.contains { $0.number == failed.target } ? nil : failed.problem }.map(ProblemView.init))
        return call.render("holdings", title: "Grants and requests", section: .holdings, view, status: failed?.problem.status ?? .ok)
    }
}

struct HoldingsView: Sendable {
    let requests: [PendingRequestItem]
    let hasRequests: Bool
    let moreRequestsHref: String?
    let grants: [GrantRow]
    let hasGrants: Bool
    let pager: PagerView
    let doneMessage: String?
    let holdingsProblem: ProblemView?
}

struct PendingRequestItem: Sendable {
    let number: String
    let anchor: String
    let dataset: Int64
    let datasetHref: String
    let requester: Int64
    let purpose: String
    let tokens: String
    let window: String
    let useRegion: String
    let replyDueOn: String
    let action: String
    let replyFields: [FieldView]
    let itemProblem: ProblemView?

    init(_ request: AccessRequestView, failed: (target: String, problem: APIProblem)?) {
        number = request.number
        anchor = "request-\(request.number)"
        dataset = request.dataset
        datasetHref = "/console/datasets/\(request.dataset)"
        requester = request.requester
        purpose = request.purpose.replacingOccurrences(of: "_", with: " ")
        tokens = request.tokens.grouped
        window = "\(request.validFrom) to \(request.validUntil)"
        useRegion = request.useRegion
        replyDueOn = request.replyDueOn ?? ""
        action = "/console/holdings/access-requests/\(request.number)/reply"
        let problem = failed?.target == request.number ? failed?.problem : nil
        itemProblem = problem.map(ProblemView.init)
        replyFields = [
            FieldView(
                id: "agree-\(request.number)", name: "agree", label: "Reply", type: "select", problem: problem,
                options: [
                    .init(value: "", label: "choose…", selected: true), .init(value: "yes", label: "approve", selected: false),
                    .init(value: "no", label: "refuse", selected: false),
                ]),
            FieldView(id: "reason-\(request.number)", name: "reason", label: "Reasons (required to refuse, R19)", type: "textarea", problem: problem),
        ]
    }
}

struct GrantRow: Sendable {
    let number: String
    let href: String
    let dataset: Int64
    let datasetHref: String
    let assignee: Int64
    let grantor: Int64
    let purpose: String
    let quota: String
    let window: String
    let price: String
    let state: String

    init(_ grant: GrantView) {
        number = grant.number
        href = "/console/grants/\(grant.number)"
        dataset = grant.dataset
        datasetHref = "/console/datasets/\(grant.dataset)"
        assignee = grant.assignee
        grantor = grant.grantor
        purpose = grant.purpose.replacingOccurrences(of: "_", with: " ")
        quota = grant.tokenQuota.grouped
        window = "\(grant.validFrom) to \(grant.validUntil)"
        price = grant.free ? "free" : "\(grant.pricePerMillionTokens.grouped) fen per million tokens"
        state = grant.state
    }
}
