/// R29, R10: derived datasets whose use or operate rights — registered, or claimed and not yet decided —
/// rest on sources their holder has no basis to derive from: data that predates the rule, an edge recorded
/// after the right was registered, a source right since revoked or expired, a derivation grant ended.

/// How a party comes to hold a right over a derived dataset.
public enum RightBasis: String, Sendable, Codable, CaseIterable {
    /// A valid certificate of the use or operate right.
    case certificate
    /// An initial claim to it, submitted and not yet decided.
    case claim
}

/// One source one right holder of a derived dataset lacks a basis over (R10).
public struct LineageGap: Sendable, Equatable {
    public var dataset: DatasetID
    /// The holder (or claimant) of the use or operate right over `dataset`.
    public var holder: PartyID
    /// The rights it holds or claims over `dataset`, in ``RightKind`` order.
    public var rights: [RightKind]
    /// `certificate` when any of them is certified, else `claim`.
    public var basis: RightBasis
    /// The certificates and claims (registration numbers) it rests on.
    public var numbers: [String]
    public var source: DatasetID
    public var sourceHolder: PartyID?
    public var edgeKind: TransformationKind
    /// The holder's latest use certificate over the source, if it ever had one, and its status today.
    public var lastUseCertificate: Certificate?
    public var lastUseCertificateStatus: CertificateStatus?
    /// The holder's latest grant on the source that permits derivation, if any.
    public var lastDerivationGrant: Grant?
    public var position: Int64
}

public struct LineageGapsAnswer: Sendable, Equatable {
    public var rows: [LineageGap]
    /// The cursor of the next page; nil when every dataset has been read. A page may hold fewer rows
    /// than asked (none at all) and still have a next one: it stops after ``Limits/maxScanPerPage``
    /// datasets.
    public var next: Int64?
}

extension RegistryState {
    /// One row per (derived dataset, holder of a use or operate right over it, source it lacks a basis
    /// over) in dataset id order, then holder and source id order, after `cursor` (a row's
    /// ``LineageGap/position``; 0 from the start), at most `limit` rows, reading at most
    /// ``Limits/maxScanPerPage`` datasets. `holder` keeps the rows of that right holder. A basis is
    /// ``hasDerivationBasis(_:over:at:)`` at `now` — the same test a claim passes when submitted.
    public func lineageGaps(holder wanted: PartyID?, after cursor: Int64, limit: Int, at now: Timestamp) -> LineageGapsAnswer {
        let limit = max(0, min(limit, Limits.maxPageSize))
        let today = today(at: now)
        let graph = lineage.graph
        let first = max(1, cursor >> 32)
        let last = Int64(graph.nodeCount)
        var rows: [LineageGap] = []
        var scanned = 0
        var id = first
        while id <= last {
            if scanned == Limits.maxScanPerPage || rows.count == limit { break }
            scanned += 1
            defer { id += 1 }
            let dataset = DatasetID(rawValue: id)
            // Rights over the dataset first (few datasets have any), then whether it is derived.
            var holders: [PartyID: (rights: Set<RightKind>, certified: Bool, numbers: [String])] = [:]
            for certificate in rights.certificates(of: dataset)
            where certificate.right != .hold && certificate.status(on: today) == .valid {
                for party in certificate.holders where wanted == nil || party == wanted {
                    holders[party, default: ([], false, [])].rights.insert(certificate.right)
                    holders[party]!.certified = true
                    holders[party]!.numbers.append(certificate.number)
                }
            }
            for registration in rights.registrations(of: dataset)
            where registration.right != .hold && registration.kind == .initial && !registration.status.isFinal
                && (wanted == nil || registration.applicant == wanted)
            {
                holders[registration.applicant, default: ([], false, [])].rights.insert(registration.right)
                holders[registration.applicant]!.numbers.append(registration.number)
            }
            guard !holders.isEmpty else { continue }
            var sources: [(source: DatasetID, kind: TransformationKind)] = []
            for parent in graph.parents(of: Int32(id)) where !sources.contains(where: { $0.source.rawValue == Int64(parent.source) }) {
                sources.append((DatasetID(rawValue: Int64(parent.source)), parent.kind))
            }
            guard !sources.isEmpty else { continue }
            sources.sort { $0.source < $1.source }
            var index: Int64 = 0
            for party in holders.keys.sorted() {
                let held = holders[party]!
                for (source, kind) in sources {
                    guard !hasDerivationBasis(party, over: source, at: now) else { continue }
                    index += 1
                    let position = id << 32 | index
                    guard position > cursor else { continue }
                    guard rows.count < limit else { break }
                    let certificate = rights.certificates(of: source).last { $0.right == .use && $0.holders.contains(party) }
                    let grant = market.grants(on: source).last { $0.assignee == party && $0.action == .derive }
                    rows.append(LineageGap(
                        dataset: dataset, holder: party, rights: RightKind.allCases.filter(held.rights.contains),
                        basis: held.certified ? .certificate : .claim, numbers: held.numbers, source: source,
                        sourceHolder: catalog.datasets.holder(of: source.rawValue), edgeKind: kind, lastUseCertificate: certificate,
                        lastUseCertificateStatus: certificate?.status(on: today), lastDerivationGrant: grant, position: position))
                }
            }
        }
        // Stopped on a full page: continue after its last row (the rest of that dataset comes next);
        // stopped on the scan budget: after every row of the last dataset read.
        let next: Int64? = rows.count == limit && limit > 0 ? rows.last?.position
            : id <= last ? (id - 1) << 32 | 0xFFFF_FFFF : nil
        return LineageGapsAnswer(rows: rows, next: next)
    }
}
