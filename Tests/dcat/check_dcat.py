#!/usr/bin/env python3
"""Checks pages of the public DCAT-AP catalog (GET /v1/catalog/dcat) as RDF, read by rdflib's JSON-LD parser.

    python3 Tests/dcat/check_dcat.py EXPECTED.json PAGE.jsonld [PAGE.jsonld ...]

PAGE files are the answers of one walk through the catalog, first page first. EXPECTED.json says what an
independent source (the Swift test's SQL over the registry's tables) holds:

    {"catalogPublisher": "Operator", "catalogModified": "2026-…Z" or null,
     "datasets": {"<id>": {"title", "description", "publisher", "themes": [...], "region", "regionName" or null,
                           "frequency", "grade", "fileType" or null, "mediaType" or null, "byteSize", "hasPolicy",
                           "issued", "modified"}},
     "hidden": [{"id", "title", "description"}]}

It checks, and prints every failure (exit 1) or one line of what it checked (exit 0):
- each page parses as JSON-LD without fetching anything, and holds one dcat:Catalog and one Hydra view;
  the pages chain by hydra:next, the last has none, and no dataset is on two pages;
- DCAT-AP 3.0's mandatory properties (written out here, the SHACL shapes not being available offline):
  Catalog dcterms:title, dcterms:description, dcterms:publisher; Dataset dcterms:title, dcterms:description;
  Distribution dcat:accessURL (an IRI); Agent foaf:name; Concept skos:prefLabel; ConceptScheme dcterms:title;
  and the ranges and maximum counts the shapes state for what the catalog uses (publisher, accrualPeriodicity,
  issued, modified at most one; frequency, file type and media type IRIs from their vocabularies; byteSize an
  xsd:nonNegativeInteger; dates xsd:dateTime; spatial a dcterms:Location; themes in the catalog's taxonomy);
- the datasets listed are exactly the expected ones, each with its title, description, publisher's name,
  themes, region, periodicity, grade, format, size, policy and dates;
- nothing of a hidden dataset appears anywhere: not its title or description (in the serialised graph or
  the raw pages), not its identifier, not its IRI nor its landing page.
"""
import datetime
import json
import sys

try:
    import rdflib
    from rdflib import Literal, Namespace, URIRef
    from rdflib.namespace import RDF, XSD
except ImportError:
    print("check_dcat: rdflib is not installed (pip install rdflib; .ci/install-deps installs it)")
    sys.exit(2)

DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
SKOS = Namespace("http://www.w3.org/2004/02/skos/core#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
ODRL = Namespace("http://www.w3.org/ns/odrl/2/")
LOCN = Namespace("http://www.w3.org/ns/locn#")
FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
MEDIA_TYPE = "https://www.iana.org/assignments/media-types/"
DATASET_BASE = "https://datarights.example/datasets/"

failures = []


def fail(message):
    failures.append(message)


def instant(text):
    """An ISO 8601 instant as the registry writes it (`2026-11-29T07:30:00.000000Z`)."""
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)


def same_instant(literal, text):
    return isinstance(literal, Literal) and literal.datatype == XSD.dateTime and literal.toPython() == instant(text)


def values(graph, subject, predicate):
    return list(graph.objects(subject, predicate))


def one(graph, subject, predicate, what):
    found = values(graph, subject, predicate)
    if len(found) != 1:
        fail(f"{what}: {len(found)} values of {predicate.n3(graph.namespace_manager)}, expected exactly 1")
        return None
    return found[0]


def parse(path):
    with open(path, encoding="utf-8") as file:
        text = file.read()
    document = json.loads(text)
    if not isinstance(document.get("@context"), dict):
        fail(f"{path}: the @context is not inline")
    graph = rdflib.Graph()
    graph.parse(data=text, format="json-ld")
    return text, graph


def check_mandatory(graph):
    """DCAT-AP 3.0 mandatory properties and the ranges used, over the merged graph."""
    for catalog in graph.subjects(RDF.type, DCAT.Catalog):
        for predicate in (DCT.title, DCT.description, DCT.publisher):
            if not values(graph, catalog, predicate):
                fail(f"catalog {catalog}: no {predicate}")
        for publisher in values(graph, catalog, DCT.publisher):
            if (publisher, RDF.type, FOAF.Agent) not in graph:
                fail(f"catalog publisher {publisher} is not a foaf:Agent")
        for taxonomy in values(graph, catalog, DCAT.themeTaxonomy):
            if (taxonomy, RDF.type, SKOS.ConceptScheme) not in graph:
                fail(f"theme taxonomy {taxonomy} is not a skos:ConceptScheme")
    for dataset in graph.subjects(RDF.type, DCAT.Dataset):
        what = f"dataset {dataset}"
        for predicate in (DCT.title, DCT.description):
            if not values(graph, dataset, predicate):
                fail(f"{what}: no {predicate} (mandatory)")
        for predicate in (DCT.publisher, DCT.accrualPeriodicity, DCT.issued, DCT.modified, DCT.spatial, DCT.accessRights):
            if len(values(graph, dataset, predicate)) > 1:
                fail(f"{what}: more than one {predicate}")
        for publisher in values(graph, dataset, DCT.publisher):
            if (publisher, RDF.type, FOAF.Agent) not in graph:
                fail(f"{what}: publisher {publisher} is not a foaf:Agent in the page")
        for frequency in values(graph, dataset, DCT.accrualPeriodicity):
            if not isinstance(frequency, URIRef) or not str(frequency).startswith(FREQUENCY):
                fail(f"{what}: accrualPeriodicity {frequency} is not an EU frequency")
        for predicate in (DCT.issued, DCT.modified):
            for date in values(graph, dataset, predicate):
                if not isinstance(date, Literal) or date.datatype != XSD.dateTime:
                    fail(f"{what}: {predicate} {date!r} is not an xsd:dateTime")
        for place in values(graph, dataset, DCT.spatial):
            if (place, RDF.type, DCT.Location) not in graph:
                fail(f"{what}: spatial {place} is not a dcterms:Location")
        for theme in values(graph, dataset, DCAT.theme):
            schemes = values(graph, theme, SKOS.inScheme)
            if (theme, RDF.type, SKOS.Concept) not in graph or not any((None, DCAT.themeTaxonomy, s) in graph for s in schemes):
                fail(f"{what}: theme {theme} is not a concept of the catalog's theme taxonomy")
        for distribution in values(graph, dataset, DCAT.distribution):
            if (distribution, RDF.type, DCAT.Distribution) not in graph:
                fail(f"{what}: distribution {distribution} is not a dcat:Distribution")
    for distribution in graph.subjects(RDF.type, DCAT.Distribution):
        what = f"distribution {distribution}"
        urls = values(graph, distribution, DCAT.accessURL)
        if not urls or not all(isinstance(url, URIRef) for url in urls):
            fail(f"{what}: no dcat:accessURL IRI (mandatory)")
        for format_ in values(graph, distribution, DCT["format"]):
            if not str(format_).startswith(FILE_TYPE):
                fail(f"{what}: format {format_} is not an EU file type")
        for media in values(graph, distribution, DCAT.mediaType):
            if not str(media).startswith(MEDIA_TYPE):
                fail(f"{what}: media type {media} is not an IANA media type")
        for size in values(graph, distribution, DCAT.byteSize):
            if not isinstance(size, Literal) or size.datatype != XSD.nonNegativeInteger:
                fail(f"{what}: byteSize {size!r} is not an xsd:nonNegativeInteger")
    for agent in graph.subjects(RDF.type, FOAF.Agent):
        if not values(graph, agent, FOAF.name):
            fail(f"agent {agent}: no foaf:name (mandatory)")
    for concept in graph.subjects(RDF.type, SKOS.Concept):
        if not values(graph, concept, SKOS.prefLabel):
            fail(f"concept {concept}: no skos:prefLabel (mandatory)")
    for scheme in graph.subjects(RDF.type, SKOS.ConceptScheme):
        if not values(graph, scheme, DCT.title):
            fail(f"concept scheme {scheme}: no dcterms:title (mandatory)")


def listed(graph):
    """identifier → dataset node, of the datasets the catalog lists (SPARQL)."""
    rows = graph.query(
        """SELECT ?id ?d WHERE { ?c a dcat:Catalog ; dcat:dataset ?d . ?d a dcat:Dataset ; dcterms:identifier ?id }""",
        initNs={"dcat": DCAT, "dcterms": DCT})
    return {str(row.id): row.d for row in rows}


def check_dataset(graph, identifier, node, want):
    what = f"dataset {identifier}"
    text = lambda value: None if value is None else str(value)
    if text(one(graph, node, DCT.title, what)) != want["title"]:
        fail(f"{what}: title {values(graph, node, DCT.title)} != {want['title']!r}")
    if text(one(graph, node, DCT.description, what)) != want["description"]:
        fail(f"{what}: description differs from {want['description']!r}")
    publisher = one(graph, node, DCT.publisher, what)
    names = [str(name) for name in values(graph, publisher, FOAF.name)] if publisher is not None else []
    if names != [want["publisher"]]:
        fail(f"{what}: publisher names {names}, expected {want['publisher']!r}")
    themes = sorted(str(label) for theme in values(graph, node, DCAT.theme) for label in values(graph, theme, SKOS.prefLabel))
    keywords = sorted(str(keyword) for keyword in values(graph, node, DCAT.keyword))
    if themes != sorted(want["themes"]) or keywords != sorted(want["themes"]):
        fail(f"{what}: themes {themes} / keywords {keywords}, expected {sorted(want['themes'])}")
    place = one(graph, node, DCT.spatial, what)
    if place is not None:
        code = [str(value) for value in values(graph, place, DCT.identifier)]
        name = [str(value) for value in values(graph, place, LOCN.geographicName)]
        if code != [want["region"]] or name != ([want["regionName"]] if want["regionName"] else []):
            fail(f"{what}: spatial {code} {name}, expected {want['region']} {want['regionName']}")
    frequency = text(one(graph, node, DCT.accrualPeriodicity, what))
    if frequency != FREQUENCY + want["frequency"]:
        fail(f"{what}: accrualPeriodicity {frequency}, expected {FREQUENCY + want['frequency']}")
    grade = one(graph, node, DCT.accessRights, what)
    notations = [str(value) for value in values(graph, grade, SKOS.notation)] if grade is not None else []
    if notations != [want["grade"]]:
        fail(f"{what}: grade {notations}, expected {want['grade']}")
    standard = one(graph, node, DCT.conformsTo, what)
    if standard is None or [str(v) for v in values(graph, standard, DCT.identifier)] != ["GB/T 43697-2024"]:
        fail(f"{what}: conformsTo is not the grading standard GB/T 43697-2024")
    for predicate, key in ((DCT.issued, "issued"), (DCT.modified, "modified")):
        date = one(graph, node, predicate, what)
        if date is not None and not same_instant(date, want[key]):
            fail(f"{what}: {key} {date}, expected {want[key]}")
    landing = [str(value) for value in values(graph, node, DCAT.landingPage)]
    if len(landing) != 1 or not landing[0].endswith(f"/v1/datasets/{identifier}"):
        fail(f"{what}: landing page {landing}")
    distribution = one(graph, node, DCAT.distribution, what)
    if distribution is None:
        return
    access = [str(value) for value in values(graph, distribution, DCAT.accessURL)]
    if len(access) != 1 or not access[0].endswith("/v1/access-requests"):
        fail(f"{what}: access URL {access}")
    formats = [str(value) for value in values(graph, distribution, DCT["format"])]
    expected_format = [FILE_TYPE + want["fileType"]] if want["fileType"] else []
    if formats != expected_format:
        fail(f"{what}: format {formats}, expected {expected_format}")
    media = [str(value) for value in values(graph, distribution, DCAT.mediaType)]
    if media != ([MEDIA_TYPE + want["mediaType"]] if want["mediaType"] else []):
        fail(f"{what}: media type {media}, expected {want['mediaType']}")
    sizes = [int(value) for value in values(graph, distribution, DCAT.byteSize)]
    if sizes != [want["byteSize"]]:
        fail(f"{what}: byteSize {sizes}, expected {want['byteSize']}")
    policies = [str(value) for value in values(graph, distribution, ODRL.hasPolicy)]
    expected_policies = 1 if want["hasPolicy"] else 0
    if len(policies) != expected_policies or not all(p.endswith(f"/v1/datasets/{identifier}/policy/odrl") for p in policies):
        fail(f"{what}: odrl:hasPolicy {policies}, expected {expected_policies}")


def check_hidden(graph, texts, hidden):
    serialised = graph.serialize(format="nt")
    identifiers = {str(value) for value in graph.objects(None, DCT.identifier)}
    terms = {str(term) for triple in graph for term in triple if isinstance(term, URIRef)}
    for entry in hidden:
        what = f"hidden dataset {entry['id']}"
        for key in ("title", "description"):
            needle = entry[key]
            if needle and (needle in serialised or any(needle in text for text in texts)):
                fail(f"{what}: its {key} {needle!r} appears in the catalog")
        if entry["id"] in identifiers:
            fail(f"{what}: its identifier appears in the catalog")
        iri = DATASET_BASE + entry["id"]
        landing = f"/v1/datasets/{entry['id']}"
        for term in terms:
            if term == iri or term.startswith(iri + "/") or term.endswith(landing) or (landing + "/") in term:
                fail(f"{what}: {term} names it")


def main(arguments):
    if len(arguments) < 2:
        print(__doc__)
        return 2
    with open(arguments[0], encoding="utf-8") as file:
        expected = json.load(file)
    merged = rdflib.Graph()
    texts = []
    seen = {}
    previous_next = None
    for index, path in enumerate(arguments[1:]):
        text, graph = parse(path)
        texts.append(text)
        catalogs = list(graph.subjects(RDF.type, DCAT.Catalog))
        views = list(graph.subjects(RDF.type, HYDRA.PartialCollectionView))
        if len(catalogs) != 1 or len(views) != 1:
            fail(f"page {index + 1}: {len(catalogs)} catalogs and {len(views)} Hydra views, expected one each")
            continue
        if values(graph, catalogs[0], HYDRA.view) != [views[0]]:
            fail(f"page {index + 1}: the catalog's hydra:view is not the page's view")
        if previous_next is not None and views[0] != previous_next:
            fail(f"page {index + 1}: its view {views[0]} is not the previous page's hydra:next {previous_next}")
        nexts = values(graph, views[0], HYDRA.next)
        previous_next = nexts[0] if nexts else None
        if index == len(arguments) - 2 and nexts:
            fail(f"the last page has a hydra:next {nexts[0]}")
        if index < len(arguments) - 2 and not nexts:
            fail(f"page {index + 1} has no hydra:next but another page follows")
        for identifier in listed(graph):
            if identifier in seen:
                fail(f"dataset {identifier} is on pages {seen[identifier]} and {index + 1}")
            seen[identifier] = index + 1
        modified = values(graph, catalogs[0], DCT.modified)
        want = expected["catalogModified"]
        if len(modified) != (1 if want else 0) or (want and not same_instant(modified[0], want)):
            fail(f"page {index + 1}: catalog modified {[str(v) for v in modified]}, expected {want}")
        names = [str(name) for publisher in values(graph, catalogs[0], DCT.publisher) for name in values(graph, publisher, FOAF.name)]
        if names != [expected["catalogPublisher"]]:
            fail(f"page {index + 1}: catalog publisher {names}, expected {expected['catalogPublisher']!r}")
        merged += graph
    check_mandatory(merged)
    found = listed(merged)
    if set(found) != set(expected["datasets"]):
        fail(f"datasets listed {sorted(found, key=int)}, expected {sorted(expected['datasets'], key=int)}")
    for identifier, want in expected["datasets"].items():
        if identifier in found:
            check_dataset(merged, identifier, found[identifier], want)
    check_hidden(merged, texts, expected["hidden"])
    if failures:
        for message in failures:
            print("FAIL " + message)
        return 1
    print(f"check_dcat: {len(found)} datasets over {len(arguments) - 1} pages, {len(merged)} triples; "
          f"{len(expected['hidden'])} hidden datasets absent; DCAT-AP 3 mandatory properties present")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
