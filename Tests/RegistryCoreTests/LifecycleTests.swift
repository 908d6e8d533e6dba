import RegistryCore
import Testing

/// R4: the registration lifecycle as a value type, without a database.
@Suite struct LifecycleTests {
    let calendar = WorkingCalendar()
    func date(_ text: String) -> CivilDate { CivilDate(text)! }

    @Test func R4_aCleanRegistrationGoesThroughNoticeToItsCertificate() throws {
        var lifecycle = RegistrationLifecycle(kind: .initial)
        #expect(try lifecycle.handle(.startReview, calendar: calendar) == [])
        #expect(try lifecycle.handle(.accept(today: date("2026-11-23")), calendar: calendar) == [.noticeStarted(endsOn: date("2026-12-07"))])
        #expect(try lifecycle.handle(.clock(today: date("2026-12-07")), calendar: calendar) == [], "objections are open through the last day")
        #expect(lifecycle.status == .publicNotice)
        #expect(try lifecycle.handle(.clock(today: date("2026-12-08")), calendar: calendar) == [.issueCertificate])
        #expect(lifecycle.status == .issued)
    }

    @Test func R4_anObjectionSuspendsAndADismissalResumesTheNotice() throws {
        var lifecycle = RegistrationLifecycle(kind: .initial, status: .publicNotice, noticeEndsOn: date("2026-12-07"))
        #expect(try lifecycle.handle(.objectionLodged(today: date("2026-12-01")), calendar: calendar) == [.suspended])
        #expect(try lifecycle.handle(.objectionLodged(today: date("2026-12-02")), calendar: calendar) == [])
        #expect(lifecycle.pendingObjections == 2)
        // Suspended: the end of the notice does not issue.
        #expect(try lifecycle.handle(.clock(today: date("2026-12-08")), calendar: calendar) == [])
        #expect(try lifecycle.handle(.objectionRuled(upheld: false, today: date("2026-12-03")), calendar: calendar) == [])
        #expect(lifecycle.status == .suspended, "one objection still waits")
        #expect(try lifecycle.handle(.objectionRuled(upheld: false, today: date("2026-12-04")), calendar: calendar) == [.noticeResumed])
        #expect(lifecycle.status == .publicNotice)
    }

    @Test func R4_aDismissalAfterTheNoticeEndedIssuesAtOnce() throws {
        var lifecycle = RegistrationLifecycle(kind: .transfer, status: .publicNotice, noticeEndsOn: date("2026-12-07"))
        _ = try lifecycle.handle(.objectionLodged(today: date("2026-12-07")), calendar: calendar)
        #expect(try lifecycle.handle(.objectionRuled(upheld: false, today: date("2026-12-10")), calendar: calendar) == [.issueCertificate])
    }

    @Test func R4_anUpheldObjectionRefuses() throws {
        var lifecycle = RegistrationLifecycle(kind: .initial, status: .publicNotice, noticeEndsOn: date("2026-12-07"))
        _ = try lifecycle.handle(.objectionLodged(today: date("2026-12-01")), calendar: calendar)
        let actions = try lifecycle.handle(.objectionRuled(upheld: true, today: date("2026-12-02")), calendar: calendar)
        #expect(lifecycle.status == .refused)
        guard case .refused(let reasons) = actions.first else {
            Issue.record("expected a refusal, got \(actions)")
            return
        }
        #expect(reasons.first?.rule == "R4")
    }

    @Test func R4_anObjectionAfterTheNoticeIsRefusedAndPointsToRevocation() throws {
        var lifecycle = RegistrationLifecycle(kind: .initial, status: .publicNotice, noticeEndsOn: date("2026-12-07"))
        let late = #expect(throws: Refusal.self) { try lifecycle.handle(.objectionLodged(today: date("2026-12-08")), calendar: calendar) }
        #expect(late?.rule == "R4")
        #expect(late?.reason.contains("revocation") == true)
        var issued = RegistrationLifecycle(kind: .initial, status: .issued, noticeEndsOn: date("2026-12-07"))
        let afterIssue = #expect(throws: Refusal.self) { try issued.handle(.objectionLodged(today: date("2026-12-09")), calendar: calendar) }
        #expect(afterIssue?.reason.contains("revocation") == true)
    }

    @Test func R3_finalStatesAcceptNothingAndCancellationsSkipNotice() throws {
        for status in [RegistrationStatus.issued, .refused, .recorded] {
            var lifecycle = RegistrationLifecycle(kind: .initial, status: status)
            #expect(throws: Refusal.self) { try lifecycle.handle(.startReview, calendar: calendar) }
            #expect(throws: Refusal.self) { try lifecycle.handle(.accept(today: date("2026-12-01")), calendar: calendar) }
            #expect(lifecycle.status == status)
        }
        var cancellation = RegistrationLifecycle(kind: .cancellation)
        _ = try cancellation.handle(.startReview, calendar: calendar)
        #expect(try cancellation.handle(.accept(today: date("2026-12-01")), calendar: calendar) == [.takeEffect])
        #expect(cancellation.status == .recorded)
        var unreviewed = RegistrationLifecycle(kind: .initial)
        #expect(throws: Refusal.self) { try unreviewed.handle(.accept(today: date("2026-12-01")), calendar: calendar) }
    }
}
