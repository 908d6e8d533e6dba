/// R29, R19: government sharing requests of the conditional category whose holder has not replied within
/// ``Limits/sharingReplyWorkingDays`` working days.

/// One overdue request.
public struct OverdueSharingRequest: Sendable, Equatable {
    public var request: AccessRequest
    /// The dataset's holder now: who owes the reply.
    public var holder: PartyID
    /// The last working day for the reply (R19).
    public var dueOn: CivilDate
    /// Calendar days since it, and working days since it up to today (0 when only a weekend or holidays
    /// have passed).
    public var daysOverdue: Int
    public var workingDaysOverdue: Int
}

extension RegistryState {
    /// Every request awaiting its holder's reply whose reply was due before `today` — the conditional
    /// sharing requests R19 gave a due date — of `holder`'s datasets when given, in request id order.
    /// Reads only the requests awaiting a reply (an index the core keeps), not every request.
    public func overdueSharing(holder wanted: PartyID?, on today: CivilDate) -> [OverdueSharingRequest] {
        var rows: [OverdueSharingRequest] = []
        for request in overdueReplies(on: today) {
            guard let dueOn = request.replyDueOn, let holder = catalog.datasets.holder(of: request.dataset.rawValue) else { continue }
            if let wanted, holder != wanted { continue }
            rows.append(OverdueSharingRequest(
                request: request, holder: holder, dueOn: dueOn, daysOverdue: Int(today.daysSince1970 - dueOn.daysSince1970),
                workingDaysOverdue: settings.calendar.workingDays(after: dueOn, through: today)))
        }
        return rows
    }
}
