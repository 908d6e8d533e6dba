#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
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
    ///
    /// The bytes hashed are those of one canonical JSON document of the whole state (``Snapshot``), but
    /// fed to the hash record by record: no record list and no document of the whole state is ever held
    /// (at a million datasets that document is over a gigabyte). ``documentDigest`` builds the document
    /// and hashes it whole with Foundation's encoder; tests hold the two equal. Each record is written by
    /// ``CanonicalEncoder`` (Foundation's bytes, without its cost). Run it on a snapshot (``Registry/snapshot()``),
    /// not under the read lock: it takes seconds at national scale.
    public var digest: String {
        var stream = DigestStream()
        // The keys in the order the canonical encoding sorts them.
        stream.raw("{\"accessRequests\":")
        stream.array(market.accessRequests)
        stream.raw(",\"apiKeys\":")
        stream.array(catalog.apiKeys)
        stream.raw(",\"auditHead\":")
        stream.value(auditHead)
        stream.raw(",\"certificates\":")
        stream.array(rights.certificates)
        stream.raw(",\"datasets\":")
        stream.array(catalog.datasets)
        stream.raw(",\"derivations\":")
        stream.array(ids: 1..<lineage.derivations.nextID) { lineage.derivations[$0] }
        stream.raw(",\"flagCascades\":")
        stream.array(lineage.flagCascades)
        stream.raw(",\"grants\":")
        stream.array(market.grants)
        stream.raw(",\"objections\":")
        stream.array(rights.objections)
        stream.raw(",\"parties\":")
        stream.array(catalog.parties)
        stream.raw(",\"policies\":")
        stream.array(ids: 1..<Int64(market.policies.datasetSlots + 1)) { market.policies[DatasetID(rawValue: $0)] }
        stream.raw(",\"registrations\":")
        stream.array(rights.registrations)
        stream.raw(",\"settings\":")
        stream.value(settings)
        stream.raw(",\"usage\":")
        stream.value(usage.snapshot)
        stream.raw("}")
        return stream.finish()
    }

    /// The digest as one document hashed whole, encoded by Foundation's `JSONEncoder`
    /// (``CanonicalJSON/referenceEncode(_:)``): the reference ``digest`` streams, and the baseline its
    /// cost is measured against (LineageBench).
    public var documentDigest: String {
        let snapshot = Snapshot(
            parties: catalog.parties.all, apiKeys: catalog.apiKeys.all, datasets: catalog.datasets.all, registrations: rights.registrations.all,
            objections: rights.objections.all, certificates: rights.certificates.all, settings: settings, derivations: lineage.derivations.all,
            flagCascades: lineage.flagCascades.all, policies: market.policies.all,
            accessRequests: market.accessRequests.all, grants: market.grants.all, auditHead: auditHead, usage: usage.snapshot)
        do {
            return Array(SHA256.hash(data: Array(try CanonicalJSON.referenceEncode(snapshot).utf8))).hexString
        } catch {
            preconditionFailure("core records always encode: \(error)")
        }
    }

    /// Record counts, for operators.
    public var counts: [String: Int] {
        [
            "parties": catalog.parties.presentCount, "apiKeys": catalog.apiKeys.presentCount, "datasets": catalog.datasets.presentRows,
            "registrations": rights.registrations.presentCount, "objections": rights.objections.presentCount,
            "certificates": rights.certificates.presentCount, "derivations": lineage.derivations.count, "policies": market.policies.count,
            "accessRequests": market.accessRequests.count, "grants": market.grants.count,
            "auditEntries": Int(auditHead.lastSequence),
        ]
    }
}

/// SHA-256 fed with canonical JSON a piece at a time: the bytes of one document, never the document.
/// Each record is encoded into the one reused buffer of a ``CanonicalEncoder``.
struct DigestStream {
    private var hasher = SHA256()
    private let encoder = CanonicalEncoder()

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
    }

    mutating func value(_ value: some Encodable) {
        do {
            try encoder.encode(value)
            encoder.bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        } catch {
            preconditionFailure("core records always encode: \(error)")
        }
    }

    /// `[record,record,…]` of the table's records in id order.
    mutating func array<Table: IDAddressedTable>(_ table: Table) where Table.Record: Encodable {
        array(ids: 1..<Int64(table.count + 1)) { table[$0] }
    }

    mutating func array<Record: Encodable>(ids: Range<Int64>, _ record: (Int64) -> Record?) {
        raw("[")
        var first = true
        for id in ids {
            guard let record = record(id) else { continue }
            if !first { raw(",") }
            first = false
            value(record)
        }
        raw("]")
    }

    consuming func finish() -> String {
        Array(hasher.finalize()).hexString
    }
}
