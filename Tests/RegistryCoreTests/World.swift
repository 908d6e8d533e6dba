import RegistryCore

/// A registry in memory driven the way the store drives it: plan, then apply.
struct World {
    var state = RegistryState()
    /// Monday 2026-11-23, 10:00 in UTC+8.
    var now = Timestamp(microsecondsSince1970: 1_795_399_200 * 1_000_000)
    var audit: [AuditEntry] = []

    static let fingerprint = String(repeating: "ab", count: 32)
    static let contractDigest = String(repeating: "c0", count: 32)

    @discardableResult
    mutating func run(_ command: RegistryCommand, by actor: Party?) throws(RegistryError) -> [ChangeEntry] {
        let entries = try state.plan(command, by: actor, at: now)
        audit += state.apply(entries, actor: actor.map { "party:\($0.id.rawValue)" } ?? "system", at: now)
        return entries
    }

    mutating func advance(days: Int) {
        now = now.adding(seconds: Int64(days) * 86_400)
    }

    mutating func party(_ name: String, _ kind: PartyKind, code: String? = nil) throws -> Party {
        let entries = try run(.registerParty(NewParty(name: name, kind: kind, region: "CN-BJ", jurisdiction: .mainland, creditCode: code)), by: nil)
        guard case .party(let party) = entries[0].record else { fatalError("party expected") }
        return party
    }

    mutating func dataset(_ title: String, by holder: Party, grade: Grade = .general) throws -> Dataset {
        let new = NewDataset(
            title: title, description: "", grade: grade, personalInformation: .none, individualsCovered: 0, region: "CN-BJ",
            sharing: holder.kind == .department ? .unconditional : nil, fingerprint: Self.fingerprint, format: "parquet",
            updateCycle: "monthly", sizeBytes: 1_000, tags: ["test"])
        guard case .dataset(let dataset) = try run(.registerDataset(new), by: holder)[0].record else { fatalError("dataset expected") }
        return dataset
    }

    static func claim(_ dataset: Dataset, _ right: RightKind = .hold, role: ApplicantRole = .controller, evidence: Bool = true) -> NewRegistration {
        NewRegistration(
            dataset: dataset.id, right: right, kind: .initial, sourceType: .originalCollection,
            evidence: evidence ? [Evidence(kind: .contract, sha256: contractDigest)] : [], truthfulnessCommitment: true,
            applicantRole: role)
    }

    mutating func submit(_ new: NewRegistration, by party: Party) throws -> Registration {
        guard case .registration(let registration) = try run(.submitRegistration(new), by: party)[0].record else {
            fatalError("registration expected")
        }
        return registration
    }

    /// Runs a registration through review, acceptance, notice and the clock (20 days on); returns it as it ends.
    mutating func complete(_ registration: Registration, registrar: Party) throws -> Registration {
        try run(.startReview(registration: registration.number), by: registrar)
        try run(.decide(registration: registration.number, accept: true, reason: nil), by: registrar)
        advance(days: 20)
        try run(.tick, by: nil)
        guard let ended = state.registration(registration.id) else { fatalError("registration \(registration.number) vanished") }
        return ended
    }

    /// Codes that pass GB 32100-2015's check.
    static let codes = ["9144030071526726XG", "91330100716105852F", "91110108551385082Q"]
}
