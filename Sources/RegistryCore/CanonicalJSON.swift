#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The one JSON encoding whose bytes the audit chain and the state digest hash: sorted keys, no
/// whitespace, slashes unescaped — the bytes of Foundation's `JSONEncoder` with
/// `[.sortedKeys, .withoutEscapingSlashes]`, which entries hashed so far were written with. Never change
/// them; entries already hashed depend on them.
///
/// Written by ``CanonicalEncoder``, straight into bytes (Foundation's encoder cost some 20 µs a record,
/// the most of a state digest's time). ``referenceEncode(_:)`` keeps Foundation's encoder as the
/// reference the tests hold the bytes equal to, and ``RegistryState/documentDigest`` as the baseline;
/// nothing else uses it.
public enum CanonicalJSON {
    public static func encode(_ value: some Encodable) -> String {
        let encoder = CanonicalEncoder()
        do {
            try encoder.encode(value)
        } catch {
            preconditionFailure("core records always encode: \(error)")
        }
        return String(decoding: encoder.bytes, as: UTF8.self)
    }

    /// The canonical encoding as Foundation writes it: the reference ``encode(_:)`` must equal, byte
    /// for byte. Slow; not for production paths.
    public static func referenceEncode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}

extension RecordChange: Codable {
    enum CodingKeys: String, CodingKey { case type, record }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .party(let record): try container.encode("party", forKey: .type); try container.encode(record, forKey: .record)
        case .apiKey(let record): try container.encode("api_key", forKey: .type); try container.encode(record, forKey: .record)
        case .dataset(let record): try container.encode("dataset", forKey: .type); try container.encode(record, forKey: .record)
        case .registration(let record): try container.encode("registration", forKey: .type); try container.encode(record, forKey: .record)
        case .objection(let record): try container.encode("objection", forKey: .type); try container.encode(record, forKey: .record)
        case .certificate(let record): try container.encode("certificate", forKey: .type); try container.encode(record, forKey: .record)
        case .settings(let record): try container.encode("settings", forKey: .type); try container.encode(record, forKey: .record)
        case .derivation(let record): try container.encode("derivation", forKey: .type); try container.encode(record, forKey: .record)
        case .flagCascade(let record): try container.encode("flag_cascade", forKey: .type); try container.encode(record, forKey: .record)
        case .policy(let record): try container.encode("policy", forKey: .type); try container.encode(record, forKey: .record)
        case .accessRequest(let record): try container.encode("access_request", forKey: .type); try container.encode(record, forKey: .record)
        case .grant(let record): try container.encode("grant", forKey: .type); try container.encode(record, forKey: .record)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .type) {
        case "party": self = .party(try container.decode(Party.self, forKey: .record))
        case "api_key": self = .apiKey(try container.decode(APIKey.self, forKey: .record))
        case "dataset": self = .dataset(try container.decode(Dataset.self, forKey: .record))
        case "registration": self = .registration(try container.decode(Registration.self, forKey: .record))
        case "objection": self = .objection(try container.decode(Objection.self, forKey: .record))
        case "certificate": self = .certificate(try container.decode(Certificate.self, forKey: .record))
        case "settings": self = .settings(try container.decode(RegistrySettings.self, forKey: .record))
        case "derivation": self = .derivation(try container.decode(Derivation.self, forKey: .record))
        case "flag_cascade": self = .flagCascade(try container.decode(FlagCascade.self, forKey: .record))
        case "policy": self = .policy(try container.decode(PolicyRecord.self, forKey: .record))
        case "access_request": self = .accessRequest(try container.decode(AccessRequest.self, forKey: .record))
        case "grant": self = .grant(try container.decode(Grant.self, forKey: .record))
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .type, in: container, debugDescription: "unknown record type \(other)")
        }
    }
}
