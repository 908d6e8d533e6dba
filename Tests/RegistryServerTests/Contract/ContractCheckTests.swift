import Foundation
import Testing

/// The contract check bites: the schema validator and the document's reading of an exchange refuse a
/// renamed field, a wrong type, an undocumented status and a wrong content type, and accept what the
/// document describes. Without a server or a database.
@Suite struct ContractCheckTests {
    static func json(_ text: String) -> JSONValue { JSONValue(parsing: Data(text.utf8))! }

    static let schemas = json(
        """
        {"components": {"schemas": {
          "Kind": {"type": "string", "enum": ["department", "enterprise"]},
          "Party": {"type": "object", "required": ["id", "name", "kind"], "properties": {
            "id": {"type": "integer", "format": "int64", "minimum": 1},
            "name": {"type": "string", "minLength": 1, "maxLength": 8},
            "kind": {"$ref": "#/components/schemas/Kind"},
            "code": {"type": "string", "pattern": "^[0-9A-Z]{18}$"},
            "note": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true, "maxItems": 2}}},
          "Either": {"oneOf": [
            {"type": "object", "required": ["a"], "properties": {"a": {"const": 1}}},
            {"type": "object", "required": ["b"], "properties": {"b": {"type": "boolean"}}}]},
          "Open": {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": true}}}}
        """)

    static func violations(_ instance: String, _ schema: String) -> [JSONSchemaValidator.Violation] {
        JSONSchemaValidator(root: schemas).validate(json(instance), against: json(##"{"$ref": "#/components/schemas/\##(schema)"}"##))
    }

    @Test func aValueTheSchemaDescribesPasses() {
        #expect(Self.violations(#"{"id": 1, "name": "Acme", "kind": "enterprise", "note": null, "tags": ["a"]}"#, "Party") == [])
        #expect(Self.violations(#"{"a": 1}"#, "Either") == [])
        #expect(Self.violations(#"{"a": 1, "anything": [1]}"#, "Open") == [])
    }

    @Test func aRenamedFieldIsRefusedAsMissingAndAsUndocumented() {
        let found = Self.violations(#"{"id": 1, "title": "Acme", "kind": "enterprise"}"#, "Party")
        #expect(found.contains { $0.pointer == "" && $0.message.contains("required property name is missing") })
        #expect(found.contains { $0.pointer == "/title" && $0.message.contains("not documented") })
    }

    @Test func aWrongTypeIsRefusedAtItsPointer() {
        #expect(Self.violations(#"{"id": "1", "name": "Acme", "kind": "enterprise"}"#, "Party").map(\.pointer) == ["/id"])
        #expect(Self.violations(#"{"id": 1.5, "name": "Acme", "kind": "enterprise"}"#, "Party").map(\.pointer) == ["/id"])
        #expect(Self.violations(#"{"id": true, "name": "Acme", "kind": "enterprise"}"#, "Party").map(\.pointer) == ["/id"])
        #expect(Self.violations(#"{"id": 1, "name": "Acme", "kind": "enterprise", "note": 3}"#, "Party").map(\.pointer) == ["/note"])
    }

    @Test func boundsEnumsPatternsAndItemsAreChecked() {
        let found = Self.violations(
            #"{"id": 0, "name": "Far too long", "kind": "lab", "code": "x", "tags": ["a", "a", "b"]}"#, "Party")
        #expect(Set(found.map(\.pointer)) == ["/id", "/name", "/kind", "/code", "/tags", "/tags/1"])
        #expect(found.first { $0.pointer == "/kind" }?.schemaPath == "#/components/schemas/Kind/enum")
    }

    @Test func oneOfNeedsExactlyOneBranch() {
        #expect(Self.violations(#"{"a": 2}"#, "Either").first?.message.contains("matches none") == true)
        #expect(Self.violations(#"{"c": 2}"#, "Either").count == 1)
    }

    @Test func anUnsupportedKeywordIsAViolationNotASilentPass() {
        let validator = JSONSchemaValidator(root: .null)
        let found = validator.validate(Self.json("{}"), against: Self.json(#"{"type": "object", "patternProperties": {}}"#))
        #expect(found.map(\.message) == ["the contract check does not support the keyword patternProperties"])
    }

    // MARK: The document's reading of exchanges

    static let document = json(
        """
        {"paths": {
          "/v1/parties/{id}": {"get": {"operationId": "getParty", "responses": {
            "200": {"headers": {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}},
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Party"}}}},
            "404": {"$ref": "#/components/responses/NotFound"}}}},
          "/v1/parties/me": {"get": {"operationId": "getMe", "responses": {"204": {"description": "none"}}}},
          "/metrics": {"get": {"operationId": "getMetrics", "responses": {
            "200": {"content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}}}}}}},
         "components": {
          "headers": {"RequestId": {"required": true, "schema": {"type": "string"}}},
          "schemas": {
            "Party": {"type": "object", "required": ["id", "name"], "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
            "Problem": {"type": "object", "required": ["type", "title", "status"], "additionalProperties": true,
                        "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}}}},
          "responses": {
            "NotFound": {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
            "MethodNotAllowed": {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
            "URITooLong": {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}}}
        """)

    static func check(
        _ target: String, _ status: Int, _ body: String, method: String = "GET",
        contentType: String? = "application/json", requestID: String? = "r-1"
    ) -> OpenAPIContract.Verdict {
        var headers: [String: String] = [:]
        if let contentType { headers["content-type"] = contentType }
        if let requestID { headers["x-request-id"] = requestID }
        return OpenAPIContract(document: document).check(
            OpenAPIContract.Exchange(method: method, target: target, status: status, headers: headers, body: Data(body.utf8)))
    }

    static let problem404 = #"{"type": "https://x/not-found", "title": "Not found", "status": 404}"#

    @Test func aDocumentedResponsePassesAndNamesItsOperation() {
        let verdict = Self.check("/v1/parties/7?fields=all", 200, #"{"id": 7, "name": "Acme"}"#)
        #expect(verdict.operation == "GET /v1/parties/{id} (getParty)")
        #expect(verdict.violations == [])
        #expect(Self.check("/v1/parties/me", 204, "", contentType: nil).operation == "GET /v1/parties/me (getMe)")
        #expect(Self.check("/metrics", 200, "a 1\n", contentType: "text/plain; version=0.0.4; charset=utf-8").violations == [])
    }

    @Test func aRenamedFieldInAResponseNamesOperationStatusAndPointer() {
        let verdict = Self.check("/v1/parties/7", 200, #"{"id": 7, "title": "Acme"}"#)
        #expect(verdict.operation == "GET /v1/parties/{id} (getParty)")
        #expect(verdict.violations.contains { $0.hasPrefix("at / (#/components/schemas/Party/required)") })
        #expect(verdict.violations.contains { $0.hasPrefix("at /title (#/components/schemas/Party/properties)") })
    }

    @Test func anUndocumentedStatusIsRefused() {
        let verdict = Self.check("/v1/parties/7", 409, Self.problem404, contentType: "application/problem+json")
        #expect(verdict.violations == ["status 409 is not documented for this operation (documented: 200, 404)"])
        // An answer any request may get is allowed without being listed under the operation.
        let long = Self.check("/v1/parties/7", 414, #"{"type": "t", "title": "URI too long", "status": 414}"#, contentType: "application/problem+json")
        #expect(long.violations == [])
    }

    @Test func aWrongContentTypeIsRefused() {
        #expect(Self.check("/v1/parties/7", 200, #"{"id": 7, "name": "Acme"}"#, contentType: "text/html").violations
            == ["content type text/html is not documented (documented: application/json)"])
        #expect(Self.check("/metrics", 200, "a 1\n", contentType: "text/plain").violations.count == 1)
        #expect(Self.check("/v1/parties/7", 404, Self.problem404, contentType: "application/json").violations.count == 1)
    }

    @Test func aBodyWhereNoneIsDocumentedAndAMissingRequiredHeaderAreRefused() {
        #expect(Self.check("/v1/parties/me", 204, "{}").violations.count == 1)
        #expect(Self.check("/v1/parties/7", 200, #"{"id": 7, "name": "Acme"}"#, requestID: nil).violations
            == ["the required header X-Request-Id is missing"])
    }

    @Test func aProblemMustCarryItsResponsesStatusAndRequestID() {
        let wrongStatus = Self.check("/v1/parties/7", 404, #"{"type": "t", "title": "x", "status": 400}"#, contentType: "application/problem+json")
        #expect(wrongStatus.violations == ["at /status: 400 is not the response's status 404"])
        let wrongID = Self.check(
            "/v1/parties/7", 404, #"{"type": "t", "title": "x", "status": 404, "requestId": "r-2"}"#, contentType: "application/problem+json")
        #expect(wrongID.violations == ["at /requestId: r-2 is not the X-Request-Id header r-1"])
    }

    @Test func requestsNoOperationServesMayOnlyGet404Or405() {
        #expect(Self.check("/v1/nothing", 404, Self.problem404, contentType: "application/problem+json").violations == [])
        #expect(Self.check("/v1/nothing", 200, "{}").violations.count == 1)
        let wrongMethod = Self.check("/v1/parties/7", 405, #"{"type": "t", "title": "x", "status": 405}"#, method: "DELETE", contentType: "application/problem+json")
        #expect(wrongMethod.operation == "DELETE /v1/parties/{id} (no such operation)")
        #expect(wrongMethod.violations == [])
    }

    @Test func aResponseReadOffTheWireIsParsedWithItsChunkedBody() throws {
        let exchange = try #require(OpenAPIContract.Exchange(
            request: "GET /v1/parties/7 HTTP/1.1\r\nHost: x\r\n\r\n",
            response: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: r-1\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "9\r\n{\"id\": 7,\r\n10\r\n \"name\": \"Acme\"}\r\n0\r\n\r\n"))
        #expect(exchange.status == 200)
        #expect(OpenAPIContract(document: Self.document).check(exchange).violations == [])
        #expect(OpenAPIContract.Exchange(request: "garbage", response: "HTTP/1.1 400 Bad Request\r\n\r\n") == nil)
    }

    // MARK: docs/openapi.yaml itself

    static var documentReadable: Bool {
        if case .contract = ContractCheck.loaded { return true }
        return ProcessInfo.processInfo.environment["CI"] != nil
    }

    static func loadedContract() throws -> OpenAPIContract {
        guard case .contract(let contract) = ContractCheck.loaded else {
            Issue.record("docs/openapi.yaml could not be read: \(ContractCheck.loaded)")
            throw CancellationError()
        }
        return contract
    }

    /// Every schema of the document uses only keywords the check applies or knows to be annotations.
    @Test(.enabled(if: documentReadable, "PyYAML is not installed")) func everyKeywordOfTheDocumentsSchemasIsSupported() throws {
        let contract = try Self.loadedContract()
        let validator = contract.validator
        var unsupported: Set<String> = []
        // Each schema validated against an empty object visits its keywords; the unsupported ones say so.
        for (_, root) in contract.document["components"]?["schemas"]?.object ?? [:] {
            var pending = [root]
            while let schema = pending.popLast() {
                for violation in validator.validate(.object([:]), against: schema) where violation.message.contains("does not support") {
                    unsupported.insert(violation.message)
                }
                pending += schema["properties"]?.object?.values.map { $0 } ?? []
                for key in ["items", "additionalProperties", "not"] { if let nested = schema[key], nested.object != nil { pending.append(nested) } }
                for key in ["oneOf", "anyOf", "allOf"] { pending += schema[key]?.array ?? [] }
            }
        }
        #expect(unsupported.isEmpty, "\(unsupported.sorted())")
    }

    /// The examples the document gives for its responses match their own schemas.
    @Test(.enabled(if: documentReadable, "PyYAML is not installed")) func everyResponseExampleMatchesItsSchema() throws {
        let contract = try Self.loadedContract()
        var checked = 0
        var responses: [(String, JSONValue)] = []
        for operation in contract.operations {
            responses += operation.responses.map { ("\(operation.label) \($0.key)", $0.value) }
        }
        responses += (contract.document["components"]?["responses"]?.object ?? [:]).map { ("components/responses/\($0.key)", $0.value) }
        for (label, response) in responses {
            guard let response = contract.dereference(response) else { continue }
            for (mediaType, media) in response["content"]?.object ?? [:] where OpenAPIContract.isJSON(mediaType) {
                guard let example = media["example"], let schema = media["schema"] else { continue }
                checked += 1
                let violations = contract.validator.validate(example, against: schema)
                #expect(violations.isEmpty, "\(label) \(mediaType) example: \(violations.map(\.description))")
            }
        }
        #expect(checked > 50)
    }
}
