import Foundation

/// docs/openapi.yaml read as a contract: for one HTTP exchange (method, request target, status, headers,
/// body), the operation it belongs to and every way the response departs from what the document says
/// that operation answers. Pure: it records nothing and reads no files once made.
///
/// A response is held to the operation whose path template matches the request's path (literal segments
/// win over `{parameters}`) and whose method is the request's. Its status must be one the operation
/// lists; its content type one of that response's media types; a JSON body (`application/json`,
/// `application/problem+json`, `application/ld+json`) must match the media type's schema; the headers
/// the response marks `required` must be sent; a problem's `status` and `requestId` must be the
/// response's. A request that no operation serves is held to the few answers any request may get
/// (`anyRequest`), with 405 for a known path and 404 for an unknown one.
struct OpenAPIContract: Sendable {
    /// One request and the response it got, as seen by a client.
    struct Exchange: Sendable {
        var method: String
        /// The request target: path and query, as sent.
        var target: String
        var status: Int
        /// Header fields with lowercased names; repeated fields joined with ", ".
        var headers: [String: String]
        var body: Data
    }

    /// The outcome for one exchange: the operation it was held to and what does not match.
    struct Verdict: Sendable {
        /// "GET /v1/datasets/{id} (getDataset)", or the request itself when no operation serves it.
        let operation: String
        let violations: [String]
    }

    struct Operation: Sendable {
        let method: String
        let template: String
        let segments: [Substring]
        let identifier: String
        let responses: [String: JSONValue]

        var label: String { "\(method) \(template) (\(identifier))" }
    }

    /// Answers any request may get, whatever its path and method, by status: the edge's limits. The
    /// document describes them once, as components/responses, instead of under every operation.
    static let anyRequest: [Int: String] = [408: "RequestTimeout", 414: "URITooLong", 431: "HeaderFieldsTooLarge"]

    let document: JSONValue
    let operations: [Operation]
    var validator: JSONSchemaValidator { JSONSchemaValidator(root: document) }

    init(document: JSONValue) {
        self.document = document
        var operations: [Operation] = []
        for (template, item) in document["paths"]?.object ?? [:] {
            for (method, operation) in item.object ?? [:] where ["get", "put", "post", "delete", "patch", "head", "options"].contains(method) {
                operations.append(Operation(
                    method: method.uppercased(), template: template, segments: template.split(separator: "/"),
                    identifier: operation["operationId"]?.string ?? "no operationId", responses: operation["responses"]?.object ?? [:]))
            }
        }
        self.operations = operations.sorted { ($0.template, $0.method) < ($1.template, $1.method) }
    }

    /// The operations whose template matches `path`, best match first (more literal segments).
    func operations(matching path: String) -> [Operation] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        let matching = operations.filter { operation in
            operation.segments.count == segments.count && zip(operation.segments, segments).allSatisfy { template, actual in
                template.hasPrefix("{") && template.hasSuffix("}") ? !actual.isEmpty : template == actual
            }
        }
        func literals(_ operation: Operation) -> Int { operation.segments.filter { !$0.hasPrefix("{") }.count }
        let best = matching.map(literals).max()
        return matching.filter { literals($0) == best }
    }

    func check(_ exchange: Exchange) -> Verdict {
        let path = String(exchange.target.prefix { $0 != "?" && $0 != "#" })
        let candidates = operations(matching: path)
        // HEAD is answered as GET, without a body.
        let method = exchange.method == "HEAD" && !candidates.contains { $0.method == "HEAD" } ? "GET" : exchange.method
        let response: JSONValue
        let operationLabel: String
        if let operation = candidates.first(where: { $0.method == method }) {
            operationLabel = operation.label
            if let documented = operation.responses[String(exchange.status)] ?? operation.responses["\(exchange.status / 100)XX"]
                ?? operation.responses["default"]
            {
                response = documented
            } else if let name = Self.anyRequest[exchange.status] {
                response = .object(["$ref": .string("#/components/responses/\(name)")])
            } else {
                let listed = operation.responses.keys.sorted().joined(separator: ", ")
                return Verdict(
                    operation: operationLabel,
                    violations: ["status \(exchange.status) is not documented for this operation (documented: \(listed))"])
            }
        } else {
            var allowed = Self.anyRequest
            if candidates.isEmpty {
                operationLabel = "\(exchange.method) \(path) (no such path)"
                allowed[404] = "NotFound"
            } else {
                operationLabel = "\(exchange.method) \(candidates[0].template) (no such operation)"
                allowed[405] = "MethodNotAllowed"
            }
            guard let name = allowed[exchange.status] else {
                return Verdict(
                    operation: operationLabel,
                    violations: ["status \(exchange.status) is not an answer the document allows here (\(allowed.keys.sorted()))"])
            }
            response = .object(["$ref": .string("#/components/responses/\(name)")])
        }
        return Verdict(operation: operationLabel, violations: violations(of: exchange, against: response, headOnly: exchange.method == "HEAD"))
    }

    private func violations(of exchange: Exchange, against documented: JSONValue, headOnly: Bool) -> [String] {
        guard let response = dereference(documented) else { return ["the response object \(documented.excerpt) does not resolve"] }
        var violations: [String] = []
        for (name, header) in response["headers"]?.object ?? [:] where name.lowercased() != "content-type" {
            guard let header = dereference(header) else {
                violations.append("the header \(name)'s definition does not resolve")
                continue
            }
            guard let value = exchange.headers[name.lowercased()] else {
                if case .bool(true) = header["required"] { violations.append("the required header \(name) is missing") }
                continue
            }
            if let schema = header["schema"] {
                violations += validator.validate(.string(value), against: schema).map { "header \(name) \($0)" }
            }
        }
        let contentType = exchange.headers["content-type"]
        guard let content = response["content"]?.object, !content.isEmpty else {
            if !exchange.body.isEmpty { violations.append("the document says no body, got \(exchange.body.count) bytes (\(contentType ?? "no content type"))") }
            return violations
        }
        guard let contentType else { return violations + ["no Content-Type; documented: \(content.keys.sorted().joined(separator: ", "))"] }
        guard let mediaType = content.keys.sorted().first(where: { Self.mediaType(contentType, matches: $0) }) else {
            return violations + ["content type \(contentType) is not documented (documented: \(content.keys.sorted().joined(separator: ", ")))"]
        }
        guard !headOnly, Self.isJSON(mediaType), let schema = content[mediaType]?["schema"] else { return violations }
        guard let body = JSONValue(parsing: exchange.body) else {
            return violations + ["the body is not JSON: \(String(decoding: exchange.body.prefix(120), as: UTF8.self))"]
        }
        violations += validator.validate(body, against: schema).map(\.description)
        if mediaType == "application/problem+json" {
            if let status = body["status"], status.double != Double(exchange.status) {
                violations.append("at /status: \(status.excerpt) is not the response's status \(exchange.status)")
            }
            if let requestID = body["requestId"]?.string, let header = exchange.headers["x-request-id"], requestID != header {
                violations.append("at /requestId: \(requestID) is not the X-Request-Id header \(header)")
            }
        }
        return violations
    }

    /// Follows `$ref`s (components/responses, components/headers) to the object they name.
    func dereference(_ value: JSONValue) -> JSONValue? {
        var value = value
        for _ in 0..<8 {
            guard let reference = value["$ref"]?.string else { return value }
            guard let target = validator.resolve(reference) else { return nil }
            value = target
        }
        return nil
    }

    /// `text/plain; version=0.0.4; charset=utf-8` matches `text/plain; version=0.0.4`: the same type and
    /// subtype, and every parameter the document names, with its value.
    static func mediaType(_ actual: String, matches documented: String) -> Bool {
        func parts(_ text: String) -> (essence: String, parameters: Set<String>) {
            let pieces = text.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            return (pieces.first ?? "", Set(pieces.dropFirst().map { $0.replacingOccurrences(of: " ", with: "") }))
        }
        let (actualEssence, actualParameters) = parts(actual)
        let (documentedEssence, documentedParameters) = parts(documented)
        return actualEssence == documentedEssence && documentedParameters.isSubset(of: actualParameters)
    }

    static func isJSON(_ mediaType: String) -> Bool {
        let essence = mediaType.split(separator: ";").first.map(String.init) ?? mediaType
        return essence == "application/json" || essence.hasSuffix("+json")
    }
}
