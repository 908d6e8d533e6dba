import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// What the router serves, by route: the methods of each path (a known path with another method is 405
/// with `Allow`, not 404) and the query parameters each operation reads (any other is a 400 naming it).
///
/// The query parameters are the OpenAPI document's, kept here by hand and checked against the document
/// by `OpenAPIDocumentTests`; the methods are read from the router once its routes are added.
final class RouteTable: Sendable {
    /// `GET /v1/datasets` → the query parameters it reads; operations not listed read none.
    static let queryParameters: [String: Set<String>] = [
        "GET /v1/parties": ["kind", "cursor", "limit", "format"],
        "GET /v1/datasets": ["q", "grade", "piLevel", "region", "holder", "tag", "flagged", "cursor", "limit", "format"],
        "GET /v1/datasets/{id}/lineage": ["direction", "depth", "budget", "cursor", "limit"],
        "GET /v1/datasets/{id}/restrictions": ["origins"],
        "GET /v1/datasets/{id}/impact": ["budget", "limit", "cursor", "partyCursor"],
        "PUT /v1/datasets/{id}/policy/odrl": ["approval", "pricePerMillionTokens"],
        "GET /v1/lineage/path": ["from", "to", "budget"],
        "GET /v1/derivations": ["dataset", "state", "cursor", "limit", "format"],
        "GET /v1/registrations": ["status", "dataset", "cursor", "limit", "format"],
        "GET /v1/certificates": ["dataset", "holder", "status", "cursor", "limit", "format"],
        "GET /v1/certificates/{number}": ["fingerprint"],
        "GET /v1/access-requests": ["state", "dataset", "overdue", "cursor", "limit", "format"],
        "GET /v1/grants": ["state", "dataset", "assignee", "cursor", "limit", "format"],
        "GET /v1/statistics/usage": ["dimension", "from", "to", "interval", "cursor", "limit", "format"],
        "GET /v1/statistics/rankings": ["dimension", "from", "to", "cursor", "limit", "format"],
        "GET /v1/public/statistics/usage": ["dimension", "from", "to", "interval", "cursor", "limit", "format"],
        "GET /v1/public/statistics/rankings": ["dimension", "from", "to", "cursor", "limit", "format"],
        "GET /v1/grants/{number}/usage/events": ["cursor", "limit", "format"],
        "GET /v1/decisions": ["dataset", "purpose", "tokens", "party", "action", "region"],
        "GET /v1/compliance/missing-records": ["holder", "assignee", "record", "state", "cursor", "limit", "format"],
        "GET /v1/compliance/cross-border/grants": ["processor", "year", "cursor", "limit", "format"],
        "GET /v1/compliance/cross-border/processors": ["year", "status", "cursor", "limit", "format"],
        "GET /v1/compliance/lineage-gaps": ["holder", "cursor", "limit", "format"],
        "GET /v1/compliance/overdue-sharing": ["holder", "cursor", "limit", "format"],
        "GET /v1/compliance/rights-history": ["dataset", "cursor", "limit", "format"],
        "GET /v1/statements": ["party", "from", "to", "format"],
        "GET /v1/compliance/dataset-use": ["dataset", "from", "to", "descendants", "party", "purpose", "budget", "cursor", "limit", "format"],
        "GET /v1/compliance/quota-denials": ["from", "to", "lab", "dataset", "quota", "by", "cursor", "limit", "format"],
        "GET /v1/compliance/annual-report": ["year", "processor", "cursor", "limit", "format"],
        "GET /v1/catalog/dcat": ["q", "grade", "region", "holder", "tag", "cursor", "limit"],
        "GET /v1/audit/events": ["kind", "actor", "dataset", "from", "to", "cursor", "limit", "format"],
    ]

    private struct Route {
        var segments: [Substring]
        var methods: [HTTPRequest.Method]
    }

    private struct Tables {
        var routes: [Route] = []
        /// The router's endpoint path (`/v1/datasets/{id}/impact`) → method → query parameters.
        var query: [String: [HTTPRequest.Method: [String]]] = [:]
    }

    private let tables = Mutex(Tables())

    /// Reads the routes of a router whose routes are all added.
    func load(_ routes: [(path: String, method: HTTPRequest.Method)]) {
        var made = Tables()
        var methodsByPath: [String: [HTTPRequest.Method]] = [:]
        var order: [String] = []
        for route in routes {
            let path = route.path.hasPrefix("/") ? route.path : "/" + route.path
            if methodsByPath[path] == nil { order.append(path) }
            methodsByPath[path, default: []].append(route.method)
            // The router spells captures as the document does: `/v1/datasets/{id}`.
            let names = Self.queryParameters["\(route.method.rawValue) \(path)"] ?? []
            precondition(names.count <= 64, "a query is checked with a 64-bit set of the names seen")
            made.query[path, default: [:]][route.method] = names.sorted()
        }
        made.routes = order.map { Route(segments: $0.split(separator: "/"), methods: methodsByPath[$0] ?? []) }
        tables.withLock { $0 = made }
    }

    /// The methods served at a concrete path (`/v1/grants/GR-1/suspend`); empty when no route matches it.
    func methods(at path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/")
        return tables.withLock { tables in
            var methods: [HTTPRequest.Method] = []
            for route in tables.routes where route.segments.count == segments.count {
                let matches = zip(route.segments, segments).allSatisfy { pattern, segment in pattern.hasPrefix("{") || pattern == segment }
                if matches { methods += route.methods }
            }
            return methods
        }
    }

    /// Throws a 400 naming the first query parameter the operation does not read, given twice, or holding
    /// a NUL (`%00`, which PostgreSQL cannot store). Reads the raw query once, without decoding values and
    /// without allocating for the usual short names (the decision route's queries come through here).
    func checkQuery(_ request: Request, endpointPath: String) throws {
        guard let query = request.uri.query, !query.isEmpty else { return }
        let allowed = tables.withLock { $0.query[endpointPath]?[request.method] } ?? []
        var seen: UInt64 = 0
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            let equals = part.firstIndex(of: "=") ?? part.endIndex
            var name = part[..<equals]
            if name.utf8.contains(UInt8(ascii: "%")), let decoded = String(name).removingPercentEncoding { name = Substring(decoded) }
            guard let index = allowed.firstIndex(where: { $0 == name }) else {
                let listed = allowed.isEmpty ? "this operation takes no query parameters" : "allowed: " + allowed.sorted().joined(separator: ", ")
                throw Problem.invalidField(String(name.prefix(100)), "is not a query parameter of this operation (\(listed))")
            }
            guard seen & (1 << UInt64(index)) == 0 else { throw Problem.invalidField(String(name), "appears twice in the query") }
            seen |= 1 << UInt64(index)
            let value = part[equals...].utf8
            if value.count >= 3, Self.containsPercentNul(value) {
                throw Problem.invalidField(String(name), "must not contain the NUL character (%00)")
            }
        }
    }

    private static func containsPercentNul(_ bytes: Substring.UTF8View) -> Bool {
        var iterator = bytes.makeIterator()
        var state = 0
        while let byte = iterator.next() {
            switch (state, byte) {
            case (_, UInt8(ascii: "%")): state = 1
            case (1, UInt8(ascii: "0")): state = 2
            case (2, UInt8(ascii: "0")): return true
            default: state = 0
            }
        }
        return false
    }
}
