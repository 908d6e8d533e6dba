import Crypto

extension RegistryState {
    /// What the digest covers, in id order.
    struct Snapshot: Encodable {
        var parties: [Party]
        var apiKeys: [APIKey]
        var datasets: [Dataset]
        var registrations: [Registration]
        var objections: [Objection]
        var certificates: [Certificate]
        var settings: RegistrySettings
        var derivations: [Derivation]
        var flagCascades: [FlagCascade]
        var policies: [PolicyRecord]
        var accessRequests: [AccessRequest]
        var grants: [Grant]
        var auditHead: AuditHead
        var usage: UsageMeter.Snapshot
    }

    /// SHA-256 over the canonical encoding of every record and the audit head: equal digests mean equal
    /// states. Operators compare it across a restart (the endpoint and `datarights state digest`).
    public var digest: String {
        let snapshot = Snapshot(
            parties: parties.all, apiKeys: apiKeys.all, datasets: datasets.all, registrations: registrations.all,
            objections: objections.all, certificates: certificates.all, settings: settings, derivations: derivations.all,
            flagCascades: flagCascades.all, policies: policies.all,
            accessRequests: accessRequests.all, grants: grants.all, auditHead: auditHead, usage: usage.snapshot)
        return Array(SHA256.hash(data: Array(CanonicalJSON.encode(snapshot).utf8))).hexString
    }

    /// Record counts, for operators.
    public var counts: [String: Int] {
        [
            "parties": parties.all.count, "apiKeys": apiKeys.all.count, "datasets": datasets.presentRows,
            "registrations": registrations.all.count, "objections": objections.all.count,
            "certificates": certificates.all.count, "derivations": derivations.count, "policies": policies.count,
            "accessRequests": accessRequests.count, "grants": grants.count,
            "auditEntries": Int(auditHead.lastSequence),
        ]
    }
}
