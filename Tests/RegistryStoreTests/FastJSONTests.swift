import RegistryCore
@testable import RegistryStore
import Testing

/// The hand reader of evidence lists agrees with the JSON decoder, and gives up on anything unusual.
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
}
