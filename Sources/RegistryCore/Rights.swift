/// R1: the three rights, registered separately. Holding one implies neither of the others.
public enum RightKind: String, Sendable, Codable, CaseIterable {
    /// Possess and control lawfully acquired data.
    case hold
    /// Process, aggregate, analyse, derive.
    case use
    /// Provide to others, paid or free.
    case operate
}

/// R3: what a registration does.
public enum RegistrationKind: String, Sendable, Codable, CaseIterable {
    case initial, change, transfer, renewal, cancellation, revocation

    /// Kinds that go through public notice and end with a certificate (R4).
    public var issuesCertificate: Bool {
        switch self {
        case .initial, .change, .transfer, .renewal: true
        case .cancellation, .revocation: false
        }
    }

    /// Kinds that act on an existing certificate.
    public var targetsCertificate: Bool { self != .initial }
}

/// R8: where the data came from.
public enum SourceType: String, Sendable, Codable, CaseIterable {
    case originalCollection = "original_collection"
    case authorisedByContract = "authorised_by_contract"
    case transferred
    case derived
    case publicDataOperation = "public_data_operation"
    case exchangePurchase = "exchange_purchase"
}

/// R8: the kinds of evidence document.
public enum EvidenceKind: String, Sendable, Codable, CaseIterable {
    case contract
    case authorisation
    case reviewReport = "review_report"
    case notarisedDeposit = "notarised_deposit"
}

/// One evidence document, by the SHA-256 digest of its bytes (the document itself stays with the applicant).
public struct Evidence: Sendable, Equatable, Codable {
    public var kind: EvidenceKind
    public var sha256: String

    public init(kind: EvidenceKind, sha256: String) {
        self.kind = kind
        self.sha256 = sha256
    }

    public static func isDigest(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}

/// R7: in what capacity the applicant holds the data.
public enum ApplicantRole: String, Sendable, Codable, CaseIterable {
    /// Acquired the data lawfully in its own right.
    case controller
    /// Processes the data for someone else (outsourced processing, cloud hosting): acquires no right.
    case entrustedProcessor = "entrusted_processor"
}

/// A reason a request was refused, naming the domain rule that refused it.
public struct Refusal: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    public var rule: String
    public var reason: String

    /// A refusal under one of the domain rules.
    public init(_ rule: Rule, _ reason: String) {
        self.rule = rule.rawValue
        self.reason = reason
    }

    /// A refusal on other grounds than a numbered rule: the registrar's review, a lineage cycle.
    public init(_ ground: RefusalGround, _ reason: String) {
        self.rule = ground.rawValue
        self.reason = reason
    }

    public var description: String { "\(rule): \(reason)" }
}

/// Why something was refused when no numbered rule says it: what ``Refusal/rule`` then holds.
public enum RefusalGround: String, Sendable {
    /// The registrar refused the claim on review, with reasons.
    case review
    /// The derivation would close a cycle in the lineage.
    case lineage
}
