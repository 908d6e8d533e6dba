/// An entry of the audit chain as a replica reads it back to follow the log (issue 18): a usage batch's
/// with the effects stored with its row (schema 0013), nil for every other kind.
public struct FollowedEntry: Sendable {
    public var entry: AuditEntry
    public var usageEffects: [UInt8]?

    public init(entry: AuditEntry, usageEffects: [UInt8]?) {
        self.entry = entry
        self.usageEffects = usageEffects
    }
}

extension RegistryState {
    /// Applies an entry another replica committed: the record its payload holds, or a usage batch's
    /// stored effects. True when applying it appended exactly that entry (same sequence, previous hash
    /// and hash: the record read back encodes to the very payload hashed); false when it does not follow
    /// the head or does not reproduce — the state may then be changed, and must be rebuilt.
    public mutating func follow(_ followed: FollowedEntry) -> Bool {
        let entry = followed.entry
        guard entry.sequence == auditHead.lastSequence + 1, entry.previousHash == auditHead.lastHash,
              let kind = AuditKind(rawValue: entry.kind)
        else { return false }
        if kind == Self.usageAuditKind {
            guard let bytes = followed.usageEffects, let effects = UsageBatchEffects(decoding: bytes), effects.at == entry.at else { return false }
            return applyCommittedUsage(effects, actor: entry.actor, payload: entry.payload) == entry
        }
        guard let record = try? CanonicalJSON.decode(RecordChange.self, from: entry.payload) else { return false }
        return apply([ChangeEntry(kind, record)], actor: entry.actor, at: entry.at) == [entry]
    }
}
