import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// JSON over the test client, with a bearer key.
struct APIClient {
    let client: any TestClientProtocol
    var token: String?

    /// Every response `client` gets is checked against docs/openapi.yaml (`ContractCheckedClient`).
    init(client: any TestClientProtocol, token: String?) {
        self.client = client.checkingContract
        self.token = token
    }

    struct Answer {
        let status: HTTPResponse.Status
        let json: [String: Any]
        let text: String
        var headers: HTTPFields = [:]

        subscript(key: String) -> Any? { json[key] }
        func string(_ key: String) -> String? { json[key] as? String }
        func int(_ key: String) -> Int64? { (json[key] as? NSNumber)?.int64Value }
        var items: [[String: Any]] { json["items"] as? [[String: Any]] ?? [] }
        var refusalRules: [String] { (json["refusals"] as? [[String: Any]] ?? []).compactMap { $0["rule"] as? String } }
    }

    func as_(_ token: String?) -> APIClient { APIClient(client: client, token: token) }

    @discardableResult
    func call(
        _ method: HTTPRequest.Method, _ path: String, _ body: [String: Any]? = nil, headers extra: HTTPFields = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Answer {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let token { headers[.authorization] = "Bearer \(token)" }
        headers.append(contentsOf: extra)
        let buffer = try body.map { ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: $0)) }
        // A departure from the document is reported at the test's own line.
        return try await ContractCheck.$callSite.withValue(sourceLocation) {
            try await client.execute(uri: path, method: method, headers: headers, body: buffer) { response in
                let text = String(buffer: response.body)
                let json = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
                return Answer(status: response.status, json: json, text: text, headers: response.headers)
            }
        }
    }

    func get(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Answer {
        try await call(.get, path, sourceLocation: sourceLocation)
    }

    func post(_ path: String, _ body: [String: Any] = [:], sourceLocation: SourceLocation = #_sourceLocation) async throws -> Answer {
        try await call(.post, path, body, sourceLocation: sourceLocation)
    }
}

/// Fixtures shared by the registry's HTTP tests.
enum Fixture {
    static let fingerprint = String(repeating: "5e", count: 32)
    static let contract = String(repeating: "c0", count: 32)
    static let codes = ["9144030071526726XG", "91330100716105852F", "91110108551385082Q"]

    static func party(_ name: String, _ kind: String, code: String? = nil) -> [String: Any] {
        var body: [String: Any] = ["name": name, "kind": kind, "region": "CN-BJ", "jurisdiction": "mainland"]
        if let code { body["creditCode"] = code }
        return body
    }

    static func dataset(_ title: String, grade: String = "general", government: Bool = true) -> [String: Any] {
        var body: [String: Any] = [
            "title": title, "description": "Counts per road segment per hour", "grade": grade, "piLevel": "none",
            "individualsCovered": 0, "region": "CN-BJ", "fingerprint": fingerprint, "format": "parquet",
            "updateCycle": "daily", "sizeBytes": 1_048_576, "tags": ["transport"],
        ]
        if government { body["sharing"] = ["category": "unconditional"] }
        return body
    }

    static func claim(_ dataset: Int64, right: String = "hold", evidence: Bool = true, role: String = "controller") -> [String: Any] {
        [
            "dataset": dataset, "right": right, "kind": "initial", "sourceType": "original_collection",
            "evidence": evidence ? [["kind": "contract", "sha256": contract]] : [], "truthfulnessCommitment": true,
            "applicantRole": role,
        ]
    }
}
