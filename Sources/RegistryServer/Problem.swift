import Foundation
public import HTTPTypes
public import Hummingbird
public import RegistryCore

/// An RFC 9457 problem details answer (`application/problem+json`): what every error of the API looks
/// like. `type` names the kind of problem with a stable URI; `detail` says what happened this time;
/// `errors` names each offending field of a request.
public struct Problem: Error, HTTPResponseError, Sendable, Codable {
    /// One field of the request that was wrong, and why.
    public struct FieldError: Sendable, Codable, Equatable {
        /// A JSON pointer-like path to the field, e.g. `title` or `rights[0].kind`.
        public var field: String
        public var reason: String

        public init(field: String, reason: String) {
            self.field = field
            self.reason = reason
        }
    }

    public static let typeBase = "https://datarights.example/problems/"

    public var type: String
    public var title: String
    public var statusCode: Int
    public var detail: String?
    public var instance: String?
    public var requestID: String?
    public var errors: [FieldError]?
    /// For refusals by a domain rule: each rule and its reason.
    public var refusals: [Refusal]?
    /// Sent as `Retry-After` (429, 503); not part of the body.
    public var retryAfterSeconds: Int?
    /// Sent as `Allow` (405); not part of the body.
    public var allow: String?

    public var status: HTTPResponse.Status { .init(code: statusCode) }

    /// A problem of the given kind (the last segment of its type URI).
    public init(_ status: HTTPResponse.Status, kind: String, title: String, detail: String? = nil, errors: [FieldError]? = nil) {
        self.type = Self.typeBase + kind
        self.title = title
        self.statusCode = status.code
        self.detail = detail
        self.errors = errors
    }

    enum CodingKeys: String, CodingKey {
        case type, title, detail, instance, errors, refusals
        case statusCode = "status"
        case requestID = "requestId"
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var problem = self
        problem.instance = problem.instance ?? request.uri.path
        if let context = context as? any RegistryRequestContext, !context.requestID.isEmpty {
            problem.requestID = context.requestID
        }
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        if let allow { headers[.allow] = allow }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: problem.encoded())))
    }

    /// The problem as its JSON body.
    func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // A value of strings and numbers: encoding it cannot fail.
        return (try? [UInt8](encoder.encode(self))) ?? Array(#"{"status":500,"title":"Internal error"}"#.utf8)
    }
}

extension Problem {
    public static func notFound(_ detail: String) -> Problem {
        Problem(.notFound, kind: "not-found", title: "Not found", detail: detail)
    }

    public static func badRequest(_ detail: String, errors: [FieldError]? = nil) -> Problem {
        Problem(.badRequest, kind: "invalid-request", title: "Invalid request", detail: detail, errors: errors)
    }

    public static func payloadTooLarge(limit: Int) -> Problem {
        Problem(.contentTooLarge, kind: "payload-too-large", title: "Payload too large", detail: "request body exceeds \(limit) bytes")
    }

    public static func unauthenticated() -> Problem {
        Problem(
            .unauthorized, kind: "unauthenticated", title: "Authentication required",
            detail: "send an API key as Authorization: Bearer drk_…")
    }

    /// The problem for a refusal of the core.
    public static func from(_ error: RegistryError) -> Problem {
        switch error {
        case .forbidden(let reason):
            return Problem(.forbidden, kind: "forbidden", title: "Forbidden", detail: reason)
        case .notFound(let what):
            return .notFound("\(what) does not exist or is not visible to this key")
        case .invalid(let problems):
            return .badRequest(
                problems.map { "\($0.field): \($0.reason)" }.joined(separator: "; "),
                errors: problems.map { FieldError(field: $0.field, reason: $0.reason) })
        case .conflict(let reason):
            return Problem(.conflict, kind: "conflict", title: "Conflict", detail: reason)
        case .refused(let refusals):
            var problem = Problem(
                .unprocessableContent, kind: "refused", title: "Refused by a domain rule",
                detail: refusals.map(\.description).joined(separator: "; "))
            problem.refusals = refusals
            return problem
        }
    }

    /// 429: over a per-key rate or the key's requests in flight.
    public static func tooManyRequests(_ detail: String, retryAfterSeconds: Int) -> Problem {
        var problem = Problem(.tooManyRequests, kind: "rate-limited", title: "Too many requests", detail: detail)
        problem.retryAfterSeconds = retryAfterSeconds
        return problem
    }

    public static func serviceUnavailable(_ detail: String) -> Problem {
        Problem(.serviceUnavailable, kind: "unavailable", title: "Service unavailable", detail: detail)
    }

    public static let internalError = Problem(
        .internalServerError, kind: "internal-error", title: "Internal error",
        detail: "the server failed to answer this request; it has been logged with the request id")
}

import NIOCore
