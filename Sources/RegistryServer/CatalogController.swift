import Hummingbird
import NIOCore
import RegistryCore
import RegistryStore
import Synchronization

/// The public catalog as DCAT-AP 3.0 JSON-LD (issue 17): `GET /v1/catalog/dcat`, no key. What is in it,
/// and what is absent, is the core's `isInPublicCatalog` (core grade, not shared, flagged: absent).
/// Paged by the API's cursor (`cursor`, `limit`), told in Hydra terms (`hydra:next`) and in the `Link`
/// and `DataRights-Next-Cursor` headers every list sends.
struct CatalogController: APIController {
    let service: RegistryService
    let settings: PublicCatalogSettings
    /// Pages computed at once: they need no key, so no key's rate limit bounds them.
    private let inFlight = PublicGate(limit: Limits.maxPublicCatalogInFlight, answers: "public catalog pages")
    /// The catalog's `modified` date, a pass over every dataset under the read lock, kept for the
    /// catalog revision it was computed at, so that usage and other writes that leave the catalog
    /// alone do not make every page pay for it again.
    private let modified = ModifiedCache()

    init(service: RegistryService, settings: PublicCatalogSettings) {
        self.service = service
        self.settings = settings
    }

    func publicRoutes(_ group: RouterGroup<AppRequestContext>) {
        group.get("catalog/dcat") { request, _ in try inFlight.run { try dcat(request) } }
    }

    /// `?q=&grade=&region=&holder=&tag=&cursor=&limit=`: the filters of `GET /v1/datasets` that make
    /// sense for the public (the grade is the one in effect; no PI level, no flag: neither is exported).
    func dcat(_ request: Request) throws -> Response {
        let query = QueryParameters(request)
        let page = try PageRequest(query)
        let grade = try query.choice("grade", Grade.self)
        let holder = try query.id("holder")
        let filter = RegistryState.DatasetFilter(
            text: query.text("q").map(String.init), grade: grade, region: query.text("region").map(String.init),
            holder: holder.map(PartyID.init(rawValue:)), tag: query.text("tag").map(String.init))
        let (document, next) = service.registry.read { state in
            let found = state.publicCatalogPage(filter, after: page.after, limit: page.limit)
            let links = DCATCatalogDocument.Links(
                publicURL: settings.publicURL, page: link(query, cursor: page.after == 0 ? nil : page.after),
                first: link(query, cursor: nil), next: found.next.map { link(query, cursor: $0) })
            let document = DCATCatalogDocument(
                datasets: found.datasets, in: state, modified: catalogModified(state), publisher: publisher(state), links: links)
            return (document, found.next)
        }
        var response = try document.response()
        response.headers[.contentType] = "application/ld+json; charset=utf-8"
        if let next {
            response.headers[Respond.linkHeader] = "<\(Respond.nextTarget(of: request, cursor: String(next)))>; rel=\"next\""
            response.headers[Respond.nextCursorHeader] = String(next)
        }
        return response
    }

    /// The page's URL as the public reaches it: the filters given, in one order, percent-encoded.
    func link(_ query: QueryParameters, cursor: Int64?) -> String {
        var parts: [String] = []
        for name in ["q", "grade", "region", "holder", "tag", "limit"] {
            if let value = query.text(name) { parts.append(name + "=" + DCATVocabulary.segment(String(value))) }
        }
        if let cursor { parts.append("cursor=\(cursor)") }
        return settings.publicURL + "/v1/catalog/dcat" + (parts.isEmpty ? "" : "?" + parts.joined(separator: "&"))
    }

    /// The configured publisher, else the registry's first operator party, else the registry by name.
    func publisher(_ state: borrowing RegistryState) -> (iri: String, name: String) {
        if let name = settings.publisherName { return (DCATVocabulary.configuredPublisherIRI, name) }
        let operators = state.catalog.parties.page(after: 0, limit: 1, budget: Limits.maxScanPerPage) { $0.kind == .operator }
        if let party = operators.records.first { return (ODRL.partyIRI(party.id), party.name) }
        return (DCATVocabulary.configuredPublisherIRI, "DataRights registry")
    }

    func catalogModified(_ state: borrowing RegistryState) -> Timestamp? {
        let revision = state.publicCatalogRevision
        if let kept = modified.kept.withLock({ $0 }), kept.revision == revision { return kept.modified }
        let latest = state.publicCatalogModified()
        modified.kept.withLock { $0 = (revision, latest) }
        return latest
    }

    final class ModifiedCache: Sendable {
        let kept = Mutex<(revision: PublicCatalogRevision, modified: Timestamp?)?>(nil)
    }
}
