import RegistryCore
import Testing

/// R4: notice periods count working days — weekends and listed holidays excluded, listed make-up
/// working days included.
@Suite struct CalendarTests {
    func date(_ text: String) -> CivilDate { CivilDate(text)! }

    @Test func civilDatesRoundTripAndKnowTheirWeekday() {
        #expect(date("1970-01-01").daysSince1970 == 0)
        #expect(date("1970-01-01").isoWeekday == 4)  // Thursday
        #expect(date("2026-11-29").isoWeekday == 7)  // Sunday
        #expect(date("2024-02-29").description == "2024-02-29")
        #expect(CivilDate("2025-02-29") == nil)
        #expect(CivilDate("2026-13-01") == nil)
        for days in stride(from: -800_000, through: 800_000, by: 997) {
            let day = CivilDate(daysSince1970: Int32(days))
            let (year, month, dayOfMonth) = day.components
            #expect(CivilDate(year: year, month: month, day: dayOfMonth) == day)
        }
    }

    @Test func R4_workingDaysSkipWeekends() {
        let calendar = WorkingCalendar()
        #expect(calendar.adding(workingDays: 1, to: date("2026-11-27")) == date("2026-11-30"))  // Friday → Monday
        #expect(calendar.adding(workingDays: 10, to: date("2026-11-23")) == date("2026-12-07"))  // Monday → Monday two weeks on
        #expect(calendar.adding(workingDays: 10, to: date("2026-11-28")) == date("2026-12-11"))  // from a Saturday
        #expect(calendar.adding(workingDays: 0, to: date("2026-11-28")) == date("2026-11-28"))
        #expect(calendar.workingDays(after: date("2026-11-23"), through: date("2026-12-07")) == 10)
    }

    @Test func R4_listedHolidaysAreSkippedAndMakeUpDaysCount() {
        // National Day week: 1–7 October off; Sunday 27 September and Saturday 10 October worked instead
        // (the shape of China's calendar; the deployment lists the real days).
        let holidays = Set((1...7).map { date("2026-10-0\($0)") })
        let calendar = WorkingCalendar(holidays: holidays, workingWeekendDays: [date("2026-09-27"), date("2026-10-10")])
        #expect(!calendar.isWorkingDay(date("2026-10-05")))  // a Monday, but a holiday
        #expect(calendar.isWorkingDay(date("2026-09-27")))  // a Sunday, but worked
        // From Friday 25 September: Sun 27, Mon 28, Tue 29, Wed 30, then Thu 8, Fri 9, Sat 10, Mon 12, Tue 13, Wed 14.
        #expect(calendar.adding(workingDays: 10, to: date("2026-09-25")) == date("2026-10-14"))
        // The same span without the calendar ends a week and a half sooner.
        #expect(WorkingCalendar().adding(workingDays: 10, to: date("2026-09-25")) == date("2026-10-09"))
    }

    @Test func datesChangeAtLocalMidnight() {
        let calendar = WorkingCalendar(utcOffsetSeconds: 8 * 3600)
        // 2026-11-29 15:59:59 UTC is 23:59:59 in UTC+8; one second later it is the 30th there.
        let lastSecond = Timestamp(microsecondsSince1970: 1_795_967_999 * 1_000_000)
        #expect(calendar.date(at: lastSecond) == date("2026-11-29"))
        #expect(calendar.date(at: lastSecond.adding(seconds: 1)) == date("2026-11-30"))
        #expect(lastSecond.description == "2026-11-29T15:59:59.000000Z")
    }

    @Test func R9_certificatesExpireAfterThreeYearsOrWithTheirAuthorisation() {
        #expect(Certificate.expiry(issuedOn: date("2026-11-29"), authorisationEndsOn: nil) == date("2029-11-29"))
        #expect(Certificate.expiry(issuedOn: date("2028-02-29"), authorisationEndsOn: nil) == date("2031-02-28"))
        #expect(Certificate.expiry(issuedOn: date("2026-11-29"), authorisationEndsOn: date("2027-06-30")) == date("2027-06-30"))
        #expect(Certificate.expiry(issuedOn: date("2026-11-29"), authorisationEndsOn: date("2035-01-01")) == date("2029-11-29"))
    }
}

@Suite struct CreditCodeTests {
    @Test func realCodesPassTheirCheckCharacter() {
        for code in ["9144030071526726XG", "91330100716105852F", "91110108551385082Q"] {
            #expect(CreditCode.problem(with: code) == nil, "\(code)")
        }
    }

    @Test func wrongCodesAreExplained() {
        #expect(CreditCode.problem(with: "9144030071526726XA")?.contains("expected G") == true)
        #expect(CreditCode.problem(with: "9144030071526726X")?.contains("18 characters") == true)
        #expect(CreditCode.problem(with: "9144030071526I26XG")?.contains("not allowed") == true)
        #expect(CreditCode.problem(with: "91A4030071526726XG")?.contains("division code") == true)
    }
}

extension CalendarTests {
    /// The state digest and the audit chain hash the calendar's encoding: its listed days must come out in
    /// one order whatever order the set holds them in (a set's order changes from process to process).
    @Test func R30_theCalendarEncodesItsDaysInDateOrder() throws {
        let days = (0..<40).map { CivilDate(daysSince1970: 20_000 + Int32($0) * 3) }
        var encodings: Set<String> = []
        for seed in 0..<8 {
            var shuffled = days
            var generator = SystemRandomNumberGenerator()
            if seed > 0 { shuffled.shuffle(using: &generator) }
            var calendar = WorkingCalendar(utcOffsetSeconds: 8 * 3_600)
            for day in shuffled { calendar.holidays.insert(day) }
            calendar.workingWeekendDays = Set(shuffled.filter { days.prefix(5).contains($0) })
            encodings.insert(CanonicalJSON.encode(calendar))
        }
        #expect(encodings.count == 1)
        let text = try #require(encodings.first)
        #expect(text.contains(days.map { "\"\($0)\"" }.joined(separator: ",")), "\(text)")
    }
}
