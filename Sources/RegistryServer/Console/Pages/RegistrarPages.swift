import Foundation
import Hummingbird
import RegistryCore

/// The registrar's queue (R4): claims to review, claims under review to accept or refuse, claims in public
/// notice, and claims whose notice is suspended by objections to rule on — each a list of
/// `GET /v1/registrations?status=…`, each form the API's review, decision or ruling endpoint.
struct RegistrarPages: Sendable {
    let console: ConsoleController

    func routes(_ console: RouterGroup<AppRequestContext>) {
        console.get("registrar") { request, context in await self.console.page(.registrar, request, context) { try await queue($0, failed: nil) } }
        console.post("registrar/registrations/:number/review") { request, context in
            await self.console.form(.registrar, request, context) { call, _ in
                try await act(call, target: context.parameters.get("number") ?? "", done: "review") { number in
                    try await call.api.post("registrations/\(number)/review")
                }
            }
        }
        console.post("registrar/registrations/:number/decision") { request, context in
            await self.console.form(.registrar, request, context) { call, form in
                let decision = form.text("decision")
                return try await act(call, target: context.parameters.get("number") ?? "", done: decision ?? "decision") { number in
                    try await call.api.post("registrations/\(number)/decision", json: DecisionForm(decision: decision, reason: form.text("reason")))
                }
            }
        }
        console.post("registrar/objections/:id/ruling") { request, context in
            await self.console.form(.registrar, request, context) { call, form in
                let ruling = form.text("ruling")
                return try await act(call, target: context.parameters.get("id") ?? "", done: ruling ?? "ruling") { id in
                    try await call.api.post("objections/\(id)/ruling", json: RulingForm(ruling: ruling, reason: form.text("reason")))
                }
            }
        }
    }

    struct DecisionForm: Encodable {
        let decision: String?
        let reason: String?
    }

    struct RulingForm: Encodable {
        let ruling: String?
        let reason: String?
    }

    /// The queue's sections: the status each lists and how it is headed.
    static let sections: [(status: String, heading: String, note: String)] = [
        ("submitted", "Claims to review", "Submitted and waiting for a registrar to start the review."),
        ("under_review", "Under review", "Accept to start the public notice of 10 working days (R4), or refuse with reasons."),
        ("public_notice", "In public notice", "Anyone allowed to object may do so until the notice ends; the certificate issues then (R4, R5)."),
        ("suspended", "With objections", "Issuance waits until every objection is ruled on: upheld refuses the claim, dismissed lets it proceed (R4)."),
    ]

    /// Runs the API call of a form: 303 back to the queue when it succeeds; the queue again with the
    /// API's problem next to the form, under the problem's status, when it does not.
    func act(_ call: ConsoleCall, target: String, done: String, _ send: (String) async throws -> ConsoleAPI.Answer) async throws -> Response {
        guard ConsoleIdentifiers.isRecordNumber(target) else {
            return try await queue(call, failed: (target, APIProblem(status: .notFound, title: "Not found", detail: "No such registration or objection.")))
        }
        let answer = try await send(target)
        guard answer.isSuccess else { return try await queue(call, failed: (target, APIProblem(answer))) }
        let outcome = ["review", "accept", "refuse", "upheld", "dismissed"].contains(done) ? done : "done"
        return ConsoleRenderer.redirect(to: "/console/registrar?done=\(outcome)&item=\(target)")
    }

    func queue(_ call: ConsoleCall, failed: (target: String, problem: APIProblem)?) async throws -> Response {
        let only = call.query("status").flatMap { status in Self.sections.contains { $0.status == status } ? status : nil }
        let cursor = only == nil ? "" : call.query("cursor") ?? ""
        let trail = only == nil ? [] : PagerView.trail(call.query("trail"))
        var sections: [QueueSection] = []
        for section in Self.sections where only == nil || only == section.status {
            let page = try await call.api.read(
                Page<RegistrationView>.self, "registrations",
                [("status", section.status), ("cursor", cursor), ("limit", String(Limits.consolePageSize))])
            var items: [QueueItem] = []
            for registration in page.items {
                var objections: [PendingObjection] = []
                if section.status == "suspended" {
                    let full = try await call.api.read(RegistrationView.self, "registrations/\(registration.number)")
                    objections = (full.objections ?? []).filter { $0.ruling == nil }.map(PendingObjection.init)
                }
                items.append(QueueItem(registration, status: section.status, objections: objections, failed: failed))
            }
            let pager = PagerView(
                path: "/console/registrar", query: [("status", section.status)], cursor: cursor, trail: trail, next: page.nextCursor,
                label: "Pages of \(section.heading.lowercased())")
            sections.append(QueueSection(
                status: section.status, heading: section.heading, note: section.note, items: items, hasItems: !items.isEmpty, pager: pager))
        }
        let done = call.query("done").flatMap { Self.outcomes[$0] }.map { outcome in
            "\(call.query("item").flatMap { ConsoleIdentifiers.isRecordNumber($0) ? $0 : nil } ?? "The item"): \(outcome)."
        }
        let failedElsewhere = failed.flatMap { failed in
            sections.contains { $0.items.contains { $0.number == failed.target || $0.objections.contains { String($0.id) == failed.target } } } ? nil : failed.problem
        }
        let view = QueueView(
            sections: sections, doneMessage: done, queueProblem: failedElsewhere.map(ProblemView.init), showingOne: only != nil)
        return call.render("registrar", title: "Registrar's queue", section: .registrar, view, status: failed?.problem.status ?? .ok)
    }

    static let outcomes = [
        "review": "the review has started", "accept": "accepted, the public notice has started", "refuse": "refused",
        "upheld": "the objection is upheld", "dismissed": "the objection is dismissed",
    ]
}

/// An objection awaiting the registrar's ruling.
struct PendingObjection: Sendable {
        let id: Int64
    let objector: Int64
    let grounds: String
    let lodgedAt: String

    init(_ objection: ObjectionView) {
            id = objection.id
            objector = objection.objector
            grounds = objection.grounds
            lodgedAt = objection.lodgedAt
        }
}

struct QueueView: Sendable {
    let sections: [QueueSection]
    let doneMessage: String?
    let queueProblem: ProblemView?
    let showingOne: Bool
}

struct QueueSection: Sendable {
    let status: String
    let heading: String
    let note: String
    let items: [QueueItem]
    let hasItems: Bool
    let pager: PagerView
}

/// One registration in the queue, with the form its status calls for.
struct QueueItem: Sendable {
    struct ObjectionForm: Sendable {
        let id: Int64
        let objector: Int64
        let grounds: String
        let lodgedAt: String
        let action: String
        let rulingFields: [FieldView]
        let objectionProblem: ProblemView?
    }

    let number: String
    let anchor: String
    let dataset: Int64
    let datasetHref: String
    let applicant: Int64
    let right: String
    let kind: String
    let claimSource: String?
    let submittedAt: String
    let noticeDate: String?
    let pendingObjections: Int
    let canStartReview: Bool
    let canDecide: Bool
    let reviewAction: String
    let decisionAction: String
    let decisionFields: [FieldView]
    let objections: [ObjectionForm]
    let itemProblem: ProblemView?

    init(_ registration: RegistrationView, status: String, objections: [PendingObjection], failed: (target: String, problem: APIProblem)?) {
        number = registration.number
        anchor = "item-\(registration.number)"
        dataset = registration.dataset
        datasetHref = "/console/datasets/\(registration.dataset)"
        applicant = registration.applicant
        right = registration.right
        kind = registration.kind
        claimSource = registration.sourceType?.replacingOccurrences(of: "_", with: " ")
        submittedAt = registration.submittedAt
        noticeDate = registration.noticeEndsOn
        pendingObjections = registration.pendingObjections
        canStartReview = status == "submitted"
        canDecide = status == "under_review"
        reviewAction = "/console/registrar/registrations/\(registration.number)/review"
        decisionAction = "/console/registrar/registrations/\(registration.number)/decision"
        let problem = failed?.target == registration.number ? failed?.problem : nil
        itemProblem = problem.map(ProblemView.init)
        decisionFields = [
            FieldView.select(
                name: "decision", label: "Decision", choices: ["accept", "refuse"], selected: nil, any: "choose…", problem: problem,
                id: "decision-\(registration.number)"),
            FieldView(
                id: "reason-\(registration.number)", name: "reason", label: "Reason (required to refuse)", type: "textarea", problem: problem),
        ]
        self.objections = objections.map { objection in
            let problem = failed?.target == String(objection.id) ? failed?.problem : nil
            return ObjectionForm(
                id: objection.id, objector: objection.objector, grounds: objection.grounds, lodgedAt: objection.lodgedAt,
                action: "/console/registrar/objections/\(objection.id)/ruling",
                rulingFields: [
                    FieldView.select(
                        name: "ruling", label: "Ruling", choices: ["upheld", "dismissed"], selected: nil, any: "choose…", problem: problem,
                        id: "ruling-\(objection.id)"),
                    FieldView(id: "ruling-reason-\(objection.id)", name: "reason", label: "Reason", type: "textarea", problem: problem),
                ],
                objectionProblem: problem.map(ProblemView.init))
        }
    }
}

/// Record numbers and ids as they appear in console addresses (`REG-2026-00000001`, `GR-2026-000006`,
/// `7`): checked before they are put into an API path, so that no address reaches another API route.
enum ConsoleIdentifiers {
    static func isRecordNumber(_ text: String) -> Bool {
        (1...64).contains(text.utf8.count)
            && text.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D
            }
    }
}
