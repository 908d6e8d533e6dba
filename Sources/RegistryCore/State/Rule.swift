/// The registry's domain rules (../shared/BRIEF.md, R1–R30), each with a one-line statement. Every
/// refusal, denial and decision names one; `GET /v1/rules` serves this list so that whoever reads a
/// refusal can look its rule up.
public enum Rule: String, CaseIterable, Sendable, Codable, Comparable {
    case r1 = "R1", r2 = "R2", r3 = "R3", r4 = "R4", r5 = "R5", r6 = "R6", r7 = "R7", r8 = "R8", r9 = "R9", r10 = "R10"
    case r11 = "R11", r12 = "R12", r13 = "R13", r14 = "R14", r15 = "R15", r16 = "R16", r17 = "R17", r18 = "R18", r19 = "R19"
    case r20 = "R20", r21 = "R21", r22 = "R22", r23 = "R23", r24 = "R24", r25 = "R25", r26 = "R26", r27 = "R27", r28 = "R28"
    case r29 = "R29", r30 = "R30"

    /// The rule's number (R16 → 16).
    public var number: Int { Int(rawValue.dropFirst())! }

    public static func < (a: Rule, b: Rule) -> Bool { a.number < b.number }

    /// What the rule says, in one line.
    public var statement: String {
        switch self {
        case .r1: "Hold, use and operate rights are registered separately; holding one implies neither of the others."
        case .r2: "The unit of registration is one dataset or data product; every registration and certificate has a unique number, and a party holds at most one valid certificate of each right over a dataset."
        case .r3: "Registrations are initial, change, transfer, renewal, cancellation or revocation; nothing is deleted, every change is a new record."
        case .r4: "A registration is reviewed, then published for 10 working days of notice; an objection suspends issuance until the registrar rules."
        case .r5: "Who may object is a deployment setting: anyone, or only parties with a registered right over the dataset."
        case .r6: "Refused outright: core data, a claim without source evidence, and a hold claim over a dataset whose hold right another party has registered or claimed."
        case .r7: "An entrusted processor (outsourced processing, cloud hosting) acquires no right over the data it processes."
        case .r8: "A claim states its source type, lists its evidence as document digests and carries the applicant's truthfulness commitment."
        case .r9: "A certificate binds the dataset's fingerprint, right and holders, expires after 3 years or with its authorisation, and anyone can verify it by number."
        case .r10: "Use or operate rights over a derived dataset need a registered use right, or a grant in force that permits derivation, over every source."
        case .r11: "Every dataset has a grade (general, important, core) and a personal-information level (none, personal, sensitive) with the individuals covered."
        case .r12: "A derived dataset takes the highest grade and PI level of its sources; an approved anonymisation clears the PI level, not the grade."
        case .r13: "Core data is neither registrable nor grantable outside its holder."
        case .r14: "A grant of important data needs a risk assessment; use outside the dataset's region needs a security assessment."
        case .r15: "A grant of sensitive personal information needs separate-consent evidence and an impact assessment."
        case .r16: "Cross-border use: important data always needs a security assessment; personal information needs a standard contract from 100,000 individuals and a security assessment from 1,000,000 (10,000 sensitive), counted per processor since 1 January."
        case .r17: "A government dataset has a sharing category (unconditional, conditional or not shared); no condition beyond its catalog entry."
        case .r18: "Unconditional government data is granted at once to a department asking for a stated duty."
        case .r19: "Conditional government data: the holder replies within 5 working days, a refusal gives reasons, overdue requests show up to regulators."
        case .r20: "A dataset's policy permits, prohibits and requires by purpose, assignee, region, time, tokens, grade and retention; what is not permitted is prohibited."
        case .r21: "A dataset's effective policy adds every ancestor's restrictions: prohibitions united, permitted purposes and regions intersected."
        case .r22: "An access request is approved, awaits its holder or is refused with reasons; a grant is active, suspended, revoked, expired or terminated, and terminal states are final."
        case .r23: "A grant names assignee, dataset, purpose, token quota, validity window and price; use outside it is refused."
        case .r24: "A decision answers allow or deny with the rule that decided and, where inherited, the ancestor it came from."
        case .r25: "Revoking a registration or flagging a dataset's source as unlawful flags every descendant and suspends every grant on them at once."
        case .r26: "A usage event names grant, tokens, time and an idempotency key; the same key twice counts once and gets the same answer."
        case .r27: "The grant's remaining tokens, the assignee's daily cap and the dataset's daily cap are checked together; a denial names the quota; accepted means durable."
        case .r28: "Settlement is double-entry at the grant's price, with a royalty share flowing up the lineage; the ledger always balances."
        case .r29: "Regulators can ask who used a dataset, which grants lack assessments, cross-border counts, rights gaps, overdue requests, quota denials, annual reports and rights histories."
        case .r30: "Every state change is an entry of an append-only SHA-256 hash chain that can be verified end to end."
        }
    }
}
