import RegistryCore
@testable import RegistryStore
import Testing

/// The hand readers of evidence lists (R3) and access-request records (R22) agree with the JSON decoder,
/// and give up on anything unusual.
@Suite struct FastJSONTests {
    let digest = String(repeating: "ab", count: 32)

    @Test func readsWhatPostgreSQLAndTheCanonicalEncoderWrite() throws {
        let expected = [Evidence(kind: .contract, sha256: digest), Evidence(kind: .reviewReport, sha256: digest)]
        let canonical = CanonicalJSON.encode(expected)
        let jsonb = "[{\"kind\": \"contract\", \"sha256\": \"\(digest)\"}, {\"kind\": \"review_report\", \"sha256\": \"\(digest)\"}]"
        let reordered = "[{\"sha256\":\"\(digest)\",\"kind\":\"contract\"},{\"kind\":\"review_report\",\"sha256\":\"\(digest)\"}]"
        for text in [canonical, jsonb, reordered] {
            #expect(FastJSON.evidence(text) == expected, "\(text)")
            #expect(try CanonicalJSON.decode([Evidence].self, from: text) == expected)
        }
        #expect(FastJSON.evidence("[]") == [])
    }

    @Test func givesUpOnAnythingUnusual() {
        for text in [
            "[{\"kind\": \"contract\", \"sha256\": \"\(digest)\", \"extra\": 1}]",
            "[{\"kind\": \"contr\\u0061ct\", \"sha256\": \"\(digest)\"}]",
            "[{\"kind\": \"affidavit\", \"sha256\": \"\(digest)\"}]",
            "[{\"kind\": \"contract\", \"sha256\": \"short\"}]",
            "[{\"kind\": \"contract\"}]",
            "[{\"kind\": \"contract\", \"sha256\": \"\(digest)\"}] trailing",
            "{}",
        ] {
            #expect(FastJSON.evidence(text) == nil, "\(text)")
        }
    }

    @Test func R22_readsAccessRecordsAsTheDecoderDoes() throws {
        let other = String(repeating: "cd", count: 32)
        for text in [
            "{}", " { } ",
            "{\"riskAssessment\": \"\(digest)\"}",
            "{\"consentEvidence\":\"\(digest)\",\"impactAssessment\":\"\(other)\"}",
            "{\"riskAssessment\": \"\(digest)\", \"securityAssessment\": \"\(other)\", \"consentEvidence\": \"\(digest)\", "
                + "\"impactAssessment\": \"\(other)\", \"standardContract\": \"\(digest)\"}",
            CanonicalJSON.encode(AccessRecords(securityAssessment: other, standardContract: digest)),
        ] {
            let fast = try #require(FastJSON.accessRecords(text), "\(text)")
            #expect(fast == (try CanonicalJSON.decode(AccessRecords.self, from: text)), "\(text)")
        }
        #expect(FastJSON.accessRecords("{\"standardContract\": \"\(digest)\"}")?.standardContract == digest)
        #expect(FastJSON.accessRecords("{\"standardContract\": \"\(digest)\"}")?.riskAssessment == nil)
    }

    @Test func R22_givesUpOnUnusualAccessRecords() {
        for text in [
            "{\"riskAssessment\": null}",
            "{\"riskAssessment\": \"\(digest)\", \"riskAssessment\": \"\(digest)\"}",
            "{\"riskAssessment\": \"a\\u0062\"}",
            "{\"surveyResults\": \"\(digest)\"}",
            "{\"riskAssessment\": \"\(digest)\"} trailing",
            "{\"riskAssessment\": \"\(digest)\",}",
            "[]",
        ] {
            #expect(FastJSON.accessRecords(text) == nil, "\(text)")
        }
    }
}
