import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import RegistryCore
import RegistryStore
import Testing

extension APIClient {
    /// A body sent exactly as written, with the given content type.
    func raw(
        _ method: HTTPRequest.Method, _ path: String, _ body: String, contentType: String? = "application/json",
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Answer {
        try await raw(method, path, bytes: Array(body.utf8), contentType: contentType, sourceLocation: sourceLocation)
    }

    func raw(
        _ method: HTTPRequest.Method, _ path: String, bytes: [UInt8], contentType: String? = "application/json",
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Answer {
        var headers: HTTPFields = [:]
        if let contentType { headers[.contentType] = contentType }
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await ContractCheck.$callSite.withValue(sourceLocation) {
            try await client.execute(uri: path, method: method, headers: headers, body: ByteBuffer(bytes: bytes)) { response in
                let text = String(buffer: response.body)
                let json = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
                return Answer(status: response.status, json: json, text: text)
            }
        }
    }
}

extension APIClient.Answer {
    /// The fields named by a problem's `errors`.
    var problemFields: [String] { (json["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String } }
}

/// The request edge refuses what it cannot store or should not read, in problem+json naming the field
/// (issue 14, findings 9, 14, 15, 16). Each test drives a live server on a real PostgreSQL.
@Suite struct EdgeHardeningTests {
    static let party = #"{"name":"Acme","kind":"registrar","region":"CN-BJ","jurisdiction":"mainland"}"#

    // MARK: Finding 9 (the edge half): NUL

    @Test func F9_aNulCharacterInAnyStringOfABodyIs400NamingTheField() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let admin = cast.api.as_(cast.operatorKey)
            let name = try await admin.raw(.post, "/v1/parties", #"{"name":"Ac\u0000me","kind":"registrar","region":"CN-BJ","jurisdiction":"mainland"}"#)
            #expect(name.status == .badRequest, "\(name.text)")
            #expect(name.problemFields == ["name"], "\(name.text)")

            let ministry = cast.as("ministry")
            let dataset = try await ministry.post("/v1/datasets", Fixture.dataset("Traffic"))
            let id = try #require(dataset.int("id"))
            let patch = try await ministry.raw(.patch, "/v1/datasets/\(id)", #"{"tags":["ok","a\u0000b"]}"#)
            #expect(patch.status == .badRequest, "\(patch.text)")
            #expect(patch.problemFields == ["tags[1]"], "\(patch.text)")
            let key = try await ministry.raw(.post, "/v1/registrations", #"{"dataset":1,"right":"hold","kind":"initial","truthfulnessCommitment":true,"statement":"\u0000"}"#)
            #expect(key.status == .badRequest, "\(key.text)")
            #expect(key.problemFields == ["statement"], "\(key.text)")
        }
    }

    @Test func F9_aNulCharacterInAUsageKeyOrMetadataIs400NamingTheField() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let lab = cast.as("lab")
            let key = try await lab.raw(.post, "/v1/usage", #"{"events":[{"grant":"GR-1","tokens":1,"at":"2026-12-01T00:00:00Z","key":"k\u0000"}]}"#)
            #expect(key.status == .badRequest, "\(key.text)")
            #expect(key.problemFields == ["events[0].key"], "\(key.text)")
            let metadata = try await lab.raw(
                .post, "/v1/usage", #"{"events":[{"grant":"GR-1","tokens":1,"at":"2026-12-01T00:00:00Z","key":"k","metadata":{"n\u0000":1}}]}"#)
            #expect(metadata.status == .badRequest, "\(metadata.text)")
            #expect(metadata.problemFields.first?.hasPrefix("events[0].metadata") == true, "\(metadata.text)")
        }
    }

    @Test func F9_aNulCharacterInAQueryParameterIs400NamingIt() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let answer = try await cast.as("lab").get("/v1/datasets?q=a%00b")
            #expect(answer.status == .badRequest, "\(answer.text)")
            #expect(answer.problemFields == ["q"], "\(answer.text)")
        }
    }

    // MARK: Finding 14: exposure

    @Test func F14_theAuditEventsNeverShowAnAPIKeysSecretHashAndTheChainStillVerifies() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let regulator = cast.as("regulator")
            var cursor: String? = nil
            var keyEvents = 0
            repeat {
                let page = try await regulator.get("/v1/audit/events?limit=200" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(page.status == .ok, "\(page.text)")
                for item in page.items {
                    let payload = try #require(item["payload"] as? String)
                    if payload.contains("secretHash") {
                        keyEvents += 1
                        #expect(payload.contains(#""secretHash":"redacted""#), "\(payload)")
                    }
                    #expect(payload.range(of: #""secretHash":"[0-9a-f]{64}""#, options: .regularExpression) == nil, "\(payload)")
                }
                cursor = page.string("nextCursor")
            } while cursor != nil
            #expect(keyEvents >= 6)
            let verified = try await regulator.get("/v1/audit/verify")
            #expect(verified["valid"] as? Bool == true, "\(verified.text)")
        }
    }

    @Test func F14_aHiddenGrantAnswersEveryChangeLikeAMissingOne() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let enterprise = cast.as("enterprise")
            let lab = cast.as("lab")
            let created = try await enterprise.post("/v1/datasets", Fixture.dataset("Retail baskets", government: false))
            let dataset = try #require(created.int("id"))
            _ = try await enterprise.call(.put, "/v1/datasets/\(dataset)/policy", AccessScenarioTests.policy(purposes: ["model_training"]))
            let request = try await lab.post(
                "/v1/access-requests", ["dataset": dataset, "purpose": "model_training", "tokens": 5_000, "validUntil": "2030-01-01T00:00:00Z"])
            let grant = try #require((request["grant"] as? [String: Any])?["number"] as? String, "\(request.text)")
            // The ministry is neither assignee nor grantor nor holder: the grant is hidden from it.
            let ministry = cast.as("ministry")
            #expect(try await ministry.get("/v1/grants/\(grant)").status == .notFound)
            for change in ["suspend", "resume", "revoke", "terminate"] {
                let hidden = try await ministry.post("/v1/grants/\(grant)/\(change)")
                let missing = try await ministry.post("/v1/grants/GR-0000-99999999/\(change)")
                #expect(hidden.status == .notFound, "\(change): \(hidden.text)")
                #expect(hidden.status == missing.status)
                #expect(hidden.string("type") == missing.string("type") && hidden.string("title") == missing.string("title"))
                #expect(Set(hidden.json.keys) == Set(missing.json.keys))
            }
            // The same for access requests: replying to or withdrawing a hidden one.
            let number = try #require(request.string("number"))
            #expect(try await ministry.post("/v1/access-requests/\(number)/withdraw").status == .notFound)
            #expect(try await ministry.post("/v1/access-requests/\(number)/reply", ["agree": true]).status == .notFound)
        }
    }

    @Test func F14_aBadValueNamesTheFieldAndWhatIsAllowedInPlainWords() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let ministry = cast.as("ministry")
            var claim = Fixture.claim(1)
            claim["sourceType"] = "bogus"
            let answer = try await ministry.post("/v1/registrations", claim)
            #expect(answer.status == .badRequest)
            #expect(answer.problemFields == ["sourceType"], "\(answer.text)")
            #expect(answer.text.contains("original_collection"), "\(answer.text)")
            #expect(!answer.text.contains("Cannot initialize") && !answer.text.contains("SourceType"), "\(answer.text)")
            let wrongType = try await ministry.raw(.post, "/v1/registrations", #"{"dataset":"one","right":"hold","kind":"initial","truthfulnessCommitment":true}"#)
            #expect(wrongType.status == .badRequest)
            #expect(wrongType.problemFields == ["dataset"], "\(wrongType.text)")
            #expect(!wrongType.text.contains("Int64") && !wrongType.text.contains("Swift"), "\(wrongType.text)")
            let grade = try await ministry.get("/v1/datasets?grade=secret")
            #expect(grade.status == .badRequest)
            #expect(grade.problemFields == ["grade"] && grade.text.contains("general, important, core"), "\(grade.text)")
            let huge = try await ministry.raw(
                .post, "/v1/registrations", #"{"dataset":99999999999999999999,"right":"hold","kind":"initial","truthfulnessCommitment":true}"#)
            #expect(huge.status == .badRequest)
            #expect(huge.problemFields == ["dataset"], "\(huge.text)")
            #expect(!huge.text.contains("Swift"), "\(huge.text)")
            let missing = try await ministry.raw(.post, "/v1/registrations", #"{"right":"hold","kind":"initial","truthfulnessCommitment":true}"#)
            #expect(missing.problemFields == ["dataset"], "\(missing.text)")
            #expect(!missing.text.contains("CodingKeys"), "\(missing.text)")
        }
    }

    // MARK: Finding 16: strict parsing everywhere

    @Test func F16_aDuplicateKeyIs400NamingTheField() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let admin = cast.api.as_(cast.operatorKey)
            let lab = try #require(cast.ids["lab"])
            let answer = try await admin.raw(.put, "/v1/parties/\(lab)/daily-token-cap", #"{"dailyTokens":5,"dailyTokens":null}"#)
            #expect(answer.status == .badRequest, "\(answer.text)")
            #expect(answer.problemFields == ["dailyTokens"], "\(answer.text)")
        }
    }

    @Test func F16_anExponentOrFractionIsNotAnInteger() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let admin = cast.api.as_(cast.operatorKey)
            let lab = try #require(cast.ids["lab"])
            for number in ["1e3", "1000.0", "1E+3"] {
                let answer = try await admin.raw(.put, "/v1/parties/\(lab)/daily-token-cap", #"{"dailyTokens":\#(number)}"#)
                #expect(answer.status == .badRequest, "\(number): \(answer.text)")
                #expect(answer.problemFields == ["dailyTokens"], "\(answer.text)")
            }
        }
    }

    @Test func F16_aBodyThatIsNotJSONIs415AndAUTF16BodyIs400() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let admin = cast.api.as_(cast.operatorKey)
            for contentType in ["text/plain", "application/x-www-form-urlencoded", nil] as [String?] {
                let answer = try await admin.raw(.post, "/v1/parties", Self.party, contentType: contentType)
                #expect(answer.status == .unsupportedMediaType, "\(contentType ?? "none"): \(answer.text)")
                #expect(answer.string("type")?.hasSuffix("unsupported-media-type") == true, "\(answer.text)")
            }
            let latin = try await admin.raw(.post, "/v1/parties", Self.party, contentType: "application/json; charset=iso-8859-1")
            #expect(latin.status == .unsupportedMediaType, "\(latin.text)")
            var utf16: [UInt8] = [0xFF, 0xFE]
            for unit in Self.party.utf16 { utf16 += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
            let answer = try await admin.raw(.post, "/v1/parties", bytes: utf16)
            #expect(answer.status == .badRequest, "\(answer.text)")
            #expect(try await admin.raw(.post, "/v1/parties", Self.party, contentType: "application/json; charset=utf-8").status == .created)
        }
    }

    @Test func F16_pathIdsAreStrictlyDigits() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let ministry = cast.as("ministry")
            let dataset = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("Traffic")).int("id"))
            #expect(try await ministry.get("/v1/datasets/\(dataset)").status == .ok)
            for path in ["+\(dataset)", "0\(dataset)", "%2B\(dataset)", "\(dataset).0", "-1", "99999999999999999999"] {
                let answer = try await ministry.get("/v1/datasets/\(path)")
                #expect(answer.status == .badRequest || answer.status == .notFound, "\(path): \(answer.text)")
                #expect(answer.status != .ok)
                if answer.status == .badRequest { #expect(answer.problemFields == ["id"], "\(answer.text)") }
            }
        }
    }

    @Test func F16_anUnknownQueryParameterIs400NamingIt() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let lab = cast.as("lab")
            for path in ["/v1/datasets?grades=core", "/v1/me?verbose=1", "/v1/parties?kind=enterprise&x=1", "/v1/decisions?dataset=1&purpose=model_training&tokens=1&tokenz=2"] {
                let answer = try await lab.get(path)
                #expect(answer.status == .badRequest, "\(path): \(answer.text)")
                #expect(answer.problemFields.count == 1, "\(answer.text)")
            }
            #expect(try await lab.get("/v1/datasets?grade=general&limit=5").status == .ok)
            #expect(try await lab.get("/v1/datasets?limit=5&limit=6").status == .badRequest)
        }
    }

    @Test func F16_nullWhereTheDocumentRequiresAValueIs400NamingTheField() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let admin = cast.api.as_(cast.operatorKey)
            let required = try await admin.raw(.post, "/v1/parties", #"{"name":null,"kind":"registrar","region":"CN-BJ","jurisdiction":"mainland"}"#)
            #expect(required.status == .badRequest)
            #expect(required.problemFields == ["name"], "\(required.text)")
            #expect(!required.text.contains("String"), "\(required.text)")
            let optional = try await admin.raw(.post, "/v1/parties", #"{"name":"A","kind":"registrar","region":"CN-BJ","jurisdiction":"mainland","creditCode":null}"#)
            #expect(optional.status == .badRequest, "\(optional.text)")
            #expect(optional.problemFields == ["creditCode"], "\(optional.text)")
            // Where the document says null is a value, it is one.
            let lab = try #require(cast.ids["lab"])
            #expect(try await admin.raw(.put, "/v1/parties/\(lab)/daily-token-cap", #"{"dailyTokens":null}"#).status == .ok)
        }
    }

    // MARK: Finding 15: the connection edge

    @Test func F15_anUndeclaredMethodOnAKnownPathIs405WithAllow() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let answer = try await cast.api.as_(cast.operatorKey).client.execute(
                uri: "/v1/parties", method: .delete, headers: [.authorization: "Bearer \(cast.operatorKey)"]
            ) { response in (response.status, response.headers[.allow], response.headers[.contentType]) }
            #expect(answer.0 == .methodNotAllowed)
            #expect(answer.1.map { Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) } == ["GET", "POST"])
            #expect(answer.2 == "application/problem+json")
            let grant = try await cast.api.client.execute(uri: "/v1/grants/GR-1/suspend", method: .get, headers: [:]) { ($0.status, $0.headers[.allow]) }
            #expect(grant.0 == .methodNotAllowed)
            #expect(grant.1 == "POST")
            #expect(try await cast.api.get("/v1/no-such-thing").status == .notFound)
        }
    }

    @Test func F15_aChunkedBodyOverTheLimitIs413() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let port = try #require(cast.api.client.port)
            let connection = try RawHTTP(port: port, readTimeout: 20)
            connection.send(
                "POST /v1/parties HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(cast.operatorKey)\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            let chunk = String(repeating: "a", count: 65_536)
            for _ in 0..<20 where connection.send("10000\r\n\(chunk)\r\n") {}
            connection.send("0\r\n\r\n")
            let answer = await connection.receiveAll().text
            #expect(answer.httpStatus == 413, "\(answer.prefix(300))")
            #expect(answer.contains("application/problem+json"))
        }
    }

    @Test func F15_anInvalidChunkSizeIs400() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let port = try #require(cast.api.client.port)
            let answer = try await RawHTTP.exchange(
                port: port,
                "POST /v1/parties HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(cast.operatorKey)\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", readTimeout: 20)
            #expect(answer.httpStatus == 400, "\(answer.prefix(300))")
            #expect(answer.contains("application/problem+json"), "\(answer.prefix(300))")
        }
    }

    @Test func F15_anOverLongURLIs414AndHugeHeadersAre431BothProblemJSON() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let port = try #require(cast.api.client.port)
            let url = try await RawHTTP.exchange(port: port, "GET /v1/datasets?q=\(String(repeating: "a", count: 100_000)) HTTP/1.1\r\nHost: x\r\n\r\n", readTimeout: 20)
            #expect(url.httpStatus == 414, "\(url.prefix(300))")
            #expect(url.contains("application/problem+json"), "\(url.prefix(300))")
            let header = try await RawHTTP.exchange(port: port, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "b", count: 100_000))\r\n\r\n", readTimeout: 20)
            #expect(header.httpStatus == 431, "\(header.prefix(300))")
            #expect(header.contains("application/problem+json"), "\(header.prefix(300))")
            let many = try await RawHTTP.exchange(
                port: port, "GET /healthz HTTP/1.1\r\nHost: x\r\n" + (0..<3_000).map { "X-H\($0): \(String(repeating: "c", count: 40))\r\n" }.joined() + "\r\n", readTimeout: 20)
            #expect(many.httpStatus == 431, "\(many.prefix(300))")
            // The server still answers.
            #expect(try await RawHTTP.exchange(port: port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", readTimeout: 20).httpStatus == 200)
        }
    }
}
