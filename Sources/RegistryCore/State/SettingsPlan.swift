/// Planning the settings and the clock.
extension RegistryState {
    /// The changes a settings or clock command makes.
    func planSettings(_ command: SettingsCommand, by actor: Party?, at now: Timestamp) throws(RegistryError) -> [ChangeEntry] {
        switch command {
        case .updateSettings(let policy, let calendar, let feeCeiling, let royaltyShare):
            try require(actor, is: [.operator], to: "change settings")
            var updated = settings
            if let royaltyShare {
                guard royaltyShare >= 0, royaltyShare <= Limits.maxRoyaltyPoolBasisPoints else {
                    throw .invalid([FieldProblem("royaltyShareBasisPoints", "must be between 0 and \(Limits.maxRoyaltyPoolBasisPoints)")])
                }
                updated.royaltyShareBasisPoints = royaltyShare
            }
            if let policy { updated.objectionPolicy = policy }
            if let feeCeiling {
                guard feeCeiling >= 0, feeCeiling <= Limits.maxPricePerMillionTokens else {
                    throw .invalid([FieldProblem("publicDataFeeCeiling", "must be between 0 and \(Limits.maxPricePerMillionTokens) fen per million tokens")])
                }
                updated.publicDataFeeCeiling = feeCeiling
            }
            if let calendar {
                guard calendar.holidays.count + calendar.workingWeekendDays.count <= Limits.maxCalendarDays else {
                    throw .invalid([FieldProblem("calendar", "at most \(Limits.maxCalendarDays) listed days")])
                }
                guard WorkingCalendar.utcOffsetRange.contains(calendar.utcOffsetSeconds) else {
                    throw .invalid([FieldProblem(
                        "calendar.utcOffsetSeconds",
                        "must be between \(WorkingCalendar.utcOffsetRange.lowerBound) and \(WorkingCalendar.utcOffsetRange.upperBound) (UTC−12:00 to UTC+14:00)")])
                }
                let outside = (calendar.holidays.map { ("calendar.holidays", $0) } + calendar.workingWeekendDays.map { ("calendar.workingWeekendDays", $0) })
                    .first { $0.1 < CivilDate.earliest || $0.1 > CivilDate.latest }
                if let (field, _) = outside { throw .invalid([FieldProblem(field, "every day must be \(CivilDate.rangeDescription)")]) }
                updated.calendar = calendar
            }
            return [ChangeEntry(.settingsChanged, .settings(updated))]
        case .setAssigneeDailyCap(let party, let dailyTokens):
            try require(actor, is: [.operator, .regulator], to: "set an assignee's daily cap")
            guard self.party(party) != nil else { throw .notFound("party \(party.rawValue)") }
            if let dailyTokens, dailyTokens < 1 || dailyTokens > Limits.maxTokens {
                throw .invalid([FieldProblem("dailyTokens", "must be between 1 and \(Limits.maxTokens), or null to lift the cap")])
            }
            var updated = settings
            updated.assigneeDailyCaps.removeAll { $0.party == party }
            if let dailyTokens {
                guard updated.assigneeDailyCaps.count < Limits.maxAssigneeDailyCaps else {
                    throw .conflict("at most \(Limits.maxAssigneeDailyCaps) assignees may have their own daily cap")
                }
                updated.assigneeDailyCaps.append(AssigneeCap(party: party, dailyTokens: dailyTokens))
                updated.assigneeDailyCaps.sort { $0.party < $1.party }
            }
            return [ChangeEntry(.settingsAssigneeCapChanged, .settings(updated))]
        case .advanceClock(let seconds):
            try require(actor, is: [.operator], to: "move the sandbox clock")
            guard seconds > 0, seconds <= Limits.maxClockAdvanceSeconds else {
                throw .invalid([FieldProblem("seconds", "must be between 1 and \(Limits.maxClockAdvanceSeconds)")])
            }
            guard settings.clockOffsetSeconds <= Limits.maxClockOffsetSeconds - seconds else {
                throw .invalid([FieldProblem("seconds", "the sandbox clock runs at most \(Limits.maxClockOffsetSeconds / 86_400) days ahead of the wall clock")])
            }
            var updated = settings
            updated.clockOffsetSeconds += seconds
            var advanced = self
            advanced.apply(.settings(updated))
            return [ChangeEntry(.clockAdvanced, .settings(updated))]
                + advanced.planDue(at: now.adding(seconds: seconds))
        case .tick:
            return planDue(at: now)
        }
    }

    /// Issues every certificate whose notice has ended by `now`.
    func planDue(at now: Timestamp) -> [ChangeEntry] {
        let today = today(at: now)
        var state = self
        var entries = planGrantClock(at: now)
        for registration in registrationsInNotice where registration.noticeEndsOn.map({ today > $0 }) ?? false {
            var current = registration
            // Each issuance sees the ones before it (certificate ids, superseded certificates).
            guard let due = try? state.transition(&current, .clock(today: today), kind: .registrationIssued, at: now) else { continue }
            for entry in due { state.apply(entry.record) }
            entries += due
        }
        return entries
    }
}
