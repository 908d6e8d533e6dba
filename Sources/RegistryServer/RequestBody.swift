import Foundation
import HTTPTypes
import NIOCore
import Hummingbird
import RegistryCore

extension Request {
    /// Decodes a JSON body of at most the deployment's body limit, after ``requireJSONBody()`` and the
    /// strict pass (``StrictJSON``) over its bytes. A body that does not decode is a 400 problem naming the
    /// field in plain words, never a Swift type.
    ///
    /// - Parameters:
    ///   - emptyBody: the value of an empty body, for routes whose body is optional (then no
    ///     `Content-Type` is needed either).
    ///   - options: what the body may hold beyond the strict default (nullable fields).
    func decodeJSON<T: Decodable>(
        _ type: T.Type, context: some RegistryRequestContext, emptyBody: T? = nil, options: StrictJSON.Options = .strict
    ) async throws -> T {
        // `Content-Encoding: gzip` is inflated, within the same limit as a plain body.
        let buffer = try await GzipBody.collect(self, limit: context.maxRequestBodyBytes)
        return try decodeJSON(type, collected: buffer, emptyBody: emptyBody, options: options)
    }

    /// ``decodeJSON(_:context:emptyBody:options:)`` of a body already collected (and inflated).
    func decodeJSON<T: Decodable>(
        _ type: T.Type, collected buffer: ByteBuffer, emptyBody: T? = nil, options: StrictJSON.Options = .strict
    ) throws -> T {
        if buffer.readableBytes == 0, let emptyBody { return emptyBody }
        try requireJSONBody()
        do {
            try buffer.withUnsafeReadableBytes { bytes throws(StrictJSON.Failure) in try StrictJSON.validate(bytes, options: options) }
        } catch {
            throw Problem.invalidField(error.field, error.reason)
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw RequestDecoding.problem(for: error)
        }
    }

    /// 415 unless the body is declared JSON in UTF-8: `application/json` or a `+json` type (JSON-LD),
    /// with no charset or `charset=utf-8`.
    func requireJSONBody() throws {
        guard let declared = headers[.contentType] else { throw Problem.unsupportedMediaType("no Content-Type: send application/json") }
        // What nearly every client sends, checked without making strings (usage and decisions are hot paths).
        if declared == "application/json" || declared == "application/json; charset=utf-8" { return }
        let parts = declared.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let mediaType = parts.first ?? ""
        let isJSON = mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
        let charsetOK = parts.dropFirst().allSatisfy { parameter in
            !parameter.hasPrefix("charset=") || ["charset=utf-8", "charset=\"utf-8\""].contains(parameter)
        }
        guard isJSON, charsetOK else {
            throw Problem.unsupportedMediaType("Content-Type \(declared.prefix(100)) is not accepted: send application/json in UTF-8")
        }
    }
}

/// Problems for request bodies that do not decode, naming the field and saying what is allowed in plain
/// words: the decoder's own messages name Swift types ("Cannot initialize SourceType from invalid String
/// value"), which tell a client nothing and show the server's insides.
enum RequestDecoding {
    static func problem(for error: DecodingError) -> Problem {
        switch error {
        case .keyNotFound(let key, let context):
            return .invalidField(path(context.codingPath + [key]), "is required")
        case .typeMismatch(let type, let context):
            return .invalidField(path(context.codingPath), "must be \(words(for: type))")
        case .valueNotFound(_, let context):
            return .invalidField(path(context.codingPath), "must not be null")
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            guard !field.isEmpty else { return .badRequest("the body is not valid JSON") }
            return .invalidField(field, reason(forCorrupted: context.debugDescription))
        @unknown default:
            return .badRequest("the body could not be decoded")
        }
    }

    static func path(_ codingPath: [any CodingKey]) -> String {
        var text = ""
        for key in codingPath {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                if !text.isEmpty { text += "." }
                text += key.stringValue
            }
        }
        return text
    }

    /// A JSON kind in words for the Swift type the decoder expected.
    static func words(for type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt64.Type, is UInt32.Type, is Int16.Type, is UInt16.Type, is UInt8.Type, is Int8.Type:
            return "a whole number"
        case is Double.Type, is Float.Type: return "a number"
        default:
            let name = String(describing: type)
            return name.hasPrefix("Array") || name.hasPrefix("[") ? "an array" : "an object"
        }
    }

    /// The decoder's "Cannot initialize T from invalid String value x" as the values T allows; any other
    /// message of ours (dates, digests) is already in words.
    static func reason(forCorrupted description: String) -> String {
        if description.contains("not representable") { return "is out of range: a whole number from -9223372036854775808 to 9223372036854775807" }
        // Foundation's own messages name Swift types; ours (dates, digests) are already in words.
        guard description.hasPrefix("Cannot initialize ") else {
            return description.contains("Swift") || description.contains("Codable") ? "is not a value this field accepts" : description
        }
        let typeName = description.dropFirst("Cannot initialize ".count).prefix { $0 != " " }
        if let allowed = allowedValues[String(typeName)] {
            return "must be one of: " + allowed.joined(separator: ", ")
        }
        return "is not one of the values the API document lists for this field"
    }

    /// The values of each enumeration a request body holds, by the type's name.
    static let allowedValues: [String: [String]] = {
        func values<T: CaseIterable & RawRepresentable>(_: T.Type) -> (String, [String]) where T.RawValue == String {
            (String(describing: T.self), T.allCases.map(\.rawValue))
        }
        return Dictionary(
            [
                values(PartyKind.self), values(Grade.self), values(PersonalInformationLevel.self), values(RightKind.self),
                values(RegistrationKind.self), values(SourceType.self), values(EvidenceKind.self), values(ApplicantRole.self),
                values(TransformationKind.self), values(PolicyAction.self), values(RuleKind.self), values(DutyAction.self),
                values(ApprovalMode.self), values(RegistrationStatus.self), values(AccessState.self), values(UsageQuota.self),
                values(DecisionBody.Decision.self),
            ], uniquingKeysWith: { first, _ in first })
    }()
}

extension Problem {
    /// A 400 naming one field (or the body, when the field is empty) and what is wrong with it.
    static func invalidField(_ field: String, _ reason: String) -> Problem {
        let name = field.isEmpty ? "body" : field
        return .badRequest("\(name): \(reason)", errors: [.init(field: name, reason: reason)])
    }

    static func unsupportedMediaType(_ detail: String) -> Problem {
        Problem(.unsupportedMediaType, kind: "unsupported-media-type", title: "Unsupported media type", detail: detail)
    }
}
