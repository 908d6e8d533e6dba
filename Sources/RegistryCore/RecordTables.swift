/// Registrations, row by row in fixed-size records (R2, R3): a national registry holds hundreds of
/// thousands, and a `Registration?` with its evidence array, digest strings and number cost about 520
/// bytes each. A row here is 72 bytes and each evidence document 33 (its kind and its SHA-256 as 32
/// bytes, in one pool); the number is made from the id and the year when read, as the registry makes it;
/// statements, new fingerprints and hand-written oddities aside; refusal lists interned (a registrar
/// gives the same reasons again and again). Addressed by dense ids like ``DenseTable``.
public struct RegistrationTable: Sendable, IDAddressedTable {
    struct Row: Sendable {
        var submitted: Int64
        var updated: Int64
        var dataset: Int32
        var applicant: Int32
        /// 0: none (also for the certificate and the transferee).
        var targetCertificate: Int32
        var transferee: Int32
        var certificate: Int32
        /// Days since 1970; `Int32.min`: none.
        var authorisationEndsOn: Int32
        var noticeEndsOn: Int32
        var pendingObjections: Int32
        var firstEvidence: UInt32
        /// 0: none; otherwise 1 + the index of the interned refusal list.
        var refusals: UInt32
        /// The year of the number, when the number has the canonical form.
        var year: UInt16
        var evidenceCount: UInt8
        var right: UInt8
        var kind: UInt8
        /// 0: none; otherwise 1 + the index in `SourceType.allCases`.
        var sourceType: UInt8
        var applicantRole: UInt8
        /// 0: no registration with this id; otherwise 1 + the index in `RegistrationStatus.allCases`.
        var status: UInt8
        var truthfulnessCommitment: Bool
    }

    private var rows: [Row] = []
    private var evidenceDigests: [Fingerprint] = []
    private var evidenceKinds: [UInt8] = []
    private var refusalLists = Interner<[Refusal]>()
    private var numbers = OddNumbers()
    /// Evidence whose digests are not 64 lowercase hex digits, or more than 255 documents, kept as given.
    private var oddEvidence: [Int32: [Evidence]] = [:]
    private var newFingerprints: [Int32: String] = [:]
    private var statements: [Int32: String] = [:]

    static let numberPrefix = "REG"

    public init() {}

    public var count: Int { rows.count }
    public var nextID: Int64 { Int64(rows.count + 1) }

    public subscript(id: Int64) -> Registration? {
        guard id >= 1 && id <= Int64(rows.count) else { return nil }
        let row = rows[Int(id - 1)]
        guard row.status != 0 else { return nil }
        let key = Int32(id)
        return Registration(
            id: RegistrationID(rawValue: id), number: numbers[key] ?? CanonicalNumber.make(Self.numberPrefix, year: row.year, id: id, width: 8),
            dataset: DatasetID(rawValue: Int64(row.dataset)), applicant: PartyID(rawValue: Int64(row.applicant)),
            right: RightKind.allCases[Int(row.right)], kind: RegistrationKind.allCases[Int(row.kind)],
            sourceType: row.sourceType == 0 ? nil : SourceType.allCases[Int(row.sourceType - 1)], evidence: oddEvidence[key] ?? evidence(of: row),
            truthfulnessCommitment: row.truthfulnessCommitment, applicantRole: ApplicantRole.allCases[Int(row.applicantRole)],
            targetCertificate: row.targetCertificate == 0 ? nil : CertificateID(rawValue: Int64(row.targetCertificate)),
            transferee: row.transferee == 0 ? nil : PartyID(rawValue: Int64(row.transferee)),
            authorisationEndsOn: row.authorisationEndsOn == .min ? nil : CivilDate(daysSince1970: row.authorisationEndsOn),
            newFingerprint: newFingerprints[key], statement: statements[key], status: RegistrationStatus.allCases[Int(row.status - 1)],
            noticeEndsOn: row.noticeEndsOn == .min ? nil : CivilDate(daysSince1970: row.noticeEndsOn), pendingObjections: Int(row.pendingObjections),
            refusals: row.refusals == 0 ? [] : refusalLists[Int(row.refusals - 1)],
            certificate: row.certificate == 0 ? nil : CertificateID(rawValue: Int64(row.certificate)),
            submittedAt: Timestamp(rawValue: row.submitted), updatedAt: Timestamp(rawValue: row.updated))
    }

    private func evidence(of row: Row) -> [Evidence] {
        (0..<Int(row.evidenceCount)).map { offset in
            let index = Int(row.firstEvidence) + offset
            return Evidence(kind: EvidenceKind.allCases[Int(evidenceKinds[index])], sha256: evidenceDigests[index].hex)
        }
    }

    public mutating func upsert(_ registration: Registration, id: Int64) {
        precondition(id >= 1 && id < Int64(Int32.max), "registration ids are dense, below 2³¹")
        let index = Int(id - 1)
        if index >= rows.count { rows.append(contentsOf: repeatElement(Self.absent, count: index - rows.count + 1)) }
        let key = Int32(id)
        let previous = rows[index]
        let year = numbers.set(registration.number, key: key, prefix: Self.numberPrefix, id: id, width: 8)
        // Evidence: the pool's slots again when unchanged (status changes leave it as it was), else appended.
        let digests = registration.evidence.map { Fingerprint(hex: $0.sha256) }
        let odd = registration.evidence.count > Int(UInt8.max) || digests.contains { $0 == nil }
        let wasOdd = oddEvidence[key] != nil
        oddEvidence[key] = odd ? registration.evidence : nil
        var firstEvidence = previous.firstEvidence
        var evidenceCount = previous.evidenceCount
        if odd {
            evidenceCount = 0
        } else if !(previous.status != 0 && !wasOdd && evidence(of: previous) == registration.evidence) {
            firstEvidence = UInt32(evidenceDigests.count)
            evidenceCount = UInt8(registration.evidence.count)
            evidenceDigests.append(contentsOf: digests.map { $0! })
            evidenceKinds.append(contentsOf: registration.evidence.map { UInt8(EvidenceKind.allCases.firstIndex(of: $0.kind)!) })
        }
        rows[index] = Row(
            submitted: registration.submittedAt.rawValue, updated: registration.updatedAt.rawValue, dataset: rowID(registration.dataset.rawValue),
            applicant: rowID(registration.applicant.rawValue), targetCertificate: registration.targetCertificate.map { rowID($0.rawValue) } ?? 0,
            transferee: registration.transferee.map { rowID($0.rawValue) } ?? 0, certificate: registration.certificate.map { rowID($0.rawValue) } ?? 0,
            authorisationEndsOn: registration.authorisationEndsOn?.daysSince1970 ?? .min, noticeEndsOn: registration.noticeEndsOn?.daysSince1970 ?? .min,
            pendingObjections: Int32(clamping: registration.pendingObjections), firstEvidence: firstEvidence,
            refusals: registration.refusals.isEmpty ? 0 : UInt32(refusalLists.index(of: registration.refusals) + 1), year: year,
            evidenceCount: evidenceCount, right: UInt8(RightKind.allCases.firstIndex(of: registration.right)!),
            kind: UInt8(RegistrationKind.allCases.firstIndex(of: registration.kind)!),
            sourceType: registration.sourceType.map { UInt8(SourceType.allCases.firstIndex(of: $0)! + 1) } ?? 0,
            applicantRole: UInt8(ApplicantRole.allCases.firstIndex(of: registration.applicantRole)!),
            status: UInt8(RegistrationStatus.allCases.firstIndex(of: registration.status)! + 1),
            truthfulnessCommitment: registration.truthfulnessCommitment)
        newFingerprints[key] = registration.newFingerprint
        statements[key] = registration.statement
    }

    /// The id of the registration numbered `number`.
    public func id(number: String) -> Int64? {
        numbers.id(of: number, prefix: Self.numberPrefix, width: 8) { id in
            id <= Int64(rows.count) && rows[Int(id - 1)].status != 0 && self[id]?.number == number
        }
    }

    private static let absent = Row(
        submitted: 0, updated: 0, dataset: 0, applicant: 0, targetCertificate: 0, transferee: 0, certificate: 0, authorisationEndsOn: .min,
        noticeEndsOn: .min, pendingObjections: 0, firstEvidence: 0, refusals: 0, year: 0, evidenceCount: 0, right: 0, kind: 0, sourceType: 0,
        applicantRole: 0, status: 0, truthfulnessCommitment: false)
}

/// Certificates, row by row (R9): 72 bytes each, the fingerprint as 32 bytes, the holder lists interned
/// (most certificates name one holder), the number made from the id and the year when read.
public struct CertificateTable: Sendable, IDAddressedTable {
    struct Row: Sendable {
        var fingerprint: Fingerprint
        var stateChanged: Int64
        var registration: Int32
        var dataset: Int32
        /// 0: none.
        var supersededBy: Int32
        var issuedOn: Int32
        var expiresOn: Int32
        var holders: UInt32
        var year: UInt16
        var right: UInt8
        /// 0: none; otherwise 1 + the index in `SourceType.allCases`.
        var sourceType: UInt8
        /// 0: no certificate with this id; otherwise 1 + the index in `CertificateState.allCases`.
        var state: UInt8
    }

    private var rows: [Row] = []
    private var holderLists = Interner<[PartyID]>()
    private var numbers = OddNumbers()
    /// Fingerprints that are not 64 lowercase hex digits, kept as written.
    private var oddFingerprints: [Int32: String] = [:]

    static let numberPrefix = "CERT"

    public init() {}

    public var count: Int { rows.count }
    public var nextID: Int64 { Int64(rows.count + 1) }

    public subscript(id: Int64) -> Certificate? {
        guard id >= 1 && id <= Int64(rows.count) else { return nil }
        let row = rows[Int(id - 1)]
        guard row.state != 0 else { return nil }
        let key = Int32(id)
        return Certificate(
            id: CertificateID(rawValue: id), number: numbers[key] ?? CanonicalNumber.make(Self.numberPrefix, year: row.year, id: id, width: 8),
            registration: RegistrationID(rawValue: Int64(row.registration)), dataset: DatasetID(rawValue: Int64(row.dataset)),
            fingerprint: oddFingerprints[key] ?? row.fingerprint.hex, right: RightKind.allCases[Int(row.right)],
            holders: holderLists[Int(row.holders)], sourceType: row.sourceType == 0 ? nil : SourceType.allCases[Int(row.sourceType - 1)],
            issuedOn: CivilDate(daysSince1970: row.issuedOn), expiresOn: CivilDate(daysSince1970: row.expiresOn),
            state: CertificateState.allCases[Int(row.state - 1)],
            supersededBy: row.supersededBy == 0 ? nil : CertificateID(rawValue: Int64(row.supersededBy)),
            stateChangedAt: Timestamp(rawValue: row.stateChanged))
    }

    /// The first holder of certificate `id` if it is an operate-right certificate valid on `today` (R9,
    /// R28), without making the record: what every royalty computation asks.
    func validOperateHolder(of id: Int64, on today: CivilDate) -> PartyID? {
        guard id >= 1 && id <= Int64(rows.count) else { return nil }
        let row = rows[Int(id - 1)]
        guard row.state == Self.activeState, RightKind.allCases[Int(row.right)] == .operate, today <= CivilDate(daysSince1970: row.expiresOn)
        else { return nil }
        return holderLists[Int(row.holders)].first
    }

    private static let activeState = UInt8(CertificateState.allCases.firstIndex(of: .active)! + 1)

    public mutating func upsert(_ certificate: Certificate, id: Int64) {
        precondition(id >= 1 && id < Int64(Int32.max), "certificate ids are dense, below 2³¹")
        let index = Int(id - 1)
        if index >= rows.count { rows.append(contentsOf: repeatElement(Self.absent, count: index - rows.count + 1)) }
        let key = Int32(id)
        let year = numbers.set(certificate.number, key: key, prefix: Self.numberPrefix, id: id, width: 8)
        let fingerprint = Fingerprint(hex: certificate.fingerprint)
        oddFingerprints[key] = fingerprint == nil ? certificate.fingerprint : nil
        rows[index] = Row(
            fingerprint: fingerprint ?? Fingerprint(), stateChanged: certificate.stateChangedAt.rawValue,
            registration: rowID(certificate.registration.rawValue), dataset: rowID(certificate.dataset.rawValue),
            supersededBy: certificate.supersededBy.map { rowID($0.rawValue) } ?? 0, issuedOn: certificate.issuedOn.daysSince1970,
            expiresOn: certificate.expiresOn.daysSince1970, holders: UInt32(holderLists.index(of: certificate.holders)), year: year,
            right: UInt8(RightKind.allCases.firstIndex(of: certificate.right)!),
            sourceType: certificate.sourceType.map { UInt8(SourceType.allCases.firstIndex(of: $0)! + 1) } ?? 0,
            state: UInt8(CertificateState.allCases.firstIndex(of: certificate.state)! + 1))
    }

    public func id(number: String) -> Int64? {
        numbers.id(of: number, prefix: Self.numberPrefix, width: 8) { id in
            id <= Int64(rows.count) && rows[Int(id - 1)].state != 0 && self[id]?.number == number
        }
    }

    private static let absent = Row(
        fingerprint: Fingerprint(), stateChanged: 0, registration: 0, dataset: 0, supersededBy: 0, issuedOn: 0, expiresOn: 0, holders: 0, year: 0,
        right: 0, sourceType: 0, state: 0)
}

/// Record numbers of a row table that are not in the canonical form for their id and year (only records
/// written by hand): kept as written, both ways.
struct OddNumbers: Sendable {
    private var byID: [Int32: String] = [:]
    private var byNumber: [String: Int32] = [:]

    subscript(key: Int32) -> String? { byID[key] }

    /// Records `number` for row `key`; returns the year to keep in the row (0 when the number is odd).
    mutating func set(_ number: String, key: Int32, prefix: String, id: Int64, width: Int) -> UInt16 {
        if let old = byID[key], old != number {
            byNumber[old] = nil
            byID[key] = nil
        }
        if let year = CanonicalNumber.year(in: number, prefix: prefix, width: width), CanonicalNumber.id(in: number, prefix: prefix, width: width) == id,
            year > 0
        {
            return year
        }
        byID[key] = number
        byNumber[number] = key
        return 0
    }

    /// The id `number` names: its digits when canonical and `holds(id)`, else a hand-written number's row.
    func id(of number: String, prefix: String, width: Int, holds: (Int64) -> Bool) -> Int64? {
        if let id = CanonicalNumber.id(in: number, prefix: prefix, width: width), id >= 1, holds(id) { return id }
        return byNumber[number].map(Int64.init)
    }
}

/// A dense id as the 32 bits the row tables keep.
@inline(__always)
func rowID(_ id: Int64) -> Int32 {
    precondition(id >= 0 && id < Int64(Int32.max), "dense ids below 2³¹")
    return Int32(id)
}
