/// Where a registration stands (R4).
public enum RegistrationStatus: String, Sendable, Codable, CaseIterable {
    case submitted
    case underReview = "under_review"
    case publicNotice = "public_notice"
    /// In notice, with an objection awaiting the registrar's ruling: issuance waits.
    case suspended
    /// A certificate was issued (initial, change, transfer, renewal).
    case issued
    /// A cancellation or revocation took effect.
    case recorded
    case refused

    public var isFinal: Bool { self == .issued || self == .recorded || self == .refused }
}

/// The lifecycle of one registration as a value type: it takes events and returns what the registry
/// must do, or refuses the event. No I/O, no clock of its own; tested alone.
///
/// submitted → under review → public notice (10 working days) → certificate issued. An objection during
/// notice suspends issuance until the registrar rules: upheld → refused, dismissed → back to notice (or
/// issued, if the notice ended meanwhile). After notice an objection is refused: the route is revocation.
/// Cancellations and revocations take effect when the registrar accepts them; they have no notice.
public struct RegistrationLifecycle: Sendable, Equatable, Codable {
    public enum Event: Sendable, Equatable {
        case startReview
        case accept(today: CivilDate)
        case refuse([Refusal])
        case objectionLodged(today: CivilDate)
        case objectionRuled(upheld: Bool, today: CivilDate)
        /// The clock reached `today`.
        case clock(today: CivilDate)
    }

    public enum Action: Sendable, Equatable {
        case noticeStarted(endsOn: CivilDate)
        case suspended
        case noticeResumed
        case issueCertificate
        case takeEffect
        case refused([Refusal])
    }

    /// The public notice period (R4).

    public private(set) var kind: RegistrationKind
    public private(set) var status: RegistrationStatus
    /// The last day of public notice; objections are accepted through this day.
    public private(set) var noticeEndsOn: CivilDate?
    public private(set) var pendingObjections: Int

    public init(kind: RegistrationKind, status: RegistrationStatus = .submitted, noticeEndsOn: CivilDate? = nil, pendingObjections: Int = 0) {
        self.kind = kind
        self.status = status
        self.noticeEndsOn = noticeEndsOn
        self.pendingObjections = pendingObjections
    }

    /// Applies `event`; returns the actions to carry out, or throws the refusal of the event itself.
    public mutating func handle(_ event: Event, calendar: WorkingCalendar) throws(Refusal) -> [Action] {
        switch (status, event) {
        case (.submitted, .startReview):
            status = .underReview
            return []

        case (.underReview, .accept(let today)):
            guard kind.issuesCertificate else {
                status = .recorded
                return [.takeEffect]
            }
            let ends = calendar.adding(workingDays: Limits.noticePeriodWorkingDays, to: today)
            status = .publicNotice
            noticeEndsOn = ends
            return [.noticeStarted(endsOn: ends)]

        case (.submitted, .refuse(let reasons)), (.underReview, .refuse(let reasons)):
            status = .refused
            return [.refused(reasons)]

        case (.publicNotice, .objectionLodged(let today)), (.suspended, .objectionLodged(let today)):
            guard let ends = noticeEndsOn, today <= ends else {
                throw Refusal(.r4, "the public notice ended on \(noticeEndsOn.map(String.init(describing:)) ?? "?"); an objection now must take the route of revocation")
            }
            pendingObjections += 1
            if status == .publicNotice {
                status = .suspended
                return [.suspended]
            }
            return []

        case (.suspended, .objectionRuled(let upheld, let today)):
            precondition(pendingObjections > 0, "a suspended registration has a pending objection")
            if upheld {
                status = .refused
                pendingObjections = 0
                return [.refused([Refusal(.r4, "an objection was upheld by the registrar")])]
            }
            pendingObjections -= 1
            guard pendingObjections == 0 else { return [] }
            if let ends = noticeEndsOn, today > ends {
                status = .issued
                return [.issueCertificate]
            }
            status = .publicNotice
            return [.noticeResumed]

        case (.publicNotice, .clock(let today)):
            guard let ends = noticeEndsOn, today > ends else { return [] }
            status = .issued
            return [.issueCertificate]

        case (_, .clock):
            return []

        case (_, .objectionLodged):
            if status == .issued || status == .recorded {
                throw Refusal(.r4, "the registration is complete and its notice has ended; an objection now must take the route of revocation")
            }
            throw Refusal(.r4, "objections are accepted only during public notice; this registration is \(status.rawValue)")

        default:
            throw Refusal(.r4, "cannot \(Self.describe(event)) a registration that is \(status.rawValue)")
        }
    }

    static func describe(_ event: Event) -> String {
        switch event {
        case .startReview: "start reviewing"
        case .accept: "accept"
        case .refuse: "refuse"
        case .objectionLodged: "object to"
        case .objectionRuled: "rule on an objection to"
        case .clock: "advance"
        }
    }
}
