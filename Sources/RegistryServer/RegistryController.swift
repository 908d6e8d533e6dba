import Hummingbird
import RegistryCore
import RegistryStore

/// Parties, API keys, datasets, registrations, objections and certificates: `/v1`.
struct RegistryController: APIController {
    let service: RegistryService

    // MARK: Routes

    /// Routes that need an API key.
    func routes(_ group: RouterGroup<AuthenticatedContext>) {
        group.get("me") { _, context in try PartyView(context.party).response() }
        group.post("parties") { request, context in try await createParty(request, context) }
        group.get("parties") { request, context in try listParties(request, context) }
        group.get("parties/:id") { _, context in try party(context) }
        group.post("parties/:id/keys") { request, context in try await issueKey(request, context) }
        group.delete("keys/:prefix") { _, context in try await revokeKey(context) }

        group.post("datasets") { request, context in try await createDataset(request, context) }
        group.get("datasets") { request, context in try searchDatasets(request, context) }
        group.get("datasets/:id") { _, context in try dataset(context) }
        group.patch("datasets/:id") { request, context in try await updateDataset(request, context) }

        group.post("registrations") { request, context in try await submit(request, context) }
        group.get("registrations") { request, context in try listRegistrations(request, context) }
        group.get("registrations/:number") { _, context in try registration(context) }
        group.post("registrations/:number/review") { _, context in try await startReview(context) }
        group.post("registrations/:number/decision") { request, context in try await decide(request, context) }
        group.post("registrations/:number/objections") { request, context in try await object(request, context) }
        group.post("objections/:id/ruling") { request, context in try await rule(request, context) }

        group.get("certificates") { request, context in try listCertificates(request, context) }
    }

    /// Routes anyone may call.
    func publicRoutes(_ group: RouterGroup<AppRequestContext>) {
        group.get("certificates/:number") { request, context in try verifyCertificate(request, context) }
    }

    // MARK: Parties and keys

    func createParty(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let body = try await request.decodeJSON(NewPartyBody.self, context: context)
        let entries = try await service.execute(
            .registerParty(NewParty(name: body.name, kind: body.kind, region: body.region, jurisdiction: body.jurisdiction, creditCode: body.creditCode,
                sector: body.sector)),
            by: context.party)
        guard case .party(let party) = entries.first?.record else { throw Problem.internalError }
        return try PartyView(party).created(location: "/v1/parties/\(party.id.rawValue)")
    }

    func listParties(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        let query = QueryParameters(request)
        let page = try PageRequest(query)
        let kind = try query.choice("kind", PartyKind.self)
        let result = service.registry.read { state in
            state.catalog.parties.page(after: page.after, limit: page.limit, budget: Limits.maxScanPerPage) { kind == nil || $0.kind == kind }
        }
        return try Respond.page(Page(items: result.records.map(PartyView.init), nextCursor: PageRequest.cursor(result.continueAfter)), for: request, name: "parties")
    }

    func party(_ context: AuthenticatedContext) throws -> Response {
        let id = try context.pathID("id")
        guard let party = service.registry.read({ $0.party(PartyID(rawValue: id)) }) else { throw Problem.notFound("party \(id)") }
        return try PartyView(party).response()
    }

    func issueKey(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let actor = context.party
        let id = try context.pathID("id")
        let body = try await request.decodeJSON(NewKeyBody.self, context: context, emptyBody: NewKeyBody(label: nil))
        let (key, token) = try await service.issueKey(for: PartyID(rawValue: id), label: body.label ?? "", by: actor)
        return try IssuedKey(prefix: key.prefix, party: key.party.rawValue, label: key.label, createdAt: key.createdAt.description, token: token)
            .created(location: nil)
    }

    func revokeKey(_ context: AuthenticatedContext) async throws -> Response {
        let prefix = try context.parameters.require("prefix")
        try await service.execute(.revokeAPIKey(prefix: prefix), by: context.party)
        return Response(status: .noContent)
    }

    // MARK: Datasets

    func createDataset(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let (body, bytes) = try await request.decodeJSONKeepingBytes(NewDatasetBody.self, context: context)
        let sharing = try body.sharing.map(Self.sharing)
        let new = NewDataset(
            title: body.title, description: body.description ?? "", grade: body.grade, personalInformation: body.piLevel,
            individualsCovered: body.individualsCovered, region: body.region, sharing: sharing, fingerprint: body.fingerprint,
            format: body.format, updateCycle: body.updateCycle, sizeBytes: body.sizeBytes, tags: body.tags ?? [])
        return try await IdempotentCreation.respond(.registerDataset(new), request: request, body: bytes, context: context, service: service) { entries, _ in
            guard case .dataset(let dataset) = entries.first?.record else { throw Problem.internalError }
            return try DatasetView(dataset).storedCreation(location: "/v1/datasets/\(dataset.id.rawValue)")
        }
    }

    func updateDataset(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let actor = context.party
        let id = try context.pathID("id")
        let body = try await request.decodeJSON(DatasetPatchBody.self, context: context)
        let patch = DatasetPatch(
            title: body.title, description: body.description, grade: body.grade, personalInformation: body.piLevel,
            individualsCovered: body.individualsCovered, sharing: try body.sharing.map(Self.sharing), fingerprint: body.fingerprint,
            format: body.format, updateCycle: body.updateCycle, sizeBytes: body.sizeBytes, tags: body.tags)
        let entries = try await service.execute(.updateDataset(DatasetID(rawValue: id), patch), by: actor)
        guard case .dataset(let dataset) = entries.first?.record else { throw Problem.internalError }
        return try DatasetView(dataset).response()
    }

    static func sharing(_ view: SharingView) throws -> SharingCategory {
        guard let category = SharingCategory(name: view.category, text: view.text) else {
            throw Problem.badRequest(
                "sharing: category must be unconditional, conditional (with the condition as text) or not_shared (with the legal basis as text)",
                errors: [.init(field: "sharing", reason: "invalid category or missing text")])
        }
        return category
    }

    func searchDatasets(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        let query = QueryParameters(request)
        let page = try PageRequest(query)
        let filter = RegistryState.DatasetFilter(
            text: query.text("q").map(String.init), grade: try query.choice("grade", Grade.self),
            personalInformation: try query.choice("piLevel", PersonalInformationLevel.self), region: query.text("region").map(String.init),
            holder: try query.id("holder").map(PartyID.init(rawValue:)),
            tag: query.text("tag").map(String.init), flagged: try query.flag("flagged"))
        let result = service.registry.read { $0.searchDatasets(filter, after: page.after, limit: page.limit) }
        return try Respond.page(Page(items: result.datasets.map(DatasetView.init), nextCursor: PageRequest.cursor(result.next)), for: request, name: "datasets")
    }

    func dataset(_ context: AuthenticatedContext) throws -> Response {
        let id = try context.pathID("id")
        guard let dataset = service.registry.read({ $0.dataset(DatasetID(rawValue: id)) }) else { throw Problem.notFound("dataset \(id)") }
        return try DatasetView(dataset).response()
    }

    // MARK: Registrations

    func submit(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let (body, bytes) = try await request.decodeJSONKeepingBytes(NewRegistrationBody.self, context: context)
        let new = NewRegistration(
            dataset: DatasetID(rawValue: body.dataset), right: body.right, kind: body.kind, sourceType: body.sourceType,
            evidence: body.evidence ?? [], truthfulnessCommitment: body.truthfulnessCommitment,
            applicantRole: body.applicantRole ?? .controller, targetCertificate: body.certificate,
            transferee: body.transferee.map(PartyID.init(rawValue:)), authorisationEndsOn: body.authorisationEndsOn,
            newFingerprint: body.newFingerprint, statement: body.statement,
            derivedFrom: (body.derivedFrom ?? []).map { DerivationSource(dataset: DatasetID(rawValue: $0.dataset), kind: $0.kind) })
        // The view reads the certificate it acts on, which exists before the submission: the same from the
        // state it was planned against as after.
        return try await IdempotentCreation.respond(.submitRegistration(new), request: request, body: bytes, context: context, service: service) { entries, state in
            guard case .registration(let registration) = entries.first?.record else { throw Problem.internalError }
            return try RegistrationView(registration, in: state).storedCreation(location: "/v1/registrations/\(registration.number)")
        }
    }

    func listRegistrations(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        let actor = context.party
        let query = QueryParameters(request)
        let page = try PageRequest(query)
        let status = try query.choice("status", RegistrationStatus.self)
        let dataset = try query.id("dataset").map(DatasetID.init(rawValue:))
        let result = service.registry.read { state in
            let page = state.searchRegistrations(visibleTo: actor, status: status, dataset: dataset, after: page.after, limit: page.limit)
            return (page.registrations.map { RegistrationView($0, in: state) }, page.next)
        }
        return try Respond.page(Page(items: result.0, nextCursor: PageRequest.cursor(result.1)), for: request, name: "registrations")
    }

    func registration(_ context: AuthenticatedContext) throws -> Response {
        let actor = context.party
        let number = try context.parameters.require("number")
        let view = service.registry.read { state -> RegistrationView? in
            guard let registration = state.registration(number: number), state.maySee(registration, actor) else { return nil }
            let objections = state.rights.objections(of: registration.id).filter { state.maySee($0, actor) }
            return RegistrationView(registration, in: state, objections: objections)
        }
        guard let view else { throw Problem.notFound("registration \(number) does not exist or is not visible to this key") }
        return try view.response()
    }

    /// A registration the key may not see answers every operation as a missing one does: 404, the same body.
    func requireVisibleRegistration(_ number: String, _ context: AuthenticatedContext) throws {
        let actor = context.party
        let visible = service.registry.read { state in state.registration(number: number).map { state.maySee($0, actor) } ?? true }
        guard visible else { throw Problem.from(.notFound("registration \(number)")) }
    }

    /// Only registrars review and decide. Anyone else is refused for what kind of party it is before any
    /// registration is looked up, so the answer is the same for a hidden registration and for none.
    func requireRegistrar(_ context: AuthenticatedContext, to action: String) throws {
        let actor = context.party
        guard actor.kind == .registrar else { throw Problem.from(.forbidden("\(actor.kind.withArticle) may not \(action)")) }
    }

    func startReview(_ context: AuthenticatedContext) async throws -> Response {
        let number = try context.parameters.require("number")
        try requireRegistrar(context, to: "review registrations")
        try requireVisibleRegistration(number, context)
        try await service.execute(.startReview(registration: number), by: context.party)
        return try registration(context)
    }

    func decide(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let number = try context.parameters.require("number")
        try requireRegistrar(context, to: "decide registrations")
        try requireVisibleRegistration(number, context)
        let body = try await request.decodeJSON(DecisionBody.self, context: context)
        try await service.execute(.decide(registration: number, accept: body.decision == .accept, reason: body.reason), by: context.party)
        return try registration(context)
    }

    func object(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let actor = context.party
        let number = try context.parameters.require("number")
        try requireVisibleRegistration(number, context)
        let body = try await request.decodeJSON(ObjectionBody.self, context: context)
        let entries = try await service.execute(.lodgeObjection(registration: number, grounds: body.grounds), by: actor)
        guard case .objection(let objection) = entries.first?.record else { throw Problem.internalError }
        return try ObjectionView(objection, registrationNumber: number).created(location: "/v1/registrations/\(number)")
    }

    func rule(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let id = try context.pathID("id")
        let body = try await request.decodeJSON(RulingBody.self, context: context)
        let entries = try await service.execute(.ruleObjection(ObjectionID(rawValue: id), ruling: body.ruling, reason: body.reason), by: context.party)
        guard case .objection(let objection) = entries.first?.record else { throw Problem.internalError }
        let number = service.registry.read { $0.registration(objection.registration)?.number ?? "" }
        return try ObjectionView(objection, registrationNumber: number).response()
    }

    // MARK: Certificates

    /// `GET /v1/certificates?dataset=&holder=&status=`: certificates are public record (R9), so every
    /// party sees every one; `status` is as verification tells it, on the registry's today.
    func listCertificates(_ request: Request, _ context: AuthenticatedContext) throws -> Response {
        let query = QueryParameters(request)
        let page = try PageRequest(query)
        let dataset = try query.id("dataset").map(DatasetID.init(rawValue:))
        let holder = try query.id("holder").map(PartyID.init(rawValue:))
        let status = try query.choice("status", CertificateStatus.self)
        let now = service.now()
        let result = service.registry.read { state in
            let today = state.today(at: now)
            let found = state.searchCertificates(
                RegistryState.CertificateFilter(dataset: dataset, holder: holder, status: status, today: today), after: page.after, limit: page.limit)
            return (found.certificates.map { CertificateView($0, in: state, today: today, fingerprint: nil) }, found.next)
        }
        return try Respond.page(Page(items: result.0, nextCursor: PageRequest.cursor(result.1)), for: request, name: "certificates")
    }

    func verifyCertificate(_ request: Request, _ context: AppRequestContext) throws -> Response {
        let number = try context.parameters.require("number")
        let fingerprint = QueryParameters(request).text("fingerprint").map(String.init)
        let today = service.registry.read { $0.today(at: service.now()) }
        let view = service.registry.read { state in
            state.certificate(number: number).map { CertificateView($0, in: state, today: today, fingerprint: fingerprint) }
        }
        guard let view else { throw Problem.notFound("no certificate \(number)") }
        return try view.response()
    }
}
