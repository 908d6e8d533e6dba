import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RegistryCore
import RegistryStore

extension HTTPField.Name {
    /// A client's key for a creating request (issue 17): the same key and request again get the first answer.
    static let idempotencyKey = Self("Idempotency-Key")!
    /// `true` on an answer replayed from an earlier request with the same `Idempotency-Key`.
    static let idempotencyReplayed = Self("Idempotency-Replayed")!
}

/// The creating routes that accept an `Idempotency-Key` header (`POST /v1/datasets`,
/// `POST /v1/datasets/{id}/lineage`, `POST /v1/registrations`): with a key, the answer is stored with the
/// records it creates and a retry gets it again (``RegistryService/executeIdempotently(_:by:recording:)``);
/// without one, the command is executed as any other.
enum IdempotentCreation {
    /// Executes `command` for the request and answers with what `render` makes of its records (the state
    /// is the one they were planned against, or applied to when there is no key).
    static func respond(
        _ command: RegistryCommand, request: Request, body: [UInt8], context: AuthenticatedContext, service: RegistryService,
        render: @escaping @Sendable ([ChangeEntry], borrowing RegistryState) throws -> StoredAnswer
    ) async throws -> Response {
        guard let key = try key(of: request) else {
            let entries = try await service.execute(command, by: context.party)
            return try response(service.registry.read { try render(entries, $0) }, replayed: false)
        }
        let recording = IdempotentWrite(
            party: context.party.id, key: key, method: request.method.rawValue, target: request.uri.path, body: canonical(body), render: render)
        do {
            switch try await service.executeIdempotently(command, by: context.party, recording: recording) {
            case .created(let answer): return try response(answer, replayed: false)
            case .replayed(let answer): return try response(answer, replayed: true)
            }
        } catch IdempotencyError.keyReusedForAnotherRequest {
            let reason = "was used by this party for a different request (method, path or body); a new request needs a new key"
            throw Problem(
                .unprocessableContent, kind: "idempotency-key-reused", title: "Idempotency key reused", detail: "Idempotency-Key \(reason)",
                errors: [.init(field: "Idempotency-Key", reason: reason)])
        } catch IdempotencyError.inProgress {
            var problem = Problem(
                .conflict, kind: "idempotency-key-in-progress", title: "Request in progress",
                detail: "Idempotency-Key: a request with this key is being written; retry when it has been answered",
                errors: [.init(field: "Idempotency-Key", reason: "a request with this key is in progress")])
            problem.retryAfterSeconds = 1
            throw problem
        }
    }

    /// The header's value: 1 to ``Limits/maxIdempotencyKeyBytes`` visible ASCII characters other than `"`
    /// and `\`; a structured-field string's quotes (`"abc"`) are taken off. Sent twice is a 400.
    static func key(of request: Request) throws -> String? {
        let values = request.headers[values: .idempotencyKey]
        guard let value = values.first else { return nil }
        let reason = "must be sent once, 1 to \(Limits.maxIdempotencyKeyBytes) visible ASCII characters other than \" and \\"
        var key = Substring(value)
        if key.utf8.count >= 2, key.hasPrefix("\""), key.hasSuffix("\"") { key = key.dropFirst().dropLast() }
        guard values.count == 1, !key.isEmpty, key.utf8.count <= Limits.maxIdempotencyKeyBytes,
            key.utf8.allSatisfy({ (0x21...0x7E).contains($0) && $0 != 0x22 && $0 != 0x5C })
        else { throw Problem.invalidField("Idempotency-Key", reason) }
        return String(key)
    }

    /// The body as one spelling of its JSON value (keys sorted, no spaces), so that "the same request"
    /// does not depend on the order a client's encoder writes an object's members in. The body has
    /// passed the strict parse already.
    static func canonical(_ body: [UInt8]) -> [UInt8] {
        guard let value = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]),
            let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
        else { return body }
        return Array(data)
    }

    static func response(_ answer: StoredAnswer, replayed: Bool) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if let location = answer.location { headers[.location] = location }
        if replayed { headers[.idempotencyReplayed] = "true" }
        return Response(status: .init(code: answer.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}

extension Encodable {
    /// This value as a stored 201 answer: the bytes `.created(location:)` would send.
    func storedCreation(location: String?) throws -> StoredAnswer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return StoredAnswer(status: 201, location: location, body: Array(try encoder.encode(self)))
    }
}

extension Request {
    /// ``decodeJSON(_:context:emptyBody:options:)``, and the body's bytes as received (after any gzip), which
    /// an idempotency key's digest covers.
    func decodeJSONKeepingBytes<T: Decodable>(_ type: T.Type, context: some RegistryRequestContext) async throws -> (T, [UInt8]) {
        let buffer = try await GzipBody.collect(self, limit: context.maxRequestBodyBytes)
        return (try decodeJSON(type, collected: buffer), Array(buffer.readableBytesView))
    }
}
