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
            parties: catalog.parties.all, apiKeys: catalog.apiKeys.all, datasets: catalog.datasets.all, registrations: rights.registrations.all,
            objections: rights.objections.all, certificates: rights.certificates.all, settings: settings, derivations: lineage.derivations.all,
            flagCascades: lineage.flagCascades.all, policies: market.policies.all,
            accessRequests: market.accessRequests.all, grants: market.grants.all, auditHead: auditHead, usage: usage.snapshot)
        return Array(SHA256.hash(data: Array(CanonicalJSON.encode(snapshot).utf8))).hexString
    }

    /// Record counts, for operators.
    public var counts: [String: Int] {
        [
            "parties": catalog.parties.all.count, "apiKeys": catalog.apiKeys.all.count, "datasets": catalog.datasets.presentRows,
            "registrations": rights.registrations.all.count, "objections": rights.objections.all.count,
            "certificates": rights.certificates.all.count, "derivations": lineage.derivations.count, "policies": market.policies.count,
            "accessRequests": market.accessRequests.count, "grants": market.grants.count,
            "auditEntries": Int(auditHead.lastSequence),
        ]
    }
}
