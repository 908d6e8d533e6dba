import Foundation
import Hummingbird
import RegistryCore

/// Catalog search (`GET /v1/datasets` with its filters, paged by its cursor) and a dataset's page: its
/// catalog entry, rights and certificates, policy (as a table and as ODRL), restrictions in effect with
/// where each comes from, and its lineage drawn around it.
struct CatalogPages: Sendable {
    let console: ConsoleController

    func routes(_ console: RouterGroup<AppRequestContext>) {
        console.get("datasets") { request, context in await self.console.page(.catalog, request, context) { try await search($0) } }
        console.get("datasets/:id") { request, context in
            await self.console.page(.catalog, request, context) { try await dataset($0, id: context.parameters.get("id") ?? "") }
        }
        console.get("datasets/:id/policy.jsonld") { request, context in
            await self.console.page(.catalog, request, context) { try await odrl($0, id: context.parameters.get("id") ?? "") }
        }
    }

    /// The filters of `GET /v1/datasets`, by the API's names.
    static let filters = ["q", "grade", "piLevel", "region", "holder", "tag", "flagged"]

    func search(_ call: ConsoleCall) async throws -> Response {
        let values = Dictionary(uniqueKeysWithValues: Self.filters.map { ($0, call.query($0) ?? "") })
        let cursor = call.query("cursor") ?? ""
        let trail = PagerView.trail(call.query("trail"))
        let query = Self.filters.map { ($0, values[$0] ?? "") }
        let answer = try await call.api.get("datasets", query + [("cursor", cursor), ("limit", String(Limits.consolePageSize))])
        var problem: APIProblem?
        var rows: [DatasetRow] = []
        var next: String?
        if answer.isSuccess {
            let page = try call.api.value(Page<DatasetView>.self, answer)
            rows = page.items.map(DatasetRow.init)
            next = page.nextCursor
        } else {
            // A filter the API refused: the form again, the reason next to its field, the status kept.
            problem = APIProblem(answer)
        }
        let fields = [
            FieldView(name: "q", label: "Words in title or description", value: values["q"] ?? "", problem: problem),
            FieldView.select(name: "grade", label: "Grade", choices: Grade.allCases.map(\.rawValue), selected: values["grade"], any: "any grade", problem: problem),
            FieldView.select(
                name: "piLevel", label: "Personal information", choices: PersonalInformationLevel.allCases.map(\.rawValue), selected: values["piLevel"],
                any: "any level", problem: problem),
            FieldView(name: "region", label: "Region code", value: values["region"] ?? "", hint: "e.g. CN-BJ", problem: problem),
            FieldView(name: "holder", label: "Holder (party id)", value: values["holder"] ?? "", problem: problem),
            FieldView(name: "tag", label: "Tag", value: values["tag"] ?? "", problem: problem),
            FieldView.select(name: "flagged", label: "Flagged (R25)", choices: ["true", "false"], selected: values["flagged"], any: "either", problem: problem),
        ]
        let view = CatalogView(
            fields: fields, searchProblem: problem.map(ProblemView.init), rows: rows, hasRows: !rows.isEmpty,
            pager: PagerView(path: "/console/datasets", query: query, cursor: cursor, trail: trail, next: next))
        return call.render("catalog", title: "Catalog", section: .catalog, view, status: problem?.status ?? .ok)
    }

    func dataset(_ call: ConsoleCall, id: String) async throws -> Response {
        guard StrictID.parse(id[...]) != nil else {
            return call.console.errorPage(chrome: call.chrome("Not found", .catalog), ProblemView(status: 404, title: "Not found", detail: "There is no dataset \(id)."))
        }
        let dataset = try await call.api.read(DatasetView.self, "datasets/\(id)")
        async let certificates = call.api.read(Page<CertificateView>.self, "certificates", [("dataset", id), ("limit", "50")])
        async let registrations = call.api.read(Page<RegistrationView>.self, "registrations", [("dataset", id), ("limit", "50")])
        async let restrictions = call.api.read(RestrictionsView.self, "datasets/\(id)/restrictions", [("origins", "true")])
        let policyAnswer = try await call.api.get("datasets/\(id)/policy")
        var policy: PolicySection?
        if policyAnswer.isSuccess {
            let odrl = try await call.api.get("datasets/\(id)/policy/odrl")
            policy = PolicySection(try call.api.value(PolicyView.self, policyAnswer), odrl: odrl.isSuccess ? Self.pretty(odrl.bytes) : nil, dataset: id)
        } else if policyAnswer.status != .notFound {
            throw APIProblem(policyAnswer)
        }
        let lineage = try await LineageSection.make(call, dataset: dataset)
        let certificateRows = try await certificates.items.map(CertificateRow.init)
        let registrationRows = try await registrations.items.map(RegistrationRow.init)
        let view = DatasetPageView(
            dataset: DatasetEntryView(dataset), certificates: certificateRows, hasCertificates: !certificateRows.isEmpty,
            registrations: registrationRows, hasRegistrations: !registrationRows.isEmpty, policy: policy, noPolicy: policy == nil,
            restrictions: RestrictionsSection(try await restrictions, dataset: dataset.id), lineage: lineage)
        return call.render("dataset", title: "Dataset \(dataset.id): \(dataset.title)", section: .catalog, view)
    }

    /// The dataset's policy as ODRL JSON-LD, the API's answer streamed on (linked from the dataset page).
    func odrl(_ call: ConsoleCall, id: String) async throws -> Response {
        guard StrictID.parse(id[...]) != nil else { throw APIProblem(status: .notFound, title: "Not found", detail: "There is no dataset \(id).") }
        let response = try await call.api.stream("datasets/\(id)/policy/odrl", [])
        guard (200..<300).contains(response.status.code) else {
            throw APIProblem(try await call.api.get("datasets/\(id)/policy/odrl"))
        }
        var headers = ConsoleRenderer.securityHeaders
        headers[.contentType] = response.headers[.contentType] ?? "application/ld+json"
        return Response(status: .ok, headers: headers, body: response.body)
    }

    /// JSON text indented for reading; as it came when it does not parse.
    static func pretty(_ data: Data) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: data),
            let text = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return String(decoding: data, as: UTF8.self) }
        return String(decoding: text, as: UTF8.self)
    }
}

struct CatalogView: Sendable {
    let fields: [FieldView]
    let searchProblem: ProblemView?
    let rows: [DatasetRow]
    let hasRows: Bool
    let pager: PagerView
}

struct DatasetRow: Sendable {
    let id: Int64
    let href: String
    let title: String
    let holder: Int64
    let grade: String
    let piLevel: String
    let region: String
    let tags: String
    let isFlagged: Bool

    init(_ dataset: DatasetView) {
        id = dataset.id
        href = "/console/datasets/\(dataset.id)"
        title = dataset.title
        holder = dataset.holder
        grade = dataset.grade
        piLevel = dataset.piLevel
        region = dataset.region
        tags = dataset.tags.joined(separator: ", ")
        isFlagged = dataset.flagged
    }
}
