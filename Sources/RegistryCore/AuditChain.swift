import Crypto

/// One entry of the append-only audit chain (R30).
public struct AuditEntry: Sendable, Equatable {
    public var sequence: Int64
    public var at: Timestamp
    /// `party:<id>`, or `system` for clock-driven changes.
    public var actor: String
    /// What happened, e.g. `registration.submitted`.
    public var kind: String
    /// The changed record as canonical JSON (sorted keys).
    public var payload: String
    public var previousHash: [UInt8]
    public var hash: [UInt8]

    public init(sequence: Int64, at: Timestamp, actor: String, kind: String, payload: String, previousHash: [UInt8], hash: [UInt8]) {
        self.sequence = sequence
        self.at = at
        self.actor = actor
        self.kind = kind
        self.payload = payload
        self.previousHash = previousHash
        self.hash = hash
    }

    /// SHA-256 over the canonical encoding: previous hash, sequence and time (big-endian), then actor,
    /// kind and payload, each prefixed with its UTF-8 length.
    public static func computeHash(
        previousHash: [UInt8], sequence: Int64, at: Timestamp, actor: String, kind: String, payload: String
    ) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: previousHash)
        withUnsafeBytes(of: sequence.bigEndian) { hasher.update(bufferPointer: $0) }
        withUnsafeBytes(of: at.microsecondsSince1970.bigEndian) { hasher.update(bufferPointer: $0) }
        for text in [actor, kind, payload] {
            let bytes = Array(text.utf8)
            withUnsafeBytes(of: UInt32(bytes.count).bigEndian) { hasher.update(bufferPointer: $0) }
            hasher.update(data: bytes)
        }
        return Array(hasher.finalize())
    }

    /// True when the stored hash is the hash of the stored fields.
    public var isSelfConsistent: Bool {
        hash == Self.computeHash(previousHash: previousHash, sequence: sequence, at: at, actor: actor, kind: kind, payload: payload)
    }
}

/// The head of the chain: where the next entry attaches.
public struct AuditHead: Sendable, Equatable, Codable {
    public static let genesisHash = [UInt8](repeating: 0, count: 32)

    public var lastSequence: Int64
    public var lastHash: [UInt8]

    public init(lastSequence: Int64 = 0, lastHash: [UInt8] = AuditHead.genesisHash) {
        self.lastSequence = lastSequence
        self.lastHash = lastHash
    }

    /// The entry that follows this head; advances the head.
    public mutating func append(at: Timestamp, actor: String, kind: AuditKind, payload: String) -> AuditEntry {
        let sequence = lastSequence + 1
        let hash = AuditEntry.computeHash(previousHash: lastHash, sequence: sequence, at: at, actor: actor, kind: kind.rawValue, payload: payload)
        let entry = AuditEntry(sequence: sequence, at: at, actor: actor, kind: kind.rawValue, payload: payload, previousHash: lastHash, hash: hash)
        lastSequence = sequence
        lastHash = hash
        return entry
    }
}

/// Walks a chain in sequence order and names the first entry that does not match.
public struct AuditVerifier: Sendable {
    public enum Outcome: Sendable, Equatable {
        case valid(entries: Int64, head: [UInt8])
        case broken(sequence: Int64, reason: String)
    }

    private var expected = AuditHead()
    private var failure: (Int64, String)?

    public init() {}

    /// Feeds the next entry; returns false once the chain is broken (later entries are not checked).
    public mutating func check(_ entry: AuditEntry) -> Bool {
        guard failure == nil else { return false }
        if entry.sequence != expected.lastSequence + 1 {
            failure = (expected.lastSequence + 1, "entry \(expected.lastSequence + 1) is missing (found \(entry.sequence) next)")
        } else if entry.previousHash != expected.lastHash {
            failure = (entry.sequence, "previous hash does not match entry \(entry.sequence - 1)")
        } else if !entry.isSelfConsistent {
            failure = (entry.sequence, "hash does not match the entry's contents")
        } else {
            expected.lastSequence = entry.sequence
            expected.lastHash = entry.hash
            return true
        }
        return false
    }

    public var outcome: Outcome {
        if let failure { return .broken(sequence: failure.0, reason: failure.1) }
        return .valid(entries: expected.lastSequence, head: expected.lastHash)
    }
}

extension Array where Element == UInt8 {
    /// Lowercase hex.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count * 2)
        for byte in self {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
