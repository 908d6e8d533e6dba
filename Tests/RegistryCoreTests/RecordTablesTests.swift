@testable import RegistryCore
import Testing

/// The registration and certificate row tables give back exactly what they were given, odd values
/// included, and find records by number without a dictionary (R2, R3, R9).
@Suite struct RecordTablesTests {
    static let now = Timestamp(microsecondsSince1970: 1_795_399_200 * 1_000_000)

    @Test func R2_R3_R9_generatedRegistrationsAndCertificatesComeBackAsStored() {
        let synthetic = SyntheticRegistry.generate(datasets: 20_000, seed: 13, now: Self.now)
        var registrations = RegistrationTable()
        var certificates = CertificateTable()
        for registration in synthetic.registrations { registrations.upsert(registration, id: registration.id.rawValue) }
        for certificate in synthetic.certificates { certificates.upsert(certificate, id: certificate.id.rawValue) }
        #expect(registrations.all == synthetic.registrations)
        #expect(certificates.all == synthetic.certificates)
        #expect(synthetic.registrations.contains { !$0.refusals.isEmpty } && synthetic.registrations.contains { !$0.evidence.isEmpty })
        for registration in synthetic.registrations.prefix(300) { #expect(registrations.id(number: registration.number) == registration.id.rawValue) }
        for certificate in synthetic.certificates.prefix(300) { #expect(certificates.id(number: certificate.number) == certificate.id.rawValue) }
        #expect(registrations.id(number: "REG-2026-99999999") == nil)
        #expect(certificates.id(number: synthetic.registrations[0].number) == nil)
        // Status changes keep the evidence without adding to the pool; the record reads the same.
        var registration = synthetic.registrations[0]
        registration.status = .refused
        registration.refusals = [Refusal(.r6, "a claim must carry source evidence")]
        registrations.upsert(registration, id: registration.id.rawValue)
        #expect(registrations[registration.id.rawValue] == registration)
    }

    @Test func R2_R3_R9_oddValuesGapsAndEditsSurvive() {
        let synthetic = SyntheticRegistry.generate(datasets: 2_000, seed: 2, now: Self.now)
        var registration = synthetic.registrations.first { !$0.evidence.isEmpty }!
        var registrations = RegistrationTable()
        registration.id = RegistrationID(rawValue: 4)
        registration.number = "REG-BY-HAND"
        registration.evidence.append(Evidence(kind: .notarisedDeposit, sha256: "NOT-HEX"))
        registration.statement = "revocation: the licence was forged"
        registration.newFingerprint = String(repeating: "e", count: 64)
        registration.targetCertificate = CertificateID(rawValue: 9)
        registration.transferee = PartyID(rawValue: 3)
        registration.authorisationEndsOn = CivilDate(year: 2027, month: 2, day: 28)
        registration.noticeEndsOn = nil
        registration.sourceType = nil
        registration.pendingObjections = 2
        registrations.upsert(registration, id: 4)
        #expect(registrations[4] == registration)
        #expect(registrations[3] == nil && registrations[5] == nil && registrations.count == 4)
        #expect(registrations.id(number: "REG-BY-HAND") == 4)
        // Canonical again: the hand-written number is forgotten; the evidence goes back to the pool.
        registration.number = CanonicalNumber.make("REG", year: 2026, id: 4, width: 8)
        registration.evidence.removeLast()
        registration.statement = nil
        registrations.upsert(registration, id: 4)
        #expect(registrations[4] == registration)
        #expect(registrations.id(number: "REG-BY-HAND") == nil)
        #expect(registrations.id(number: "REG-2026-00000004") == 4)
        #expect(registrations.id(number: "REG-2025-00000004") == nil, "the year is part of the number")

        var certificate = synthetic.certificates[0]
        var certificates = CertificateTable()
        certificate.fingerprint = "Fingerprint As Typed"
        certificate.holders = [PartyID(rawValue: 5), PartyID(rawValue: 2)]
        certificate.state = .superseded
        certificate.supersededBy = CertificateID(rawValue: 2)
        certificate.number = "CERT-X"
        certificates.upsert(certificate, id: 1)
        #expect(certificates[1] == certificate)
        #expect(certificates.id(number: "CERT-X") == 1)
    }

    /// R9, R28: the operate holder read from the row agrees with the certificate's status on every day.
    @Test func R9_R28_operateHolderFromTheRowAgreesWithTheStatus() {
        let synthetic = SyntheticRegistry.generate(datasets: 5_000, seed: 4, now: Self.now)
        var certificates = CertificateTable()
        var random = SplitMix64(state: 8)
        var records: [Certificate] = []
        for var certificate in synthetic.certificates {
            certificate.right = random.pick(RightKind.allCases)
            certificate.state = random.pick(CertificateState.allCases)
            certificates.upsert(certificate, id: certificate.id.rawValue)
            records.append(certificate)
        }
        var operateValid = 0
        for certificate in records {
            for today in [certificate.issuedOn, certificate.expiresOn, certificate.expiresOn.adding(days: 1)] {
                let expected = certificate.right == .operate && certificate.status(on: today) == .valid ? certificate.holders.first : nil
                #expect(certificates.validOperateHolder(of: certificate.id.rawValue, on: today) == expected)
                if expected != nil { operateValid += 1 }
            }
        }
        #expect(operateValid > 0)
    }
}
