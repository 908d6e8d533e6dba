@testable import RegistryCore
import Testing

/// The grant and access-request row tables give back exactly what they were given — with the odd
/// values a hand-written record may carry — and find records by number without a dictionary (R22, R23).
@Suite struct AccessTablesTests {
    static let now = Timestamp(microsecondsSince1970: 1_795_399_200 * 1_000_000)

    @Test func R22_R23_generatedGrantsAndRequestsComeBackAsStored() {
        let synthetic = SyntheticRegistry.generate(datasets: 20_000, seed: 11, now: Self.now, grants: 5_000)
        #expect(synthetic.grants.count > 4_000)
        var grants = GrantTable()
        var requests = AccessRequestTable()
        for grant in synthetic.grants { grants.upsert(grant, id: grant.id.rawValue) }
        for request in synthetic.accessRequests { requests.upsert(request, id: request.id.rawValue) }
        #expect(grants.all == synthetic.grants)
        #expect(requests.all == synthetic.accessRequests)
        for grant in synthetic.grants.prefix(500) { #expect(grants.id(number: grant.number) == grant.id.rawValue) }
        for request in synthetic.accessRequests.prefix(500) { #expect(requests.id(number: request.number) == request.id.rawValue) }
        #expect(grants.id(number: "GR-2026-999999") == nil)
        #expect(grants.id(number: synthetic.accessRequests[0].number) == nil, "an access-request number is not a grant's")
    }

    @Test func R22_R23_oddValuesGapsAndEditsSurvive() {
        let synthetic = SyntheticRegistry.generate(datasets: 3_000, seed: 3, now: Self.now, grants: 50)
        var grant = synthetic.grants[0]
        var request = synthetic.accessRequests[0]
        var grants = GrantTable()
        var requests = AccessRequestTable()
        // A gap before id 5; a number not in the canonical form; a reason, a retention, every flag.
        grant.id = GrantID(rawValue: 5)
        grant.number = "GR-HAND-WRITTEN"
        grant.stateReason = "R25: dataset 7 flagged (source unlawful)"
        grant.state = .suspended
        grant.retentionDays = 30
        grant.free = true
        grant.crossBorder = true
        grant.sensitive = true
        grant.purpose = "统计 purpose with ünïcode"
        grants.upsert(grant, id: 5)
        #expect(grants[5] == grant)
        #expect(grants[4] == nil && grants[6] == nil && grants.count == 5)
        #expect(grants.id(number: "GR-HAND-WRITTEN") == 5)
        // Renumbered to the canonical form: the odd number no longer finds it.
        grant.number = RegistryState.number("GR", CivilDate(daysSince1970: 20_000), 5)
        grant.stateReason = nil
        grant.retentionDays = nil
        grants.upsert(grant, id: 5)
        #expect(grants[5] == grant)
        #expect(grants.id(number: "GR-HAND-WRITTEN") == nil)
        #expect(grants.id(number: grant.number) == 5)
        // A padded number that does not name the id is not taken for it.
        #expect(grants.id(number: "GR-2024-0000005") == nil)

        request.id = AccessRequestID(rawValue: 3)
        request.records = AccessRecords(riskAssessment: String(repeating: "ab", count: 32), consentEvidence: String(repeating: "0f", count: 32))
        request.refusals = [Refusal(.r14, "important data needs a risk assessment")]
        request.reply = "refused: the contract is unsigned"
        request.duty = "publish the statistics quarterly"
        request.replyDueOn = CivilDate(daysSince1970: 20_500)
        request.repliedBy = PartyID(rawValue: 2)
        request.repliedAt = Self.now
        request.grant = nil
        requests.upsert(request, id: 3)
        #expect(requests[3] == request)
        // Records that are not digests in the canonical form are kept as written.
        request.records = AccessRecords(securityAssessment: "not a digest", standardContract: String(repeating: "AB", count: 32))
        requests.upsert(request, id: 3)
        #expect(requests[3] == request)
        request.records = AccessRecords(impactAssessment: String(repeating: "12", count: 32))
        request.refusals = []
        request.reply = nil
        request.duty = nil
        request.replyDueOn = nil
        request.repliedBy = nil
        request.repliedAt = nil
        requests.upsert(request, id: 3)
        #expect(requests[3] == request)
        #expect(requests[1] == nil && requests.count == 3)
    }

    /// What the clock activates or expires: the row scan agrees with the records (R23 expiry).
    @Test func R23_clockScanFindsExactlyTheGrantsDue() {
        var random = SplitMix64(state: 99)
        let synthetic = SyntheticRegistry.generate(datasets: 20_000, seed: 5, now: Self.now, grants: 3_000)
        var grants = GrantTable()
        var records: [Grant] = []
        for var grant in synthetic.grants {
            grant.state = random.pick(AccessState.allCases)
            grant.validFrom = Self.now.adding(seconds: Int64(random.below(200)) - 100)
            grant.validUntil = grant.validFrom.adding(seconds: Int64(random.below(200)))
            grants.upsert(grant, id: grant.id.rawValue)
            records.append(grant)
        }
        let expected = records.filter { grant in
            !grant.state.isTerminal && (Self.now >= grant.validUntil || (grant.state == .agreed && Self.now >= grant.validFrom))
        }.map(\.id.rawValue)
        #expect(!expected.isEmpty)
        #expect(grants.dueForClock(at: Self.now) == expected)
    }

    @Test func R22_R23_canonicalNumbersNameTheirIds() {
        #expect(CanonicalNumber.id(in: "GR-2026-000001", prefix: "GR") == 1)
        #expect(CanonicalNumber.id(in: "GR-2026-1234567", prefix: "GR") == 1_234_567)
        #expect(CanonicalNumber.id(in: "GR-2026-01234567", prefix: "GR") == nil)
        #expect(CanonicalNumber.id(in: "GR-2026-00001", prefix: "GR") == nil)
        #expect(CanonicalNumber.id(in: "GR-20a6-000001", prefix: "GR") == nil)
        #expect(CanonicalNumber.id(in: "AR-2026-000001", prefix: "GR") == nil)
        #expect(CanonicalNumber.id(in: "GR-2026-00000x", prefix: "GR") == nil)
        #expect(CanonicalNumber.id(in: "GR-2026-" + String(repeating: "9", count: 30), prefix: "GR") == nil)
        for id: Int64 in [1, 99, 999_999, 1_000_000, 123_456_789] {
            #expect(CanonicalNumber.id(in: RegistryState.number("AR", CivilDate(daysSince1970: 20_000), id), prefix: "AR") == id)
        }
    }
}
