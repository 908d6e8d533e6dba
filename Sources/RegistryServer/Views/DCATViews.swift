import RegistryCore

// The public catalog as DCAT-AP 3.0 JSON-LD (`CatalogController`, `GET /v1/catalog/dcat`): one page of
// the catalog as a flat `@graph` — the catalog, its page view (Hydra), the page's datasets with their
// distributions, and each publisher, theme, grade, region and the grading standard once, referenced by
// `@id`. The context is inline (prefixes only), so no remote context is fetched to read it.

/// `{"@id": …}`: a reference to a node.
struct LDReference: Encodable, Sendable {
    let id: String

    init(_ id: String) { self.id = id }

    enum CodingKeys: String, CodingKey { case id = "@id" }
}

/// `{"@value": …, "@type": …}`: a typed literal.
struct LDTypedLiteral: Encodable, Sendable {
    let value: String
    let type: String

    static func dateTime(_ timestamp: Timestamp) -> LDTypedLiteral { LDTypedLiteral(value: timestamp.description, type: "xsd:dateTime") }

    enum CodingKeys: String, CodingKey {
        case value = "@value"
        case type = "@type"
    }
}

/// One page of the public catalog.
struct DCATCatalogDocument: Encodable, Sendable {
    let context: [String: String]
    let graph: [DCATNode]

    enum CodingKeys: String, CodingKey {
        case context = "@context"
        case graph = "@graph"
    }
}

/// A node of the catalog's graph.
enum DCATNode: Encodable, Sendable {
    case catalog(DCATCatalogView)
    case pageView(DCATPageView)
    case dataset(DCATDatasetView)
    case agent(DCATAgentView)
    case conceptScheme(DCATConceptSchemeView)
    case theme(DCATThemeView)
    case grade(DCATGradeView)
    case location(DCATLocationView)
    case standard(DCATStandardView)

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .catalog(let node): try node.encode(to: encoder)
        case .pageView(let node): try node.encode(to: encoder)
        case .dataset(let node): try node.encode(to: encoder)
        case .agent(let node): try node.encode(to: encoder)
        case .conceptScheme(let node): try node.encode(to: encoder)
        case .theme(let node): try node.encode(to: encoder)
        case .grade(let node): try node.encode(to: encoder)
        case .location(let node): try node.encode(to: encoder)
        case .standard(let node): try node.encode(to: encoder)
        }
    }
}

struct DCATCatalogView: Encodable, Sendable {
    let id: String
    let type = "dcat:Catalog"
    let title: String
    let description: String
    let publisher: LDReference
    let homepage: LDReference
    /// The latest change of a dataset in the catalog; absent while it is empty.
    let modified: LDTypedLiteral?
    let themeTaxonomy: LDReference
    let datasets: [LDReference]
    let view: LDReference

    enum CodingKeys: String, CodingKey {
        case id = "@id", type = "@type", title = "dcterms:title", description = "dcterms:description", publisher = "dcterms:publisher"
        case homepage = "foaf:homepage", modified = "dcterms:modified", themeTaxonomy = "dcat:themeTaxonomy", datasets = "dcat:dataset"
        case view = "hydra:view"
    }
}

/// Hydra paging: this page, the first, and the next when there is one.
struct DCATPageView: Encodable, Sendable {
    let id: String
    let type = "hydra:PartialCollectionView"
    let first: LDReference
    let next: LDReference?

    enum CodingKeys: String, CodingKey {
        case id = "@id", type = "@type", first = "hydra:first", next = "hydra:next"
    }
}

struct DCATDatasetView: Encodable, Sendable {
    let id: String
    let type = "dcat:Dataset"
    let identifier: String
    let title: String
    let description: String
    let publisher: LDReference
    let themes: [LDReference]?
    let keywords: [String]?
    let spatial: LDReference
    let accrualPeriodicity: LDReference
    let conformsTo: LDReference
    /// The grade in effect (R11, R12) as a concept of the grading standard.
    let accessRights: LDReference
    let issued: LDTypedLiteral
    let modified: LDTypedLiteral
    let landingPage: LDReference
    let distributions: [DCATDistributionView]

    enum CodingKeys: String, CodingKey {
        case id = "@id", type = "@type", identifier = "dcterms:identifier", title = "dcterms:title", description = "dcterms:description"
        case publisher = "dcterms:publisher", themes = "dcat:theme", keywords = "dcat:keyword", spatial = "dcterms:spatial"
        case accrualPeriodicity = "dcterms:accrualPeriodicity", conformsTo = "dcterms:conformsTo", accessRights = "dcterms:accessRights"
        case issued = "dcterms:issued", modified = "dcterms:modified", landingPage = "dcat:landingPage", distributions = "dcat:distribution"
    }
}

/// How the data is obtained: by an access request under the dataset's policy, never by download.
struct DCATDistributionView: Encodable, Sendable {
    let id: String
    let type = "dcat:Distribution"
    let description = "Obtained under a grant: request access at the access URL, on the terms of the dataset's policy."
    let accessURL: LDReference
    let format: LDReference?
    let mediaType: LDReference?
    let byteSize: LDTypedLiteral
    /// The dataset's policy as ODRL, when it has one.
    let policy: LDReference?

    enum CodingKeys: String, CodingKey {
        case id = "@id", type = "@type", description = "dcterms:description", accessURL = "dcat:accessURL", format = "dcterms:format"
        case mediaType = "dcat:mediaType", byteSize = "dcat:byteSize", policy = "odrl:hasPolicy"
    }
}

struct DCATAgentView: Encodable, Sendable {
    let id: String
    let type = "foaf:Agent"
    let name: String

    enum CodingKeys: String, CodingKey { case id = "@id", type = "@type", name = "foaf:name" }
}

struct DCATConceptSchemeView: Encodable, Sendable {
    let id: String
    let type = "skos:ConceptScheme"
    let title: String

    enum CodingKeys: String, CodingKey { case id = "@id", type = "@type", title = "dcterms:title" }
}

/// A domain: one of the datasets' tags, in the catalog's theme taxonomy.
struct DCATThemeView: Encodable, Sendable {
    let id: String
    let type = "skos:Concept"
    let prefLabel: String
    let inScheme = LDReference(DCATVocabulary.themesIRI)

    enum CodingKeys: String, CodingKey { case id = "@id", type = "@type", prefLabel = "skos:prefLabel", inScheme = "skos:inScheme" }
}

/// A grade of the grading standard, stated as the dataset's access rights: it decides what a grant of
/// the data needs (R13, R14).
struct DCATGradeView: Encodable, Sendable {
    let id: String
    let type = ["skos:Concept", "dcterms:RightsStatement"]
    let prefLabel: String
    let notation: String
    let inScheme = LDReference(DCATVocabulary.gradesIRI)

    enum CodingKeys: String, CodingKey {
        case id = "@id", type = "@type", prefLabel = "skos:prefLabel", notation = "skos:notation", inScheme = "skos:inScheme"
    }
}

struct DCATLocationView: Encodable, Sendable {
    let id: String
    let type = "dcterms:Location"
    let identifier: String
    /// The provincial division's name; absent for a code outside ``Regions/provincial``.
    let name: String?

    enum CodingKeys: String, CodingKey { case id = "@id", type = "@type", identifier = "dcterms:identifier", name = "locn:geographicName" }
}

struct DCATStandardView: Encodable, Sendable {
    let id = DCATVocabulary.gradingStandardIRI
    let type = "dcterms:Standard"
    let identifier = DCATVocabulary.gradingStandardIdentifier
    let title = DCATVocabulary.gradingStandardTitle

    enum CodingKeys: String, CodingKey { case id = "@id", type = "@type", identifier = "dcterms:identifier", title = "dcterms:title" }
}

// MARK: Building a page

extension DCATCatalogDocument {
    /// Where the page's links point: the public URL and the request's filters.
    struct Links {
        let publicURL: String
        /// The page's own URL, the first page's, and the next page's when there is one.
        let page: String
        let first: String
        let next: String?
    }

    /// A page of `datasets` (all in the public catalog), read from `state` under its read lock.
    init(
        datasets: [Dataset], in state: borrowing RegistryState, modified: Timestamp?, publisher: (iri: String, name: String),
        links: Links
    ) {
        var graph: [DCATNode] = []
        var nodes = Set<String>()
        var shared: [DCATNode] = []
        func once(_ id: String, _ node: @autoclosure () -> DCATNode) {
            if nodes.insert(id).inserted { shared.append(node()) }
        }
        once(publisher.iri, .agent(DCATAgentView(id: publisher.iri, name: publisher.name)))
        once(DCATVocabulary.themesIRI, .conceptScheme(DCATConceptSchemeView(id: DCATVocabulary.themesIRI, title: "DataRights domains")))
        for dataset in datasets {
            let holder = ODRL.partyIRI(dataset.holder)
            once(holder, .agent(DCATAgentView(id: holder, name: state.party(dataset.holder)?.name ?? "")))
            for tag in dataset.tags {
                let theme = DCATVocabulary.themeIRI(tag)
                once(theme, .theme(DCATThemeView(id: theme, prefLabel: tag)))
            }
            let region = DCATVocabulary.regionIRI(dataset.region)
            once(region, .location(DCATLocationView(id: region, identifier: dataset.region, name: Regions.provincial[dataset.region])))
            let grade = state.gradeInEffect(of: dataset.id)
            once(DCATVocabulary.gradesIRI, .conceptScheme(DCATConceptSchemeView(
                id: DCATVocabulary.gradesIRI, title: "Data grades of \(DCATVocabulary.gradingStandardIdentifier)")))
            once(DCATVocabulary.gradeIRI(grade), .grade(DCATGradeView(id: DCATVocabulary.gradeIRI(grade), prefLabel: grade.rawValue, notation: grade.rawValue)))
            once(DCATVocabulary.gradingStandardIRI, .standard(DCATStandardView()))
            graph.append(.dataset(DCATDatasetView(dataset, grade: grade, hasPolicy: state.policy(of: dataset.id) != nil, publicURL: links.publicURL)))
        }
        let catalog = DCATCatalogView(
            id: DCATVocabulary.catalogIRI, title: "DataRights public data catalog",
            description: "Datasets registered with the DataRights data-rights registry that may be requested under a grant, "
                + "published by their holders. Core-grade, not-shared and flagged datasets are not listed.",
            publisher: LDReference(publisher.iri), homepage: LDReference(links.publicURL + "/"), modified: modified.map(LDTypedLiteral.dateTime),
            themeTaxonomy: LDReference(DCATVocabulary.themesIRI), datasets: datasets.map { LDReference(ODRL.datasetIRI($0.id)) },
            view: LDReference(links.page))
        let view = DCATPageView(id: links.page, first: LDReference(links.first), next: links.next.map(LDReference.init))
        self.init(context: DCATVocabulary.context, graph: [.catalog(catalog), .pageView(view)] + graph + shared)
    }
}

extension DCATDatasetView {
    init(_ dataset: Dataset, grade: Grade, hasPolicy: Bool, publicURL: String) {
        let id = dataset.id.rawValue
        self.id = ODRL.datasetIRI(dataset.id)
        identifier = String(id)
        title = dataset.title
        description = dataset.description
        publisher = LDReference(ODRL.partyIRI(dataset.holder))
        themes = dataset.tags.isEmpty ? nil : dataset.tags.map { LDReference(DCATVocabulary.themeIRI($0)) }
        keywords = dataset.tags.isEmpty ? nil : dataset.tags
        spatial = LDReference(DCATVocabulary.regionIRI(dataset.region))
        accrualPeriodicity = LDReference(DCATVocabulary.frequency(dataset.updateCycle))
        conformsTo = LDReference(DCATVocabulary.gradingStandardIRI)
        accessRights = LDReference(DCATVocabulary.gradeIRI(grade))
        issued = .dateTime(dataset.createdAt)
        modified = .dateTime(dataset.updatedAt)
        landingPage = LDReference("\(publicURL)/v1/datasets/\(id)")
        let fileType = DCATVocabulary.fileType(dataset.format)
        distributions = [
            DCATDistributionView(
                id: DCATVocabulary.distributionIRI(dataset.id), accessURL: LDReference("\(publicURL)/v1/access-requests"),
                format: fileType.map { LDReference($0.fileType) }, mediaType: fileType.map { LDReference($0.mediaType) },
                byteSize: LDTypedLiteral(value: String(dataset.sizeBytes), type: "xsd:nonNegativeInteger"),
                policy: hasPolicy ? LDReference("\(publicURL)/v1/datasets/\(id)/policy/odrl") : nil)
        ]
    }
}
