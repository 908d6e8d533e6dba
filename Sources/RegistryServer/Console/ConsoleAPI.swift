import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RegistryCore

/// The console's client of the JSON API: each call goes through the router in process
/// (``InProcessRequest``) with the signed-in party's key as `Authorization: Bearer …`, so a console page
/// shows exactly what that party may see through the API, under the same authentication, authorization,
/// limits and problems. The console holds no second copy of any rule or visibility check.
struct ConsoleAPI: Sendable {
    /// The most the console reads of one answer into memory (a page of 200 rows is far less).
    static let maxAnswerBytes = 4 << 20

    let client: InProcessRequest
    let key: String
    /// The browser request's id, sent on as `X-Request-Id`, so that the API's log lines join the page's.
    let requestID: String

    /// An API answer, collected.
    struct Answer: Sendable {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let body: ByteBuffer

        var isSuccess: Bool { (200..<300).contains(status.code) }
        var bytes: Data { Data(body.readableBytesView) }
    }

    /// `GET /v1/path?query`. Query items with an empty value are left out (an empty form field means
    /// "not given").
    func get(_ path: String, _ query: [(String, String)] = []) async throws -> Answer {
        try await call(.get, Self.target(path, query), body: nil)
    }

    /// `POST /v1/path` with a JSON body.
    func post(_ path: String, json: some Encodable) async throws -> Answer {
        try await call(.post, Self.target(path, []), body: JSONEncoder().encode(json))
    }

    /// `POST /v1/path` without a body.
    func post(_ path: String) async throws -> Answer {
        try await call(.post, Self.target(path, []), body: nil)
    }

    /// The API's answer to `GET` with its body still to be written: for streaming a CSV download on.
    func stream(_ path: String, _ query: [(String, String)]) async throws -> Response {
        try await client.send(.get, Self.target(path, query), headers: headers(json: false))
    }

    /// Decodes a successful answer, or throws the API's problem.
    func value<T: Decodable>(_ type: T.Type, _ answer: Answer) throws -> T {
        guard answer.isSuccess else { throw APIProblem(answer) }
        do {
            return try JSONDecoder().decode(T.self, from: answer.bytes)
        } catch {
            throw APIProblem(status: .internalServerError, title: "Unexpected answer", detail: "the API's answer could not be read: \(error)")
        }
    }

    /// `GET` and decode, or throw the API's problem.
    func read<T: Decodable>(_ type: T.Type, _ path: String, _ query: [(String, String)] = []) async throws -> T {
        try value(type, try await get(path, query))
    }

    private func call(_ method: HTTPRequest.Method, _ target: String, body: Data?) async throws -> Answer {
        let buffer = body.map { ByteBuffer(bytes: $0) } ?? ByteBuffer()
        do {
            let (head, bytes) = try await client.collect(
                method, target, headers: headers(json: body != nil), body: buffer, maxBodyBytes: Self.maxAnswerBytes)
            return Answer(status: head.status, headers: head.headerFields, body: bytes)
        } catch is InProcessRequest.BodyTooLarge {
            throw APIProblem(status: .internalServerError, title: "Answer too large", detail: "the API's answer exceeded \(Self.maxAnswerBytes) bytes")
        }
    }

    private func headers(json: Bool) -> HTTPFields {
        var fields: HTTPFields = [.authorization: "Bearer \(key)", .accept: json ? "application/json" : "*/*"]
        if json { fields[.contentType] = "application/json" }
        if !requestID.isEmpty { fields[RequestEnvelopeMiddleware.header] = requestID }
        return fields
    }

    /// `/v1/path?name=value&…`, each name and value percent-encoded.
    static func target(_ path: String, _ query: [(String, String)]) -> String {
        let items = query.filter { !$0.1.isEmpty }
        guard !items.isEmpty else { return "/v1/" + path }
        return "/v1/" + path + "?" + items.map { "\(percentEncoded($0.0))=\(percentEncoded($0.1))" }.joined(separator: "&")
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters.
    static func percentEncoded(_ text: String) -> String {
        var unreserved = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)...Unicode.Scalar(127)))
        unreserved.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }
}

/// A problem the API answered with (RFC 9457, the API's own ``Problem``), as the console shows it: its
/// status is kept for the page, its title and detail said, and each field it names shown next to that
/// field when the page has it.
struct APIProblem: Error, Sendable {
    let status: HTTPResponse.Status
    let title: String
    let detail: String?
    let errors: [Problem.FieldError]
    let refusals: [Refusal]

    init(status: HTTPResponse.Status, title: String, detail: String?, errors: [Problem.FieldError] = [], refusals: [Refusal] = []) {
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
        self.refusals = refusals
    }

    /// The problem in an unsuccessful answer; an answer that is not a problem is described by its status.
    init(_ answer: ConsoleAPI.Answer) {
        let problem = try? JSONDecoder().decode(Problem.self, from: answer.bytes)
        self.init(
            status: answer.status, title: problem?.title ?? answer.status.reasonPhrase, detail: problem?.detail, errors: problem?.errors ?? [],
            refusals: problem?.refusals ?? [])
    }

    /// The reason given for `field`, if the problem names it.
    func reason(for field: String) -> String? {
        errors.first { $0.field == field }?.reason
    }
}
