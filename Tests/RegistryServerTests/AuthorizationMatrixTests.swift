import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import RegistryCore
import RegistryStore
import Testing

/// Who may do what, for every operation of the OpenAPI document: each operation × each party kind (the
/// owner of the object and another party of the same kind, for the kinds that own objects) × a missing,
/// revoked or malformed key, against one table of expected answers. The table must cover exactly the
/// document's operations, so a new endpoint cannot arrive without its row.
///
/// A cell expects one of: `A` — authorised (2xx, or a 400/409/422 the domain gives once the caller is
/// allowed to ask); `3` — 403; `4` — 404; `1` — 401. No denied cell may change the registry (the state
/// digest is compared around each), and a hidden object must answer exactly as a missing one does.
@Suite struct AuthorizationMatrixTests {
    /// The columns of every row, in order.
    static let principals = [
        "operator", "ministry", "ministry2", "enterprise", "lab", "lab2", "registrar", "regulator", "nokey", "revoked", "malformed",
    ]

    // Officials (registrars, regulators) read grants and requests, so a registrar acting on one it may see but
    // not change is told 403; a refusal by party kind ("a department may
    // not review registrations") is the same for every object and for none, so it reveals nothing and stays 403.
    // The objects are the ministry's (dataset, registration, derivation, policy, the access request it is asked
    // to answer) and the lab's (its grant on the ministry's dataset, its request). `ministry2` and `lab2` are
    // parties of the same kinds that own none of them.
    //                                                    op mi m2 en la l2 rg rl nk rv ml
    static let table: [String: String] = [
        "GET /healthz":                                   "A  A  A  A  A  A  A  A  A  A  A",
        "GET /readyz":                                    "A  A  A  A  A  A  A  A  A  A  A",
        "GET /metrics":                                   "A  A  A  A  A  A  A  A  A  A  A",
        "GET /openapi.yaml":                              "A  A  A  A  A  A  A  A  A  A  A",
        "GET /v1/me":                                     "A  A  A  A  A  A  A  A  1  1  1",
        "POST /v1/parties":                               "A  3  3  3  3  3  3  3  1  1  1",
        "GET /v1/parties":                                "A  A  A  A  A  A  A  A  1  1  1",
        "GET /v1/parties/{id}":                           "A  A  A  A  A  A  A  A  1  1  1",
        "POST /v1/parties/{id}/keys":                     "A  3  3  3  3  3  3  3  1  1  1",
        "DELETE /v1/keys/{prefix}":                       "A  3  3  3  3  3  3  3  1  1  1",
        "POST /v1/datasets":                              "3  A  A  A  A  A  3  3  1  1  1",
        "GET /v1/datasets":                               "A  A  A  A  A  A  A  A  1  1  1",
        "GET /v1/datasets/{id}":                          "A  A  A  A  A  A  A  A  1  1  1",
        "PATCH /v1/datasets/{id}":                        "3  A  3  3  3  3  3  3  1  1  1",
        "POST /v1/datasets/{id}/lineage":                 "3  A  3  3  3  3  A  3  1  1  1",
        "GET /v1/datasets/{id}/lineage":                  "A  A  A  A  A  A  A  A  1  1  1",
        "GET /v1/datasets/{id}/restrictions":             "A  A  A  A  A  A  A  A  1  1  1",
        "GET /v1/datasets/{id}/impact":                   "A  A  A  A  A  A  A  A  1  1  1",
        "POST /v1/datasets/{id}/flag":                    "3  3  3  3  3  3  A  A  1  1  1",
        "GET /v1/datasets/{id}/policy":                   "A  A  A  A  A  A  A  A  1  1  1",
        "PUT /v1/datasets/{id}/policy":                   "3  A  3  3  3  3  3  3  1  1  1",
        "GET /v1/datasets/{id}/policy/odrl":              "A  A  A  A  A  A  A  A  1  1  1",
        "PUT /v1/datasets/{id}/policy/odrl":              "3  A  3  3  3  3  3  3  1  1  1",
        "POST /v1/lineage/openlineage":                   "3  A  3  3  3  3  A  3  1  1  1",
        "GET /v1/lineage/path":                           "A  A  A  A  A  A  A  A  1  1  1",
        "GET /v1/derivations":                            "A  A  A  A  A  A  A  A  1  1  1",
        "POST /v1/derivations/{id}/approval":             "3  3  3  3  3  3  A  A  1  1  1",
        "POST /v1/registrations":                         "3  A  A  A  A  A  3  3  1  1  1",
        "GET /v1/registrations":                          "A  A  A  A  A  A  A  A  1  1  1",
        "GET /v1/registrations/{number}":                 "A  A  4  4  4  4  A  A  1  1  1",
        "POST /v1/registrations/{number}/review":         "3  3  3  3  3  3  A  3  1  1  1",
        "POST /v1/registrations/{number}/decision":       "3  3  3  3  3  3  A  3  1  1  1",
        "POST /v1/registrations/{number}/objections":     "3  A  A  A  A  A  A  A  1  1  1",
        "POST /v1/objections/{id}/ruling":                "3  3  3  3  3  3  A  3  1  1  1",
        "GET /v1/certificates":                           "A  A  A  A  A  A  A  A  1  1  1",
        "GET /v1/certificates/{number}":                  "4  4  4  4  4  4  4  4  4  4  4",
        "GET /v1/rules":                                  "A  A  A  A  A  A  A  A  A  A  A",
        "GET /v1/rules/{id}":                             "A  A  A  A  A  A  A  A  A  A  A",
        "POST /v1/access-requests":                       "3  A  A  A  A  A  3  3  1  1  1",
        "GET /v1/access-requests":                        "A  A  A  A  A  A  A  A  1  1  1",
        "GET /v1/access-requests/{number}":               "A  A  4  4  A  4  A  A  1  1  1",
        "POST /v1/access-requests/{number}/reply":        "3  A  4  4  3  4  3  3  1  1  1",
        "POST /v1/access-requests/{number}/withdraw":     "3  3  4  4  A  4  3  3  1  1  1",
        "GET /v1/grants":                                 "A  A  A  A  A  A  A  A  1  1  1",
        "GET /v1/grants/{number}":                        "A  A  4  4  A  4  A  A  1  1  1",
        "POST /v1/grants/{number}/suspend":               "3  A  4  4  3  4  3  A  1  1  1",
        "POST /v1/grants/{number}/resume":                "3  A  4  4  3  4  3  A  1  1  1",
        "POST /v1/grants/{number}/revoke":                "3  A  4  4  3  4  3  A  1  1  1",
        "POST /v1/grants/{number}/terminate":             "3  3  4  4  A  4  3  3  1  1  1",
        "GET /v1/decisions":                              "A  A  A  A  A  A  A  A  1  1  1",
        "GET /v1/compliance/missing-records":             "A  3  3  3  3  3  3  A  1  1  1",
        "GET /v1/compliance/cross-border/grants":         "A  3  3  3  3  3  3  A  1  1  1",
        "GET /v1/compliance/cross-border/processors":     "A  3  3  3  3  3  3  A  1  1  1",
        "GET /v1/compliance/lineage-gaps":                "A  3  3  3  3  3  3  A  1  1  1",
        "GET /v1/compliance/overdue-sharing":             "A  3  3  3  3  3  3  A  1  1  1",
        "GET /v1/compliance/rights-history":              "A  3  3  3  3  3  3  A  1  1  1",
        "GET /v1/compliance/dataset-use":                 "A  3  3  3  3  3  3  A  1  1  1",
        "GET /v1/compliance/quota-denials":               "A  3  3  3  3  3  3  A  1  1  1",
        "GET /v1/compliance/annual-report":               "A  3  3  3  3  3  3  A  1  1  1",
        "POST /v1/decisions":                             "A  A  A  A  A  A  A  A  1  1  1",
        "POST /v1/usage":                                 "A  A  A  A  A  A  A  A  1  1  1",
        "GET /v1/grants/{number}/usage":                  "A  A  4  4  A  4  4  A  1  1  1",
        "GET /v1/grants/{number}/usage/events":           "A  A  4  4  A  4  4  A  1  1  1",
        "PUT /v1/parties/{id}/daily-token-cap":           "A  3  3  3  3  3  3  A  1  1  1",
        "GET /v1/statements":                             "A  A  3  3  3  3  3  A  1  1  1",
        "GET /v1/ledger/balance":                         "A  3  3  3  3  3  3  A  1  1  1",
        "GET /v1/statistics/usage":                       "A  3  3  3  3  3  3  A  1  1  1",
        "GET /v1/statistics/rankings":                    "A  3  3  3  3  3  3  A  1  1  1",
        "GET /v1/public/statistics/usage":                "A  A  A  A  A  A  A  A  A  A  A",
        "GET /v1/public/statistics/rankings":             "A  A  A  A  A  A  A  A  A  A  A",
        "GET /v1/catalog/dcat":                           "A  A  A  A  A  A  A  A  A  A  A",
        "GET /v1/audit/verify":                           "A  3  3  3  3  3  3  A  1  1  1",
        "GET /v1/audit/events":                           "A  3  3  3  3  3  3  A  1  1  1",
        "GET /v1/admin/state":                            "A  3  3  3  3  3  3  3  1  1  1",
        "GET /v1/settings":                               "A  A  A  A  A  A  A  A  1  1  1",
        "PUT /v1/settings":                               "A  3  3  3  3  3  3  3  1  1  1",
        "GET /v1/sandbox/clock":                          "A  3  3  3  3  3  3  3  1  1  1",
        "POST /v1/sandbox/clock":                         "A  3  3  3  3  3  3  3  1  1  1",
    ]

    /// The objects each operation acts on, and a valid body for it.
    struct Fixtures {
        var ids: [String: Int64] = [:]
        var keys: [String: String] = [:]
        var dataset: Int64 = 0
        var otherDataset: Int64 = 0
        var flaggable: Int64 = 0
        var derivation: Int64 = 0
        var derived: Int64 = 0
        var hiddenRegistration = ""
        var reviewable = ""
        var inNotice = ""
        var objection: Int64 = 0
        var awaitingReply = ""
        var withdrawable = ""
        var grant = ""
        var spareKeyPrefix = ""
    }

    /// The path with its parameters filled, and the body, for `operation` called by `principal` (some bodies
    /// name the caller so repeated calls do not collide).
    static func request(for operation: String, _ f: Fixtures, principal: String) -> (path: String, body: [String: Any]?) {
        let parts = operation.split(separator: " ", maxSplits: 1)
        var path = String(parts[1])
        var body: [String: Any]?
        let now = Timestamp(microsecondsSince1970: Int64(Date().timeIntervalSince1970 * 1_000_000)).description
        switch operation {
        case "POST /v1/parties": body = ["name": "Registrar \(principal)", "kind": "registrar", "region": "CN-BJ", "jurisdiction": "mainland"]
        case "POST /v1/parties/{id}/keys": body = ["label": "matrix"]
        case "POST /v1/datasets": body = Fixture.dataset("New by \(principal)", government: principal.hasPrefix("ministry"))
        case "PATCH /v1/datasets/{id}": body = ["title": "Renamed"]
        case "POST /v1/datasets/{id}/lineage": body = ["sources": [["dataset": f.otherDataset, "kind": "derived"]]]
        case "POST /v1/datasets/{id}/flag": body = ["reason": "collected without consent"]
        case "PUT /v1/datasets/{id}/policy": body = AccessScenarioTests.policy(purposes: ["model_training"])
        case "PUT /v1/datasets/{id}/policy/odrl": body = ["@context": "http://www.w3.org/ns/odrl.jsonld", "@type": "Set"]
        case "POST /v1/lineage/openlineage": body = HardeningScenarioTests.event(inputs: [f.otherDataset], outputs: [f.dataset])
        case "POST /v1/registrations": body = Fixture.claim(f.otherDataset, right: "use")
        case "POST /v1/registrations/{number}/decision": body = ["decision": "accept"]
        case "POST /v1/registrations/{number}/objections": body = ["grounds": "we collected this data"]
        case "POST /v1/objections/{id}/ruling": body = ["ruling": "dismissed", "reason": "no evidence"]
        case "POST /v1/access-requests":
            body = ["dataset": f.otherDataset, "purpose": "model_training", "tokens": 1_000, "validUntil": "2030-01-01T00:00:00Z"]
        case "POST /v1/access-requests/{number}/reply": body = ["agree": false, "reason": "not now"]
        case "POST /v1/grants/{number}/suspend", "POST /v1/grants/{number}/revoke", "POST /v1/grants/{number}/resume",
            "POST /v1/grants/{number}/terminate":
            body = ["reason": "audit"]
        case "POST /v1/decisions": body = ["queries": [["dataset": f.dataset, "purpose": "model_training", "tokens": 100]]]
        case "POST /v1/usage": body = ["events": [["grant": f.grant, "tokens": 1, "at": now, "key": "matrix-\(principal)"]]]
        case "PUT /v1/parties/{id}/daily-token-cap": body = ["dailyTokens": 1_000_000_000]
        case "PUT /v1/settings": body = ["objectionPolicy": "anyone"]
        case "POST /v1/sandbox/clock": body = ["seconds": 1]
        case "POST /v1/registrations/{number}/review", "POST /v1/derivations/{id}/approval", "POST /v1/access-requests/{number}/withdraw":
            body = [:]
        default: body = nil
        }
        let number: String = switch operation {
        case let op where op.contains("/v1/registrations/{number}/review") || op.contains("/v1/registrations/{number}/decision"): f.reviewable
        case let op where op.contains("/objections"): f.inNotice
        case let op where op.contains("/v1/registrations/"): f.hiddenRegistration
        case let op where op.contains("/withdraw"): f.withdrawable
        case let op where op.contains("/v1/access-requests/"): f.awaitingReply
        case let op where op.contains("/v1/grants/"): f.grant
        default: "CERT-2026-99999999"
        }
        let id: Int64 = switch operation {
        case let op where op.contains("/v1/datasets/{id}/flag"): f.flaggable
        case let op where op.contains("/v1/datasets/"): f.dataset
        case let op where op.contains("/v1/derivations/"): f.derivation
        case let op where op.contains("/v1/objections/"): f.objection
        case let op where op.contains("daily-token-cap"): f.ids["lab"] ?? 0
        default: f.ids["ministry"] ?? 0
        }
        path = path.replacingOccurrences(of: "{number}", with: number).replacingOccurrences(of: "{id}", with: String(id))
            .replacingOccurrences(of: "{prefix}", with: f.spareKeyPrefix)
        if operation == "GET /v1/rules/{id}" { path = "/v1/rules/R16" }
        switch operation {
        case "GET /v1/decisions": path += "?dataset=\(f.dataset)&purpose=model_training&tokens=100"
        case "GET /v1/lineage/path": path += "?from=\(f.dataset)&to=\(f.derived)"
        case "GET /v1/statements": path += "?party=\(f.ids["ministry"] ?? 0)&from=2026-12-01&to=2026-12-31"
        case "GET /v1/compliance/rights-history": path += "?dataset=\(f.dataset)"
        default: break
        }
        return (path, body)
    }

    /// Sets up the cast and its objects through the API, as their owners would.
    static func setUp(_ cast: RegistryScenarioTests.Cast, _ registry: RegistryService) async throws -> Fixtures {
        var f = Fixtures()
        let admin = cast.api.as_(cast.operatorKey)
        f.keys = cast.keys
        f.keys["operator"] = cast.operatorKey
        f.ids = cast.ids
        for (name, body) in [
            ("ministry2", Fixture.party("Ministry of Water", "department", code: CreditCode.make(organisation: 41))),
            ("lab2", Fixture.party("Other Model Lab", "model_lab", code: CreditCode.make(organisation: 42))),
        ] {
            let created = try await admin.post("/v1/parties", body)
            let id = try #require(created.int("id"), "\(created.text)")
            f.ids[name] = id
            let token: String = try #require(try await admin.post("/v1/parties/\(id)/keys", ["label": name]).string("token"))
            f.keys[name] = token
        }
        let revoked = try await admin.post("/v1/parties/\(f.ids["lab"]!)/keys", ["label": "to revoke"])
        let revokedToken = try #require(revoked.string("token"))
        let revokedPrefix = try #require(revoked.string("prefix"), "\(revoked.text)")
        #expect(try await admin.call(.delete, "/v1/keys/\(revokedPrefix)").status == .noContent)
        f.keys["revoked"] = revokedToken
        f.keys["malformed"] = "drk_nope"
        let spare = try await admin.post("/v1/parties/\(f.ids["ministry"]!)/keys", ["label": "spare"])
        f.spareKeyPrefix = try #require(spare.string("prefix"))

        let ministry = cast.as("ministry")
        func dataset(_ title: String) async throws -> Int64 {
            let created = try await ministry.post("/v1/datasets", Fixture.dataset(title))
            return try #require(created.int("id"), "\(created.text)")
        }
        f.dataset = try await dataset("Highway traffic counts")
        f.otherDataset = try await dataset("Road works")
        f.flaggable = try await dataset("Toll records")
        let anonymised = try await dataset("Anonymised counts")
        let forReply = try await dataset("Weather stations")
        let policy = try await ministry.call(.put, "/v1/datasets/\(f.dataset)/policy", AccessScenarioTests.policy(purposes: ["model_training"]))
        #expect(policy.status == .ok, "\(policy.text)")
        var byHolder = AccessScenarioTests.policy(purposes: ["model_training"])
        byHolder["approval"] = "holder"
        #expect(try await ministry.call(.put, "/v1/datasets/\(forReply)/policy", byHolder).status == .ok)
        let edge = try await ministry.post("/v1/datasets/\(anonymised)/lineage", ["sources": [["dataset": f.dataset, "kind": "anonymisation"]]])
        f.derived = anonymised
        f.derivation = try #require(edge.items.first.flatMap { ($0["id"] as? NSNumber)?.int64Value }, "\(edge.text)")

        f.hiddenRegistration = try #require(try await ministry.post("/v1/registrations", Fixture.claim(f.dataset)).string("number"))
        f.reviewable = try #require(try await ministry.post("/v1/registrations", Fixture.claim(f.otherDataset)).string("number"))
        let noticed = try #require(try await ministry.post("/v1/registrations", Fixture.claim(f.flaggable)).string("number"))
        let registrar = cast.as("registrar")
        #expect(try await registrar.post("/v1/registrations/\(noticed)/review").status == .ok)
        #expect(try await registrar.post("/v1/registrations/\(noticed)/decision", ["decision": "accept"]).status == .ok)
        f.inNotice = noticed
        let objection = try await cast.as("enterprise").post("/v1/registrations/\(noticed)/objections", ["grounds": "ours"])
        f.objection = try #require(objection.int("id"), "\(objection.text)")

        let lab = cast.as("lab")
        let request: (Int64) -> [String: Any] = { dataset in
            ["dataset": dataset, "purpose": "model_training", "tokens": 1_000_000, "validUntil": "2030-01-01T00:00:00Z"]
        }
        let granted = try await lab.post("/v1/access-requests", request(f.dataset))
        f.grant = try #require((granted["grant"] as? [String: Any])?["number"] as? String ?? granted.string("grant"), "\(granted.text)")
        f.awaitingReply = try #require(try await lab.post("/v1/access-requests", request(forReply)).string("number"))
        f.withdrawable = try #require(try await lab.post("/v1/access-requests", request(forReply)).string("number"))
        return f
    }

    /// The cell's class of answer.
    static func cell(_ status: HTTPResponse.Status) -> String {
        switch status.code {
        case 401: "1"
        case 403: "3"
        case 404: "4"
        case 200..<300, 400, 409, 422: "A"
        default: "?\(status.code)"
        }
    }

    @Test func everyOperationAnswersEveryPrincipalAsTheTableSays() async throws {
        let documented = try await OpenAPIDocumentTests.operations()
        #expect(Set(documented) == Set(Self.table.keys), "the table and the document differ: \(Set(documented).symmetricDifference(Self.table.keys).sorted())")

        try await RegistryScenarioTests.withCast { cast, registry in
            let f = try await Self.setUp(cast, registry)
            var mismatches: [String] = []
            // Reads first, then writes; within a write, the principals expected to be refused come first, so the
            // one allowed cell acts on the object as the setup left it.
            let operations = documented.sorted { ($0.hasPrefix("GET") ? 0 : 1, $0) < ($1.hasPrefix("GET") ? 0 : 1, $1) }
            for operation in operations {
                let expected = Self.table[operation]!.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                let order = Self.principals.indices.sorted { (expected[$0] == "A" ? 1 : 0, $0) < (expected[$1] == "A" ? 1 : 0, $1) }
                for index in order {
                    let principal = Self.principals[index]
                    let (path, body) = Self.request(for: operation, f, principal: principal)
                    let method = HTTPRequest.Method(rawValue: String(operation.split(separator: " ")[0]))!
                    let before = registry.registry.read { $0.digest }
                    let answer = try await cast.api.as_(principal == "nokey" ? nil : f.keys[principal]).call(method, path, body)
                    let got = Self.cell(answer.status)
                    if got != expected[index] {
                        mismatches.append("\(operation) as \(principal): expected \(expected[index]), got \(answer.status.code) \(answer.text.prefix(160))")
                    }
                    if expected[index] != "A" {
                        #expect(registry.registry.read { $0.digest } == before, "\(operation) as \(principal) changed the registry")
                    }
                    // A hidden object answers as a missing one: the same status and the same body, but for its name.
                    if got == "4", let missing = Self.missing(path), missing != path {
                        let absent = try await cast.api.as_(principal == "nokey" ? nil : f.keys[principal]).call(method, missing, body)
                        #expect(absent.status == answer.status, "\(operation) as \(principal): hidden \(answer.status.code), missing \(absent.status.code)")
                        #expect(
                            Self.normalised(absent.text, path: missing) == Self.normalised(answer.text, path: path),
                            "\(operation) as \(principal): hidden and missing differ:\n\(answer.text)\n\(absent.text)")
                    }
                }
            }
            #expect(mismatches.isEmpty, "\(mismatches.count) cells differ from the table:\n\(mismatches.joined(separator: "\n"))")
        }
    }

    /// The same path naming an object that does not exist: the last number in it made very large.
    static func missing(_ path: String) -> String? {
        let base = path.split(separator: "?", maxSplits: 1)[0]
        var segments = base.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard let index = segments.lastIndex(where: { $0 != "v1" && $0.contains(where: \.isNumber) }) else { return nil }
        let segment = segments[index]
        if let dash = segment.lastIndex(of: "-") {
            segments[index] = String(segment[...dash]) + String(repeating: "9", count: segment.distance(from: dash, to: segment.endIndex) - 1)
        } else {
            segments[index] = "99999999"
        }
        return segments.joined(separator: "/")
    }

    /// A body with the object's name and the request id taken out, to compare hidden with missing.
    static func normalised(_ text: String, path: String) -> String {
        var text = text
        for segment in path.split(separator: "/") where segment != "v1" && segment.contains(where: \.isNumber) {
            text = text.replacingOccurrences(of: String(segment), with: "•")
        }
        if let range = text.range(of: #""requestId":"[^"]*""#, options: .regularExpression) { text.removeSubrange(range) }
        if let range = text.range(of: #""instance":"[^"]*""#, options: .regularExpression) { text.removeSubrange(range) }
        return text
    }
}
